"""STANAG 4774 XML labels: namespaces, tag names, limits and :class:`LabelDocument` (read and written)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from lxml import etree

from accord.core.labels import Label

NS = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"
ACCORD_NS = "urn:accord:label:1"
_Q = f"{{{NS}}}"
ITEM_ID_ATTR = f"{{{ACCORD_NS}}}ItemId"
TOPIC = "Topic"
RELEASABLE_TO = "Releasable To"
ONLY = "Only"
DISSEMINATION = "Dissemination Control"
CONTEXT = "Context"
ADDITIONAL_SENSITIVITY = "Additional Sensitivity"
ADMINISTRATIVE = "Administrative"
MAX_LABEL_BYTES = 256 * 1024

#: NATO's registered tag sets (ADatP-4774 App. 2): tag name -> (type, URI).
NATO_TAGS: dict[str, tuple[str, str]] = {
    ADDITIONAL_SENSITIVITY: ("RESTRICTIVE", "urn:oid:1.3.26.1.4.1"),
    RELEASABLE_TO: ("PERMISSIVE", "urn:oid:1.3.26.1.4.2"),
    ADMINISTRATIVE: ("INFORMATIVE", "urn:oid:1.3.26.1.4.3"),
    CONTEXT: ("PERMISSIVE", "urn:oid:1.3.26.1.4.4"),
    ONLY: ("PERMISSIVE", "urn:oid:1.3.26.1.4.5"),
}
_NATO_TAG_BY_URI = {uri: tag for tag, (_, uri) in NATO_TAGS.items()}
#: Accord's own tags (any policy) and the organisation-policy tags it keeps uninterpreted.
_ACCORD_TAGS = {TOPIC: "RESTRICTIVE", RELEASABLE_TO: "PERMISSIVE", ONLY: "PERMISSIVE", DISSEMINATION: "RESTRICTIVE"}
_KEPT_TAGS = {CONTEXT: "PERMISSIVE", ADDITIONAL_SENSITIVITY: "RESTRICTIVE"}
_CANON_TAG = {t.casefold(): t for t in (*_ACCORD_TAGS, *_KEPT_TAGS, ADMINISTRATIVE)}

_OID_URI = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_XS_DATETIME = re.compile(
    r"-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_NCNAME_TAIL = re.compile(r"[A-Za-z0-9._-]{1,200}")
_DECL_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
#: An untimezoned xs:dateTime lies anywhere in [t - 14:00, t + 14:00] (XML Schema Part 2, 3.2.7.3).
_ZONELESS = timedelta(hours=14)

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True
)

Kind = Literal["originator", "alternative"]
_ROOTS: dict[str, Kind] = {
    "originatorConfidentialityLabel": "originator",
    "alternativeConfidentialityLabel": "alternative",
}


@dataclass(frozen=True, slots=True)
class LabelDocument:
    """A label as read: its kind (originator's or an alternative in a receiving nation's policy), the
    label, and its ``@Id`` (a label identifier, distinct from the item id)."""

    kind: Kind
    label: Label
    label_id: str | None = None
