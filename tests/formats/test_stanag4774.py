"""STANAG 4774 label XML and Accord JSON: vectors, round trips, refusals."""

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.labels import Caveat
from accord.errors import AccordError, LabelError
from accord.formats.label_json import label_from_json, label_to_dict, label_to_json
from accord.formats.stanag4774 import alternative_label_xml, label_from_xml, label_to_xml, load_label
from tests.conftest import make_label

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "labels"


def test_vector_xml_and_json_are_the_same_label() -> None:
    xml = label_from_xml((VECTORS / "kor-missile-secret.xml").read_bytes())
    js = label_from_json((VECTORS / "kor-missile-secret.json").read_bytes())
    assert xml == js
    assert xml.id == "kor-2017-0042" and xml.level is not None and xml.level.key == "II"
    assert xml.review == datetime(2027, 1, 5, tzinfo=UTC)


def test_vector_orcon_and_informative_category() -> None:
    lab = label_from_xml((VECTORS / "jpn-nuclear-orcon.xml").read_bytes())
    assert lab.caveats == {Caveat.ORIGINATOR_CONTROL}
    assert lab.level is not None and lab.level.key == "GOKUHI"


def test_vector_only_category_is_originator_only() -> None:
    lab = label_from_xml((VECTORS / "usa-noforn.xml").read_bytes())
    assert lab.caveats == {Caveat.ORIGINATOR_ONLY} and not lab.releasable_to


def test_round_trip_xml_and_json() -> None:
    lab = make_label(caveats=("ORCON", "ORIGINATOR-ONLY"))
    assert label_from_xml(label_to_xml(lab)) == lab
    assert label_from_json(label_to_json(lab)) == lab
    assert label_to_dict(lab)["caveats"] == ["ORCON", "ORIGINATOR-ONLY"]


def test_serialisation_matches_the_vector_byte_for_byte() -> None:
    lab = label_from_xml((VECTORS / "kor-missile-secret.xml").read_bytes())
    assert label_to_xml(lab) == (VECTORS / "kor-missile-secret.xml").read_bytes()


def test_alternative_label_carries_the_receivers_policy() -> None:
    lab = make_label()
    alt = alternative_label_xml(lab, "JPN", "極秘", datetime(2017, 1, 6, tzinfo=UTC)).decode()
    assert "alternativeConfidentialityLabel" in alt and "<slab:PolicyIdentifier>JPN<" in alt
    assert "極秘" in alt


def test_load_label_sniffs_the_format() -> None:
    assert load_label((VECTORS / "kor-missile-secret.xml").read_bytes()) == load_label(
        (VECTORS / "kor-missile-secret.json").read_bytes()
    )


BAD_XML = [
    (b"<not xml", "not well-formed"),
    (b"<x/>", "originatorConfidentialityLabel"),
    (
        b'<slab:originatorConfidentialityLabel xmlns:slab="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"/>',
        "ConfidentialityInformation",
    ),
]


@pytest.mark.parametrize(("doc", "needle"), BAD_XML)
def test_malformed_xml_is_refused(doc: bytes, needle: str) -> None:
    with pytest.raises(LabelError, match=needle):
        label_from_xml(doc)


def _mutate(old: str, new: str) -> bytes:
    return (VECTORS / "kor-missile-secret.xml").read_text().replace(old, new).encode()


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ('TagName="Topic"', 'TagName="Nickname"', "not understood"),  # unknown restriction: fail closed
        ('Type="PERMISSIVE"', 'Type="MAYBE"', "Type"),
        ("<slab:CreationDateTime>2017-01-05T09:00:00Z", "<slab:CreationDateTime>yesterday", "CreationDateTime"),
        ("2017-01-05T09:00:00Z", "2017-01-05T09:00", "xs:dateTime"),  # a zoneless time is read (docs/labels.md)
        ("<slab:GenericValue>JPN</slab:GenericValue>", "<slab:GenericValue>Japan</slab:GenericValue>", "alpha-3"),
        (
            "<slab:PolicyIdentifier>KOR</slab:PolicyIdentifier>",
            "<slab:PolicyIdentifier></slab:PolicyIdentifier>",
            "PolicyIdentifier",
        ),
    ],
)
def test_invalid_fields_are_refused(old: str, new: str, needle: str) -> None:
    with pytest.raises(LabelError, match=needle):
        label_from_xml(_mutate(old, new))


def test_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("CLASSIFIED-PAYLOAD")
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>'
        '<slab:originatorConfidentialityLabel xmlns:slab="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0">'
        "<slab:ConfidentialityInformation><slab:PolicyIdentifier>KOR</slab:PolicyIdentifier>"
        "<slab:Classification>&e;</slab:Classification></slab:ConfidentialityInformation>"
        "<slab:CreationDateTime>2017-01-05T09:00:00Z</slab:CreationDateTime>"
        "</slab:originatorConfidentialityLabel>"
    ).encode()
    with pytest.raises(LabelError) as exc:
        label_from_xml(doc)  # the entity is left unresolved, so Classification is empty
    assert "CLASSIFIED-PAYLOAD" not in str(exc.value)


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"originator": "KOR"}', "classification"),
        (b'{"originator": "KOR", "classification": "S", "created": "2017-01-05T09:00:00Z", "colour": 1}', "colour"),
        (b'{"originator": "KOR", "classification": "S", "created": "2017-01-05"}', "time zone"),
        (b'{"originator": "KOR", "classification": "S", "created": "2017-01-05T00:00Z", "topics": "X"}', "list"),
    ],
)
def test_malformed_json_is_refused(doc: bytes, needle: str) -> None:
    with pytest.raises(AccordError, match=needle):
        label_from_json(doc)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_parsers_raise_only_accord_errors(data: bytes) -> None:
    with contextlib.suppress(AccordError):
        load_label(data)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 600), st.binary(min_size=1, max_size=8))
def test_corrupted_vector_raises_only_accord_errors(pos: int, junk: bytes) -> None:
    raw = (VECTORS / "jpn-nuclear-orcon.xml").read_bytes()
    pos = min(pos, len(raw))
    with contextlib.suppress(AccordError):
        load_label(raw[:pos] + junk + raw[pos + len(junk) :])
