"""XML parsing for untrusted input: no DTDs or entities (billion laughs, XXE), capped size and nesting depth,
and every element's line kept so a problem can be pointed at."""
from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree as ET
from xml.sax import SAXParseException
from xml.sax.handler import ContentHandler

from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.expatreader import DefusedExpatParser

from item_bank.qti.errors import QTIError
from item_bank.qti.limits import DEFAULT_LIMITS, Limits


class _TooDeep(Exception):
    pass


class _TreeBuilder(ContentHandler):
    """Builds ElementTree elements from SAX events, remembering the line each element starts on."""

    def __init__(self, max_depth: int):
        super().__init__()
        self.max_depth = max_depth
        self.root: ET.Element | None = None
        self.stack: list[ET.Element] = []
        self.lines: dict[ET.Element, int] = {}
        self.locator = None

    def setDocumentLocator(self, locator):
        self.locator = locator

    def line(self) -> int:
        return self.locator.getLineNumber() if self.locator is not None else 1

    def startElementNS(self, name, qname, attrs):
        uri, local = name
        attrib = {(f"{{{auri}}}{alocal}" if auri else alocal): value for (auri, alocal), value in attrs.items()}
        element = ET.Element(f"{{{uri}}}{local}" if uri else local, attrib)
        if self.stack:
            self.stack[-1].append(element)
        else:
            self.root = element
        self.stack.append(element)
        if len(self.stack) > self.max_depth:
            raise _TooDeep()
        self.lines[element] = self.line()

    def endElementNS(self, name, qname):
        self.stack.pop()

    def characters(self, content):
        if not self.stack:
            return
        parent = self.stack[-1]
        if len(parent):
            parent[-1].tail = (parent[-1].tail or "") + content
        else:
            parent.text = (parent.text or "") + content

    ignorableWhitespace = characters


@dataclass
class Doc:
    """A parsed document with the line each element starts on, so problems read 'file:line: ...'."""

    root: ET.Element
    lines: dict[ET.Element, int]
    source: str

    def at(self, element: ET.Element | None) -> str:
        """'source:line' of an element."""
        return f"{self.source}:{self.lines.get(element, 1) if element is not None else 1}"


def parse_xml(data: bytes, source: str, limits: Limits = DEFAULT_LIMITS) -> Doc:
    """Parse `data` (called `source` in messages), or raise QTIError at the offending line."""
    if len(data) > limits.max_entry_bytes:
        raise QTIError(f"{source}: too large ({len(data)} bytes; the limit is {limits.max_entry_bytes})")
    builder = _TreeBuilder(limits.max_depth)
    parser = DefusedExpatParser(namespaceHandling=1, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    parser.setContentHandler(builder)
    builder.locator = parser  # feed() doesn't hand out a locator; the parser itself reports the line
    try:
        parser.feed(data)
        parser.close()
    except LookupError as exc:  # an XML declaration naming an encoding Python does not know
        raise QTIError(f"{source}:1: unreadable XML declaration ({exc})") from None
    except DTDForbidden:
        raise QTIError(f"{source}:{builder.line()}: refused: the document has a DOCTYPE; DTDs and entity "
                       "declarations are not accepted (they allow entity-expansion and external-entity "
                       "attacks)") from None
    except (EntitiesForbidden, ExternalReferenceForbidden):
        raise QTIError(f"{source}:{builder.line()}: refused: entity declarations and external entities "
                       "are not accepted") from None
    except _TooDeep:
        raise QTIError(f"{source}:{builder.line()}: elements nested deeper than {limits.max_depth} levels") from None
    except SAXParseException as exc:
        raise QTIError(f"{source}:{exc.getLineNumber()}: not well-formed XML ({exc.getMessage()})") from None
    if builder.root is None:  # pragma: no cover - expat reports "no element found" first
        raise QTIError(f"{source}:1: not well-formed XML (no element found)")
    return Doc(builder.root, builder.lines, source)


def split_tag(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag."""
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return "", tag


def local_name(tag: str) -> str:
    return split_tag(tag)[1]

