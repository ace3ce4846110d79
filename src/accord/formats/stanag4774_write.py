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
    """
    return _bytes(label_element(alternative_label(label, party, marking, created), "alternative", party=party))
