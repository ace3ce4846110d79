"""Ed25519 signing helpers for receipts and consents, over :func:`accord.formats.canonical.canonical_json`."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from accord.errors import IntegrityError
from accord.formats.canonical import canonical_json


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sign(key: Ed25519PrivateKey, domain: str, obj: Any) -> str:
    """Ed25519 signature (base64) over ``domain`` NUL canonical-JSON(obj): domain separation per use."""
    return base64.b64encode(key.sign(domain.encode() + b"\x00" + canonical_json(obj))).decode()


def verify(pub: Ed25519PublicKey, domain: str, obj: Any, sig_b64: str) -> None:
    """Raise IntegrityError (fixed message) unless ``sig_b64`` is a valid signature of ``obj``."""
    try:
        pub.verify(base64.b64decode(sig_b64, validate=True), domain.encode() + b"\x00" + canonical_json(obj))
    except (InvalidSignature, ValueError) as e:
        raise IntegrityError() from e
