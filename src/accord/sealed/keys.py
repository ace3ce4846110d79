"""Party keys; the pinned, versioned trust roster is :mod:`accord.sealed.roster` (its names are re-exported
here).

A party (nation) holds generations of keys: one hybrid signing key (ECDSA P-384 + ML-DSA-87) and one
encryption key per key type (ML-KEM-1024+P-384, P-384). Rotation adds a generation; old generations are
kept so that items wrapped for an old key id can still be read.

See :mod:`accord.sealed.roster` for the roster's rules (rotation, retirement, revocation).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from accord.errors import InputError
from accord.formats.canonical import canonical_json
from accord.sealed.format import PARTY_RE, Reader, b64e, parse_json
from accord.sealed.roster import (
    ENC_KEY_TYPES,
    ENTRY_FILE_RE,
    KeyRecord,
    Roster,
    RosterEntry,
    instant,
    make_entry,
    sign_entry,
)
from accord.sealed.suites import (
    KEY_SIGN,
    EncKeyPair,
    PendingSignature,
    SignKeyPair,
    enc_public_raw_of,
    key_id,
    sign_public_raw_of,
)

__all__ = [
    "ENC_KEY_TYPES",
    "ENTRY_FILE_RE",
    "KEYS_FILE",
    "Generation",
    "KeyRecord",
    "PartyKeys",
    "Roster",
    "RosterEntry",
    "atomic_output",
    "instant",
    "make_entry",
    "sign_entry",
    "write_private",
]

KEYS_FILE = "party-keys.json"


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], mode: int = 0o600) -> Iterator[IO[bytes]]:
    """A temp file (created with ``mode``) in the destination directory, fsynced and renamed over
    ``path`` only if the block succeeds; removed otherwise."""
    dest = Path(path)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w+b") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` atomically to ``path`` with mode 0600 (created 0600, never widened)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as f:
        f.write(data)


@dataclass(frozen=True)
class Generation:
    """One generation of a party's keys."""

    created: str
    sign: SignKeyPair
    enc: Mapping[str, EncKeyPair]

    @property
    def sign_key_id(self) -> str:
        return key_id(KEY_SIGN, self.sign.public_raw)

    def enc_key_id(self, key_type: str) -> str:
        return key_id(key_type, self.enc[key_type].public_raw)


@dataclass(frozen=True)
class PartyKeys:
    """A party's private keys, every generation (the last one is current)."""

    party: str
    generations: tuple[Generation, ...]

    @staticmethod
    def generate(party: str) -> PartyKeys:
        if not PARTY_RE.fullmatch(party):
            raise InputError(f"party must be an ISO 3166 alpha-3 code, got {party!r}", field="party")
        return PartyKeys(party, (_new_generation(),))

    @property
    def current(self) -> Generation:
        return self.generations[-1]

    @property
    def sign_key_id(self) -> str:
        return self.current.sign_key_id

    def sign(self, message: bytes) -> bytes:
        return self.current.sign.sign(message)

    def begin_sign(self, message: bytes) -> PendingSignature:
        """The current key's signature of ``message``, its ML-DSA half started on the crypto pool."""
        return self.current.sign.begin_sign(message)

    def rotate(self) -> PartyKeys:
        """A new current generation; the old ones are kept for reading."""
        return PartyKeys(self.party, (*self.generations, _new_generation()))

    def find_enc(self, kid: str) -> EncKeyPair | None:
        """The encryption key with id ``kid`` from any generation (old keys open old items)."""
        for g in reversed(self.generations):
            for kt in g.enc:
                if g.enc_key_id(kt) == kid:
                    return g.enc[kt]
        return None

    def find_sign(self, kid: str) -> SignKeyPair | None:
        for g in self.generations:
            if g.sign_key_id == kid:
                return g.sign
        return None

    def public_keys(self) -> list[dict[str, str]]:
        """Roster key records for every generation (older ones ``retired``).

        A retired signing key records when it was retired: the creation time of the next generation. It then
        verifies only statements made before that time (:meth:`Roster.signing_key`).
        """
        out: list[dict[str, str]] = []
        last = len(self.generations) - 1
        for i, g in enumerate(self.generations):
            status = "active" if i == last else "retired"
            sign = {
                "keyid": g.sign_key_id,
                "use": "sign",
                "type": KEY_SIGN,
                "public": b64e(g.sign.public_raw),
                "status": status,
            }
            if status == "retired":
                sign["retired"] = self.generations[i + 1].created
            out.append(sign)
            for kt in ENC_KEY_TYPES:
                out.append(
                    {
                        "keyid": g.enc_key_id(kt),
                        "use": "encrypt",
                        "type": kt,
                        "public": b64e(g.enc[kt].public_raw),
                        "status": status,
                    }
                )
        return out

    # --- persistence ------------------------------------------------------------------------------

    def to_json(self) -> bytes:
        gens = [
            {
                "created": g.created,
                "sign": {"private": b64e(g.sign.private_raw), "public": b64e(g.sign.public_raw)},
                "enc": {
                    kt: {"private": b64e(kp.private_raw), "public": b64e(kp.public_raw)} for kt, kp in g.enc.items()
                },
            }
            for g in self.generations
        ]
        return canonical_json({"format": "accord-party-keys", "version": 1, "party": self.party, "generations": gens})

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the private keys to ``directory/party-keys.json`` with mode 0600."""
        path = Path(directory) / KEYS_FILE
        write_private(path, self.to_json())
        return path

    @staticmethod
    def load(directory: str | os.PathLike[str]) -> PartyKeys:
        path = Path(directory) / KEYS_FILE
        src = str(path)
        try:
            st = path.stat()
            data = path.read_bytes()
        except OSError as e:
            raise InputError(f"cannot read party keys: {e.strerror}", source=src) from e
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise InputError("private key file is readable by group or others (chmod 600)", source=src)
        r = Reader(parse_json(data, source=src), "", source=src)
        r.only("format", "version", "party", "generations")
        if r.str("format") != "accord-party-keys" or r.int("version") != 1:
            raise InputError("not an accord party-keys file (format/version)", source=src)
        party = r.str("party", PARTY_RE)
        gens: list[Generation] = []
        for i in range(len(r.list("generations", min_len=1, max_len=1000))):
            g = r.item("generations", i)
            g.only("created", "sign", "enc")
            s = g.sub("sign")
            sign = SignKeyPair(s.bytes("private"), s.bytes("public"))
            try:
                if sign_public_raw_of(sign.private_raw) != sign.public_raw:
                    raise InputError("private and public keys do not match")
            except InputError as e:
                raise InputError(e.message, source=src, field=f"generations[{i}].sign") from None
            er = g.sub("enc")
            enc: dict[str, EncKeyPair] = {}
            for kt in ENC_KEY_TYPES:
                kr = er.sub(kt)
                enc[kt] = EncKeyPair(kt, kr.bytes("private"), kr.bytes("public"))
                try:
                    if enc_public_raw_of(kt, enc[kt].private_raw) != enc[kt].public_raw:
                        raise InputError("private and public keys do not match")
                except InputError as e:
                    raise InputError(e.message, source=src, field=f"generations[{i}].enc.{kt}") from None
            gens.append(Generation(g.str("created"), sign, enc))
        return PartyKeys(party, tuple(gens))


def _new_generation() -> Generation:
    from accord.sealed.suites import generate_enc_key

    created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return Generation(created, SignKeyPair.generate(), {kt: generate_enc_key(kt) for kt in ENC_KEY_TYPES})
