"""The recipient's X25519 offer keys: the current one and the retired ones that still open old sessions.

``feed/offer-key.pem`` (0600) is the current key; the node offers it (signed, :func:`accord.feed.crypto.
make_offer`) to every originator, who seals each new epoch's session key to it. :func:`rotate` (CLI
``accord feed rotate-key``) retires it into ``feed/offer-keys/<offer digest>.pem`` (0600) with
``<offer digest>.json`` = ``{"offer": <the signed offer>, "not_after": <ISO 8601 UTC>}`` and writes a new
current key. A running node notices within a second, offers the new key upstream, and every originator
opens a new epoch sealed to it; records of earlier epochs still open with the retired key until
``not_after`` (default :data:`KEEP_DAYS`), after which the retired key is deleted: from then on, those
records cannot be read by anyone (forward secrecy per rotation).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.errors import AccordError, InputError
from accord.feed import crypto as fc

OFFER_KEY = "offer-key.pem"
RETIRED_DIR = "offer-keys"
KEEP_DAYS = 7.0


@dataclass(frozen=True)
class OfferKey:
    priv: X25519PrivateKey
    offer: fc.Offer
    not_after: datetime | None  # None: the current key


def _pem(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private(path: Path) -> X25519PrivateKey:
    try:
        priv = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        raise InputError("not a PEM private key", source=str(path)) from None
    if not isinstance(priv, X25519PrivateKey):
        raise InputError("not an X25519 key", source=str(path))
    return priv


def new_key(path: Path) -> X25519PrivateKey:
    from accord.sealed.keys import write_private

    key = X25519PrivateKey.generate()
    write_private(path, _pem(key))
    return key


def public_raw(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def retired_keys(
    state_dir: Path, party: str, verify: Ed25519PublicKey, *, now: datetime | None = None
) -> list[OfferKey]:
    """The retired keys still within their bound (a file that does not check out is skipped)."""
    out: list[OfferKey] = []
    now = now or datetime.now(UTC)
    for meta in sorted((state_dir / RETIRED_DIR).glob("*.json")):
        try:
            obj = json.loads(meta.read_text())
            not_after = datetime.fromisoformat(obj["not_after"])
            if not_after < now:
                continue
            offer = fc.open_offer(str(obj["offer"]).encode(), verify, party)  # our own signed offer
            priv = load_private(meta.with_suffix(".pem"))
            if public_raw(priv) != offer.pub.public_bytes_raw():
                continue
            out.append(OfferKey(priv, offer, not_after))
        except (OSError, ValueError, KeyError, TypeError, AccordError):
            continue
    return out


def purge(state_dir: Path, *, now: datetime | None = None) -> int:
    """Delete retired keys past their bound; returns how many."""
    now = now or datetime.now(UTC)
    n = 0
    for meta in (state_dir / RETIRED_DIR).glob("*.json"):
        try:
            expired = datetime.fromisoformat(json.loads(meta.read_text())["not_after"]) < now
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if expired:
            meta.with_suffix(".pem").unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            n += 1
    return n


def rotate(state_dir: Path, current_offer: bytes, *, keep_days: float = KEEP_DAYS) -> datetime:
    """Retire the current key (it opens old sessions until the returned time) and write a new one."""
    from accord.sealed.keys import write_private

    if keep_days < 0:
        raise InputError("--keep must be 0 or more days", source="rotate-key")
    path = state_dir / OFFER_KEY
    old = load_private(path)
    digest = hashlib.sha256(current_offer).hexdigest()
    retired = state_dir / RETIRED_DIR
    retired.mkdir(mode=0o700, exist_ok=True)
    not_after = datetime.now(UTC) + timedelta(days=keep_days)
    write_private(retired / f"{digest}.pem", _pem(old))
    meta = {"offer": current_offer.decode(), "not_after": not_after.isoformat()}
    (retired / f"{digest}.json").write_text(json.dumps(meta, sort_keys=True))
    tmp = path.with_name(OFFER_KEY + ".new")
    new_key(tmp)
    tmp.replace(path)
    return not_after


def offer_keys(state_dir: Path, party: str, verify: Ed25519PublicKey, my_offer: bytes | None) -> dict[str, OfferKey]:
    """Every key that opens sessions now, by offer digest: the current one (with the node's current offer
    ``my_offer``, when it is the current key's) and the retired ones within their bound."""
    out = {k.offer.digest: k for k in retired_keys(state_dir, party, verify)}
    if my_offer is not None and (state_dir / OFFER_KEY).exists():
        priv = load_private(state_dir / OFFER_KEY)
        offer = fc.open_offer(my_offer, verify, party)
        if offer.pub.public_bytes_raw() == public_raw(priv):
            out[offer.digest] = OfferKey(priv, offer, None)
    return out
