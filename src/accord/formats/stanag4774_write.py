"""Writing STANAG 4774 XML labels: the originator's label and alternative labels (``docs/labels.md``)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from lxml import etree

from accord.core.groups import ORGANISATION_POLICIES
from accord.core.ids import MAX_ID_LENGTH
from accord.core.labels import Caveat, Label, Succession
from accord.formats.stanag4774_model import (
    _NCNAME_TAIL,
    _Q,
    _ZONELESS,
    ACCORD_NS,
    DISSEMINATION,
    ITEM_ID_ATTR,
    NS,
    ONLY,
    RELEASABLE_TO,
    TOPIC,
    Kind,
)

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

    Written once per policy content (party, marking, topics, releasability, ORCON, review) and then filled in
    with the item's id and creation time (issue 8, wave 7: ~100 us of lxml per delivery at the recipient);
    the bytes are those the element tree writes (``tests/formats/test_alt_label_template.py``).
    """
    if label.id is None or created.tzinfo is None:  # no template: written (or refused) by the element tree
        return _alternative_xml_built(label, party, marking, created)
    releasable = label.effective_at(created.astimezone(UTC).date()).releasable_to
    orcon = Caveat.ORIGINATOR_CONTROL in label.caveats
    key = (party, marking, label.topics, releasable, orcon, label.review)
    parts = _ALT_TEMPLATES.get(key)
    if parts is None:
        parts = _alt_template(label, party, marking, releasable, orcon)
        if len(_ALT_TEMPLATES) >= _ALT_TEMPLATES_MAX:
            _ALT_TEMPLATES.clear()
        _ALT_TEMPLATES[key] = parts
    if not parts:  # this content has no template (a sentinel met elsewhere in it)
        return _alternative_xml_built(label, party, marking, created)
    values = {"L": label_id("alternative", label.id, party) or "", "I": label.id, "A": _dt(created)}
    return "".join(values[p] if k % 2 else p for k, p in enumerate(parts)).encode()


def _alternative_xml_built(label: Label, party: str, marking: str, created: datetime) -> bytes:
    return _bytes(label_element(alternative_label(label, party, marking, created), "alternative", party=party))


#: Templates of alternative labels by policy content; values alternate literal text and a field (odd places:
#: "L" the label's @Id, "I" the item id, "A" the creation time); () where the content has no template.
_ALT_TEMPLATES: dict[tuple[object, ...], tuple[str, ...]] = {}
_ALT_TEMPLATES_MAX = 1024
_SENTINEL_ID = "accord-alt-template-item"
_SENTINEL_AT = datetime(1900, 1, 2, 3, 4, 5, 60708, tzinfo=UTC)


def _alt_template(label: Label, party: str, marking: str, releasable: frozenset[str], orcon: bool) -> tuple[str, ...]:
    """The alternative label of this content with sentinels for the item id and creation time, split at them;
    () when a sentinel does not occur exactly where the fields go (then every call writes the tree)."""
    alt = Label(
        originator=party,
        classification=marking,
        topics=label.topics,
        releasable_to=releasable,
        caveats=frozenset({Caveat.ORIGINATOR_CONTROL}) if orcon else frozenset(),
        created=_SENTINEL_AT,
        review=label.review,
        id=_SENTINEL_ID,
    )
    text = _bytes(label_element(alt, "alternative", party=party)).decode()
    lid, at = label_id("alternative", _SENTINEL_ID, party) or "", _dt(_SENTINEL_AT)
    if "\0" in text or text.count(lid) != 1 or text.count(at) != (1 if label.review is not None else 2):
        return ()
    text = text.replace(lid, "\0L\0")
    if text.count(_SENTINEL_ID) != 1:
        return ()
    return tuple(text.replace(_SENTINEL_ID, "\0I\0").replace(at, "\0A\0").split("\0"))
