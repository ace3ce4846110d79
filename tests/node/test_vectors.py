"""The node's signed documents (receipts, consents) against the published vectors (docs/node.md)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.errors import IntegrityError
from accord.formats.canonical import canonical_json as canonical
from accord.node.canon import sign, verify
from accord.node.identity import load_public_key_b64

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "node" / "signatures.json").read_text())


@pytest.mark.parametrize("kind", ["receipt", "consent"])
def test_vector_canonical_form_and_signature(kind: str) -> None:
    v = VECTORS[kind]
    assert canonical(v["body"]).decode() == v["canonical"]
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["private_seed_hex"]))
    assert sign(key, v["domain"], v["body"]) == v["signature"]  # Ed25519 is deterministic
    verify(load_public_key_b64(VECTORS["public_key_b64"], source="vector"), v["domain"], v["body"], v["signature"])


@pytest.mark.parametrize("kind", ["receipt", "consent"])
def test_vector_any_change_fails(kind: str) -> None:
    v = VECTORS[kind]
    pub = load_public_key_b64(VECTORS["public_key_b64"], source="vector")
    for field in v["body"]:
        body = copy.deepcopy(v["body"])
        body[field] = "x" if body[field] != "x" else "y"
        with pytest.raises(IntegrityError):
            verify(pub, v["domain"], body, v["signature"])
    other = "accord-consent/1" if kind == "receipt" else "accord-receipt/1"
    with pytest.raises(IntegrityError):  # domain separation: a receipt signature is not a consent signature
        verify(pub, other, v["body"], v["signature"])
    bad = base64.b64decode(v["signature"])
    with pytest.raises(IntegrityError):
        verify(pub, v["domain"], v["body"], base64.b64encode(bad[:-1] + bytes([bad[-1] ^ 1])).decode())
