"""``accord audit`` end to end: keygen, append, verify, prove, export, witness, note verify."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support.cli import run

ORIGIN = "accord.kor.example/audit"
EVENTS = [
    {
        "type": t,
        "item": "item-1",
        "digest": "sha256:" + "ab" * 32,
        "at": "2017-01-05T09:00:00Z",
        "decision": {"allowed": True},
    }
    for t in ("decision", "release", "receipt")
]


@pytest.fixture
def node(tmp_path: Path) -> dict[str, Path]:
    key, ev = tmp_path / "kor.key", tmp_path / "ev.json"
    code, out, _ = run("audit", "keygen", ORIGIN, "--out", str(key))
    assert code == 0
    assert key.stat().st_mode & 0o777 == 0o600
    vkey = tmp_path / "kor.vkey"
    vkey.write_text(out.strip() + "\n")
    ev.write_text(json.dumps(EVENTS))
    db = tmp_path / "kor.db"
    code, out, _ = run("audit", "append", "--db", str(db), "--key", str(key), str(ev))
    assert (code, out.split()) == (0, ["0", "1", "2"])
    return {"key": key, "vkey": vkey, "db": db, "dir": tmp_path}


def test_keygen_refuses_to_overwrite(node: dict[str, Path]) -> None:
    code, _, err = run("audit", "keygen", ORIGIN, "--out", str(node["key"]))
    assert code == 2
    assert "exists" in err


def test_verify_database_and_export(node: dict[str, Path]) -> None:
    code, out, _ = run("audit", "verify", str(node["db"]), "--vkey", str(node["vkey"]))
    assert code == 0
    assert "ok: 3 events" in out
    exp = node["dir"] / "kor.jsonl"
    assert run("audit", "export", "--db", str(node["db"]), "--out", str(exp))[0] == 0
    assert run("audit", "verify", str(exp), "--vkey", str(node["vkey"]))[0] == 0


def test_verify_detects_edit_with_exit_1(node: dict[str, Path]) -> None:
    con = sqlite3.connect(node["db"])
    con.execute(
        "UPDATE audit_leaves SET event = CAST(replace(CAST(event AS TEXT), 'release', 'access') AS BLOB) WHERE idx = 1"
    )
    con.commit()
    con.close()
    code, _, err = run("audit", "verify", str(node["db"]), "--vkey", str(node["vkey"]))
    assert code == 1
    assert "FAILED" in err


def test_verify_with_a_different_trusted_key_fails(node: dict[str, Path], tmp_path: Path) -> None:
    _, other, _ = run("audit", "keygen", ORIGIN, "--out", str(tmp_path / "other.key"))
    code, _, err = run("audit", "verify", str(node["db"]), "--vkey", other.strip())
    assert code == 1
    assert "not signed by a trusted key" in err


def test_prove_prints_offline_verifiable_evidence(node: dict[str, Path]) -> None:
    from accord.audit.note import parse_vkey
    from accord.audit.receipt import ReceiptEvidence, verify_receipt_evidence

    code, out, _ = run("audit", "prove", "item-1", "--db", str(node["db"]), "--vkey", str(node["vkey"]))
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 3
    vk = parse_vkey(node["vkey"].read_text().strip())
    kinds = [verify_receipt_evidence(ReceiptEvidence.from_json(line), [vk])["type"] for line in lines]
    assert kinds == ["decision", "release", "receipt"]
    assert run("audit", "prove", "nope", "--db", str(node["db"]))[0] == 1


def test_witness_cosigns_and_note_verify_exit_codes(node: dict[str, Path]) -> None:
    d = node["dir"]
    _, wv, _ = run("audit", "keygen", "accord.jpn.example/witness", "--cosigner", "--out", str(d / "w.key"))
    cos = d / "cos.txt"
    code, out, _ = run(
        "audit",
        "witness",
        str(node["db"]),
        "--origin",
        ORIGIN,
        "--vkey",
        str(node["vkey"]),
        "--db",
        str(d / "jpn.db"),
        "--key",
        str(d / "w.key"),
        "--out",
        str(cos),
    )
    assert code == 0
    assert "new" in out
    assert run("audit", "note", "verify", "--vkey", wv.strip(), str(cos))[0] == 0
    assert run("audit", "note", "verify", "--vkey", str(node["vkey"]), str(cos))[0] == 0
    _, other, _ = run("audit", "keygen", "someone", "--out", str(d / "o.key"))
    assert run("audit", "note", "verify", "--vkey", other.strip(), str(cos))[0] == 1
    bad = d / "bad.txt"
    bad.write_text("no signature block\n")
    assert run("audit", "note", "verify", "--vkey", other.strip(), str(bad))[0] == 2
    assert run("audit", "note", "verify", "--vkey", "not+a+key", str(cos))[0] == 2
    tampered = d / "tampered.txt"
    tampered.write_bytes(cos.read_bytes().replace(b"\n3\n", b"\n4\n"))
    assert run("audit", "note", "verify", "--vkey", str(node["vkey"]), str(tampered))[0] == 1


def test_note_verify_go_vector(tmp_path: Path) -> None:
    vec = json.loads((Path(__file__).resolve().parent.parent / "vectors" / "audit" / "go_sumdb_note.json").read_text())
    f = tmp_path / "note.txt"
    f.write_text(vec["signed"])
    code, out, _ = run("audit", "note", "verify", "--vkey", vec["vkey"], str(f))
    assert code == 0
    assert "PeterNeumann+c74f20a3" in out
    assert run("audit", "note", "verify", "--vkey", vec["enoch_vkey"], str(f))[0] == 1


def test_append_rejects_content_with_exit_2(node: dict[str, Path]) -> None:
    ev = node["dir"] / "bad.json"
    ev.write_text(json.dumps({**EVENTS[0], "content": "SECRET"}))
    code, _, err = run("audit", "append", "--db", str(node["db"]), "--key", str(node["key"]), str(ev))
    assert code == 2
    assert "never content" in err
    assert "SECRET" not in err


def test_checkpoint_command_prints_a_note_that_verify_accepts_as_known(node: dict[str, Path]) -> None:
    code, out, _ = run("audit", "checkpoint", "--db", str(node["db"]))
    assert code == 0
    assert out.startswith(ORIGIN + "\n3\n")
    known = node["dir"] / "known.txt"
    known.write_text(out)
    assert run("audit", "note", "verify", "--vkey", str(node["vkey"]), str(known))[0] == 0
    assert run("audit", "verify", str(node["db"]), "--vkey", str(node["vkey"]), "--known", str(known))[0] == 0


def test_verify_rejects_a_file_that_is_not_an_export_with_exit_2(node: dict[str, Path]) -> None:
    bad = node["dir"] / "bad.jsonl"
    bad.write_text('{"format": "something-else"}\n')
    code, _, err = run("audit", "verify", str(bad), "--vkey", str(node["vkey"]))
    assert code == 2
    assert "not an Accord audit export" in err
    exp = node["dir"] / "kor.jsonl"
    run("audit", "export", "--db", str(node["db"]), "--out", str(exp))
    exp.write_text(exp.read_text().replace('{"i": 1', '{"i": 1,,', 1))
    code, _, err = run("audit", "verify", str(exp), "--vkey", str(node["vkey"]))
    assert code == 2
    assert "malformed export line 3" in err
