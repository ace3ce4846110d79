"""The feed's signing key, certified by the party's sealed identity (``docs/feed.md``, issue 11).

Batches are signed with the node's Ed25519 key (the key every partner already pins in ``roster.yaml``),
not with the party's hybrid key (ECDSA P-384 + ML-DSA-87, :mod:`accord.sealed.keys`): a hybrid signature
costs ~3.5 ms to make, ~2.2 ms to check and 4,732 bytes, against 0.08 ms, 0.24 ms and 64 bytes, and the
feed signs a batch every 10 ms per stream. What binds that key to the nation is this **certificate**: a
statement signed with the party's current hybrid signing key, verifiable against the sealed trust roster
(``trust/``) like any sealed item::

    {"v":1,"type":"accord-feed-key","party":"KOR","key":"<b64 Ed25519 public key>",
     "signer":"<key id of the party's signing key>","created":"2026-11-30T03:00:00Z","sig":"<b64>"}

``sig`` is the hybrid signature over ``"accord-feed-key/1\\n"`` followed by the canonical JSON without
``sig``. :func:`verify_cert` checks it against the roster (a retired party key verifies only what predates
its retirement) and, with ``pinned``, that the certified key is the one the batches verify against.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from accord.errors import InputError, IntegrityError, TrustError
from accord.formats.canonical import canonical_json

DOMAIN = b"accord-feed-key/1\n"
CERT_FILE = "key-cert.json"
_KEYS = {"v", "type", "party", "key", "signer", "created", "sig"}
MAX_CERT = 16 * 1024


@dataclass(frozen=True)
class KeyCert:
    party: str
    key: Ed25519PublicKey
    key_raw: bytes
    signer: str
    created: str
    raw: bytes


def _raw(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _message(obj: dict[str, Any]) -> bytes:
    return DOMAIN + canonical_json({k: v for k, v in obj.items() if k != "sig"})


def make_cert(node_dir: Path, party: str, key: Ed25519PrivateKey, *, created: datetime | None = None) -> bytes:
    """Certify ``key`` with the party's current hybrid signing key (``<node dir>/keys``)."""
    from accord.node.sealing import KEYS_DIR
    from accord.sealed.keys import PartyKeys

    keys = PartyKeys.load(node_dir / KEYS_DIR)
    if keys.party != party:
        raise InputError(f"the party keys are {keys.party}'s, not {party}'s", source=str(node_dir / KEYS_DIR))
    when = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    obj: dict[str, Any] = {
        "v": 1,
        "type": "accord-feed-key",
        "party": party,
        "key": base64.b64encode(_raw(key.public_key())).decode(),
        "signer": keys.sign_key_id,
        "created": when,
    }
    obj["sig"] = base64.b64encode(keys.sign(_message(obj))).decode()
    return canonical_json(obj)


def verify_cert(data: bytes, trust_dir: Path, *, pinned: Ed25519PublicKey | None = None) -> KeyCert:
    """Check a certificate against the sealed trust roster in ``trust_dir`` (and the pinned feed key).

    Raises:
        InputError: not a certificate (size, JSON, fields).
        TrustError: the signer is not a signing key of that party in the roster, or retired before it.
        IntegrityError: the signature does not verify, or the certified key is not the pinned one.
    """
    from accord.sealed.keys import Roster
    from accord.sealed.suites import verify_signature

    if len(data) > MAX_CERT:
        raise InputError("feed key certificate too large", source="feed key certificate")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InputError("not JSON", source="feed key certificate") from None
    if not isinstance(obj, dict) or set(obj) != _KEYS or obj["v"] != 1 or obj["type"] != "accord-feed-key":
        raise InputError("not an accord-feed-key certificate", source="feed key certificate")
    if not all(isinstance(obj[k], str) for k in ("party", "key", "signer", "created", "sig")):
        raise InputError("fields must be strings", source="feed key certificate")
    try:
        key_raw = base64.b64decode(obj["key"], validate=True)
        sig = base64.b64decode(obj["sig"], validate=True)
        key = Ed25519PublicKey.from_public_bytes(key_raw)
    except ValueError:
        raise InputError("key or signature is not base64 of the right size", source="feed key certificate") from None
    roster = Roster.load(trust_dir)
    rec = roster.signing_key(obj["party"], obj["signer"], at=obj["created"])  # TrustError when not the party's
    try:
        verify_signature(rec.public, sig, _message(obj))
    except IntegrityError:
        raise IntegrityError(f"feed key certificate of {obj['party']}: signature does not verify") from None
    if pinned is not None and _raw(pinned) != key_raw:
        raise IntegrityError(f"the feed key certified by {obj['party']} is not the key pinned for it in roster.yaml")
    return KeyCert(obj["party"], key, key_raw, obj["signer"], obj["created"], canonical_json(obj))


__all__ = ["CERT_FILE", "KeyCert", "TrustError", "make_cert", "verify_cert"]
