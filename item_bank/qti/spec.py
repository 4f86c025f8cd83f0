"""Namespaces, schema locations and fixed names of QTI 3.0 and its content packaging, shared by reader and writer."""
from __future__ import annotations

QTI_NS = "http://www.imsglobal.org/xsd/imsqtiasi_v3p0"
QTI_XSD = "https://purl.imsglobal.org/spec/qti/v3p0/schema/xsd/imsqti_asiv3p0_v1p0.xsd"
QTI2_NAMESPACES = ("http://www.imsglobal.org/xsd/imsqti_v2p0", "http://www.imsglobal.org/xsd/imsqti_v2p1",
                   "http://www.imsglobal.org/xsd/imsqti_v2p2")
MATCH_CORRECT = "https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/match_correct.xml"
CP_NS = "http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1"
CP_XSD = "https://purl.imsglobal.org/spec/qti/v3p0/schema/xsd/imsqtiv3p0_imscpv1p2_v1p0.xsd"
CP_GENERIC_NS = "http://www.imsglobal.org/xsd/imscp_v1p1"  # plain IMS CP; accepted when reading
LOM_NS = "http://ltsc.ieee.org/xsd/LOM"
LOM_XSD = "https://purl.imsglobal.org/spec/md/v1p3/schema/xsd/imsmd_loose_v1p3p2.xsd"
QMD_NS = "http://www.imsglobal.org/xsd/imsqti_metadata_v3p0"
QMD_XSD = "https://purl.imsglobal.org/spec/qti/v3p0/schema/xsd/imsqti_metadatav3p0_v1p0.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XML_NS = "http://www.w3.org/XML/1998/namespace"
CERTAMEN_NS = "urn:x-certamen:item-metadata:1"
ITEM_RESOURCE_TYPE = "imsqti_item_xmlv3p0"
MANIFEST_NAME = "imsmanifest.xml"
