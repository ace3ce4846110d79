"""Hypothesis fuzzing of every parser Accord exposes to input (issue 9): agreement YAML, STANAG 4774 XML, JSON
labels, consent and person documents, banners, audit notes/checkpoints/receipts/events, and (public API only)
the sealed container's inspect. Hostile input only ever raises the InputError family (or IntegrityError for
cryptography); what is accepted satisfies the label invariants (strict party codes, the id grammar)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from accord.core.ids import is_id
from accord.core.labels import Label
from accord.core.parties import is_alpha3
from accord.formats.agreement_yaml import bundled_dir, parse_agreement, parse_agreement_text
from accord.formats.banner import parse_banner
from accord.formats.documents import consent_from_dict, person_from_dict
from accord.formats.label_json import label_from_dict, label_from_json
from accord.formats.stanag4774 import label_from_xml, load_label
from tests.fuzz.conftest import FUZZ
from tests.fuzz.util import EDITS, VALUES, mutate, paths, refused_or_accepted, text_edits

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "vectors" / "labels"
GSOMIA_TEXT = (bundled_dir() / "jpn-kor-gsomia.yaml").read_text()
GSOMIA = yaml.safe_load(GSOMIA_TEXT)
LABEL_JSON = (LABELS / "kor-missile-secret.json").read_text()
LABEL = json.loads(LABEL_JSON)
LABEL_XML = (LABELS / "kor-missile-secret.xml").read_text()
CONSENT = {
    "id": "KOR-MND-2017-011",
    "originator": "KOR",
    "holder": "JPN",
    "recipient": "USA",
    "granted": "2017-01-01",
    "until": "2017-12-31",
    "topics": ["DPRK-MISSILE"],
    "item": "kor-1",
    "standing": False,
}
PERSON = yaml.safe_load((LABELS / "person-jpn-analyst.yaml").read_text())
HOW = st.sampled_from(["replace", "replace", "delete", "extra"])


def _check_label(label: Label | None) -> None:
    """What a parser accepts holds: strict codes, the id grammar."""
    if label is None:
        return
    assert is_alpha3(label.originator) and all(is_alpha3(c) for c in label.releasable_to)
    assert label.id is None or is_id(label.id)


def _pick(doc: Any, data: st.DataObject) -> tuple[Any, ...]:
    return data.draw(st.sampled_from(paths(doc)))


# ---------------------------------------------------------------- agreement YAML


@FUZZ
@given(raw=st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_fuzz_agreement_yaml_random_bytes(raw: bytes) -> None:
    refused_or_accepted("agreement YAML: random bytes", parse_agreement_text, raw, source="fuzz.yaml")


@FUZZ
@given(edits=EDITS)
def test_fuzz_agreement_yaml_text_edits(edits: list[tuple[int, int, str]]) -> None:
    refused_or_accepted(
        "agreement YAML: text edits", parse_agreement_text, text_edits(GSOMIA_TEXT, edits), source="fuzz.yaml"
    )


#: Fields an agreement may have that the sample does not, so that hostile values reach them too.
_OPTIONAL_FIELDS = [
    ("min_suite",),
    ("hub",),
    ("protection_basis",),
    ("citations", "channel"),
    ("citations", "third_party"),
    ("lifecycle", "events", 0, "terms"),
    ("lifecycle", "events", 0, "by"),
    ("lifecycle", "events", 0, "effective"),
    ("lifecycle", "events", 0, "sourced"),
    ("provenance", "x"),
]


@FUZZ
@given(data=st.data(), how=HOW, value=VALUES)
def test_fuzz_agreement_structure(data: st.DataObject, how: str, value: Any) -> None:
    path = data.draw(st.sampled_from(paths(GSOMIA) + _OPTIONAL_FIELDS))
    doc = mutate(GSOMIA, path, "replace" if path in _OPTIONAL_FIELDS else how, value)
    ag = refused_or_accepted("agreement: hostile field values", parse_agreement, doc, source="fuzz.yaml")
    if ag is not None:
        from datetime import date

        assert all(is_alpha3(p) for p in ag.parties)
        ag.state_at(date(2999, 12, 31))  # the lifecycle arithmetic stays in the calendar


# ---------------------------------------------------------------- JSON labels


@FUZZ
@given(raw=st.binary(max_size=1000))
def test_fuzz_json_label_random_bytes(raw: bytes) -> None:
    _check_label(refused_or_accepted("JSON label: random bytes", label_from_json, raw, source="fuzz.json"))


@FUZZ
@given(edits=EDITS)
def test_fuzz_json_label_text_edits(edits: list[tuple[int, int, str]]) -> None:
    _check_label(
        refused_or_accepted(
            "JSON label: text edits",
            load_label,
            text_edits(LABEL_JSON, edits).encode("utf-8", "surrogatepass"),
            source="fuzz.json",
        )
    )


@FUZZ
@given(data=st.data(), how=HOW, value=VALUES)
def test_fuzz_json_label_structure(data: st.DataObject, how: str, value: Any) -> None:
    doc = mutate(LABEL, _pick(LABEL, data), how, value)
    _check_label(refused_or_accepted("JSON label: hostile field values", label_from_dict, doc, source="fuzz.json"))


# ---------------------------------------------------------------- STANAG 4774 XML


@FUZZ
@given(raw=st.binary(max_size=1000))
def test_fuzz_stanag_4774_random_bytes(raw: bytes) -> None:
    _check_label(refused_or_accepted("4774 XML: random bytes", label_from_xml, b"<" + raw, source="fuzz.xml"))


@FUZZ
@given(edits=EDITS)
def test_fuzz_stanag_4774_text_edits(edits: list[tuple[int, int, str]]) -> None:
    _check_label(
        refused_or_accepted(
            "4774 XML: text edits",
            load_label,
            text_edits(LABEL_XML, edits).encode("utf-8", "surrogatepass"),
            source="fuzz.xml",
        )
    )


@FUZZ
@given(
    target=st.sampled_from(
        [
            "KOR",
            "JPN",
            "USA",
            "DPRK-MISSILE",
            "군사Ⅱ급비밀",
            "2017-01-05T09:00:00Z",
            "kor-2017-0042",
            "RESTRICTIVE",
            "PERMISSIVE",
            "Releasable To",
        ]
    ),
    value=st.text(max_size=40) | st.sampled_from(["uſa", "ＵＳＡ", "a&#0;b", "x" * 200, "]]>", "&lt;"]),
)
def test_fuzz_stanag_4774_field_values(target: str, value: str) -> None:
    from xml.sax.saxutils import escape

    xml = LABEL_XML.replace(target, escape(value), 1)
    _check_label(
        refused_or_accepted(
            "4774 XML: hostile field values", load_label, xml.encode("utf-8", "surrogatepass"), source="fuzz.xml"
        )
    )


# ---------------------------------------------------------------- consent and person documents


@FUZZ
@given(data=st.data(), how=HOW, value=VALUES)
def test_fuzz_consent_document(data: st.DataObject, how: str, value: Any) -> None:
    doc = mutate(CONSENT, _pick(CONSENT, data), how, value)
    consent = refused_or_accepted("consent document: hostile field values", consent_from_dict, doc, source="c")
    if consent is not None:
        assert is_id(consent.id) and (consent.item is None or is_id(consent.item))
        assert all(is_alpha3(p) for p in (consent.originator, consent.holder, consent.recipient))


@FUZZ
@given(data=st.data(), how=HOW, value=VALUES)
def test_fuzz_person_document(data: st.DataObject, how: str, value: Any) -> None:
    doc = mutate(PERSON, _pick(PERSON, data), how, value)
    person = refused_or_accepted("person document: hostile field values", person_from_dict, doc, source="p")
    if person is not None:
        assert is_id(person.id) and is_alpha3(person.nationality)


@FUZZ
@given(edits=EDITS)
def test_fuzz_consent_yaml_text(edits: list[tuple[int, int, str]]) -> None:
    from accord.formats._yaml import load_yaml

    text = text_edits((LABELS / "consent-jpn-to-usa.yaml").read_text(), edits)

    def parse() -> object:
        return consent_from_dict(load_yaml(text.encode("utf-8", "surrogatepass"), source="c.yaml"), source="c.yaml")

    refused_or_accepted("consent YAML: text edits", parse)


# ---------------------------------------------------------------- banner


@FUZZ
@given(
    text=st.text(max_size=200) | st.sampled_from((ROOT / "vectors" / "banners" / "valid.txt").read_text().splitlines()),
    edits=EDITS,
)
def test_fuzz_banner(text: str, edits: list[tuple[int, int, str]]) -> None:
    fields = refused_or_accepted("banner: text edits", parse_banner, text_edits(text, edits))
    if fields is not None:
        assert is_alpha3(fields.originator) and all(is_alpha3(c) for c in fields.releasable_to)


# ---------------------------------------------------------------- audit notes, checkpoints, receipts, events

AUDIT = json.loads((ROOT / "vectors" / "audit" / "accord_checkpoint.json").read_text())


@FUZZ
@given(raw=st.binary(max_size=600), edits=EDITS)
def test_fuzz_audit_note_and_checkpoint(raw: bytes, edits: list[tuple[int, int, str]]) -> None:
    from accord.audit.note import open_checkpoint, open_note, parse_note, parse_vkey

    verifiers = [parse_vkey(AUDIT["log_vkey"]), parse_vkey(AUDIT["witness_vkey"])]
    edited = text_edits(AUDIT["cosigned_checkpoint"], edits).encode("utf-8", "surrogatepass")
    for msg in (raw, edited):
        refused_or_accepted("audit note: parse", parse_note, msg)
        refused_or_accepted("audit note: open", open_note, msg, verifiers, crypto=True)
        refused_or_accepted("audit checkpoint: open", open_checkpoint, msg, verifiers, crypto=True)


@FUZZ
@given(text=st.text(max_size=120), edits=EDITS)
def test_fuzz_audit_verifier_key(text: str, edits: list[tuple[int, int, str]]) -> None:
    from accord.audit.note import NoteSigner, parse_vkey

    refused_or_accepted("audit verifier key", parse_vkey, text)
    refused_or_accepted("audit verifier key: edits", parse_vkey, text_edits(AUDIT["log_vkey"], edits))
    refused_or_accepted("audit signer key: edits", NoteSigner.from_skey, text_edits(AUDIT["log_skey"], edits))


@FUZZ
@given(raw=st.binary(max_size=600), value=VALUES)
def test_fuzz_audit_receipt_and_event(raw: bytes, value: Any) -> None:
    from accord.audit.events import decode_event, encode_event
    from accord.audit.receipt import ReceiptEvidence

    refused_or_accepted("audit receipt evidence: random bytes", ReceiptEvidence.from_json, raw)
    refused_or_accepted("audit event: decode random bytes", decode_event, raw)
    if isinstance(value, dict):
        refused_or_accepted("audit event: encode hostile event", encode_event, {**AUDIT["event"], **value})


# ---------------------------------------------------------------- sealed container (public inspect only)


@FUZZ
@given(raw=st.binary(max_size=3000))
def test_fuzz_sealed_inspect_random_bytes(raw: bytes) -> None:
    from accord.sealed.container import inspect_bytes

    blob = b"PK\x03\x04" + raw if raw[:1] == b"\x00" else raw
    refused_or_accepted("sealed container: inspect random bytes", inspect_bytes, blob, roster=None, crypto=True)


_KEYS: dict[str, Any] = {}


def _jpn_keys() -> tuple[Any, Any]:
    from accord.sealed.keys import PartyKeys, Roster

    if not _KEYS:
        keys = {p: PartyKeys.generate(p) for p in ("KOR", "JPN")}
        roster = Roster()
        for k in keys.values():
            roster.pin(Roster.first_entry(k))
        _KEYS.update(jpn=keys["JPN"], roster=roster)
    return _KEYS["jpn"], _KEYS["roster"]


@FUZZ
@given(raw=st.binary(max_size=3000))
def test_fuzz_sealed_open_random_bytes(raw: bytes) -> None:
    import io

    from accord.sealed.container import open_stream

    keys, roster = _jpn_keys()
    out = io.BytesIO()
    refused_or_accepted(
        "sealed container: open random bytes", open_stream, io.BytesIO(raw), out, keys=keys, roster=roster, crypto=True
    )
    assert out.getvalue() == b""  # nothing written from an item that did not verify
