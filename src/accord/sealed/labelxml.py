"""STANAG 4774 label bytes as carried in a sealed item: a structural check and a banner.

The full label model is the core's (``accord.formats.stanag4774``); this module only checks that a
label is a well-formed 4774 ``originatorConfidentialityLabel`` (or ``alternativeConfidentialityLabel``)
and extracts a display banner, so that a container can be inspected even where the core cannot map the
label. XML is parsed without entities, DTDs or network access.
"""

from __future__ import annotations

from lxml import etree

from accord.core.labels import Label
from accord.errors import AccordError, InputError
from accord.formats.stanag4774 import label_from_xml

NS = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"
MAX_LABEL = 256 * 1024
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def _root(xml: bytes) -> etree._Element:
    if not xml or len(xml) > MAX_LABEL:
        raise InputError("label must be non-empty XML bytes up to 256 KiB", source="label")
    try:
        return etree.fromstring(xml, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as e:
        raise InputError(f"label is not well-formed XML: {str(e)[:80]}", source="label") from e


def check(xml: bytes, *, alternative: bool = False) -> None:
    """Refuse anything but a STANAG 4774 label root with ConfidentialityInformation (fail closed)."""
    root = _root(xml)
    want = "alternativeConfidentialityLabel" if alternative else "originatorConfidentialityLabel"
    if root.tag != f"{{{NS}}}{want}":
        raise InputError(f"expected slab:{want} in namespace {NS}", source="label")
    info = root.find(f"{{{NS}}}ConfidentialityInformation")
    if info is None or info.find(f"{{{NS}}}PolicyIdentifier") is None or info.find(f"{{{NS}}}Classification") is None:
        raise InputError("label lacks ConfidentialityInformation, PolicyIdentifier or Classification", source="label")


def parse_label(xml: bytes) -> Label | None:
    """The core's Label for ``xml``, or None when the core cannot map it (the item is still openable)."""
    try:
        return label_from_xml(xml)
    except AccordError:
        return None


def banner(xml: bytes, label: Label | None = None) -> str:
    """The core's banner when it can read the label; else one built from the XML."""
    if label is not None:
        return label.banner
    root = _root(xml)
    info = root.find(f"{{{NS}}}ConfidentialityInformation")
    if info is None:
        return "(no label)"
    policy = (info.findtext(f"{{{NS}}}PolicyIdentifier") or "").strip()
    cls = (info.findtext(f"{{{NS}}}Classification") or "").strip()
    parts = [f"{policy} {cls}".strip()]
    for cat in info.findall(f"{{{NS}}}Category"):
        vals = [(v.text or "").strip() for v in cat.findall(f"{{{NS}}}GenericValue")]
        name = cat.get("TagName", "")
        if name.lower() == "releasable to":
            parts.append("REL TO " + ", ".join(sorted(vals)))
        elif vals:
            parts.append(" ".join(sorted(vals)))
    return " // ".join(parts)
