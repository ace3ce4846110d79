"""STANAG 4774 confidentiality labels in XML (ADatP-4774 Ed. A, ``docs/labels.md``).

Mapping of an Accord :class:`~accord.core.labels.Label` onto ``slab:originatorConfidentialityLabel``:

- ``PolicyIdentifier``: the originator's alpha-3 code (the national policy);
- ``Classification``: the national marking (``군사Ⅱ급비밀``);
- Category ``Topic`` (RESTRICTIVE): the topics (need-to-know requires all);
- Category ``Releasable To`` (PERMISSIVE): alpha-3 codes of the nations it may be released to;
- Category ``Only`` (PERMISSIVE) with the originator's code: the originator's-nation-only caveat;
- Category ``Dissemination Control`` (RESTRICTIVE) with ``ORCON``: originator control;
- ``@Id``: the item id; ``@ReviewDateTime``; ``CreationDateTime``.

Parsing is strict and safe (no DTDs, entities or network); a category Accord does not
understand that could restrict dissemination (RESTRICTIVE or PERMISSIVE) is refused rather
than ignored (fail closed); INFORMATIVE categories are ignored as the standard says.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from accord.core.labels import Caveat, Label
from accord.errors import LabelError
from accord.formats._dates import aware_datetime

NS = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"
_Q = f"{{{NS}}}"
TOPIC = "Topic"
RELEASABLE_TO = "Releasable To"
ONLY = "Only"
DISSEMINATION = "Dissemination Control"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True, remove_pis=True)


def _dt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value.microsecond == 0 else \
        value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _category(parent: etree._Element, tag: str, kind: str, values: list[str]) -> None:
    cat = etree.SubElement(parent, f"{_Q}Category", TagName=tag, Type=kind)
    for v in values:
        etree.SubElement(cat, f"{_Q}GenericValue").text = v


def _label_element(root_name: str, policy: str, classification: str, created: datetime,
                   review: datetime | None, item_id: str | None,
                   categories: list[tuple[str, str, list[str]]]) -> etree._Element:
    root = etree.Element(f"{_Q}{root_name}", nsmap={"slab": NS})
    if item_id is not None:
        root.set("Id", item_id)
    if review is not None:
        root.set("ReviewDateTime", _dt(review))
    info = etree.SubElement(root, f"{_Q}ConfidentialityInformation")
    etree.SubElement(info, f"{_Q}PolicyIdentifier").text = policy
    etree.SubElement(info, f"{_Q}Classification").text = classification
    for tag, kind, values in categories:
        if values:
            _category(info, tag, kind, values)
    etree.SubElement(root, f"{_Q}CreationDateTime").text = _dt(created)
    return root


def label_to_xml(label: Label) -> bytes:
    """Serialise ``label`` as a STANAG 4774 ``originatorConfidentialityLabel`` (UTF-8 XML)."""
    cats: list[tuple[str, str, list[str]]] = [
        (TOPIC, "RESTRICTIVE", sorted(label.topics)),
        (RELEASABLE_TO, "PERMISSIVE", sorted(label.releasable_to)),
    ]
    if Caveat.ORIGINATOR_ONLY in label.caveats:
        cats.append((ONLY, "PERMISSIVE", [label.originator]))
    if Caveat.ORIGINATOR_CONTROL in label.caveats:
        cats.append((DISSEMINATION, "RESTRICTIVE", ["ORCON"]))
    root = _label_element("originatorConfidentialityLabel", label.originator, label.marking, label.created,
                          label.review, label.id, cats)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def alternative_label_xml(label: Label, party: str, marking: str, created: datetime) -> bytes:
    """A receiving nation's ``alternativeConfidentialityLabel``: the same item in its own policy.

    The originator's label is never overwritten (ADatP-4774.1 §4.2); the alternative carries the
    receiving party's policy and equivalent marking (JK-R4) and the same topics and releasability.
    """
    cats: list[tuple[str, str, list[str]]] = [
        (TOPIC, "RESTRICTIVE", sorted(label.topics)),
        (RELEASABLE_TO, "PERMISSIVE", sorted(label.releasable_to)),
    ]
    if Caveat.ORIGINATOR_CONTROL in label.caveats:
        cats.append((DISSEMINATION, "RESTRICTIVE", ["ORCON"]))
    root = _label_element("alternativeConfidentialityLabel", party, marking, created, label.review,
                          label.id, cats)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _parse_dt(text: str | None, field: str, source: str | None) -> datetime:
    if text and (when := aware_datetime(text.strip())) is not None:
        return when
    raise LabelError(f"expected an xs:dateTime with a time zone, got {text!r}", source=source, field=field)


def _children(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if not isinstance(c, etree._Comment)]


def label_from_xml(data: bytes | str, *, source: str | None = None) -> Label:
    """Parse a STANAG 4774 ``originatorConfidentialityLabel`` into a :class:`Label`.

    Raises:
        LabelError: the document is not well-formed, not an originator label, or has a field
            Accord cannot interpret safely.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise LabelError(f"not well-formed XML: {exc}", source=source) from None
    if root.tag != f"{_Q}originatorConfidentialityLabel":
        raise LabelError(f"expected slab:originatorConfidentialityLabel in namespace {NS}, got {root.tag}",
                         source=source)
    info = root.find(f"{_Q}ConfidentialityInformation")
    if info is None:
        raise LabelError("ConfidentialityInformation is missing", source=source,
                         field="ConfidentialityInformation")
    policy = info.findtext(f"{_Q}PolicyIdentifier")
    classification = info.findtext(f"{_Q}Classification")
    if not policy or not policy.strip():
        raise LabelError("PolicyIdentifier is missing", source=source, field="PolicyIdentifier")
    if not classification or not classification.strip():
        raise LabelError("Classification is missing", source=source, field="Classification")
    topics: set[str] = set()
    releasable: set[str] = set()
    caveats: set[Caveat] = set()
    for cat in info.findall(f"{_Q}Category"):
        tag = cat.get("TagName")
        kind = cat.get("Type")
        if kind not in ("RESTRICTIVE", "PERMISSIVE", "INFORMATIVE"):
            raise LabelError(f"Category {tag!r} has Type {kind!r}; expected RESTRICTIVE, PERMISSIVE or "
                             "INFORMATIVE", source=source, field="Category")
        values: list[str] = []
        for v in _children(cat):
            if v.tag != f"{_Q}GenericValue":
                raise LabelError(f"Category {tag!r}: only GenericValue is allowed (ADatP-4774 §4)",
                                 source=source, field="Category")
            values.append((v.text or "").strip())
        if kind == "INFORMATIVE":
            continue
        if (tag, kind) == (TOPIC, "RESTRICTIVE"):
            topics.update(values)
        elif (tag, kind) == (RELEASABLE_TO, "PERMISSIVE"):
            releasable.update(values)
        elif (tag, kind) == (ONLY, "PERMISSIVE"):
            if values != [policy.strip()]:
                raise LabelError("Category 'Only' must name the originator alone", source=source,
                                 field="Category")
            caveats.add(Caveat.ORIGINATOR_ONLY)
        elif (tag, kind) == (DISSEMINATION, "RESTRICTIVE"):
            for value in values:
                if value != "ORCON":
                    raise LabelError(f"unknown dissemination control {value!r}", source=source, field="Category")
            caveats.add(Caveat.ORIGINATOR_CONTROL)
        else:
            raise LabelError(f"{kind} category {tag!r} is not understood; refusing rather than ignoring a "
                             "restriction", source=source, field="Category")
    created = _parse_dt(root.findtext(f"{_Q}CreationDateTime"), "CreationDateTime", source)
    review_attr = root.get("ReviewDateTime")
    review = _parse_dt(review_attr, "ReviewDateTime", source) if review_attr is not None else None
    try:
        return Label(originator=policy.strip(), classification=classification.strip(),
                     topics=frozenset(topics), releasable_to=frozenset(releasable),
                     caveats=frozenset(caveats), created=created, review=review, id=root.get("Id"))
    except LabelError as exc:
        raise LabelError(exc.message, source=source, field=exc.field) from None


def load_label(data: bytes, *, source: str | None = None) -> Label:
    """Read a label file in either form: STANAG 4774 XML (starts with ``<``) or Accord JSON."""
    from accord.formats.label_json import label_from_json

    head = data.lstrip()[:1]
    if head == b"<" or data.startswith(b"\xef\xbb\xbf<"):
        return label_from_xml(data, source=source)
    return label_from_json(data, source=source)
