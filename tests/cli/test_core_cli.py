"""The core CLI end to end: decide, access, agreements, matrix, demo."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from accord.formats.agreement_yaml import bundled_dir
from tests.support.cli import run

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "labels"


@pytest.mark.parametrize("label", ["kor-missile-secret.xml", "kor-missile-secret.json"])
def test_decide_allowed_json(label: str) -> None:
    code, out, _ = run(
        "decide", "--label", str(VECTORS / label), "--from", "KOR", "--to", "JPN", "--at", "2017-01-05", "--json"
    )
    assert code == 0
    d = json.loads(out)
    assert d["allowed"] is True and d["route"] == ["KOR", "JPN"] and d["marking"] == "極秘"
    assert d["agreements"] == ["jpn-kor-gsomia"]
    assert all({"code", "agreement", "article", "message"} <= set(r) for r in d["reasons"])


def test_decide_relay_2015_table_output() -> None:
    code, out, _ = run(
        "decide",
        "--label",
        str(VECTORS / "kor-missile-secret.xml"),
        "--from",
        "KOR",
        "--to",
        "JPN",
        "--at",
        "2015-03-01",
    )
    assert code == 0
    assert "ALLOWED" in out and "KOR (군사Ⅱ급비밀) → USA (SECRET) → JPN (極秘)" in out and "T-R5" in out


def test_decide_denied_exits_1() -> None:
    code, out, _ = run(
        "decide",
        "--label",
        str(VECTORS / "kor-missile-secret.xml"),
        "--from",
        "JPN",
        "--to",
        "USA",
        "--at",
        "2017-03-01",
        "--json",
    )
    assert code == 1
    d = json.loads(out)
    assert d["allowed"] is False and d["awaiting_consent"] is True
    assert d["reasons"][0]["code"] == "CONSENT_REQUIRED"


def test_decide_with_consent_file() -> None:
    code, out, _ = run(
        "decide",
        "--label",
        str(VECTORS / "kor-missile-secret.xml"),
        "--from",
        "JPN",
        "--to",
        "USA",
        "--at",
        "2017-03-01",
        "--consent",
        str(VECTORS / "consent-jpn-to-usa.yaml"),
        "--json",
    )
    assert code == 0
    assert json.loads(out)["consents_used"] == ["KOR-MND-2017-011"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--label", "/nonexistent.xml", "--from", "KOR", "--to", "JPN"], "No such file"),
        (["--label", str(VECTORS / "consent-jpn-to-usa.yaml"), "--from", "KOR", "--to", "JPN"], "not valid JSON"),
        (
            ["--label", str(VECTORS / "kor-missile-secret.xml"), "--from", "KOR", "--to", "JPN", "--at", "2017-02-30"],
            "not a date",
        ),
        (
            [
                "--label",
                str(VECTORS / "kor-missile-secret.xml"),
                "--from",
                "KOR",
                "--to",
                "JPN",
                "--agreements",
                "/nonexistent",
            ],
            "no such file or directory",
        ),
        (
            [
                "--label",
                str(VECTORS / "kor-missile-secret.xml"),
                "--from",
                "KOR",
                "--to",
                "JPN",
                "--consent",
                str(VECTORS / "kor-missile-secret.json"),
            ],
            "unknown field",
        ),
    ],
)
def test_decide_bad_input_exits_2_with_a_clear_message(args: list[str], needle: str) -> None:
    code, out, err = run("decide", *args)
    assert code == 2
    assert "error:" in err and needle in err
    assert out == ""


def test_access_command() -> None:
    base = [
        "access",
        "--person",
        str(VECTORS / "person-jpn-analyst.yaml"),
        "--label",
        str(VECTORS / "kor-missile-secret.xml"),
        "--holder",
        "JPN",
        "--at",
        "2017-06-01",
    ]
    code, out, _ = run(*base, "--json")
    assert code == 0 and json.loads(out)["marking"] == "極秘"
    code, out, _ = run(*[a if a != "JPN" else "USA" for a in base])
    assert code == 1 and "NOT_HOLDER_NATIONAL" in out


def test_agreements_list_show_check(tmp_path: Path) -> None:
    code, out, _ = run("agreements", "list", "--at", "2019-10-01", "--json")
    assert code == 0
    states = {a["id"]: a["status"] for a in json.loads(out)["agreements"]}
    assert states["jpn-kor-gsomia"] == "notice-pending"
    code, out, _ = run("agreements", "show", "jpn-kor-gsomia", "--at", "2019-12-01")
    assert code == 0 and "notice-suspended" in out and "Provenance" in out
    code, _, err = run("agreements", "show", "nope")
    assert code == 2 and "no agreement 'nope'" in err
    code, out, _ = run("agreements", "check")
    assert code == 0 and "5 agreement(s) valid" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text((bundled_dir() / "jpn-kor-gsomia.yaml").read_text().replace("term_years: 1", "term_years: -1"))
    code, _, err = run("agreements", "check", str(bad))
    assert code == 2 and "lifecycle.term_years" in err and str(bad) in err


def test_matrix_hypothetical() -> None:
    code, out, _ = run("matrix", "--at", "2020-01-01", "--topic", "NAVAL-OPS", "--json")
    assert code == 0
    cells = {(c["holder"], c["recipient"]): c for c in json.loads(out)["cells"]}
    assert cells[("KOR", "JPN")]["allowed"] is True
    code, out, _ = run(
        "matrix", "--at", "2020-01-01", "--topic", "NAVAL-OPS", "--json", "--drop-event", "jpn-kor-gsomia:2019-11-22"
    )
    cells = {(c["holder"], c["recipient"]): c for c in json.loads(out)["cells"]}
    assert code == 0 and cells[("KOR", "JPN")]["allowed"] is False
    code, _, err = run("matrix", "--drop-event", "jpn-kor-gsomia:2019-11-21")
    assert code == 2 and "no event on 2019-11-21" in err
    code, out, _ = run(
        "matrix",
        "--at",
        "2028-01-01",
        "--topic",
        "NAVAL-OPS",
        "--json",
        "--add-event",
        "jpn-kor-gsomia:2027-08-01:notice-of-termination",
    )
    cells = {(c["holder"], c["recipient"]): c for c in json.loads(out)["cells"]}
    assert code == 0 and cells[("JPN", "KOR")]["allowed"] is False


def test_console_script_runs_the_demo() -> None:
    """The installed entry point, as `make demo` runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "accord", "demo"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "KOR (군사Ⅱ급비밀) → USA (SECRET) → JPN (極秘)" in proc.stdout
    assert "Sharing matrix" in proc.stdout
