"""End-to-end session crypto of the feed (``docs/feed.md``): pure functions over keys given as arguments.

Handshake, between the originating and the receiving nation (the hub relays it, cannot read it):

1. The recipient's **offer**: an X25519 public key, signed with the recipient node's Ed25519 key
   (pinned by every partner). It travels upstream in subscription requests.
2. The originator's **session record** (``HS``): a fresh 32-byte session key sealed to the offer with
   HPKE (RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM; ``info`` binds the
   stream and epoch), plus the offer's hash, signed with the originator's Ed25519 key. It is the first
   record of an epoch in the stream.

Each message is then one AES-256-GCM ciphertext under the session key: nonce ``epoch u32 | seq u64``
(never reused: the publisher opens a new epoch with a new key on every start), AAD the record header
and the epoch. Every batch of records (at most every 10 ms) is covered by an Ed25519 signature of the
originator over a SHA-256 chain of the exact record bytes: every message is attributable, for one
signature per batch rather than per message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accord.errors import IntegrityError
from accord.feed.frame import BSIG, DATA, HS, REC_HEADER, FrameError, check_stream, record
from accord.formats.canonical import canonical_json

SUITE_NAME = "HPKE-X25519-HKDF-SHA256-AES-256-GCM"
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_EPOCH = struct.Struct(">I")
_BSIG = struct.Struct(">QQ32s64s")
_PART = struct.Struct(">I7sQB")
NONCE = struct.Struct(">IQ")  # the AES-GCM nonce of a DATA record: epoch u32 | seq u64
_PART_EPOCH = struct.Struct(">I7sQBI")  # len u32 | record header | epoch u32: a DATA part up to its ciphertext
BATCH_DOMAIN = b"accord-feed-batch/1\n"
MAX_JSON = 4096


class FeedCryptoError(IntegrityError):
    """A handshake, signature or ciphertext that does not verify."""

    def __init__(self, message: str) -> None:
        super().__init__(f"feed crypto: {message}")


def b64e(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def b64d(s: object, what: str) -> bytes:
    if not isinstance(s, str) or len(s) > MAX_JSON:
        raise FeedCryptoError(f"{what} is not base64")
    try:
        return base64.b64decode(s, validate=True)
    except ValueError:
        raise FeedCryptoError(f"{what} is not base64") from None


def _signed(obj: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in obj.items() if k != "sig"})


def _parse_signed(data: bytes, keys: set[str], what: str) -> dict[str, Any]:
    if len(data) > MAX_JSON:
        raise FeedCryptoError(f"{what} too large")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FeedCryptoError(f"{what} is not JSON") from None
    if not isinstance(obj, dict) or set(obj) != keys:
        raise FeedCryptoError(f"{what} has the wrong fields")
    return obj


def _verify(pub: Ed25519PublicKey, sig: bytes, msg: bytes, what: str) -> None:
    try:
        pub.verify(sig, msg)
    except InvalidSignature:
        raise FeedCryptoError(f"{what}: signature does not verify") from None


# -- offers ---------------------------------------------------------------------------------------

_OFFER_KEYS = {"v", "type", "recipient", "kem", "pub", "created", "sig"}


@dataclass(frozen=True)
class Offer:
    """A recipient's signed X25519 key (the first half of the handshake)."""

    recipient: str
    pub: X25519PublicKey
    raw: bytes  # the exact signed bytes (hashed into session records)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def make_offer(recipient: str, x_priv: X25519PrivateKey, sign_key: Ed25519PrivateKey, created_us: int) -> bytes:
    pub = x_priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    obj: dict[str, Any] = {
        "v": 1,
        "type": "accord-feed-offer",
        "recipient": recipient,
        "kem": "X25519",
        "pub": b64e(pub),
        "created": created_us,
    }
    obj["sig"] = b64e(sign_key.sign(_signed(obj)))
    return canonical_json(obj)


def open_offer(data: bytes, recipient_key: Ed25519PublicKey, recipient: str) -> Offer:
    """Verify an offer against the recipient's pinned key."""
    obj = _parse_signed(data, _OFFER_KEYS, "offer")
    if obj["v"] != 1 or obj["type"] != "accord-feed-offer" or obj["kem"] != "X25519" or obj["recipient"] != recipient:
        raise FeedCryptoError(f"offer is not an X25519 offer of {recipient}")
    _verify(recipient_key, b64d(obj["sig"], "offer signature"), _signed(obj), f"offer of {recipient}")
    raw = b64d(obj["pub"], "offer key")
    if len(raw) != 32:
        raise FeedCryptoError("offer key is not an X25519 key")
    return Offer(recipient, X25519PublicKey.from_public_bytes(raw), canonical_json(obj))


# -- sessions -------------------------------------------------------------------------------------

_HS_KEYS = {"v", "type", "stream", "epoch", "originator", "recipient", "offer", "suite", "enc", "sig"}


def _info(stream: str, epoch: int) -> bytes:
    return b"accord-feed/1 " + stream.encode("ascii") + _EPOCH.pack(epoch)


@dataclass
class Session:
    """An AEAD session of one stream epoch."""

    stream: str
    epoch: int
    key: bytes

    def __post_init__(self) -> None:
        self._aead = AESGCM(self.key)
        self._epoch = _EPOCH.pack(self.epoch)
        self._sb = self.stream.encode("ascii")

    def seal(self, seq: int, plaintext: bytes) -> bytes:
        """The DATA record for ``plaintext`` at ``seq``."""
        header = record(self.stream, seq, DATA, self._epoch)
        return header + self._aead.encrypt(self._epoch + seq.to_bytes(8, "big"), plaintext, header)

    def seal_part(self, seq: int, plaintext: bytes) -> bytes:
        """The DATA record for ``plaintext`` at ``seq`` as a segment part (``len u32 | record``)."""
        head = _PART.pack(REC_HEADER + 20 + len(plaintext), self._sb, seq, DATA) + self._epoch
        return head + self._aead.encrypt(self._epoch + seq.to_bytes(8, "big"), plaintext, head[4:])

    def seal_parts(self, first: int, plaintexts: list[bytes]) -> list[bytes]:
        """:meth:`seal_part` for ``plaintexts`` at ``first, first + 1, …`` (a publisher's burst), in one loop."""
        encrypt, head, nonce = self._aead.encrypt, _PART_EPOCH.pack, NONCE.pack
        sb, epoch, size = self._sb, self.epoch, REC_HEADER + 20
        out = []
        seq = first
        for p in plaintexts:
            h = head(size + len(p), sb, seq, DATA, epoch)
            out.append(h + encrypt(nonce(epoch, seq), p, h[4:]))
            seq += 1
        return out

    @property
    def decrypt(self) -> Callable[[bytes, bytes | memoryview, bytes | memoryview], bytes]:
        """AES-GCM open under the session key: ``decrypt(NONCE.pack(epoch, seq), ciphertext, aad)`` (a
        reader's loop over a segment; raises ``InvalidTag``). :meth:`open` is the checked one-record form."""
        return self._aead.decrypt

    def open(self, rec_raw: bytes, seq: int) -> bytes:
        header = rec_raw[: REC_HEADER + 4]
        try:
            return self._aead.decrypt(self._epoch + seq.to_bytes(8, "big"), rec_raw[REC_HEADER + 4 :], header)
        except InvalidTag:
            raise FeedCryptoError(f"{self.stream} #{seq}: ciphertext does not authenticate") from None


def data_epoch(payload: bytes) -> int:
    if len(payload) < 4 + 16:
        raise FrameError("data record too short")
    (epoch,) = _EPOCH.unpack_from(payload)
    return int(epoch)


def make_session(stream: str, epoch: int, offer: Offer, sign_key: Ed25519PrivateKey) -> tuple[Session, bytes]:
    """A new session for ``stream`` (originator side): the session and the HS record payload."""
    check_stream(stream)
    if offer.recipient != stream[4:]:
        raise FeedCryptoError("offer is not from the stream's recipient")
    key = os.urandom(32)
    enc = _SUITE.encrypt(key, offer.pub, info=_info(stream, epoch))
    obj: dict[str, Any] = {
        "v": 1,
        "type": "accord-feed-session",
        "stream": stream,
        "epoch": epoch,
        "originator": stream[:3],
        "recipient": stream[4:],
        "offer": offer.digest,
        "suite": SUITE_NAME,
        "enc": b64e(enc),
    }
    obj["sig"] = b64e(sign_key.sign(_signed(obj)))
    return Session(stream, epoch, key), canonical_json(obj)


def parse_session_header(payload: bytes) -> dict[str, Any]:
    """The fields of an HS record (not verified)."""
    obj = _parse_signed(payload, _HS_KEYS, "session record")
    if obj["v"] != 1 or obj["type"] != "accord-feed-session" or obj["suite"] != SUITE_NAME:
        raise FeedCryptoError("not a session record of this suite")
    epoch = obj["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 < epoch < 2**32:
        raise FeedCryptoError("bad epoch")
    check_stream(obj["stream"])
    if obj["originator"] != obj["stream"][:3] or obj["recipient"] != obj["stream"][4:]:
        raise FeedCryptoError("session record names other parties than its stream")
    return obj


def open_session(
    payload: bytes, stream: str, originator_key: Ed25519PublicKey, offer: Offer, x_priv: X25519PrivateKey
) -> Session:
    """Recipient side: verify the originator's signature and the offer hash, unseal the key."""
    obj = parse_session_header(payload)
    if obj["stream"] != stream:
        raise FeedCryptoError("session record of another stream")
    _verify(originator_key, b64d(obj["sig"], "session signature"), _signed(obj), f"session of {stream}")
    if obj["offer"] != offer.digest:
        raise FeedCryptoError(f"{stream}: session sealed to another offer")
    try:
        key = _SUITE.decrypt(b64d(obj["enc"], "session key"), x_priv, info=_info(stream, obj["epoch"]))
    except (InvalidTag, ValueError):
        raise FeedCryptoError(f"{stream}: session key does not unseal") from None
    if len(key) != 32:
        raise FeedCryptoError("session key has the wrong size")
    return Session(stream, obj["epoch"], key)


def verify_session_signature(payload: bytes, originator_key: Ed25519PublicKey) -> dict[str, Any]:
    """Relay side: the originator's signature over an HS record (the hub cannot open it)."""
    obj = parse_session_header(payload)
    _verify(originator_key, b64d(obj["sig"], "session signature"), _signed(obj), f"session of {obj['stream']}")
    return obj


# -- batch signatures -----------------------------------------------------------------------------


class BatchChain:
    """SHA-256 over ``len u32 | record`` for each record of a batch, in sequence order."""

    __slots__ = ("first", "h", "last")

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.first = 0
        self.last = 0

    def add(self, seq: int, raw: bytes) -> None:
        if self.first == 0:
            self.first = seq
        elif seq != self.last + 1:
            raise FeedCryptoError(f"batch chain gap at {seq}")
        self.last = seq
        self.h.update(len(raw).to_bytes(4, "big"))
        self.h.update(raw)

    def add_span(self, first: int, last: int, data: bytes | memoryview) -> None:
        """Records ``first..last`` at once: ``data`` is their ``len u32 | record`` parts (a segment slice)."""
        if self.first == 0:
            self.first = first
        elif first != self.last + 1:
            raise FeedCryptoError(f"batch chain gap at {first}")
        self.last = last
        self.h.update(data)

    def digest(self) -> bytes:
        return self.h.digest()


def _batch_message(stream: str, first: int, last: int, digest: bytes) -> bytes:
    return BATCH_DOMAIN + stream.encode("ascii") + struct.pack(">QQ", first, last) + digest


def sign_batch(stream: str, chain: BatchChain, sign_key: Ed25519PrivateKey) -> bytes:
    """The BSIG payload for the batch ``chain``."""
    digest = chain.digest()
    sig = sign_key.sign(_batch_message(stream, chain.first, chain.last, digest))
    return _BSIG.pack(chain.first, chain.last, digest, sig)


@dataclass(frozen=True)
class Batch:
    first: int
    last: int
    digest: bytes
    sig: bytes


def parse_batch(payload: bytes) -> Batch:
    if len(payload) != _BSIG.size:
        raise FrameError("batch signature has the wrong size")
    first, last, digest, sig = _BSIG.unpack(payload)
    if not 0 < first <= last:
        raise FrameError("batch range is empty")
    return Batch(first, last, digest, sig)


def verify_batch(stream: str, batch: Batch, chain: BatchChain, originator_key: Ed25519PublicKey) -> None:
    """Check the signature and that it covers exactly the records received (``chain``)."""
    if (batch.first, batch.last) != (chain.first, chain.last) or batch.digest != chain.digest():
        raise FeedCryptoError(f"{stream}: batch {batch.first}-{batch.last} does not cover the records received")
    _verify(
        originator_key,
        batch.sig,
        _batch_message(stream, batch.first, batch.last, batch.digest),
        f"batch {batch.first}-{batch.last} of {stream}",
    )


__all__ = ["BSIG", "DATA", "HS"]
