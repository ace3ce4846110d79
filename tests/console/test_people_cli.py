"""``accord people ...``: the register from the command line, reads through the people path, JK-R17 attestation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import get_app
from tests.console.world import MISSILE, World

runner = CliRunner()


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    r = runner.invoke(get_app(), list(args), input=stdin)
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def node(world: World) -> Path:
    return world.net.cfgs["JPN"].dir


def test_add_list_set_clearance_disable(node: Path, world: World) -> None:
    code, out, err = run(
        "people",
        "add",
        "jpn-new",
        "--dir",
        str(node),
        "--name",
        "New Analyst",
        "--clearance",
        "GOKUHI",
        "--ntk",
        "DPRK-MISSILE",
        "--role",
        "operator",
        "--password-stdin",
        "--by",
        "so-tanaka",
        stdin="a long enough password\n",
    )
    assert code == 0, err
    assert "registered jpn-new (JPN, 極秘)" in out
    code, out, _ = run("people", "list", "--dir", str(node), "--json")
    new = next(p for p in json.loads(out) if p["id"] == "jpn-new")
    assert new["clearance"] == "極秘" and new["roles"] == ["operator"] and new["need_to_know"] == ["DPRK-MISSILE"]
    code, out, _ = run("people", "set-clearance", "jpn-new", "秘", "--until", "2031-03-31", "--dir", str(node))
    assert code == 0 and "秘 until 2031-03-31" in out
    code, _, _ = run("people", "disable", "jpn-new", "--dir", str(node), "--reason", "moved")
    assert code == 0 and world.jpn.register.get("jpn-new").disabled  # type: ignore[union-attr]
    by = [
        (e["body"]["action"], e["body"]["by"])
        for e in world.jpn.events(type_="person")
        if e["body"].get("person_id") == "jpn-new" or e["body"].get("person", {}).get("id") == "jpn-new"
    ]
    assert ("add", "so-tanaka") in by and any(a == "disable" for a, _ in by)


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["--clearance", "SECRET"], "clearance"),
        (["--role", "admiral"], "roles"),
        (["--nationality", "JAPAN"], "nationality"),
        (["--contractor"], "employer"),
        (["--clearance-until", "soon"], "date"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    node: Path, world: World, args: list[str], where: str
) -> None:
    code, _, err = run("people", "add", "jpn-bad", "--dir", str(node), "--no-account", *args)
    assert code == 2 and err.startswith("error: ") and where in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert world.jpn.register.get("jpn-bad") is None


def test_read_as_a_person_allowed_and_refused(node: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "content.bin"
    code, _, err = run(
        "people",
        "read",
        "kor-missile",
        "--person",
        "jpn-analyst",
        "--purpose",
        "analysis",
        "--out",
        str(out_file),
        "--dir",
        str(node),
    )
    assert code == 0, err
    assert out_file.read_bytes() == MISSILE and (out_file.stat().st_mode & 0o777) == 0o600
    code, _, err = run(
        "people", "read", "kor-nuclear", "--person", "jpn-analyst", "--purpose", "analysis", "--dir", str(node)
    )
    assert code == 1 and "NO_NEED_TO_KNOW" in err
    code, _, err = run("people", "read", "kor-missile", "--person", "ghost", "--purpose", "x", "--dir", str(node))
    assert code == 1 and "register" in err


def test_attest_readers_JK_R17(node: Path, tmp_path: Path) -> None:
    label = tmp_path / "label.json"
    label.write_text(
        json.dumps(
            {
                "originator": "KOR",
                "classification": "군사Ⅱ급비밀",
                "topics": ["DPRK-MISSILE"],
                "releasable_to": ["JPN"],
                "caveats": [],
                "created": "2024-01-01T00:00:00Z",
            }
        )
    )
    code, out, _ = run("people", "attest", "--label", str(label), "--reader", "jpn-analyst", "--dir", str(node))
    assert code == 0 and "jpn-analyst: cleared" in out
    code, out, _ = run(
        "people",
        "attest",
        "--label",
        str(label),
        "--reader",
        "jpn-analyst",
        "--reader",
        "jpn-lowly",
        "--dir",
        str(node),
        "--json",
    )
    assert code == 1
    body = json.loads(out)
    assert body["all_cleared"] is False and [r["cleared"] for r in body["readers"]] == [True, False]
