"""STANAG 4774 confidentiality labels in XML (ADatP-4774 Ed. A V1, schema 1.3; ``docs/labels.md``).

Mapping of an Accord :class:`~accord.core.labels.Label` onto ``slab:originatorConfidentialityLabel``:

- ``PolicyIdentifier``: the originator's alpha-3 code (the national policy), or ``NATO``;
- ``Classification``: the national marking (``군사Ⅱ급비밀``);
- Category ``Topic`` (RESTRICTIVE): the topics (need-to-know requires all);
- Category ``Releasable To`` (PERMISSIVE): alpha-3 codes (or groups: ``NATO``, ``EU``);
- Category ``Only`` (PERMISSIVE): the originator alone (originator's nation only), or NATO's use: a
  list of nations and groups the item may reach, and no other;
- Category ``Dissemination Control`` (RESTRICTIVE) with ``ORCON``: originator control;
- ``@Id``: a *label* identifier (an XML ``NCName``, ``olab.…``), never the item id;
  ``@accord:ItemId`` (namespace ``urn:accord:label:1``): the item id;
- ``@ReviewDateTime``: always written unless there is ``SuccessionHandling`` (ADatP-4774 §4.3);
  a label without a review date is written as due for review at its creation;
- ``CreationDateTime``; ``SuccessionHandling`` (a chain of successors).

Reading is strict and safe (no DTDs, entities or network; size bounded), and refuses ambiguity
rather than resolving it: two ``Classification`` or ``PolicyIdentifier`` elements, a category
repeated, a value repeated, a byte-order mark that contradicts the declared encoding. Category tag
names are matched case-insensitively (the standard's ``Releasable to`` is ``Releasable To``). A
RESTRICTIVE or PERMISSIVE category Accord does not understand is refused (fail closed);
INFORMATIVE ones are ignored, as the standard says. ``URI`` attributes are checked when present.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from lxml import etree

from accord.core.groups import ORGANISATION_POLICIES
from accord.core.ids import MAX_ID_LENGTH, is_id
from accord.core.labels import MAX_SUCCESSION, Caveat, Label, PolicyCategory, Succession
from accord.core.parties import is_alpha3
from accord.errors import LabelError

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


# ---------------------------------------------------------------------------------------------- writing


def _dt(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if value.microsecond == 0
        else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    )


def label_id(kind: Kind, item_id: str | None, party: str | None = None) -> str | None:
    """The ``@Id`` Accord gives a label: an XML NCName derived from the item id, distinct per kind and
    (for an alternative label) per party: ``olab.kor-2017-0042``, ``alab.JPN.kor-2017-0042``; a hash
    (``olab-…``) when the item id has characters outside ``A-Z a-z 0-9 . _ -`` or is too long for it. None
    without an item id."""
    if item_id is None:
        return None
    prefix = "olab" if kind == "originator" else f"alab.{party}" if party else "alab"
    if _NCNAME_TAIL.fullmatch(item_id) and len(prefix) + 1 + len(item_id) <= MAX_ID_LENGTH:  # bounded as read
        return f"{prefix}.{item_id}"
    return f"{prefix.replace('.', '-')}-{hashlib.sha256(item_id.encode()).hexdigest()[:32]}"


def _info(parent: etree._Element, label: Label, policy: str, classification: str) -> None:
    info = etree.SubElement(parent, f"{_Q}ConfidentialityInformation")
    pol = etree.SubElement(info, f"{_Q}PolicyIdentifier")
    pol.text = policy
    if ORGANISATION_POLICIES.get(policy):
        pol.set("URI", ORGANISATION_POLICIES[policy])
    etree.SubElement(info, f"{_Q}Classification").text = classification
    cats: list[tuple[str, str, list[str]]] = [
        (TOPIC, "RESTRICTIVE", sorted(label.topics)),
        (RELEASABLE_TO, "PERMISSIVE", sorted(label.releasable_to)),
    ]
    if Caveat.ORIGINATOR_ONLY in label.caveats:
        cats.append((ONLY, "PERMISSIVE", [label.originator]))
    elif label.only:
        cats.append((ONLY, "PERMISSIVE", sorted(label.only)))
    if Caveat.ORIGINATOR_CONTROL in label.caveats:
        cats.append((DISSEMINATION, "RESTRICTIVE", ["ORCON"]))
    cats.extend((c.tag, c.type, list(c.values)) for c in label.categories)
    for tag, kind, values in cats:
        if values:
            cat = etree.SubElement(info, f"{_Q}Category", TagName=tag, Type=kind)
            for v in values:
                etree.SubElement(cat, f"{_Q}GenericValue").text = v


def _succession(parent: etree._Element, succ: Succession) -> None:
    handling = etree.SubElement(parent, f"{_Q}SuccessionHandling")
    when = etree.SubElement(handling, f"{_Q}SuccessionDateTime")
    # A zoneless time read from another tool is written back zoneless (its window is kept).
    when.text = (
        _dt(succ.start)
        if succ.start == succ.end
        else (succ.start + _ZONELESS).astimezone(UTC).replace(tzinfo=None).isoformat()
    )
    nxt = etree.SubElement(handling, f"{_Q}SuccessorConfidentialityLabel")
    _info(nxt, succ.label, succ.label.originator, succ.label.marking)
    etree.SubElement(nxt, f"{_Q}CreationDateTime").text = _dt(succ.label.created)
    if succ.label.successor is not None:
        _succession(nxt, succ.label.successor)


def label_element(label: Label, kind: Kind = "originator", *, party: str | None = None) -> etree._Element:
    """The ``slab:originatorConfidentialityLabel`` (or alternative) element of ``label``."""
    root_name = "originatorConfidentialityLabel" if kind == "originator" else "alternativeConfidentialityLabel"
    nsmap = {"slab": NS, "accord": ACCORD_NS} if label.id is not None else {"slab": NS}
    root = etree.Element(f"{_Q}{root_name}", nsmap=nsmap)
    lid = label_id(kind, label.id, party)
    if lid is not None:
        root.set("Id", lid)
    if label.id is not None:
        root.set(ITEM_ID_ATTR, label.id)
    if label.successor is None or label.review is not None:
        # Required when there is no SuccessionHandling (ADatP-4774 §4.3); no review date = due at creation.
        root.set("ReviewDateTime", _dt(label.review if label.review is not None else label.created))
    _info(root, label, label.originator, label.marking)
    etree.SubElement(root, f"{_Q}CreationDateTime").text = _dt(label.created)
    if label.successor is not None:
        _succession(root, label.successor)
    return root


def _bytes(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def label_to_xml(label: Label) -> bytes:
    """Serialise ``label`` as a STANAG 4774 ``originatorConfidentialityLabel`` (UTF-8 XML)."""
    return _bytes(label_element(label))


def alternative_label(label: Label, party: str, marking: str, created: datetime) -> Label:
    """The receiving nation's alternative label of ``label``: its own policy and equivalent marking
    (JK-R4), the same topics, releasability and ORCON, and the same item id."""
    caveats = label.caveats & {Caveat.ORIGINATOR_CONTROL}
    return Label(
        originator=party,
        classification=marking,
        topics=label.topics,
        releasable_to=label.effective_at(created.astimezone(UTC).date()).releasable_to,
        caveats=caveats,
        created=created,
        review=label.review,
        id=label.id,
    )


def alternative_label_xml(label: Label, party: str, marking: str, created: datetime) -> bytes:
    """A receiving nation's ``alternativeConfidentialityLabel``: the same item in its own policy.

    The originator's label is never overwritten (ADatP-4774.1 §4.2); the alternative carries the
    receiving party's policy and equivalent marking (JK-R4) and the same topics and releasability.
    Its ``@Id`` differs from the originator label's (``alab.PARTY.…``).
    """
    return _bytes(label_element(alternative_label(label, party, marking, created), "alternative", party=party))


# ---------------------------------------------------------------------------------------------- reading


def _err(message: str, source: str | None, field: str | None = None) -> LabelError:
    return LabelError(message, source=source, field=field)


def _when(text: str | None, field: str, source: str | None) -> tuple[datetime, datetime]:
    """An xs:dateTime as the window of instants it may denote: one instant with a zone, 28 hours without."""
    raw = (text or "").strip()
    if not _XS_DATETIME.fullmatch(raw):
        raise _err(f"expected an xs:dateTime, got {text!r}", source, field)
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if when.tzinfo is not None:
            when = when.astimezone(UTC)
            return when, when
        base = when.replace(tzinfo=UTC)
        return base - _ZONELESS, base + _ZONELESS
    except (ValueError, OverflowError):
        raise _err(f"expected an xs:dateTime (years 0002 to 9998), got {text!r}", source, field) from None


def _one(parent: etree._Element, name: str, source: str | None, *, required: bool = True) -> etree._Element | None:
    found = parent.findall(f"{_Q}{name}")
    if len(found) > 1:
        raise _err(f"{len(found)} {name} elements: refusing rather than choosing one", source, name)
    if not found and required:
        raise _err(f"{name} is missing", source, name)
    return found[0] if found else None


def _check_oid_uri(uri: str, what: str, source: str | None) -> None:
    if not _OID_URI.fullmatch(uri):
        raise _err(f"{what} URI {uri!r} is not a urn:oid: URI (ADatP-4774 §4)", source, what)


def _policy(info: etree._Element, source: str | None) -> str:
    el = _one(info, "PolicyIdentifier", source)
    assert el is not None
    text = " ".join((el.text or "").split())
    if not text:
        raise _err("PolicyIdentifier is empty", source, "PolicyIdentifier")
    if text.casefold() in {p.casefold() for p in ORGANISATION_POLICIES}:  # NATO is case-insensitive
        text = text.upper()
    uri = el.get("URI")
    nato_uri = ORGANISATION_POLICIES["NATO"]
    if uri is not None:
        _check_oid_uri(uri, "PolicyIdentifier", source)
        if (uri == nato_uri) != (text == "NATO"):
            raise _err(
                f"PolicyIdentifier {text!r} with URI {uri}: the name and the OID name different policies",
                source,
                "PolicyIdentifier",
            )
    if not is_alpha3(text) and text not in ORGANISATION_POLICIES:
        raise _err(
            f"PolicyIdentifier {text!r} is not a policy Accord reads (an ISO 3166 alpha-3 code, or "
            f"{', '.join(sorted(ORGANISATION_POLICIES))})",
            source,
            "PolicyIdentifier",
        )
    return text


class _Info:
    __slots__ = ("caveats", "categories", "classification", "only", "policy", "releasable", "topics")  # noqa: RUF023

    def __init__(self) -> None:
        self.policy = ""
        self.classification = ""
        self.topics: set[str] = set()
        self.releasable: set[str] = set()
        self.only: set[str] = set()
        self.caveats: set[Caveat] = set()
        self.categories: list[PolicyCategory] = []


def _confidentiality(owner: etree._Element, source: str | None) -> _Info:
    info = _one(owner, "ConfidentialityInformation", source)
    assert info is not None
    allowed = {f"{_Q}{n}" for n in ("PolicyIdentifier", "Classification", "PrivacyMark", "Category")}
    for child in info:
        if child.tag not in allowed:
            raise _err(
                f"unexpected element {child.tag} in ConfidentialityInformation: refusing rather than ignoring it",
                source,
                "ConfidentialityInformation",
            )
    out = _Info()
    out.policy = _policy(info, source)
    cls = _one(info, "Classification", source)
    assert cls is not None
    out.classification = " ".join((cls.text or "").split())
    if not out.classification:
        raise _err("Classification is empty", source, "Classification")
    if cls.get("URI") is not None:
        raise _err(
            "Classification has a URI attribute, which ADatP-4774 says SHALL NOT be used", source, "Classification"
        )
    _one(info, "PrivacyMark", source, required=False)  # legacy display text: read, not used
    organisation = out.policy in ORGANISATION_POLICIES
    seen: set[str] = set()
    for cat in info.findall(f"{_Q}Category"):
        raw_tag = cat.get("TagName")
        kind = (cat.get("Type") or "").strip().upper()
        if raw_tag is None or not raw_tag.strip():
            raise _err("a Category has no TagName", source, "Category")
        folded = " ".join(raw_tag.split()).casefold()
        tag = _CANON_TAG.get(folded, raw_tag.strip())
        if folded in seen:
            raise _err(f"Category {raw_tag!r} appears twice: refusing rather than merging", source, "Category")
        seen.add(folded)
        if kind not in ("RESTRICTIVE", "PERMISSIVE", "INFORMATIVE"):
            raise _err(
                f"Category {raw_tag!r} has Type {cat.get('Type')!r}; expected RESTRICTIVE, PERMISSIVE or INFORMATIVE",
                source,
                "Category",
            )
        uri = cat.get("URI")
        if uri is not None:
            _check_oid_uri(uri, f"Category {raw_tag!r}", source)
            named = _NATO_TAG_BY_URI.get(uri)
            if named is not None and named != tag:
                raise _err(f"Category {raw_tag!r} has the URI of NATO's {named!r} tag set", source, "Category")
            if named is None and (organisation or tag in (RELEASABLE_TO, ONLY)) and tag in NATO_TAGS:
                raise _err(f"Category {raw_tag!r} has URI {uri}, not {NATO_TAGS[tag][1]}", source, "Category")
        values: list[str] = []
        for v in cat:
            if v.tag != f"{_Q}GenericValue":
                raise _err(f"Category {raw_tag!r}: only GenericValue is allowed (ADatP-4774 §4)", source, "Category")
            text = " ".join((v.text or "").split())
            if not text:
                raise _err(f"Category {raw_tag!r} has an empty value", source, "Category")
            if text in values:
                raise _err(f"Category {raw_tag!r} repeats the value {text!r}", source, "Category")
            values.append(text)
        if kind == "INFORMATIVE":
            continue  # not used for access control (ADatP-4774 Table 7)
        want = _ACCORD_TAGS.get(tag) or (_KEPT_TAGS.get(tag) if organisation else None)
        if want is None:
            raise _err(
                f"{kind} category {raw_tag!r} is not understood; refusing rather than ignoring a restriction",
                source,
                "Category",
            )
        if want != kind:
            raise _err(f"Category {raw_tag!r} must be {want}, not {kind}", source, "Category")
        if tag == TOPIC:
            out.topics.update(values)
        elif tag == RELEASABLE_TO:
            out.releasable.update(values)
        elif tag == ONLY:
            if values == [out.policy] and not organisation:
                out.caveats.add(Caveat.ORIGINATOR_ONLY)
            else:
                out.only.update(values)
        elif tag == DISSEMINATION:
            for value in values:
                if value != "ORCON":
                    raise _err(f"unknown dissemination control {value!r}", source, "Category")
            out.caveats.add(Caveat.ORIGINATOR_CONTROL)
        else:
            out.categories.append(PolicyCategory(tag, kind, tuple(values)))
    return out


def _build(
    info: _Info,
    created: datetime,
    review: datetime | None,
    item_id: str | None,
    successor: Succession | None,
    source: str | None,
) -> Label:
    try:
        return Label(
            originator=info.policy,
            classification=info.classification,
            topics=frozenset(info.topics),
            releasable_to=frozenset(info.releasable),
            caveats=frozenset(info.caveats),
            created=created,
            review=review,
            id=item_id,
            only=frozenset(info.only),
            categories=tuple(info.categories),
            successor=successor,
        )
    except LabelError as exc:
        raise _err(exc.message, source, exc.field) from None


def _successor(owner: etree._Element, item_id: str | None, depth: int, source: str | None) -> Succession | None:
    handling = _one(owner, "SuccessionHandling", source, required=False)
    if handling is None:
        return None
    if depth >= MAX_SUCCESSION:
        raise _err(
            f"more than {MAX_SUCCESSION} successive labels: succession cannot be applied", source, "SuccessionHandling"
        )
    start, end = _when(
        _one(handling, "SuccessionDateTime", source).text,  # type: ignore[union-attr]
        "SuccessionDateTime",
        source,
    )
    nxt = _one(handling, "SuccessorConfidentialityLabel", source)
    assert nxt is not None
    info = _confidentiality(nxt, source)
    created, _ = _when(_text(nxt, "CreationDateTime", source), "SuccessorConfidentialityLabel/CreationDateTime", source)
    _one(nxt, "OriginatorID", source, required=False)
    label = _build(info, created, None, item_id, _successor(nxt, item_id, depth + 1, source), source)
    try:
        return Succession(start, end, label)
    except LabelError as exc:
        raise _err(exc.message, source, exc.field) from None


def _text(owner: etree._Element, name: str, source: str | None) -> str | None:
    el = _one(owner, name, source)
    return None if el is None else el.text


def parse_label_element(root: etree._Element, *, source: str | None = None) -> LabelDocument:
    """Read a ``slab:originatorConfidentialityLabel`` or ``alternativeConfidentialityLabel`` element."""
    tag = str(root.tag)
    if not tag.startswith(_Q) or tag[len(_Q) :] not in _ROOTS:
        raise _err(
            f"expected slab:originatorConfidentialityLabel or slab:alternativeConfidentialityLabel in "
            f"namespace {NS}, got {tag}",
            source,
        )
    kind = _ROOTS[tag[len(_Q) :]]
    known = {
        f"{_Q}{n}" for n in ("ConfidentialityInformation", "OriginatorID", "CreationDateTime", "SuccessionHandling")
    }
    for child in root:
        if str(child.tag).startswith(_Q) and child.tag not in known:
            raise _err(f"unexpected element {child.tag}", source)
    info = _confidentiality(root, source)
    _one(root, "OriginatorID", source, required=False)  # who made the label: read, not used
    created, _ = _when(_text(root, "CreationDateTime", source), "CreationDateTime", source)
    review_attr = root.get("ReviewDateTime")
    # A zoneless review time is taken at its earliest instant (review no later than the writer meant).
    review = _when(review_attr, "ReviewDateTime", source)[0] if review_attr is not None else None
    if review == created:
        review = None  # "due for review at creation", as Accord writes a label without a review date
    label_attr = root.get("Id")
    if label_attr is not None and len(label_attr) > MAX_ID_LENGTH:  # bounded like every id (accord.core.ids)
        raise _err(
            f"label Id {label_attr[:40]!r}… is {len(label_attr)} characters long; at most {MAX_ID_LENGTH}", source, "Id"
        )
    item_id = root.get(ITEM_ID_ATTR)
    if item_id is None and label_attr is not None and is_id(label_attr):
        # A label from elsewhere: its label id is the only identifier the item has, when it is one in
        # Accord's id grammar (an NCName such as "_x" or "étiquette" is not: the item then has no id).
        item_id = label_attr
    successor = _successor(root, item_id, 0, source)
    return LabelDocument(kind, _build(info, created, review, item_id, successor, source), label_attr)


def sniff_xml(data: bytes) -> bool:
    """True when ``data`` looks like XML in any encoding a byte-order mark (or none) announces."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="ignore").lstrip()[:1] == "<"
    if data[:2] in (b"<\x00", b"\x00<"):
        return True
    return data.lstrip()[:1] == b"<"


def _check_encoding(data: bytes, source: str | None) -> None:
    """A byte-order mark and a declared encoding must agree (else: which one governs is ambiguous)."""
    for bom, family in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            text = data[len(bom) :].decode(
                "utf-8" if family == "utf-8" else ("utf-16-le" if bom == codecs.BOM_UTF16_LE else "utf-16-be"),
                errors="replace",
            )
            m = _DECL_ENCODING.match(text[:200].encode("ascii", errors="replace"))
            if m and not m.group(1).decode().lower().replace("_", "-").startswith(family):
                raise _err(
                    f"the byte-order mark says {family.upper()} but the declaration says "
                    f"{m.group(1).decode()}: refusing an ambiguous encoding",
                    source,
                )
            return


def parse_xml(data: bytes | str, *, source: str | None = None, limit: int = MAX_LABEL_BYTES) -> etree._Element:
    """Parse label XML safely (bounded, no DTD/entities/network; BOM and declaration must agree)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > limit:
        raise _err(f"document is larger than {limit // 1024} KiB", source)
    _check_encoding(raw, source)
    try:
        root = etree.fromstring(raw, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise _err(f"not well-formed XML: {exc}", source) from None
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise _err("a DOCTYPE is not allowed in a label", source)
    return root


def label_from_xml(data: bytes | str, *, source: str | None = None) -> Label:
    """Parse a STANAG 4774 ``originatorConfidentialityLabel`` into a :class:`Label`.

    Raises:
        LabelError: the document is not well-formed, not an originator label, or has a field
            Accord cannot interpret safely.
    """
    root = parse_xml(data, source=source)
    if root.tag != f"{_Q}originatorConfidentialityLabel":
        raise _err(f"expected slab:originatorConfidentialityLabel in namespace {NS}, got {root.tag}", source)
    return parse_label_element(root, source=source).label


def read_label_documents(data: bytes, *, source: str | None = None) -> list[LabelDocument]:
    """Every label in a document: a single 4774 label (originator or alternative) or a 4778
    ``BindingInformation`` (:mod:`accord.formats.stanag4778`)."""
    from accord.formats import stanag4778

    root = parse_xml(data, source=source, limit=stanag4778.MAX_BINDING_BYTES)
    if root.tag == f"{{{stanag4778.NS}}}BindingInformation":
        return stanag4778.parse_binding_element(root, source=source).labels
    if len(data) > MAX_LABEL_BYTES:
        raise _err(f"label is larger than {MAX_LABEL_BYTES // 1024} KiB", source)
    return [parse_label_element(root, source=source)]


def originator_of(docs: list[LabelDocument], *, source: str | None = None) -> Label:
    """The one originator label among ``docs``; an alternative label alone is not decided on."""
    originators = [d.label for d in docs if d.kind == "originator"]
    if len(originators) > 1:
        raise _err(f"{len(originators)} originator labels: refusing rather than choosing one", source)
    if not originators:
        raise _err(
            "only an alternativeConfidentialityLabel: it names the item in a receiving nation's policy "
            "and not its originator, so no release can be decided on it (ADatP-4774.1 §4.2); give the "
            "originator's label",
            source,
        )
    return originators[0]


def load_label(data: bytes, *, source: str | None = None) -> Label:
    """Read the originator's label from a file in any form Accord reads: STANAG 4774 XML (any encoding
    its byte-order mark names), a 4778 ``BindingInformation``, or Accord JSON."""
    from accord.formats.label_json import label_from_json

    if sniff_xml(data):
        return originator_of(read_label_documents(data, source=source), source=source)
    return label_from_json(data, source=source)
