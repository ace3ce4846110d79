"""``accord node`` end to end through the CLI (no server): init, add-peer, submit, consent, exit codes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from accord.cli import get_app
from accord.node import db as st
from tests.node.helpers import label

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(get_app(), list(args))
    return r.exit_code, r.stdout, r.stderr


def _init(tmp: Path, party: str, port: int) -> Path:
    d = tmp / party.lower()
    code, _out, err = run("node", "init", "--party", party, "--dir", str(d), "--port", str(port), "--what-if")
    assert code == 0, err
    return d


def test_init_add_peer_submit_and_consent(tmp_path: Path) -> None:
    kor, jpn, usa = _init(tmp_path, "KOR", 18441), _init(tmp_path, "JPN", 18442), _init(tmp_path, "USA", 18443)
    for f in ("tls-key.pem", "receipt-key.pem", "audit-note.key", "keys/party-keys.json"):
        assert stat.S_IMODE((kor / f).stat().st_mode) == 0o600, f
    for a in (kor, jpn, usa):
        for b in (kor, jpn, usa):
            if a != b:
                code, fp, _ = run("node", "fingerprint", "--dir", str(b))
                code, out, err = run(
                    "node", "add-peer", "--dir", str(a), "--entry", str(b / "entry.yaml"), "--fingerprint", fp.strip()
                )
                assert code == 0, err
                assert "pinned" in out
    item = tmp_path / "item.bin"
    item.write_bytes(b"trajectory")
    lab = tmp_path / "label.json"
    lab.write_text(json.dumps(label("kor-cli-1", rel=("JPN", "USA"))))
    code, out, err = run(
        "node", "submit", "--dir", str(kor), "--label", str(lab), "--to", "JPN", "--in", str(item), "--at", "2015-04-12"
    )
    assert code == 0, err
    assert "KOR → USA → JPN" in out
    s = st.Store(f"sqlite:///{kor / 'node.db'}", create=False)
    assert [r["state"] for r in s.outbox_rows()] == ["pending"]  # the running node would deliver it
    s.dispose()
    code, out, _ = run("node", "status", "--dir", str(kor), "--item", "kor-cli-1")
    assert code == 0 and json.loads(out)["outbox"][0]["to"] == "USA"
    # refused: exit 1, with the reasons on stderr
    lab.write_text(json.dumps(label("kor-cli-2", rel=("JPN",))))
    code, _, err = run(
        "node", "submit", "--dir", str(kor), "--label", str(lab), "--to", "USA", "--in", str(item), "--at", "2017-02-12"
    )
    assert code == 1
    assert "NOT_RELEASABLE" in err
    # bad input: exit 2
    lab.write_text("{not json")
    code, _, err = run("node", "submit", "--dir", str(kor), "--label", str(lab), "--to", "JPN", "--in", str(item))
    assert code == 2 and err.startswith("error:")
    code, _, err = run("node", "init", "--party", "kor", "--dir", str(tmp_path / "x"))
    assert code == 2
    lab.write_text(json.dumps(label("kor-cli-3", rel=("JPN",))))
    code, _, err = run(
        "node", "submit", "--dir", str(tmp_path / "nowhere"), "--label", str(lab), "--to", "JPN", "--in", str(item)
    )
    assert code == 2 and "accord node init" in err
    code, out, _ = run("node", "consent", "list", "--dir", str(kor))
    assert code == 0 and out == ""
    code, _, err = run("node", "consent", "approve", "--dir", str(kor), "nope", "--officer", "Kim")
    assert code == 2 and "no consent request" in err


def test_add_peer_refuses_a_malformed_entry(tmp_path: Path) -> None:
    kor = _init(tmp_path, "KOR", 18444)
    bad = tmp_path / "bad.yaml"
    bad.write_text("party: JPN\nurl: http://insecure\ncert_pem: x\nreceipt_key: y\n")
    code, _, err = run("node", "add-peer", "--dir", str(kor), "--entry", str(bad))
    assert code == 2 and "url" in err
    assert "JPN" not in (kor / "roster.yaml").read_text()
