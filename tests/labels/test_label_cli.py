"""`accord label validate` and `accord decide --label` on every form of label Accord reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import get_app

TP = Path(__file__).parent.parent / "vectors" / "labels" / "third-party"


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(get_app(), list(args))


@pytest.mark.parametrize("name", sorted(p.name for p in TP.glob("*.xml")))
def test_validate_accepts_every_third_party_vector(name: str) -> None:
    r = run("label", "validate", str(TP / name), "--json", "--at", "2021-06-01")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert rows and all(row["in_force"]["at"] == "2021-06-01" for row in rows)


def test_decide_on_the_nato_policy_is_a_denial_not_a_parse_error() -> None:
    r = run(
        "decide",
        "--label",
        str(TP / "spiffing-nato-17-4.xml"),
        "--from",
        "USA",
        "--to",
        "JPN",
        "--at",
        "2021-06-01",
        "--json",
    )
    assert r.exit_code == 1, r.output
    d = json.loads(r.output)
    assert not d["allowed"] and d["reasons"][0]["code"] == "UNKNOWN_PARTY"
    assert "no agreement Accord holds covers" in d["reasons"][0]["message"]


def test_decide_on_a_utf16_office_label() -> None:
    r = run(
        "decide",
        "--label",
        str(TP / "office-plugin-usa-utf16.xml"),
        "--from",
        "USA",
        "--to",
        "KOR",
        "--at",
        "2021-06-01",
    )
    assert r.exit_code == 0, r.output


def test_decide_on_an_alternative_label_alone_is_refused_with_the_reason() -> None:
    r = run("decide", "--label", str(TP / "alternative-jpn.xml"), "--from", "JPN", "--to", "USA", "--at", "2021-06-01")
    assert r.exit_code == 2
    assert r.output.startswith("error:") and "originator" in r.output


def test_validate_refuses_garbage_with_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "x.xml"
    f.write_bytes(b"<not-a-label/>")
    r = run("label", "validate", str(f))
    assert r.exit_code == 2 and r.output.startswith("error:")
