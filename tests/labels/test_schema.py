"""Every label Accord writes is valid against the official STANAG 4774 schema 1.3 (and 4778 1.4 for a
binding): originator, alternative, inside a binding, inside a sealed item's manifest."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from accord import release
from accord.core.ids import ID_PATTERN
from accord.core.labels import Caveat, Label, Succession
from accord.formats.stanag4774 import (
    NS,
    alternative_label_xml,
    label_from_xml,
    label_id,
    label_to_xml,
)
from accord.formats.stanag4778 import bind, read_binding
from accord.sealed import container as c
from accord.sealed.keys import PartyKeys, Roster
from tests.labels.xsd import assert_valid, binding_schema, is_valid

VECTORS = Path(__file__).parent.parent / "vectors" / "labels"
T0 = datetime(2017, 1, 5, 9, tzinfo=UTC)


def kor(item: str | None = "2017-0042", **kw: object) -> Label:
    args: dict[str, object] = {
        "originator": "KOR",
        "classification": "군사Ⅱ급비밀",
        "topics": frozenset({"DPRK-MISSILE"}),
        "releasable_to": frozenset({"JPN", "USA"}),
        "created": T0,
        "id": item,
    }
    args.update(kw)
    return Label(**args)  # type: ignore[arg-type]


def review_of(xml: bytes) -> str | None:
    return etree.fromstring(xml).get("ReviewDateTime")


@pytest.mark.parametrize(
    "item",
    ["2017-0042", str(uuid.UUID(int=0x4D2)), "0" + uuid.uuid4().hex, "kor-2017-0042", "urn:item:2017:0042", "9", None],
)
def test_item_ids_that_are_not_xml_names_still_give_valid_labels(item: str | None) -> None:
    xml = label_to_xml(kor(item))
    assert_valid(xml)
    assert label_from_xml(xml).id == item  # the item id survives, apart from the label's @Id


def test_old_form_with_the_item_id_as_xs_id_is_what_the_schema_refuses() -> None:
    # the bug: Id="2017-0042" (an xs:ID must be an NCName)
    xml = label_to_xml(kor()).replace(b'Id="olab.2017-0042"', b'Id="2017-0042"')
    assert not is_valid(xml)


def test_review_date_time_is_always_written_without_succession() -> None:
    xml = label_to_xml(kor(review=None))
    assert review_of(xml) == "2017-01-05T09:00:00Z"  # due for review at creation
    assert label_from_xml(xml) == kor(review=None)  # and read back as "no later review date"
    assert review_of(label_to_xml(kor(review=datetime(2027, 1, 5, tzinfo=UTC)))) == "2027-01-05T00:00:00Z"
    assert_valid(xml)


def test_alternative_label_is_valid_with_its_own_id() -> None:
    alt = alternative_label_xml(kor(), "JPN", "極秘", datetime(2017, 1, 6, tzinfo=UTC))
    assert_valid(alt)
    root = etree.fromstring(alt)
    assert root.tag == f"{{{NS}}}alternativeConfidentialityLabel"
    assert root.get("Id") == "alab.JPN.2017-0042" != label_id("originator", "2017-0042")
    assert root.get("ReviewDateTime") is not None


def test_binding_with_originator_and_alternative_labels_is_valid_and_ids_are_distinct() -> None:
    keys = PartyKeys.generate("KOR")
    alt = Label(
        originator="JPN",
        classification="極秘",
        topics=frozenset({"DPRK-MISSILE"}),
        releasable_to=frozenset({"JPN", "USA"}),
        created=T0,
        id="2017-0042",
    )
    doc = bind(kor(), b"payload", alternatives=[alt], keys=keys)
    assert_valid(doc, binding_schema())
    ids = [d.label_id for d in read_binding(doc).labels]
    assert len(ids) == 2 and len(set(ids)) == 2


def test_labels_with_succession_chain_groups_and_caveats_are_valid() -> None:
    third = kor(classification="군사Ⅲ급비밀", created=datetime(2017, 2, 1, tzinfo=UTC))
    second = kor(
        classification="군사Ⅰ급비밀",
        created=datetime(2017, 2, 1, tzinfo=UTC),
        successor=Succession(datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 1, 1, tzinfo=UTC), third),
    )
    lab = kor(
        releasable_to=frozenset({"NATO", "JPN"}),
        caveats=frozenset({Caveat.ORIGINATOR_CONTROL}),
        successor=Succession(datetime(2017, 3, 1, tzinfo=UTC), datetime(2017, 3, 1, tzinfo=UTC), second),
    )
    xml = label_to_xml(lab)
    assert_valid(xml)
    assert label_from_xml(xml) == lab
    assert_valid(label_to_xml(kor(caveats=frozenset({Caveat.ORIGINATOR_ONLY}))))


def test_label_in_a_sealed_manifest_is_valid(aset: object) -> None:
    parties = {p: PartyKeys.generate(p) for p in ("KOR", "JPN")}
    roster = Roster()
    for k in parties.values():
        roster.pin(Roster.first_entry(k))
    lab = kor(str(uuid.UUID(int=7)))  # an id starting with a digit
    blob = release.seal_bytes(
        b"x", lab, recipients=["JPN"], signer=parties["KOR"], roster=roster, agreements=aset, at=date(2017, 6, 1)
    )  # type: ignore[arg-type]
    xml = c.inspect_bytes(blob, roster=roster).label_xml
    assert_valid(xml)
    assert c.open_bytes(blob, keys=parties["JPN"], roster=roster).label == lab


def test_every_vector_is_schema_valid() -> None:
    files = sorted(VECTORS.rglob("*.xml"))
    assert len(files) >= 9
    for path in files:
        data = path.read_bytes()
        binding = b"BindingInformation" in data or "BindingInformation".encode("utf-16-le") in data
        assert_valid(data, binding_schema() if binding else None)


ITEM_IDS = st.from_regex(ID_PATTERN, fullmatch=True)  # Accord's one id grammar (accord.core.ids)


@settings(max_examples=150, deadline=None)
@given(item=ITEM_IDS, review=st.booleans(), orcon=st.booleans())
def test_any_item_id_gives_a_schema_valid_label_that_round_trips(item: str, review: bool, orcon: bool) -> None:
    lab = kor(
        item,
        review=datetime(2027, 1, 1, tzinfo=UTC) if review else None,
        caveats=frozenset({Caveat.ORIGINATOR_CONTROL}) if orcon else frozenset(),
    )
    xml = label_to_xml(lab)
    assert_valid(xml)
    assert label_from_xml(xml) == lab
    assert_valid(alternative_label_xml(lab, "JPN", "極秘", T0))
