"""C2SP signed notes, tlog checkpoints and Ed25519 cosignatures. Pure: no I/O.

Interoperable with Go's ``golang.org/x/mod/sumdb/note`` and transparency-dev witnesses:

- signed note (c2sp.org/signed-note): ``text`` ending in ``\\n``, a blank line, then lines
  ``— <name> base64(key ID (4 bytes, big-endian) || signature)``;
- verifier keys ``<name>+<key ID hex>+base64(type || public key)`` and signer keys
  ``PRIVATE+KEY+<name>+<key ID hex>+base64(type || seed)``, with
  ``key ID = SHA-256(name || 0x0A || type || public key)[:4]``; type 0x01 is Ed25519 over the
  note text, type 0x04 the timestamped Ed25519 cosignature of c2sp.org/tlog-cosignature;
- checkpoint body (c2sp.org/tlog-checkpoint): origin, decimal tree size, base64 root hash, and
  optional non-empty extension lines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accord.audit.errors import MalformedNoteError, UnverifiedNoteError

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100  # Go's limit; the spec requires accepting at least 16
SIG_PREFIX = "— "  # em dash U+2014, space
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")  # as Go's strconv.ParseUint(s, 16, 32) with len(s) == 8
COSIGNATURE_HEADER = "cosignature/v1\n"


# -- names and key IDs --------------------------------------------------------------------------
def is_valid_name(name: str) -> bool:
    """A key name is non-empty and has no Unicode space and no ``+`` (signed-note §Format)."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, typed_public_key: bytes) -> int:
    """``SHA-256(name || 0x0A || type || public key)[:4]`` as a big-endian uint32."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + typed_public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _b64decode(s: str) -> bytes:
    """Strict standard base64 (RFC 4648 §4), as Go's ``base64.StdEncoding``."""
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        raise ValueError("bad base64") from e
    if base64.b64encode(raw).decode("ascii") != s:  # reject non-canonical padding bits
        raise ValueError("non-canonical base64")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _key_id_and_key(hex_id: str, key64: str) -> tuple[int, bytes]:
    """The hex key ID (8 digits, as Go's ``strconv.ParseUint``) and the base64 key of a key string.

    Raises:
        ValueError: either is malformed.
    """
    if not _HEX8.fullmatch(hex_id):
        raise ValueError("key ID")
    return int(hex_id, 16), _b64decode(key64)


# -- verifiers ----------------------------------------------------------------------------------
class Verifier(Protocol):
    """One known key: its name, key ID, and a signature check over the note text."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, msg: bytes, sig: bytes) -> bool: ...


@dataclass(frozen=True)
class _VerifierKey:
    """A verifier key of type ``alg``: its name and raw Ed25519 public key."""

    alg: ClassVar[int]
    name: str
    public_key: bytes

    @property
    def key_id(self) -> int:
        return key_id(self.name, bytes([self.alg]) + self.public_key)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{_b64(bytes([self.alg]) + self.public_key)}"

    def _ed25519_valid(self, sig: bytes, msg: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(sig, msg)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Ed25519Verifier(_VerifierKey):
    """A type 0x01 key: Ed25519 over the note text."""

    alg: ClassVar[int] = ALG_ED25519

    def verify(self, msg: bytes, sig: bytes) -> bool:
        if len(sig) != 64:
            return False
        return self._ed25519_valid(sig, msg)


@dataclass(frozen=True)
class CosignatureVerifier(_VerifierKey):
    """A type 0x04 key: timestamped Ed25519 cosignature of c2sp.org/tlog-cosignature."""

    alg: ClassVar[int] = ALG_COSIGNATURE_V1

    def verify(self, msg: bytes, sig: bytes) -> bool:
        if len(sig) != 8 + 64:
            return False
        (timestamp,) = struct.unpack(">Q", sig[:8])
        if timestamp > 2**63 - 1:
            return False
        return self._ed25519_valid(sig[8:], cosigned_message(msg, timestamp))


def cosigned_message(note_text: bytes, timestamp: int) -> bytes:
    """The message an Ed25519 cosigner signs: header line, ``time T`` line, the whole note text."""
    return f"{COSIGNATURE_HEADER}time {timestamp}\n".encode("ascii") + note_text


def parse_vkey(vkey: str) -> Ed25519Verifier | CosignatureVerifier:
    """Parse a verifier key ``<name>+<hex key ID>+<base64(type || key)>`` (Go ``note.NewVerifier``).

    Raises:
        MalformedNoteError: bad syntax, wrong key ID, unknown type or wrong key length.
    """
    vkey = vkey.strip()
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise MalformedNoteError("malformed verifier key", field="vkey")
    name, hex_id, key64 = parts
    try:
        kid, raw = _key_id_and_key(hex_id, key64)
    except ValueError as e:
        raise MalformedNoteError("malformed verifier key", field="vkey") from e
    if not is_valid_name(name) or not raw:
        raise MalformedNoteError("malformed verifier key", field="vkey")
    if kid != key_id(name, raw):
        raise MalformedNoteError("verifier key ID does not match its name and key", field="vkey")
    alg, key = raw[0], raw[1:]
    if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise MalformedNoteError(f"unknown verifier key type 0x{alg:02x}", field="vkey")
    if len(key) != 32:
        raise MalformedNoteError("an Ed25519 verifier key must be 32 bytes", field="vkey")
    return Ed25519Verifier(name, key) if alg == ALG_ED25519 else CosignatureVerifier(name, key)


# -- signers ------------------------------------------------------------------------------------
class _Ed25519Base:
    alg: int = ALG_ED25519

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not is_valid_name(name):
            raise MalformedNoteError(f"invalid key name {name!r}", field="name")
        self.name = name
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, bytes([self.alg]) + self.public_key)

    @classmethod
    def generate(cls, name: str) -> Self:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, skey: str) -> Self:
        """Parse ``PRIVATE+KEY+<name>+<hex key ID>+base64(type || seed)`` (Go ``note.NewSigner``)."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise MalformedNoteError("malformed signer key", field="skey")
        _, _, name, hex_id, key64 = parts
        try:
            kid, raw = _key_id_and_key(hex_id, key64)
        except ValueError as e:
            raise MalformedNoteError("malformed signer key", field="skey") from e
        if not raw or raw[0] != cls.alg or len(raw) != 33 or not is_valid_name(name):
            raise MalformedNoteError("malformed signer key", field="skey")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_id != kid:
            raise MalformedNoteError("signer key ID does not match its key", field="skey")
        return signer

    @property
    def skey(self) -> str:
        """The secret signer key string. Keep it secret (0600 on disk)."""
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{_b64(bytes([self.alg]) + seed)}"

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{_b64(bytes([self.alg]) + self.public_key)}"


class NoteSigner(_Ed25519Base):
    """A type 0x01 Ed25519 note signer (a log's key)."""

    alg = ALG_ED25519

    def sign(self, msg: bytes) -> bytes:
        return self._key.sign(msg)

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self.name, self.public_key)


class CosignatureSigner(_Ed25519Base):
    """A type 0x04 timestamped Ed25519 cosigner (a witness's key)."""

    alg = ALG_COSIGNATURE_V1

    def sign_at(self, msg: bytes, timestamp: int) -> bytes:
        if not 0 <= timestamp <= 2**63 - 1:
            raise ValueError("cosignature timestamp out of range")
        return struct.pack(">Q", timestamp) + self._key.sign(cosigned_message(msg, timestamp))

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.public_key)


# -- notes --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Signature:
    """One signature line: key name, key ID and the base64 of ``key ID || signature``."""

    name: str
    key_id: int
    b64: str

    @property
    def signature(self) -> bytes:
        return _b64decode(self.b64)[4:]

    def line(self) -> str:
        return f"{SIG_PREFIX}{self.name} {self.b64}\n"


@dataclass(frozen=True)
class Note:
    """A parsed note: its text and its verified and unverified signatures."""

    text: str
    sigs: tuple[Signature, ...] = ()
    unverified: tuple[Signature, ...] = field(default=())


def _check_chars(s: str, what: str) -> None:
    for c in s:
        if c < " " and c != "\n":
            raise MalformedNoteError(f"{what} contains a control character")


def parse_note(msg: bytes) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and signature lines (syntax only, no verification).

    Raises:
        MalformedNoteError: not UTF-8, control characters, no signature block, bad lines,
            or more than 100 signatures.
    """
    try:
        s = msg.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedNoteError("malformed note: not UTF-8") from e
    _check_chars(s, "note")
    split = s.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("malformed note: no signature block")
    text, block = s[: split + 1], s[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedNoteError("malformed note: signature block must end in a newline")
    sigs: list[Signature] = []
    for line in block[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise MalformedNoteError("malformed note: bad signature line")
        name, sep, b64 = line[len(SIG_PREFIX) :].partition(" ")
        try:
            raw = _b64decode(b64)
        except ValueError as e:
            raise MalformedNoteError("malformed note: bad signature encoding") from e
        if not sep or not is_valid_name(name) or len(raw) < 5:
            raise MalformedNoteError("malformed note: bad signature line")
        sigs.append(Signature(name, int.from_bytes(raw[:4], "big"), b64))
        if len(sigs) > MAX_SIGNATURES:
            raise MalformedNoteError("malformed note: too many signatures")
    return text, sigs


def _index_verifiers(verifiers: Iterable[Verifier]) -> dict[tuple[str, int], Verifier]:
    known: dict[tuple[str, int], Verifier] = {}
    for v in verifiers:
        k = (v.name, v.key_id)
        if k in known and known[k] != v:
            raise MalformedNoteError(f"ambiguous key {v.name}+{v.key_id:08x}")
        known[k] = v
    return known


def open_note(msg: bytes, verifiers: Iterable[Verifier]) -> Note:
    """Parse a note and verify its signatures against the known keys (Go ``note.Open``).

    Unknown keys are ignored (kept as unverified). A known key whose signature fails rejects the
    whole note, and so does a note that no known key verifies.

    Raises:
        MalformedNoteError: the note is not well-formed.
        UnverifiedNoteError: no known key verified it, or a known key's signature is invalid.
    """
    text, sigs = parse_note(msg)
    known = _index_verifiers(verifiers)
    tb = text.encode("utf-8")
    good: list[Signature] = []
    unknown: list[Signature] = []
    seen: set[tuple[str, int]] = set()
    seen_unknown: set[Signature] = set()
    for sig in sigs:
        v = known.get((sig.name, sig.key_id))
        if v is None:
            if sig not in seen_unknown:
                seen_unknown.add(sig)
                unknown.append(sig)
            continue
        if (sig.name, sig.key_id) in seen:
            continue
        seen.add((sig.name, sig.key_id))
        if not v.verify(tb, sig.signature):
            raise UnverifiedNoteError()
        good.append(sig)
    if not good:
        raise UnverifiedNoteError()
    return Note(text, tuple(good), tuple(unknown))


def sign_note(
    text: str,
    signers: Sequence[NoteSigner | CosignatureSigner],
    *,
    existing: Sequence[Signature] = (),
    timestamp: int | None = None,
) -> bytes:
    """Sign ``text`` (ending in a newline) and return the encoded note (Go ``note.Sign``).

    Existing signatures by keys other than ``signers`` are kept before the new ones.
    ``timestamp`` (POSIX seconds) is required when a cosigner is among ``signers``.
    """
    if not text.endswith("\n"):
        raise MalformedNoteError("note text must end in a newline")
    _check_chars(text, "note text")
    tb = text.encode("utf-8")
    new: list[Signature] = []
    for s in signers:
        if isinstance(s, CosignatureSigner):
            if timestamp is None:
                raise ValueError("a cosignature needs a timestamp")
            raw = s.sign_at(tb, timestamp)
        else:
            raw = s.sign(tb)
        new.append(Signature(s.name, s.key_id, _b64(s.key_id.to_bytes(4, "big") + raw)))
    replaced = {(s.name, s.key_id) for s in new}
    kept = [s for s in existing if (s.name, s.key_id) not in replaced]
    return (text + "\n" + "".join(s.line() for s in [*kept, *new])).encode("utf-8")


def add_cosignature(msg: bytes, cosigner: CosignatureSigner, timestamp: int) -> bytes:
    """Append (or replace) ``cosigner``'s cosignature on a signed note, keeping other signatures."""
    text, sigs = parse_note(msg)
    return sign_note(text, [cosigner], existing=sigs, timestamp=timestamp)


def cosignature_timestamp(sig: Signature) -> int:
    """The timestamp of a type 0x04 cosignature."""
    raw = _b64decode(sig.b64)
    if len(raw) != 4 + 8 + 64:
        raise MalformedNoteError("not an Ed25519 cosignature")
    return int.from_bytes(raw[4:12], "big")


# -- checkpoints --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    """The body of a c2sp.org/tlog-checkpoint: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise MalformedNoteError("checkpoint origin must be one non-empty line")
        if self.size < 0:
            raise MalformedNoteError("checkpoint size must be >= 0")
        if len(self.root_hash) != 32:
            raise MalformedNoteError("checkpoint root hash must be 32 bytes")
        for e in self.extensions:
            if not e or "\n" in e:
                raise MalformedNoteError("checkpoint extension lines must be non-empty single lines")

    def text(self) -> str:
        lines = [self.origin, str(self.size), _b64(self.root_hash), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (the note text).

        Raises:
            MalformedNoteError: fewer than three lines, empty lines, a size with leading zeros or
                non-digits, or a root that is not base64 of 32 bytes.
        """
        if not text.endswith("\n"):
            raise MalformedNoteError("malformed checkpoint: text must end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or any(not line for line in lines):
            raise MalformedNoteError("malformed checkpoint: needs origin, size and root hash lines")
        origin, size_s, root_s, *ext = lines
        if not size_s.isascii() or not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")):
            raise MalformedNoteError("malformed checkpoint: bad tree size", field="size")
        try:
            root = _b64decode(root_s)
        except ValueError as e:
            raise MalformedNoteError("malformed checkpoint: bad root hash", field="root") from e
        return cls(origin, int(size_s), root, tuple(ext))


def open_checkpoint(msg: bytes, verifiers: Iterable[Verifier], *, origin: str | None = None) -> tuple[Checkpoint, Note]:
    """Verify a signed checkpoint and parse its body; optionally require its origin.

    Raises:
        MalformedNoteError, UnverifiedNoteError: as :func:`open_note`, or a bad body / origin.
    """
    note = open_note(msg, verifiers)
    cp = Checkpoint.parse(note.text)
    if origin is not None and cp.origin != origin:
        raise MalformedNoteError(f"checkpoint origin {cp.origin!r} is not {origin!r}")
    return cp, note
