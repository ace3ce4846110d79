"""The world CLI end to end: accord verify, accord spif, accord world generate, --agreements WORLD."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from accord.core import verify as verify_mod
from accord.core.decision import Decision, decide
from accord.formats.agreement_yaml import bundled_dir
from tests.support.cli import run

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "labels"


def test_verify_bundled_world_ok_prints_flows() -> None:
    code, out, _ = run("verify")
    assert code == 0, out
    assert "Allowed flows" in out and "every allowed flow rests on agreements in force" in out


def test_verify_json_synthetic() -> None:
    code, out, _ = run("verify", "--synthetic", "8:12:3", "--seed", "4", "--json", "--limit", "5")
    assert code == 0
    d = json.loads(out)
    assert d["ok"] is True and d["pairs"] == 56 and len(d["flows"]) <= 5 and d["flows_total"] >= len(d["flows"])


def test_verify_exits_1_when_an_invariant_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberately broken engine (allows every release on the direct hop) makes verify fail."""

    def allow_all(label, holder, recipient, at, consents=(), *, agreements):  # type: ignore[no-untyped-def]
        d: Decision = decide(label, holder, recipient, at, consents, agreements=agreements)
        return d._replace(allowed=True, route=(holder, recipient), agreements=d.agreements or ("jpn-kor-gsomia",))

    monkeypatch.setattr(verify_mod, "decide", allow_all)
    code, out, _ = run("verify")
    assert code == 1
    assert "VIOLATION" in out and "violation(s)" in out


def test_verify_bad_synthetic_spec_exits_2() -> None:
    code, _, err = run("verify", "--synthetic", "40x400")
    assert code == 2 and "error: --synthetic" in err


def test_spif_export_and_check(tmp_path: Path) -> None:
    code, out, _ = run("spif", "export", "--out", str(tmp_path))
    assert code == 0 and "3 nations, 5 agreements" in out  # the 2023 missile-warning mechanism too
    files = sorted((tmp_path / "equivalence" / "kor-jpn-usa-tisa").glob("*.xml"))
    assert [f.name for f in files] == ["JPN.xml", "KOR.xml", "USA.xml"]
    code, out, _ = run("spif", "check", *(str(f) for f in files))
    assert code == 0 and out.count("ok ") == 3
    # The export plus the agreements is a world that checks.
    shutil.copytree(bundled_dir(), tmp_path / "agreements")
    code, out, _ = run("agreements", "check", str(tmp_path))
    assert code == 0 and "5 agreement(s) valid" in out and "national policies (SPIF): JPN, KOR, USA" in out


def test_agreements_check_refuses_a_contradicting_spif_with_one_line(tmp_path: Path) -> None:
    run("spif", "export", "--out", str(tmp_path))
    shutil.copytree(bundled_dir(), tmp_path / "agreements")
    f = tmp_path / "equivalence" / "kor-usa-security-agreement" / "USA.xml"
    f.write_text(
        f.read_text(encoding="utf-8").replace('policyRef="KOR" lacv="4"', 'policyRef="KOR" lacv="3"'), encoding="utf-8"
    )
    code, out, err = run("agreements", "check", str(tmp_path))
    assert code == 2
    assert err.startswith(f"error: {f}: securityClassification[")
    assert "contradicts the kor-usa-security-agreement equivalence table" in err and "Traceback" not in err + out


def test_spif_check_refuses_a_malformed_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text('<spif:SPIF xmlns:spif="http://www.xmlspif.org/spif" schemaVersion="3.0" version="1"/>')
    code, _, err = run("spif", "check", str(bad))
    assert code == 2 and "SPIF/@schemaVersion: SPIF 3.0 is not supported" in err


def test_spif_show_and_label() -> None:
    code, out, _ = run("spif", "show", "KOR", "--json")
    assert code == 0 and json.loads(out)["levels"][1]["marking"] == "군사Ⅱ급비밀"
    code, _, err = run("spif", "show", "FRA")
    assert code == 2 and "no SPIF for 'FRA'" in err
    code, out, _ = run("spif", "label", "--label", str(VECTORS / "kor-missile-secret.xml"))
    assert code == 0 and "KOR 군사Ⅱ급비밀" in out and "REL TO" in out


def test_world_generate_then_decide_and_matrix_with_agreements_dir(tmp_path: Path) -> None:
    code, out, _ = run(
        "world",
        "generate",
        "--out",
        str(tmp_path),
        "--nations",
        "6",
        "--bilaterals",
        "8",
        "--multilaterals",
        "2",
        "--seed",
        "3",
    )
    assert code == 0 and "6 nations, 10 agreements" in out
    code, out, _ = run("agreements", "check", str(tmp_path))
    assert code == 0 and "10 agreement(s) valid" in out
    code, out, _ = run("matrix", "--agreements", str(tmp_path), "--at", "2025-01-01", "--json")
    assert code == 0 and len(json.loads(out)["parties"]) == 6
    code, out, _ = run("verify", "--agreements", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_spif_export_at_a_day_uses_the_terms_then(tmp_path: Path) -> None:
    code, _, _ = run("spif", "export", "--out", str(tmp_path), "--at", "2020-01-01")
    assert code == 0
    text = (tmp_path / "equivalence" / "jpn-kor-gsomia" / "KOR.xml").read_text(encoding="utf-8")
    assert text.count('policyRef="JPN"') == 2  # SECRET and CONFIDENTIAL rows only (JK-R2)
    assert 'docRefURI="urn:accord:agreement:jpn-kor-gsomia"' in text


def test_verify_onward_json() -> None:
    code, out, _ = run("verify", "--onward", "--json", "--limit", "0")
    d = json.loads(out)
    assert code == 0 and d["ok"] is True and d["decisions"] > 1000


def test_spif_show_refuses_a_look_alike_party() -> None:
    code, _, err = run("spif", "show", "kor\u017f"[:2] + "\u017f")  # 'ko' + U+017F LONG S: upper() would be 'KOS'
    assert code == 2 and "look-alike" in err
    code, out, _ = run("spif", "show", "kor")
    assert code == 0 and "군사Ⅱ급비밀" in out
