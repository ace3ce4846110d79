"""Party keys and the pinned, versioned trust roster (after TUF root metadata).

A party (nation) holds generations of keys: one hybrid signing key (ECDSA P-384 + ML-DSA-87) and one
encryption key per key type (ML-KEM-1024+P-384, P-384). Rotation adds a generation; old generations are
kept so that items wrapped for an old key id can still be read.

The roster holds, per party, a chain of signed entries ``v1, v2, …``:

- ``v1`` is self-signed and trusted because it is *pinned* (imported by an operator who checked its
  fingerprint out of band, like a TUF root shipped with the client);
- ``v(n+1)`` must carry ``version = n + 1``, keep every key id of ``v(n)`` (old keys stay for reading,
  marked ``retired``) and be signed by the active signing key of ``v(n)`` **and** by its own active
  signing key (TUF's rule for root rotation, threshold 1 per party);
- a version lower than or equal to the one held is refused (no rollback).

The roster is the only trust source: a signature verifies only against a signing key id found here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from accord.errors import InputError, IntegrityError, TrustError
from accord.formats.canonical import canonical_json
from accord.sealed.format import DS_ROSTER, KEYID_RE, PARTY_RE, Reader, b64e, parse_json
from accord.sealed.suites import (
    KEY_MLKEM1024_P384,
    KEY_P384,
    KEY_SIGN,
    EncKeyPair,
    SignKeyPair,
    enc_public_raw_of,
    get_suite,
    key_id,
    sign_public_raw_of,
    verify_signature,
)

ENC_KEY_TYPES = (KEY_MLKEM1024_P384, KEY_P384)
KEYS_FILE = "party-keys.json"
ENTRY_FILE_RE = re.compile(r"^([A-Z]{3})\.([1-9][0-9]{0,8})\.json$")


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


# --- roster ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRecord:
    keyid: str
    use: str
    type: str
    public: bytes
    status: str
    retired: str = ""  # a retired signing key: when (UTC, ISO 8601); "" in entries made before this was kept


def _instant(text: str, *, source: str, field: str) -> datetime:
    """An ISO 8601 UTC time as the roster and statements write it (``2026-11-30T00:43:35Z``)."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise InputError(f"not an ISO 8601 time: {text[:40]!r}", source=source, field=field) from e
    if t.tzinfo is None:
        raise InputError("time without a time zone", source=source, field=field)
    return t


@dataclass(frozen=True)
class RosterEntry:
    """One signed version of a party's public keys."""

    party: str
    version: int
    keys: tuple[KeyRecord, ...]
    signed: Mapping[str, Any]
    signatures: tuple[tuple[str, bytes], ...]
    raw: bytes

    @property
    def active_sign(self) -> KeyRecord:
        return next(k for k in self.keys if k.use == "sign" and k.status == "active")

    def key(self, kid: str) -> KeyRecord | None:
        return next((k for k in self.keys if k.keyid == kid), None)

    def fingerprint(self) -> str:
        """SHA-256 of the canonical ``signed`` part: what an operator compares out of band when pinning."""
        return hashlib.sha256(canonical_json(dict(self.signed))).hexdigest()

    @staticmethod
    def parse(data: bytes, *, source: str = "roster entry") -> RosterEntry:
        r = Reader(parse_json(data, source=source), "", source=source)
        r.only("signed", "signatures")
        s = r.sub("signed")
        s.only("type", "party", "version", "keys")
        if s.str("type") != "accord-roster-entry":
            raise InputError("not an accord roster entry", source=source, field="signed.type")
        party = s.str("party", PARTY_RE)
        version = s.int("version", 1, 1 << 30)
        keys: list[KeyRecord] = []
        for i in range(len(s.list("keys", min_len=1, max_len=3000))):
            k = s.item("keys", i)
            k.only("keyid", "use", "type", "public", "status", "retired")
            use = k.str("use")
            typ = k.str("type")
            status = k.str("status")
            retired = ""
            if "retired" in k.obj:
                retired = k.str("retired")
                _instant(retired, source=source, field=f"signed.keys[{i}].retired")
                if status != "retired" or use != "sign":
                    raise InputError(
                        "only a retired signing key has a retirement time",
                        source=source,
                        field=f"signed.keys[{i}].retired",
                    )
            if (use, typ) not in {("sign", KEY_SIGN), *(("encrypt", t) for t in ENC_KEY_TYPES)}:
                raise InputError(f"unknown key use/type {use}/{typ}", source=source, field=f"signed.keys[{i}]")
            if status not in ("active", "retired"):
                raise InputError(f"unknown status {status!r}", source=source, field=f"signed.keys[{i}].status")
            pub = k.bytes("public")
            kid = k.str("keyid", KEYID_RE)
            if key_id(typ, pub) != kid:
                raise InputError("key id does not match the public key", source=source, field=f"signed.keys[{i}]")
            keys.append(KeyRecord(kid, use, typ, pub, status, retired))
        if len({k.keyid for k in keys}) != len(keys):
            raise InputError("duplicate key id", source=source, field="signed.keys")
        for use, typ in (("sign", KEY_SIGN), *(("encrypt", t) for t in ENC_KEY_TYPES)):
            n = sum(1 for k in keys if k.use == use and k.type == typ and k.status == "active")
            if n != 1:
                raise InputError(f"need exactly one active {typ} key, found {n}", source=source, field="signed.keys")
        sigs: list[tuple[str, bytes]] = []
        for i in range(len(r.list("signatures", min_len=1, max_len=16))):
            g = r.item("signatures", i)
            g.only("keyid", "sig")
            sigs.append((g.str("keyid", KEYID_RE), g.bytes("sig")))
        return RosterEntry(party, version, tuple(keys), s.obj, tuple(sigs), data)

    def signed_message(self) -> bytes:
        return DS_ROSTER + canonical_json(dict(self.signed))

    def check_signed_by(self, rec: KeyRecord) -> None:
        msg = self.signed_message()
        for kid, sig in self.signatures:
            if kid == rec.keyid:
                verify_signature(rec.public, sig, msg)
                return
        raise TrustError(f"roster entry {self.party} v{self.version} is not signed by key {rec.keyid}")


def make_entry(keys: PartyKeys, version: int, signers: Iterable[SignKeyPair]) -> RosterEntry:
    """Build and sign a roster entry for ``keys`` at ``version``."""
    signed = {
        "type": "accord-roster-entry",
        "party": keys.party,
        "version": version,
        "keys": keys.public_keys(),
    }
    msg = DS_ROSTER + canonical_json(signed)
    sigs = []
    seen: set[str] = set()
    for sk in signers:
        kid = key_id(KEY_SIGN, sk.public_raw)
        if kid not in seen:
            seen.add(kid)
            sigs.append({"keyid": kid, "sig": b64e(sk.sign(msg))})
    data = canonical_json({"signed": signed, "signatures": sigs}) + b"\n"
    return RosterEntry.parse(data)


@dataclass
class Roster:
    """Pinned partner public keys: per party, a verified chain of roster entries."""

    chains: dict[str, list[RosterEntry]] = field(default_factory=dict)

    # --- building ------------------------------------------------------------------------------

    def pin(self, entry: RosterEntry) -> None:
        """Trust a party's first entry (v1, self-signed). The caller checked its fingerprint."""
        if entry.party in self.chains:
            raise TrustError(f"party {entry.party} is already pinned; use update() for a new version")
        if entry.version != 1:
            raise TrustError(f"only version 1 of {entry.party} can be pinned, got v{entry.version}")
        entry.check_signed_by(entry.active_sign)
        self.chains[entry.party] = [entry]

    def update(self, entry: RosterEntry) -> None:
        """Accept ``v(n+1)`` of a pinned party: signed by the previous and the new active keys."""
        chain = self.chains.get(entry.party)
        if chain is None:
            raise TrustError(f"party {entry.party} is not pinned")
        prev = chain[-1]
        if entry.version <= prev.version:
            raise TrustError(f"rollback refused: {entry.party} v{entry.version} <= held v{prev.version}")
        if entry.version != prev.version + 1:
            raise TrustError(f"{entry.party} v{entry.version} skips versions after v{prev.version}")
        missing = [k.keyid for k in prev.keys if entry.key(k.keyid) is None]
        if missing:
            raise TrustError(f"{entry.party} v{entry.version} drops keys {', '.join(missing)} (old keys must be kept)")
        for k in prev.keys:
            nk = entry.key(k.keyid)
            if nk is not None and (nk.public != k.public or nk.type != k.type or nk.use != k.use):
                raise TrustError(f"{entry.party} v{entry.version} changes key {k.keyid}")
            if nk is not None and k.status == "retired" and (nk.status != "retired" or nk.retired != k.retired):
                raise TrustError(f"{entry.party} v{entry.version} revives key {k.keyid} or moves its retirement")
        try:
            entry.check_signed_by(prev.active_sign)
            entry.check_signed_by(entry.active_sign)
        except IntegrityError as e:
            raise TrustError(f"{entry.party} v{entry.version}: rotation signature does not verify") from e
        chain.append(entry)

    def add(self, entry: RosterEntry) -> None:
        """Pin a new party's v1, or update a pinned party (exact duplicates are ignored)."""
        chain = self.chains.get(entry.party)
        if chain and any(e.raw == entry.raw for e in chain):
            return
        if chain is None:
            self.pin(entry)
        else:
            self.update(entry)

    def rotate(self, new_keys: PartyKeys) -> RosterEntry:
        """Sign and add the next entry for ``new_keys`` (after :meth:`PartyKeys.rotate`)."""
        chain = self.chains.get(new_keys.party)
        if chain is None:
            raise TrustError(f"party {new_keys.party} is not pinned")
        prev_kid = chain[-1].active_sign.keyid
        prev = new_keys.find_sign(prev_kid)
        if prev is None:
            raise TrustError(f"the keys given do not hold {new_keys.party}'s current signing key {prev_kid}")
        entry = make_entry(new_keys, chain[-1].version + 1, [prev, new_keys.current.sign])
        self.update(entry)
        return entry

    @staticmethod
    def first_entry(keys: PartyKeys) -> RosterEntry:
        """The self-signed v1 entry of a party with a single generation."""
        if len(keys.generations) != 1:
            raise TrustError("a v1 entry is made from a single key generation")
        return make_entry(keys, 1, [keys.current.sign])

    # --- persistence ---------------------------------------------------------------------------

    @staticmethod
    def load(directory: str | os.PathLike[str]) -> Roster:
        """Load every ``PARTY.N.json`` in ``directory`` and verify each party's chain from v1."""
        d = Path(directory)
        if not d.is_dir():
            raise InputError("roster directory not found", source=str(d))
        found: dict[str, dict[int, Path]] = {}
        for p in sorted(d.iterdir()):
            m = ENTRY_FILE_RE.match(p.name)
            if m:
                found.setdefault(m.group(1), {})[int(m.group(2))] = p
        roster = Roster()
        for party, versions in sorted(found.items()):
            for v in sorted(versions):
                try:
                    entry = RosterEntry.parse(versions[v].read_bytes(), source=str(versions[v]))
                except OSError as e:
                    raise InputError(f"cannot read: {e.strerror}", source=str(versions[v])) from e
                if entry.party != party or entry.version != v:
                    raise TrustError(f"{versions[v]}: file name does not match party/version inside")
                roster.add(entry)
        return roster

    def save(self, directory: str | os.PathLike[str]) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for party, chain in self.chains.items():
            for e in chain:
                (d / f"{party}.{e.version}.json").write_bytes(e.raw)

    def verify(self) -> None:
        """Re-verify every chain from its pinned v1."""
        fresh = Roster()
        for chain in self.chains.values():
            fresh.pin(chain[0])
            for e in chain[1:]:
                fresh.update(e)

    # --- lookups -------------------------------------------------------------------------------

    @property
    def parties(self) -> list[str]:
        return sorted(self.chains)

    def latest(self, party: str) -> RosterEntry:
        chain = self.chains.get(party)
        if not chain:
            raise TrustError(f"party {party} is not in the roster")
        return chain[-1]

    def signing_key(self, party: str, kid: str, *, at: str | None = None) -> KeyRecord:
        """A signing key of ``party`` by id (active or retired); anything else is untrusted.

        ``at``: when the signed statement says it was made (ISO 8601 UTC). A retired key verifies only what
        predates its retirement: ``at`` must not be after the retirement time its roster entry records (both
        to the second, so an item sealed in the second of the rotation still verifies) (issue 9). Entries
        written before retirement times were recorded carry none; their retired keys keep verifying, as they
        did.
        """
        rec = self.latest(party).key(kid)
        if rec is None or rec.use != "sign":
            raise TrustError(f"signing key {kid} is not in the roster for {party}")
        if at is not None and rec.status == "retired" and rec.retired:
            when = _instant(at, source="statement", field="created")
            if when > _instant(rec.retired, source="roster", field="retired"):
                raise TrustError(
                    f"signing key {kid} of {party} was retired at {rec.retired}; it does not verify a statement "
                    f"made at {at}"
                )
        return rec

    def encryption_key(self, party: str, suite_id: str) -> KeyRecord:
        """The active encryption key of ``party`` for ``suite_id``."""
        kt = get_suite(suite_id).key_type
        entry = self.latest(party)
        return next(k for k in entry.keys if k.use == "encrypt" and k.type == kt and k.status == "active")
