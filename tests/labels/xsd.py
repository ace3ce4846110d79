"""The official STANAG 4774 (1.3) and 4778 (1.4) schemas kept as test data (tests/vectors/xsd/README.md)."""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

XSD = Path(__file__).parent.parent / "vectors" / "xsd"
_LOCAL = {
    "http://www.w3.org/2000/09/xmldsig#": XSD / "xmldsig-core-schema.xsd",
    "http://www.w3.org/2005/05/xmlmime": XSD / "xmlmime.xsd",
}


class _Resolver(etree.Resolver):
    """The 4778 schema imports XML-DSig and xmlmime by URL: serve the local copies (no network)."""

    def resolve(self, system_url, public_id, context):  # type: ignore[no-untyped-def]
        path = _LOCAL.get(system_url)
        return self.resolve_filename(str(path), context) if path is not None else None


def _schema(name: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_Resolver())
    return etree.XMLSchema(etree.parse(str(XSD / name), parser))


@functools.cache
def label_schema() -> etree.XMLSchema:
    return _schema("confidentialitymetadatalabel.xsd")


@functools.cache
def binding_schema() -> etree.XMLSchema:
    """The 4778 schema, with the 4774 schema imported so that labels inside are validated too (lax).

    XML-DSig and xmlmime are imported first from the local copies, so that the 4778 schema's own imports
    (by URL) find their namespaces already loaded."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_Resolver())
    doc = etree.fromstring(
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        f'<xs:import namespace="http://www.w3.org/2000/09/xmldsig#" '
        f'schemaLocation="{(XSD / "xmldsig-core-schema.xsd").as_uri()}"/>'
        f'<xs:import namespace="http://www.w3.org/2005/05/xmlmime" schemaLocation="{(XSD / "xmlmime.xsd").as_uri()}"/>'
        f'<xs:import namespace="urn:nato:stanag:4778:bindinginformation:1:0" '
        f'schemaLocation="{(XSD / "bindinginformation.xsd").as_uri()}"/>'
        f'<xs:import namespace="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0" '
        f'schemaLocation="{(XSD / "confidentialitymetadatalabel.xsd").as_uri()}"/>'
        f"</xs:schema>".encode(),
        parser,
        base_url=XSD.as_uri() + "/",
    )
    return etree.XMLSchema(doc)


def assert_valid(xml: bytes, schema: etree.XMLSchema | None = None) -> None:
    """Validate ``xml`` against the 4774 schema (or ``schema``); fail with the schema's own error log."""
    schema = schema or label_schema()
    doc = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    if not schema.validate(doc):
        raise AssertionError(f"schema-invalid: {schema.error_log}")


def is_valid(xml: bytes, schema: etree.XMLSchema | None = None) -> bool:
    schema = schema or label_schema()
    return bool(schema.validate(etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))))
