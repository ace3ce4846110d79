"""The committed test vectors (docs/sealed-format.md §7) open as recorded, and an independent
re-computation of the documented algorithm (hashlib + AES-GCM only) agrees with them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import accord.errors as errors
from accord.sealed import container as c
from accord.sealed.keys import PartyKeys, Roster

VEC = Path(__file__).resolve().parents[1] / "vectors" / "sealed"
EXPECTED = json.loads((VEC / "expected.json").read_text())


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, PartyKeys]:
    out = {}
    for party in ("KOR", "JPN", "USA"):
        d = tmp_path_factory.mktemp(party)
        shutil.copy(VEC / "keys" / party / "party-keys.json", d / "party-keys.json")
        (d / "party-keys.json").chmod(0o600)  # git does not keep 0600
        out[party] = PartyKeys.load(d)
    return out


@pytest.fixture(scope="module")
def roster() -> Roster:
    return Roster.load(VEC / "roster")


def test_roster_vector_has_a_rotation(roster):
    assert roster.latest("KOR").version == 2
    roster.verify()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vector(name, keys, roster):
    exp = EXPECTED[name]
    blob = (VEC / name).read_bytes()
    if exp["result"] == "ok":
        opened = c.open_bytes(blob, keys=keys[exp["open_as"]], roster=roster)
        assert opened.payload == (VEC / "plaintext.bin").read_bytes()
        assert opened.label_xml == (VEC / "label.xml").read_bytes()
        assert [[g.party, g.keyid, g.granted_by] for g in opened.recipients] == exp["recipients"]
        assert opened.manifest.root == exp["root"]
    else:
        with pytest.raises(getattr(errors, exp["result"])):
            c.open_bytes(blob, keys=keys[exp["open_as"]], roster=roster)


def _canonical(v) -> bytes:
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e["result"] == "ok"))
def test_independent_reference_computation(name):
    """Re-derive digest, segment hashes, root and plaintext from the spec text alone."""
    exp = EXPECTED[name]
    with zipfile.ZipFile(io.BytesIO((VEC / name).read_bytes())) as zf:
        manifest = json.loads(zf.read("0.manifest.json"))
        payload = zf.read("0.payload")
    st = manifest["statement"]
    assert hashlib.sha384(b"accord-sealed/v1 statement\0" + _canonical(st)).hexdigest() == exp["statement_digest"]
    dek, item_id = bytes.fromhex(exp["dek"]), bytes.fromhex(st["itemId"])
    commit = hmac.new(dek, b"accord-sealed/v1 key-commitment" + item_id, "sha384").hexdigest()
    assert commit == st["payload"]["keyCommitment"]
    size, seg, n = st["payload"]["size"], st["payload"]["segmentSize"], st["payload"]["segments"]
    root = hashlib.sha384(b"accord-sealed/v1 root\0")
    plain, off = b"", 0
    for i in range(n):
        ln = min(seg, size - i * seg) + 16
        sealed = payload[off : off + ln]
        off += ln
        assert hashlib.sha256(sealed).hexdigest() == exp["segment_sha256"][i]
        root.update(hashlib.sha256(sealed).digest())
        aad = b"ASv1" + item_id + i.to_bytes(8, "big") + (b"\x01" if i == n - 1 else b"\x00")
        plain += AESGCM(dek).decrypt(b"\0\0\0\0" + i.to_bytes(8, "big"), sealed, aad)
    root.update(n.to_bytes(8, "big") + size.to_bytes(8, "big"))
    assert off == len(payload)
    assert root.hexdigest() == st["payload"]["root"] == exp["root"]
    assert hashlib.sha256(plain).hexdigest() == exp["plaintext_sha256"]
    assert base64.b64decode(st["label"]["xml"]) == (VEC / "label.xml").read_bytes()
