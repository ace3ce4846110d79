"""Signed agreement-lifecycle documents: vectors, verification, order, the event store, flows opened/closed."""

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from accord.core.agreements import EventType
from accord.formats.agreement_yaml import load_agreements
from accord.formats.lifecycle_doc import (
    FORMAT,
    Ed25519Keys,
    LifecycleError,
    load_document,
    load_store,
    sign_document,
    verify_document,
)
from accord.sealed.verifiers import RosterKeys  # the roster's side of lifecycle_doc.KeySource
from tests.support.cli import run

VEC = Path(__file__).resolve().parent.parent / "vectors" / "lifecycle"
KEYS = str(VEC / "keys.yaml")


def _vectors():  # type: ignore[no-untyped-def]
    """The vector generator (tests/vectors/lifecycle/make_vectors.py) as a module: body() and signed()."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_lifecycle_vectors", VEC / "make_vectors.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


LABEL = str(Path(__file__).resolve().parent.parent / "vectors" / "labels" / "kor-missile-secret.json")


@pytest.mark.parametrize("name", sorted(p.name for p in (VEC / "good").iterdir()))
def test_good_vectors_verify(name: str) -> None:
    doc = load_document(VEC / "good" / name, load_agreements(), Ed25519Keys.load(KEYS))
    assert doc.signers and doc.digest


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("unsigned.yaml", "signatures: the document is not signed"),
        ("signed-by-a-non-party.yaml", "not a party to jpn-kor-gsomia"),
        ("signed-by-the-other-party.yaml", "the acting party KOR must sign"),
        ("dated-before-the-agreement.yaml", "before the agreement was signed"),
        ("out-of-order-withdrawal.yaml", "out of order"),
        ("before-the-last-event.yaml", "out of order"),
        ("amendment-signed-by-one.yaml", "every party"),
        ("tampered.yaml", "does not verify"),
    ],
)
def test_bad_document_is_refused_with_one_line_and_changes_nothing(tmp_path: Path, name: str, what: str) -> None:
    store = tmp_path / "events"
    code, _out, err = run("agreements", "apply-event", str(VEC / "bad" / name), "--keys", KEYS, "--events", str(store))
    assert code == 2 and err.startswith("error: ") and what in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert not store.exists() or not any(store.iterdir())


def test_dry_run_shows_the_flows_a_notice_closes_and_records_nothing(tmp_path: Path) -> None:
    code, out, _ = run(
        "agreements", "apply-event", str(VEC / "good" / "notice-2027.yaml"), "--keys", KEYS, "--dry-run", "--json"
    )
    assert code == 0
    d = json.loads(out)
    assert d["compared_on"] == "2027-11-23" and d["dry_run"] and d["recorded"] is None
    closes = {(f["holder"], f["recipient"], f["topic"]) for f in d["flows"] if f["change"] == "closes"}
    assert ("KOR", "JPN", "OTHER-CMI") in closes and ("JPN", "KOR", "OTHER-CMI") in closes
    rerouted = [f for f in d["flows"] if f["change"] == "reroutes" and f["topic"] == "DPRK-MISSILE"]
    assert rerouted and rerouted[0]["after"]["route"][1] == "USA"


def test_recorded_notice_drives_decisions_then_its_withdrawal_restores_them(tmp_path: Path) -> None:
    store = tmp_path / "events"
    code, _, err = run(
        "agreements", "apply-event", str(VEC / "good" / "notice-2027.yaml"), "--keys", KEYS, "--events", str(store)
    )
    assert code == 0, err
    assert len(list(store.iterdir())) == 1
    # the same document again is a repeat: refused
    code, _, err = run(
        "agreements", "apply-event", str(VEC / "good" / "notice-2027.yaml"), "--keys", KEYS, "--events", str(store)
    )
    assert code == 2 and "already recorded" in err
    other = yaml.safe_dump(
        {
            "originator": "KOR",
            "classification": "군사Ⅱ급비밀",
            "topics": ["LOGISTICS"],
            "releasable_to": ["JPN"],
            "created": "2027-01-01T00:00:00Z",
            "id": "kor-1",
        }
    )
    label = tmp_path / "other.yaml"
    label.write_text(json.dumps(yaml.safe_load(other)), encoding="utf-8")
    code, out, _ = run(
        "decide",
        "--label",
        str(label),
        "--from",
        "KOR",
        "--to",
        "JPN",
        "--at",
        "2027-12-01",
        "--events",
        str(store),
        "--keys",
        KEYS,
        "--json",
    )
    assert code == 1 and "TERMINATED" in {r["code"] for r in json.loads(out)["reasons"]}
    # KOR withdraws its notice in writing (signed): the agreement renews again
    v = _vectors()
    body, signed = v.body, v.signed
    withdrawal = tmp_path / "withdrawal.yaml"
    withdrawal.write_text(yaml.safe_dump(signed(body("notice-withdrawn", "2027-09-01"), "KOR")), encoding="utf-8")
    code, _, err = run("agreements", "apply-event", str(withdrawal), "--keys", KEYS, "--events", str(store))
    assert code == 0, err
    code, out, _ = run(
        "decide",
        "--label",
        str(label),
        "--from",
        "KOR",
        "--to",
        "JPN",
        "--at",
        "2027-12-01",
        "--events",
        str(store),
        "--keys",
        KEYS,
        "--json",
    )
    assert code == 0


def test_event_store_with_a_document_out_of_order_loads_nothing(tmp_path: Path) -> None:
    v = _vectors()
    body, signed = v.body, v.signed
    store = tmp_path / "events"
    store.mkdir()
    (store / "a.yaml").write_text(yaml.safe_dump(signed(body("notice-withdrawn", "2027-09-01"), "KOR")))
    with pytest.raises(LifecycleError, match="out of order"):
        load_store(store, load_agreements(), Ed25519Keys.load(KEYS))
    shutil.copy(VEC / "good" / "notice-2027.yaml", store / "b.yaml")  # sorted by date: notice first
    aset = load_store(store, load_agreements(), Ed25519Keys.load(KEYS))
    ag = aset.get("jpn-kor-gsomia")
    assert ag is not None and [e.type for e in ag.lifecycle.events][-2:] == [
        EventType.NOTICE_OF_TERMINATION,
        EventType.NOTICE_WITHDRAWN,
    ]


def test_amendment_changes_the_terms_from_its_date() -> None:
    aset = load_agreements()
    doc = load_document(VEC / "good" / "amendment-2027.yaml", aset, Ed25519Keys.load(KEYS))
    ag = aset.what_if(add=[(doc.agreement, doc.event)]).get("jpn-kor-gsomia")
    assert ag is not None and len(ag.terms_at(date(2027, 1, 10)).equivalence) == 1
    assert len(ag.terms_at(date(2027, 1, 9)).equivalence) == 2


def test_document_signed_with_pinned_roster_keys(tmp_path: Path) -> None:
    """The parties' real (hybrid ECDSA P-384 + ML-DSA-87) keys from the pinned roster sign and verify."""
    from accord.sealed.keys import PartyKeys, Roster

    kor, jpn = PartyKeys.generate("KOR"), PartyKeys.generate("JPN")
    roster = Roster()
    for k in (kor, jpn):
        roster.pin(Roster.first_entry(k))
    doc = sign_document(
        {
            "format": FORMAT,
            "agreement": "jpn-kor-gsomia",
            "event": {"type": "notice-of-termination", "date": "2027-08-01", "by": "KOR"},
        },
        "KOR",
        kor.sign_key_id,
        kor.sign,
    )
    ok = verify_document(doc, load_agreements(), RosterKeys(roster), source="doc")
    assert ok.signers == ("KOR",)
    forged = sign_document({k: v for k, v in doc.items() if k != "signatures"}, "KOR", kor.sign_key_id, jpn.sign)
    with pytest.raises(LifecycleError, match="does not verify"):
        verify_document(forged, load_agreements(), RosterKeys(roster), source="doc")


def test_keys_are_required_and_exclusive() -> None:
    code, _, err = run("agreements", "apply-event", str(VEC / "good" / "notice-2027.yaml"), "--dry-run")
    assert code == 2 and "--roster DIR or --keys FILE" in err


def test_agreements_list_applies_the_event_store(tmp_path: Path) -> None:
    store = tmp_path / "events"
    assert (
        run(
            "agreements", "apply-event", str(VEC / "good" / "notice-2027.yaml"), "--keys", KEYS, "--events", str(store)
        )[0]
        == 0
    )
    code, out, _ = run("agreements", "list", "--at", "2027-12-01", "--events", str(store), "--keys", KEYS, "--json")
    rows = {r["id"]: r for r in json.loads(out)["agreements"]}
    assert code == 0 and rows["jpn-kor-gsomia"]["status"] == "terminated"
    code, out, _ = run("agreements", "list", "--at", "2027-12-01", "--json")
    assert {r["id"]: r for r in json.loads(out)["agreements"]}["jpn-kor-gsomia"]["status"] == "in-force"


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "just text",
        "format: accord-lifecycle/1\nagreement: [x]\n",
        "format: accord-lifecycle/1\nagreement: jpn-kor-gsomia\nevent: 3\n",
        "format: accord-lifecycle/1\nagreement: jpn-kor-gsomia\nevent: {type: [x], date: 2027-01-01, by: KOR}\n",
        "format: accord-lifecycle/1\nagreement: jpn-kor-gsomia\n"
        "event: {type: suspended, date: 2027-01-01, by: [KOR]}\n",
        "format: accord-lifecycle/1\nagreement: jpn-kor-gsomia\nevent: {type: amended, date: 2027-01-01, terms: 5}\n",
        "format: accord-lifecycle/1\nagreement: jpn-kor-gsomia\nevent: {type: suspended, date: 2027-01-01, by: KOR,"
        " note: !!binary aGk=}\nsignatures: [{party: KOR, keyid: k, sig: aGk=}]\n",
        "format: accord-lifecycle/1\nagreement: jpn-kor-gsomia\nevent: {type: suspended, date: 2027-01-01, by: KOR}\n"
        "signatures: [{party: KOR, keyid: k, sig: '%%%'}]\n",
        "format: accord-lifecycle/1\nagreement: jpn-kor-gsomia\nevent: {type: suspended, date: 2027-01-01, by: KOR}\n"
        "signatures: [{party: [KOR], keyid: k, sig: aGk=}]\n",
        "format: accord-lifecycle/1\nformat: accord-lifecycle/1\n",
    ],
)
def test_malformed_document_is_one_error_line(tmp_path: Path, text: str) -> None:
    doc = tmp_path / "doc.yaml"
    doc.write_text(text, encoding="utf-8")
    code, _out, err = run("agreements", "apply-event", str(doc), "--keys", KEYS, "--dry-run")
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err, err
