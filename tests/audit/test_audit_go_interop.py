"""Interop with Go's golang.org/x/mod/sumdb/note itself (not just its published vectors).

Builds tests/interop/go_note/main.go in GOPATH mode against the Debian package
golang-golang-x-mod-dev (no module proxy needed). Skips when the Go toolchain or those sources are
not installed (`apt-get install golang-go golang-golang-x-mod-dev`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from accord.audit.errors import UnverifiedNoteError
from accord.audit.log import AuditLog
from accord.audit.note import CosignatureSigner, NoteSigner, add_cosignature, open_note, parse_vkey

GOPATH = Path(os.environ.get("ACCORD_GOPATH", "/usr/share/gocode"))
SRC = Path(__file__).resolve().parent.parent / "interop" / "go_note" / "main.go"


@pytest.fixture(scope="module")
def gonote(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("go") is None:
        pytest.skip("Go toolchain not installed (apt-get install golang-go)")
    if not (GOPATH / "src/golang.org/x/mod/sumdb/note/note.go").exists():
        pytest.skip(f"golang.org/x/mod sources not in {GOPATH} (apt-get install golang-golang-x-mod-dev)")
    d = tmp_path_factory.mktemp("gonote")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOCACHE": str(d / "cache"), "GOFLAGS": ""}
    subprocess.run(["go", "build", "-o", str(d / "gonote"), str(SRC)], check=True, env=env, capture_output=True)
    return d / "gonote"


def _go_verify(gonote: Path, vkey: str, f: Path) -> int:
    return subprocess.run([str(gonote), "verify", vkey, str(f)], check=False, capture_output=True).returncode


def test_go_verifies_accord_checkpoints_and_rejects_tampered_ones(gonote: Path, tmp_path: Path) -> None:
    signer = NoteSigner.generate("accord.kor.example/audit")
    with AuditLog(tmp_path / "a.db", origin="accord.kor.example/audit", signer=signer) as log:
        log.append({"type": "access", "item": "i", "digest": "sha256:" + "1" * 64, "at": "2017-01-05T00:00:00Z"})
        note = log.checkpoint()
    f = tmp_path / "cp.txt"
    f.write_bytes(note)
    r = subprocess.run([str(gonote), "verify", signer.vkey, str(f)], check=False, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"ok accord.kor.example/audit+{signer.key_id:08x}"
    f.write_bytes(note.replace(b"\n1\n", b"\n2\n"))
    assert _go_verify(gonote, signer.vkey, f) == 1
    # A witness cosignature (type 0x04) is ignored by Go's note package as an unknown key.
    cos = CosignatureSigner.generate("accord.jpn.example/witness")
    f.write_bytes(add_cosignature(note, cos, 1_483_606_800))
    assert _go_verify(gonote, signer.vkey, f) == 0


def test_accord_verifies_notes_signed_by_go_with_an_accord_key(gonote: Path, tmp_path: Path) -> None:
    signer = NoteSigner.generate("accord.usa.example/audit")
    text = tmp_path / "t.txt"
    text.write_text("accord.usa.example/audit\n5\n" + "A" * 43 + "=\n")
    r = subprocess.run([str(gonote), "sign", signer.skey, str(text)], capture_output=True, check=True)
    n = open_note(r.stdout, [parse_vkey(signer.vkey)])
    assert n.text == text.read_text()
    with pytest.raises(UnverifiedNoteError):
        open_note(r.stdout, [NoteSigner.generate("accord.usa.example/audit").verifier()])
