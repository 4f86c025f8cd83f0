"""QTI 3.0 samples shared by the item-bank tests."""

# A text-entry item: an interaction type Certamen does not deliver, so importing it must be refused.
TEXT_ENTRY = """<qti-assessment-item xmlns="http://www.imsglobal.org/xsd/imsqtiasi_v3p0" identifier="DEF-102"
    title="t" adaptive="false" time-dependent="false">
  <qti-response-declaration identifier="RESPONSE" cardinality="single" base-type="string">
    <qti-correct-response><qti-value>York</qti-value></qti-correct-response>
  </qti-response-declaration>
  <qti-item-body>
    <p>Identify the missing word: Once upon a time there lived a king in
      <qti-text-entry-interaction response-identifier="RESPONSE"/>.</p>
  </qti-item-body>
</qti-assessment-item>"""
