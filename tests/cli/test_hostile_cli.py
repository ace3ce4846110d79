"""No traceback ever (issue 9): every command turns bad input into ONE line ``error: WHERE: WHAT`` on stderr and
exit 2 (exit 1 keeps meaning denied or tampered). Each attack is a test named after it.

Most cases run the real entry point (:func:`accord.cli._common.run_app`, what ``accord`` runs) in-process;
the pre-stop smoke runs the installed ``accord`` script in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from accord.cli import get_app
from accord.cli._common import run_app
from accord.formats.agreement_yaml import bundled_dir
from tests.support.reliability import record

pytestmark = pytest.mark.reliability

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "labels"
LABEL = str(VECTORS / "kor-missile-secret.json")
DUP = b'{"originator":"KOR","classification":"SECRET","originator":"USA","created":"2017-01-01T00:00:00Z"}'

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def accord(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run_app(get_app(), list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def refused(run: Run, case: str, *args: str, code: int = 2, needle: str = "") -> str:
    """Run, and check: exit ``code``, exactly one ``error:`` line on stderr, no traceback."""
    got, _, err = run(*args)
    lines = err.splitlines()
    ok = got == code and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
    record(f"cli: {case}", refused=int(ok), crashed=int("Traceback" in err or "internal" in err))
    assert got == code, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err and "error: internal" not in err
    assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "dup.json").write_bytes(DUP)
    (tmp_path / "empty.xml").write_bytes(b"")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "nul-id.json").write_text(json.dumps({**json.loads(Path(LABEL).read_text()), "id": "a\x00b"}))
    (tmp_path / "garbage.db").write_bytes(b"this is not a database" * 100)
    return {p.stem: p for p in tmp_path.iterdir()}


# ------------------------------------------------------------------ decide / access / matrix / agreements


def test_duplicate_originator_in_label_is_one_error_line(accord: Run, files: dict[str, Path]) -> None:
    refused(
        accord,
        "decide: duplicate JSON key in label",
        "decide",
        "--label",
        str(files["dup"]),
        "--from",
        "KOR",
        "--to",
        "JPN",
        needle="duplicate key 'originator'",
    )


def test_empty_label_file_is_one_error_line(accord: Run, files: dict[str, Path]) -> None:
    refused(
        accord,
        "decide: empty label file",
        "decide",
        "--label",
        str(files["empty"]),
        "--from",
        "KOR",
        "--to",
        "JPN",
        needle="empty.xml",
    )


def test_label_nested_100000_deep_is_one_error_line(accord: Run, files: dict[str, Path]) -> None:
    refused(
        accord,
        "decide: JSON label nested 100,000 deep",
        "decide",
        "--label",
        str(files["deep"]),
        "--from",
        "KOR",
        "--to",
        "JPN",
        needle="nested more than 64 deep",
    )


def test_label_id_with_nul_is_one_error_line(accord: Run, files: dict[str, Path]) -> None:
    line = refused(
        accord,
        "decide: label id with NUL",
        "decide",
        "--label",
        str(files["nul-id"]),
        "--from",
        "KOR",
        "--to",
        "JPN",
        needle="id",
    )
    assert "\x00" not in line


@pytest.mark.parametrize("option", ["--from", "--to"])
@pytest.mark.parametrize("code", ["uſa", "ＵＳＡ", "US", "USA\n", "КОR"])
def test_look_alike_party_on_decide_is_refused_before_anything_else(accord: Run, option: str, code: str) -> None:
    args = {"--from": "KOR", "--to": "USA", option: code}
    refused(
        accord,
        f"decide {option} look-alike party {code!r}",
        "decide",
        "--label",
        LABEL,
        "--from",
        args["--from"],
        "--to",
        args["--to"],
        needle=f"{option}: ",
    )


def test_look_alike_party_on_access_is_refused(accord: Run) -> None:
    refused(
        accord,
        "access --holder look-alike party",
        "access",
        "--person",
        str(VECTORS / "person-jpn-analyst.yaml"),
        "--label",
        LABEL,
        "--holder",
        "jpＮ",
        needle="--holder",
    )


def test_look_alike_topic_on_matrix_is_refused(accord: Run) -> None:
    refused(accord, "matrix --topic look-alike", "matrix", "--topic", "dprk-miſſile", needle="--topic")


@pytest.mark.parametrize(
    "command",
    [
        ["decide", "--label", LABEL, "--from", "KOR", "--to", "JPN"],
        ["matrix"],
        ["agreements", "list"],
        ["agreements", "show", "jpn-kor-gsomia"],
    ],
)
@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2019-02-30", "20190101", "2019-01-01T00:00:00"])
def test_at_9999_12_31_and_other_bad_days_are_one_error_line(accord: Run, command: list[str], day: str) -> None:
    refused(accord, f"{command[0]} --at {day}", *command, "--at", day, needle="--at: ")


def test_at_the_last_supported_day_still_decides(accord: Run) -> None:
    code, _, err = accord("decide", "--label", LABEL, "--from", "KOR", "--to", "JPN", "--at", "2999-12-31")
    assert code in (0, 1) and not err


def test_dup_label_with_at_9999_12_31_is_one_error_line(accord: Run, files: dict[str, Path]) -> None:
    refused(
        accord,
        "decide: dup label and --at 9999-12-31",
        "decide",
        "--label",
        str(files["dup"]),
        "--from",
        "KOR",
        "--to",
        "JPN",
        "--at",
        "9999-12-31",
    )


@pytest.mark.parametrize(
    "spec",
    [
        "jpn-kor-gsomia:2019-02-30:notice-of-termination",
        "jpn-kor-gsomia:9999-12-31:notice-of-termination",
        "jpn-kor-gsomia:2019-01-01:notice-of-termination:9999-12-31",
    ],
)
def test_hypothetical_event_with_an_impossible_day_is_one_error_line(accord: Run, spec: str) -> None:
    refused(accord, "matrix --add-event with a bad day", "matrix", "--at", "2020-01-01", "--add-event", spec)


@pytest.mark.parametrize(
    ("replace", "needle"),
    [
        (("notice_days: 90", "notice_days: 100000000000000000000"), "notice_days"),
        (("notice_days: 90", "notice_days: 1.0e+20"), "notice_days"),
        (("term_years: 1 ", "term_years: 1000 "), "term_years"),
        (("signed: 2016-11-23", "signed: 2016-02-30"), "signed"),
        (("signed: 2016-11-23", "signed: 2016-11-23T00:00:00Z"), "signed"),
        (("id: jpn-kor-gsomia", "id: jpn-kor-gsomia\nid: other"), "duplicate key"),
        (("id: jpn-kor-gsomia", "? [a, b]\n: 1\nid: jpn-kor-gsomia"), "complex key"),
    ],
)
def test_agreements_check_refuses_notice_days_1e20_bad_dates_and_ambiguous_yaml(
    accord: Run, tmp_path: Path, replace: tuple[str, str], needle: str
) -> None:
    text = (bundled_dir() / "jpn-kor-gsomia.yaml").read_text()
    assert replace[0] in text
    f = tmp_path / "g.yaml"
    f.write_text(text.replace(replace[0], replace[1], 1))
    refused(accord, f"agreements check: {needle}", "agreements", "check", str(f), needle=needle)


def test_agreement_nested_deep_is_one_error_line(accord: Run, tmp_path: Path) -> None:
    f = tmp_path / "deep.yaml"
    f.write_text("[" * 100_000)
    refused(accord, "agreements check: YAML nested 100,000 deep", "agreements", "check", str(f), needle="nested")


def test_consent_with_duplicate_key_is_one_error_line(accord: Run, tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text((VECTORS / "consent-jpn-to-usa.yaml").read_text() + "holder: USA\n")
    refused(
        accord,
        "decide --consent with a duplicate key",
        "decide",
        "--label",
        LABEL,
        "--from",
        "JPN",
        "--to",
        "USA",
        "--at",
        "2017-03-01",
        "--consent",
        str(f),
        needle="duplicate key 'holder'",
    )


def test_label_that_is_a_directory_is_one_error_line(accord: Run, tmp_path: Path) -> None:
    refused(accord, "decide --label DIRECTORY", "decide", "--label", str(tmp_path), "--from", "KOR", "--to", "JPN")


def test_usage_error_is_one_line_not_a_framed_box(accord: Run) -> None:
    refused(accord, "usage: missing option", "audit", "verify", "x.db", needle="Missing option '--vkey'")
    refused(accord, "usage: unknown command", "nonsense", needle="No such command")


def test_unexpected_exception_is_one_internal_error_line_without_traceback(
    accord: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    import accord.cli.core_cmds as core_cmds

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("SECRET PLAINTEXT must not be shown")

    monkeypatch.setattr(core_cmds, "decide", boom)
    code, _, err = accord("decide", "--label", LABEL, "--from", "KOR", "--to", "JPN")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: internal: unexpected RuntimeError")
    assert "SECRET" not in err and "Traceback" not in err
    monkeypatch.setenv("ACCORD_DEBUG", "1")
    code, _, err = accord("decide", "--label", LABEL, "--from", "KOR", "--to", "JPN")
    assert code == 2 and "Traceback" in err


# ------------------------------------------------------------------ audit


@pytest.fixture
def audit_log(tmp_path: Path, accord: Run) -> dict[str, Path]:
    key = tmp_path / "k.key"
    code, out, _ = accord("audit", "keygen", "accord.kor.example/audit", "--out", str(key))
    assert code == 0
    vkey = tmp_path / "k.vkey"
    vkey.write_text(out.strip() + "\n")
    wkey = tmp_path / "w.key"
    assert accord("audit", "keygen", "accord.jpn.example/witness", "--cosigner", "--out", str(wkey))[0] == 0
    ev = tmp_path / "ev.json"
    ev.write_text(
        json.dumps(
            [
                {
                    "type": "decision",
                    "item": "item-1",
                    "digest": "sha256:" + "ab" * 32,
                    "at": "2017-01-05T09:00:00Z",
                    "decision": {"allowed": True},
                }
            ]
            * 50
        )
    )
    db = tmp_path / "log.db"
    assert accord("audit", "append", "--db", str(db), "--key", str(key), str(ev))[0] == 0
    return {"key": key, "vkey": vkey, "wkey": wkey, "db": db, "dir": tmp_path}


def _audit_commands(log: dict[str, Path], target: str) -> dict[str, list[str]]:
    return {
        "verify": ["audit", "verify", target, "--vkey", str(log["vkey"])],
        "checkpoint": ["audit", "checkpoint", "--db", target],
        "prove": ["audit", "prove", "item-1", "--db", target],
        "export": ["audit", "export", "--db", target, "--out", str(log["dir"] / "out.jsonl")],
        "witness": [
            "audit",
            "witness",
            target,
            "--origin",
            "accord.kor.example/audit",
            "--vkey",
            str(log["vkey"]),
            "--db",
            str(log["dir"] / "witness.db"),
            "--key",
            str(log["wkey"]),
        ],
    }


@pytest.mark.parametrize("command", ["verify", "checkpoint", "prove", "export", "witness"])
def test_audit_command_on_a_missing_file_does_not_create_a_database(
    accord: Run, audit_log: dict[str, Path], command: str
) -> None:
    missing = audit_log["dir"] / "missing.db"
    refused(
        accord,
        f"audit {command} on a missing database",
        *_audit_commands(audit_log, str(missing))[command],
        needle="missing.db",
    )
    assert not missing.exists()
    assert not (audit_log["dir"] / "witness.db").exists()
    assert not list(audit_log["dir"].glob("missing.db*"))


@pytest.mark.parametrize("command", ["verify", "checkpoint", "prove", "export", "witness"])
@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty-sqlite", "directory"])
def test_audit_command_on_a_non_sqlite_or_truncated_database_is_one_error_line(
    accord: Run, audit_log: dict[str, Path], command: str, damage: str
) -> None:
    import sqlite3

    target = audit_log["dir"] / f"{damage}.db"
    if damage == "garbage":
        target.write_bytes(b"not a database at all\n" * 200)
    elif damage == "truncated":
        target.write_bytes(audit_log["db"].read_bytes()[:6000])
    elif damage == "empty-sqlite":
        sqlite3.connect(target).execute("CREATE TABLE unrelated (x)").connection.commit()
    else:
        target.mkdir()
    before = target.read_bytes() if target.is_file() else None
    refused(
        accord,
        f"audit {command} on a {damage} database",
        *_audit_commands(audit_log, str(target))[command],
        needle=f"{damage}.db",
    )
    if before is not None:
        assert target.read_bytes() == before, "a read-only command wrote to the file"


def test_audit_verify_of_the_intact_log_still_passes_read_only(accord: Run, audit_log: dict[str, Path]) -> None:
    before = audit_log["db"].read_bytes()
    code, out, _ = accord("audit", "verify", str(audit_log["db"]), "--vkey", str(audit_log["vkey"]))
    assert code == 0 and "ok: 50 events" in out
    assert audit_log["db"].read_bytes() == before


def test_audit_append_with_duplicate_keys_is_refused(accord: Run, audit_log: dict[str, Path]) -> None:
    ev = audit_log["dir"] / "dup-ev.json"
    ev.write_text('{"type": "decision", "type": "release", "item": "i"}')
    refused(
        accord,
        "audit append: duplicate JSON key",
        "audit",
        "append",
        "--db",
        str(audit_log["db"]),
        "--key",
        str(audit_log["key"]),
        str(ev),
        needle="duplicate key 'type'",
    )


def test_audit_key_file_that_is_binary_is_one_error_line(accord: Run, audit_log: dict[str, Path]) -> None:
    bad = audit_log["dir"] / "bin.key"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    refused(
        accord,
        "audit append: binary key file",
        "audit",
        "append",
        "--db",
        str(audit_log["db"]),
        "--key",
        str(bad),
        str(audit_log["dir"] / "ev.json"),
        needle="bin.key",
    )
    refused(
        accord,
        "audit verify: binary vkey file",
        "audit",
        "verify",
        str(audit_log["db"]),
        "--vkey",
        str(bad),
        needle="bin.key",
    )


# ------------------------------------------------------------------ the pre-stop smoke, through the real script


def _script() -> list[str]:
    exe = Path(sys.executable).parent / "accord"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "accord"]


@pytest.mark.parametrize("case", ["dup", "empty", "dup-at-9999", "verify-missing"])
def test_pre_stop_smoke_prints_one_error_line_and_exits_2(tmp_path: Path, case: str) -> None:
    (tmp_path / "dup.json").write_bytes(DUP)
    (tmp_path / "empty.xml").write_bytes(b"")
    args = {
        "dup": ["decide", "--label", "dup.json", "--from", "KOR", "--to", "JPN"],
        "empty": ["decide", "--label", "empty.xml", "--from", "KOR", "--to", "JPN"],
        "dup-at-9999": ["decide", "--label", "dup.json", "--from", "KOR", "--to", "JPN", "--at", "9999-12-31"],
        "verify-missing": ["audit", "verify", "missing.db"],
    }[case]
    env = {k: v for k, v in os.environ.items() if k != "ACCORD_DEBUG"}
    r = subprocess.run(
        [*_script(), *args], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env, check=False
    )
    ok = r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    record(f"cli (subprocess): {' '.join(args)}", refused=int(ok), crashed=int("Traceback" in r.stderr))
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "missing.db").exists()
    r = subprocess.run(
        [*_script(), *args[:3], "--vkey", "x+1+AAAA"] if case == "verify-missing" else ["true"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert r.returncode in (0, 2) and "Traceback" not in r.stderr
    assert not (tmp_path / "missing.db").exists()


# ------------------------------------------------------------------ outputs: never the input, a device, or replaced


def test_audit_export_never_replaces_a_file_without_force(accord: Run, audit_log: dict[str, Path]) -> None:
    out = audit_log["dir"] / "exists.jsonl"
    out.write_text("keep me\n")
    refused(
        accord,
        "audit export over an existing file",
        "audit",
        "export",
        "--db",
        str(audit_log["db"]),
        "--out",
        str(out),
        needle="--force",
    )
    assert out.read_text() == "keep me\n"
    code, _, _ = accord("audit", "export", "--db", str(audit_log["db"]), "--out", str(out), "--force")
    assert code == 0 and out.read_text().startswith('{"format"')
    assert not list(audit_log["dir"].glob(".exists.jsonl.*"))


def test_audit_export_onto_its_own_database_is_refused(accord: Run, audit_log: dict[str, Path]) -> None:
    before = audit_log["db"].read_bytes()
    refused(
        accord,
        "audit export --out = --db",
        "audit",
        "export",
        "--db",
        str(audit_log["db"]),
        "--out",
        str(audit_log["db"]),
        "--force",
        needle="is the input",
    )
    assert audit_log["db"].read_bytes() == before


def test_audit_export_to_a_device_or_through_a_symlink_is_refused(accord: Run, audit_log: dict[str, Path]) -> None:
    refused(
        accord,
        "audit export --out /dev/null",
        "audit",
        "export",
        "--db",
        str(audit_log["db"]),
        "--out",
        "/dev/null",
        "--force",
        needle="not a regular file",
    )
    target = audit_log["dir"] / "target.txt"
    target.write_text("x")
    link = audit_log["dir"] / "link.jsonl"
    link.symlink_to(target)
    refused(
        accord,
        "audit export through a symlink",
        "audit",
        "export",
        "--db",
        str(audit_log["db"]),
        "--out",
        str(link),
        "--force",
        needle="symbolic link",
    )
    assert target.read_text() == "x"
