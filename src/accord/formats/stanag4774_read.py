"""Reading STANAG 4774 XML labels: strict, safe, refusing ambiguity (see :mod:`accord.formats.stanag4774`)."""

from __future__ import annotations

import codecs
from datetime import UTC, datetime

from lxml import etree

from accord.core.groups import ORGANISATION_POLICIES
from accord.core.ids import MAX_ID_LENGTH, is_id
from accord.core.labels import MAX_SUCCESSION, Caveat, Label, PolicyCategory, Succession
from accord.core.parties import is_alpha3
from accord.errors import LabelError
from accord.formats.stanag4774_model import (
    _ACCORD_TAGS,
    _CANON_TAG,
    _DECL_ENCODING,
    _KEPT_TAGS,
    _NATO_TAG_BY_URI,
    _OID_URI,
    _PARSER,
    _Q,
    _ROOTS,
    _XS_DATETIME,
    _ZONELESS,
    DISSEMINATION,
    ITEM_ID_ATTR,
    MAX_LABEL_BYTES,
    NATO_TAGS,
    NS,
    ONLY,
    RELEASABLE_TO,
    TOPIC,
    LabelDocument,
)

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
        read = _category(cat, organisation, seen, source)
        if read is None:
            continue  # INFORMATIVE: not used for access control (ADatP-4774 Table 7)
        tag, kind, values = read
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


def _category(
    cat: etree._Element, organisation: bool, seen: set[str], source: str | None
) -> tuple[str, str, list[str]] | None:
    """One Category checked: (canonical tag, type, values), or None for an INFORMATIVE one.

    Refused: no or repeated TagName, an unknown Type, a URI that is not the tag's, a value that is not a
    GenericValue, empty or repeated, and a RESTRICTIVE or PERMISSIVE category Accord does not understand.
    """
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
        return None
    want = _ACCORD_TAGS.get(tag) or (_KEPT_TAGS.get(tag) if organisation else None)
    if want is None:
        raise _err(
            f"{kind} category {raw_tag!r} is not understood; refusing rather than ignoring a restriction",
            source,
            "Category",
        )
    if want != kind:
        raise _err(f"Category {raw_tag!r} must be {want}, not {kind}", source, "Category")
    return tag, kind, values


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
