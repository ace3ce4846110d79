"""Hostile local input (issue 9, edge part): each attack is a test named after it.

Ambiguity is refused, never resolved; every bad document is an InputError naming where and what.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from accord.core.ids import MAX_ID_LENGTH, check_id, is_id
from accord.core.labels import Label
from accord.core.parties import is_alpha3, parse_party, parse_topic
from accord.errors import AgreementError, ConsentError, InputError, LabelError
from accord.formats._dates import document_day
from accord.formats._json import load_json
from accord.formats._yaml import load_yaml
from accord.formats.agreement_yaml import bundled_dir, parse_agreement, parse_agreement_text
from accord.formats.documents import consent_from_dict, load_consents, load_person, person_from_dict
from accord.formats.label_json import label_from_json
from accord.formats.stanag4774 import load_label

pytestmark = pytest.mark.reliability

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "labels"
GOOD_LABEL = json.loads((VECTORS / "kor-missile-secret.json").read_text())


def _gsomia() -> dict[str, Any]:
    return yaml.safe_load((bundled_dir() / "jpn-kor-gsomia.yaml").read_text())


def _label_json(**changes: Any) -> bytes:
    return json.dumps({**GOOD_LABEL, **changes}).encode()


# ------------------------------------------------------------------ JSON: duplicate keys, depth, constants


def test_duplicate_originator_in_a_json_label_is_refused_not_last_wins() -> None:
    text = b'{"originator":"KOR","classification":"SECRET","originator":"USA","created":"2017-01-01T00:00:00Z"}'
    with pytest.raises(LabelError, match="duplicate key 'originator'") as exc:
        load_label(text, source="dup.json")
    assert exc.value.source == "dup.json"


def test_duplicate_key_nested_anywhere_in_json_is_refused() -> None:
    with pytest.raises(InputError, match="duplicate key 'b'"):
        load_json(b'{"a": [{"b": 1, "b": 2}]}', source="x")


def test_json_nested_100000_deep_is_one_clear_error_not_a_recursion_error() -> None:
    for text in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000, "[" * 100_000):
        with pytest.raises(InputError, match="nested more than 64 deep"):
            load_json(text, source="deep.json")
    with pytest.raises(LabelError, match="nested"):
        label_from_json("[" * 100_000, source="deep.json")


def test_brackets_inside_json_strings_do_not_count_as_nesting() -> None:
    assert load_json('{"a": "' + "[" * 1000 + '\\"[["}', source="x") == {"a": "[" * 1000 + '"[['}


def test_json_nan_and_infinity_are_refused() -> None:
    for text in ('{"a": NaN}', '{"a": Infinity}', "[-Infinity]"):
        with pytest.raises(InputError, match="not a JSON value"):
            load_json(text, source="x")


def test_json_lone_surrogate_is_refused() -> None:
    with pytest.raises(InputError, match="surrogate"):
        load_json('{"id": "\\ud800"}', source="x")
    assert load_json('"\\ud83d\\ude00"', source="x") == "\U0001f600"


def test_json_label_larger_than_the_bound_is_refused_before_parsing() -> None:
    with pytest.raises(LabelError, match="at most"):
        label_from_json(b" " * (300 * 1024) + b"{}", source="big.json")


def test_json_that_is_not_utf8_or_has_a_huge_integer_is_an_input_error() -> None:
    with pytest.raises(InputError, match="UTF-8"):
        load_json(b'{"a": "\xff"}', source="x")
    with pytest.raises(InputError, match="not valid JSON"):
        load_json("[" + "9" * 5000 + "]", source="x")


def test_empty_label_file_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        load_label(b"", source="empty.xml")


# ------------------------------------------------------------------ YAML


def test_duplicate_key_in_a_yaml_agreement_is_refused() -> None:
    text = (bundled_dir() / "jpn-kor-gsomia.yaml").read_text() + "\nhub: USA\nhub: JPN\n"
    with pytest.raises(AgreementError, match="duplicate key 'hub'"):
        parse_agreement_text(text, source="dup.yaml")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("? [a, b]\n: 1\n", "complex key"),
        ("{x: 1}: 2\n", "complex key"),
        ("1: x\n", "not text"),
        ("yes: x\n", "not text"),
        ("a: &x 1\nb: *x\n", "anchors"),
        ("a: *x\n", "alias"),
        ("<<: {a: 1}\n", "merge"),
        ("x: !!binary aGVsbG8=\n", "binary"),
        ("x: !!set {a}\n", "set"),
        ("x: !!timestamp 2019-02-30\n", "timestamp"),
        ("x: !!python/object/apply:os.system [ls]\n", "constructor"),
        ("x: " + "[" * 100 + "]" * 100, "nested more than 64"),
        ("[" * 100_000, "nest"),  # libyaml stops at 1,000 itself; the pure-Python parser at 64
        ("x: " + "9" * 5000, "not valid YAML"),
        ("a: [1, 2\n", "not valid YAML"),
    ],
)
def test_ambiguous_or_exotic_yaml_is_refused(text: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        load_yaml(text, source="doc.yaml")


def test_yaml_error_message_is_one_line() -> None:
    with pytest.raises(InputError) as exc:
        load_yaml("a: [1, 2\nb: {", source="doc.yaml")
    assert "\n" not in str(exc.value)


def test_yaml_dates_stay_text_for_the_strict_date_reader() -> None:
    assert load_yaml("d: 2019-02-30\ne: 2019-01-01T00:00:00Z", source="x") == {
        "d": "2019-02-30",
        "e": "2019-01-01T00:00:00Z",
    }


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("2019-02-30", "not a date of the calendar"),
        ("2019-01-01T00:00:00Z", "YYYY-MM-DD"),
        ("20190101", "YYYY-MM-DD"),
        ("2019-W01-1", "YYYY-MM-DD"),
        ("２０１９-01-01", "YYYY-MM-DD"),
        ("9999-12-31", "supported range"),
        ("0001-01-01", "supported range"),
        (20190101, "YYYY-MM-DD"),
    ],
)
def test_impossible_or_out_of_range_date_in_an_agreement_is_a_clear_error(value: Any, needle: str) -> None:
    doc = _gsomia()
    doc["lifecycle"]["in_force"] = value
    with pytest.raises(AgreementError, match=needle) as exc:
        parse_agreement(doc, source="g.yaml")
    assert exc.value.field == "lifecycle.in_force"


def test_datetime_where_a_date_is_expected_is_refused() -> None:
    from datetime import datetime

    with pytest.raises(InputError, match="date-time"):
        document_day(datetime(2019, 1, 1), source="x", field="d")
    assert document_day(date(2019, 1, 1), source="x", field="d") == date(2019, 1, 1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("notice_days", 10**20),
        ("notice_days", "1e20"),
        ("notice_days", 1e20),
        ("notice_days", 3651),
        ("notice_days", float("inf")),
        ("term_years", 101),
        ("term_years", 10**30),
        ("term_years", True),
    ],
)
def test_agreements_check_refuses_notice_days_1e20_and_out_of_range_numbers(field: str, value: Any) -> None:
    doc = _gsomia()
    doc["lifecycle"][field] = value
    with pytest.raises(AgreementError, match="positive integer up to") as exc:
        parse_agreement(doc, source="g.yaml")
    assert exc.value.field == f"lifecycle.{field}"


def test_agreement_yaml_with_notice_days_1e20_written_as_a_float_is_refused() -> None:
    text = (bundled_dir() / "jpn-kor-gsomia.yaml").read_text().replace("notice_days: 90", "notice_days: 1.0e+20")
    with pytest.raises(AgreementError, match="notice_days"):
        parse_agreement_text(text, source="g.yaml")


def test_agreement_at_the_edge_of_the_range_still_computes_its_lifecycle() -> None:
    doc = _gsomia()
    doc["lifecycle"]["term_years"] = 100
    doc["lifecycle"]["notice_days"] = 3650
    ag = parse_agreement(copy.deepcopy(doc), source="g.yaml")
    assert ag.state_at(date(2999, 12, 31)) is not None


# ------------------------------------------------------------------ party codes


@pytest.mark.parametrize(
    "text",
    [
        "uſa",  # U+017F LONG S: "uſa".upper() == "USA"
        "USA\n",
        " USA",
        "ＵＳＡ",  # fullwidth
        "UＳA",
        "ＵSA",
        "ᴜsa",
        "US",
        "USAA",
        "U.S",
        "",
        "ﬀa",  # LATIN SMALL LIGATURE FF: upper() == "FFA"
        "jpn\u200b",  # zero-width space
        "КОR",  # Cyrillic К and О
    ],
)
def test_look_alike_party_code_is_refused_not_upper_cased_into_a_real_one(text: str) -> None:
    with pytest.raises(InputError, match="alpha-3"):
        parse_party(text, where="--to")
    assert not is_alpha3(text)


def test_plain_ascii_party_codes_are_accepted_in_either_case() -> None:
    assert parse_party("usa") == "USA"
    assert parse_party("Jpn") == "JPN"
    with pytest.raises(InputError):
        parse_party(None)


def test_look_alike_topic_is_refused() -> None:
    assert parse_topic("dprk-missile") == "DPRK-MISSILE"
    for bad in ("ſ", "DPRK‐MISSILE", "ＤＰＲＫ", "a b", ""):
        with pytest.raises(InputError):
            parse_topic(bad)


def test_look_alike_party_code_in_a_label_is_refused() -> None:
    for field, value in (("originator", "KOＲ"), ("releasable_to", ["uſa"]), ("releasable_to", ["USA\n"])):
        with pytest.raises(LabelError, match="alpha-3"):
            label_from_json(_label_json(**{field: value}), source="l.json")


def test_look_alike_party_code_in_an_agreement_is_refused() -> None:
    doc = _gsomia()
    doc["parties"] = ["JPN", "KOＲ"]
    with pytest.raises(AgreementError, match="alpha-3"):
        parse_agreement(doc, source="g.yaml")


# ------------------------------------------------------------------ ids


@pytest.mark.parametrize(
    "item_id",
    [
        "a\x00b",
        "a b",
        "",
        " ",
        "x" * (MAX_ID_LENGTH + 1),
        "kör-1",
        "ｋｏｒ",
        "-starts-with-dash",
        "a/b",
        "a\nb",
        "../../etc/passwd",
        "a\u200bb",
    ],
)
def test_label_id_outside_the_id_grammar_is_refused(item_id: str) -> None:
    with pytest.raises(LabelError) as exc:
        label_from_json(_label_json(id=item_id), source="l.json")
    assert exc.value.field == "id"
    assert "\x00" not in str(exc.value) and "\n" not in str(exc.value)


def test_label_id_with_nul_in_stanag_4774_xml_is_refused() -> None:
    xml = (VECTORS / "kor-missile-secret.xml").read_bytes()
    assert b'Id="' in xml
    bad = xml.replace(b'Id="', b'Id="x&#x1;', 1)
    with pytest.raises(LabelError):
        load_label(bad, source="l.xml")
    long_id = xml.replace(b'Id="', b'Id="' + b"x" * 300, 1)
    with pytest.raises(LabelError, match="at most 128"):
        load_label(long_id, source="l.xml")


def test_id_grammar_accepts_the_ids_in_use() -> None:
    for good in ("kor-2017-0042", "KOR-MND-2017-011", "jsdf-analyst-7", "urn:kor:item:1", "a", "x" * 128, "a.b_c"):
        assert is_id(good)
        assert check_id(good) == good
    with pytest.raises(LabelError):
        Label(
            originator="KOR",
            classification="S",
            topics=frozenset(),
            releasable_to=frozenset(),
            created=__import__("datetime").datetime(2017, 1, 1, tzinfo=__import__("datetime").UTC),
            id="a b",
        )


# ------------------------------------------------------------------ consent and person documents

CONSENT = {
    "id": "KOR-MND-2017-011",
    "originator": "KOR",
    "holder": "JPN",
    "recipient": "USA",
    "granted": "2017-01-01",
    "until": "2017-12-31",
    "topics": ["DPRK-MISSILE"],
}


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"id": 12}, "expected text"),
        ({"id": "a b"}, "consent id"),
        ({"item": "x\x00"}, "item id"),
        ({"standing": "no"}, "true or false"),
        ({"until": "9999-12-31"}, "supported range"),
        ({"granted": "2017-02-30"}, "calendar"),
        ({"holder": "ｊpn"}, "alpha-3"),
    ],
)
def test_hostile_consent_document_is_refused(changes: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConsentError, match=needle):
        consent_from_dict({**CONSENT, **changes}, source="c.yaml")


def test_duplicate_key_in_a_consent_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "id: A-1\noriginator: KOR\nholder: JPN\nholder: USA\nrecipient: USA\n"
        "granted: 2017-01-01\nuntil: 2017-12-31\ntopics: [X]\n"
    )
    with pytest.raises(ConsentError, match="duplicate key 'holder'"):
        load_consents(f)


def test_hostile_person_document_is_refused(tmp_path: Path) -> None:
    base = {"id": "p-1", "nationality": "JPN", "need_to_know": ["X"]}
    for changes in (
        {"id": 7},
        {"id": "p 1"},
        {"nationality": "JPＮ"},
        {"rank": ["a"]},
        {"clearance_until": "2020-02-30"},
    ):
        with pytest.raises(InputError):
            person_from_dict({**base, **changes}, source="p.yaml")
    f = tmp_path / "p.yaml"
    f.write_text("id: p-1\nid: p-2\nnationality: JPN\nneed_to_know: [X]\n")
    with pytest.raises(InputError, match="duplicate key 'id'"):
        load_person(f)


def test_a_huge_consent_file_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_bytes(b"#" * (2 * 1024 * 1024))
    with pytest.raises(ConsentError, match="larger than"):
        load_consents(f)


# ------------------------------------------------------------------ XML bounds, audit documents from partners


def test_stanag_4774_label_nested_100000_deep_is_a_label_error() -> None:
    with pytest.raises(LabelError):
        load_label(b"<a>" * 100_000 + b"</a>" * 100_000, source="deep.xml")


def test_stanag_4774_billion_laughs_is_not_expanded() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;</l>'
    )
    with pytest.raises(LabelError):
        load_label(bomb, source="bomb.xml")


def test_duplicate_key_in_partner_receipt_evidence_is_refused() -> None:
    from accord.audit.receipt import ReceiptEvidence

    text = '{"format": "accord-audit-receipt/1", "checkpoint": "a", "index": 0, "index": 5, "event": "{}", "proof": []}'
    with pytest.raises(InputError, match="duplicate key 'index'"):
        ReceiptEvidence.from_json(text)


def test_duplicate_key_in_an_audit_export_line_is_refused(tmp_path: Path) -> None:
    from accord.audit.log import read_export

    f = tmp_path / "x.jsonl"
    f.write_text('{"format": "accord-audit-log/1", "origin": "o", "origin": "p"}\n')
    with pytest.raises(InputError, match="not an Accord audit export"):
        read_export(f)


def test_audit_leaf_that_is_not_strict_json_is_an_input_error() -> None:
    from accord.audit.events import decode_event

    for leaf in (b"\xef\xbb\xbf{}", b"0\x00", b"\x80", b'{"a":1,"a":2}', b"[" * 100_000):
        with pytest.raises(InputError):
            decode_event(leaf)
