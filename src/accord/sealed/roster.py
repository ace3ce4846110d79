"""The pinned, versioned trust roster of party public keys (after TUF root metadata).

The roster holds, per party, a chain of signed entries ``v1, v2, …``:

- ``v1`` is self-signed and trusted because it is *pinned* (imported by an operator who checked its
  fingerprint out of band, like a TUF root shipped with the client);
- ``v(n+1)`` must carry ``version = n + 1``, keep every key id of ``v(n)`` (old keys stay for reading,
  marked ``retired`` or ``revoked``) and be signed by the active signing key of ``v(n)`` **and** by its own
  active signing key (TUF's rule for root rotation, threshold 1 per party);
- a version lower than or equal to the one held is refused (no rollback).

Key states (issue 9): ``active``; ``retired`` (rotated out, with the time of the rotation: it verifies only
what says it was signed no later, :meth:`Roster.signing_key`); ``revoked`` (compromised, with the time of
the revocation: it verifies **nothing**, whatever time a statement claims, since whoever holds a compromised
key can backdate; TUF likewise drops a revoked key from root). A key never comes back from retired or
revoked and its times never move.

The roster is the only trust source: a signature verifies only against a signing key id found here.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accord.errors import InputError, IntegrityError, TrustError
from accord.formats.canonical import canonical_json
from accord.sealed.format import DS_ROSTER, KEYID_RE, PARTY_RE, Reader, b64e, parse_json
from accord.sealed.suites import (
    KEY_MLKEM1024_P384,
    KEY_P384,
    KEY_SIGN,
    SignKeyPair,
    get_suite,
    key_id,
    verify_signature,
)

if TYPE_CHECKING:
    from accord.sealed.keys import PartyKeys

ENC_KEY_TYPES = (KEY_MLKEM1024_P384, KEY_P384)
ENTRY_FILE_RE = re.compile(r"^([A-Z]{3})\.([1-9][0-9]{0,8})\.json$")
STATUSES = ("active", "retired", "revoked")


@dataclass(frozen=True)
class KeyRecord:
    keyid: str
    use: str
    type: str
    public: bytes
    status: str
    retired: str = ""  # a retired signing key: when (UTC, ISO 8601); "" in entries made before this was kept
    revoked: str = ""  # a revoked key: when its party declared it compromised (UTC, ISO 8601)

    def to_dict(self) -> dict[str, str]:
        """The record as a roster entry writes it."""
        out = {"keyid": self.keyid, "use": self.use, "type": self.type, "public": b64e(self.public)}
        out["status"] = self.status
        if self.retired:
            out["retired"] = self.retired
        if self.revoked:
            out["revoked"] = self.revoked
        return out


def instant(text: str, *, source: str, field: str) -> datetime:
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
            k.only("keyid", "use", "type", "public", "status", "retired", "revoked")
            use = k.str("use")
            typ = k.str("type")
            status = k.str("status")
            retired = revoked = ""
            if "retired" in k.obj:
                retired = k.str("retired")
                instant(retired, source=source, field=f"signed.keys[{i}].retired")
                if status not in ("retired", "revoked") or use != "sign":
                    raise InputError(
                        "only a retired signing key has a retirement time",
                        source=source,
                        field=f"signed.keys[{i}].retired",
                    )
            if status == "revoked" or "revoked" in k.obj:
                revoked = k.str("revoked")
                instant(revoked, source=source, field=f"signed.keys[{i}].revoked")
                if status != "revoked":
                    raise InputError(
                        "only a revoked key has a revocation time", source=source, field=f"signed.keys[{i}].revoked"
                    )
            if (use, typ) not in {("sign", KEY_SIGN), *(("encrypt", t) for t in ENC_KEY_TYPES)}:
                raise InputError(f"unknown key use/type {use}/{typ}", source=source, field=f"signed.keys[{i}]")
            if status not in STATUSES:
                raise InputError(f"unknown status {status!r}", source=source, field=f"signed.keys[{i}].status")
            pub = k.bytes("public")
            kid = k.str("keyid", KEYID_RE)
            if key_id(typ, pub) != kid:
                raise InputError("key id does not match the public key", source=source, field=f"signed.keys[{i}]")
            keys.append(KeyRecord(kid, use, typ, pub, status, retired, revoked))
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


def make_entry(
    keys: PartyKeys, version: int, signers: Iterable[SignKeyPair], *, revoked: Iterable[KeyRecord] = ()
) -> RosterEntry:
    """Build and sign a roster entry for ``keys`` at ``version`` (keys in ``revoked`` stay revoked)."""
    records = keys.public_keys()
    gone = {k.keyid: k for k in revoked}
    records = [gone[r["keyid"]].to_dict() if r["keyid"] in gone else r for r in records]
    return sign_entry(keys.party, version, records, signers)


def sign_entry(party: str, version: int, records: list[dict[str, str]], signers: Iterable[SignKeyPair]) -> RosterEntry:
    """Sign the entry of ``party`` at ``version`` listing the key ``records``."""
    signed = {
        "type": "accord-roster-entry",
        "party": party,
        "version": version,
        "keys": records,
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
            if nk is not None and k.status == "retired" and (nk.status == "active" or nk.retired != k.retired):
                raise TrustError(f"{entry.party} v{entry.version} revives key {k.keyid} or moves its retirement")
            if nk is not None and k.status == "revoked" and (nk.status != "revoked" or nk.revoked != k.revoked):
                raise TrustError(f"{entry.party} v{entry.version} un-revokes key {k.keyid} or moves its revocation")
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
        revoked = [k for k in chain[-1].keys if k.status == "revoked"]
        entry = make_entry(new_keys, chain[-1].version + 1, [prev, new_keys.current.sign], revoked=revoked)
        self.update(entry)
        return entry

    def revoke(self, keys: PartyKeys, kid: str, *, at: str) -> RosterEntry:
        """Sign and add the next entry of ``keys.party`` declaring its key ``kid`` compromised at ``at``.

        Signed by the party's active signing key (the entry's own and the previous one are the same key: a
        revocation keeps the active keys). An active key cannot be revoked alone: rotate first (`accord keys
        rotate`), then revoke the key the rotation retired. Every key of the generation of ``kid`` is revoked
        with it (a compromised generation: its encryption keys too)."""
        chain = self.chains.get(keys.party)
        if chain is None:
            raise TrustError(f"party {keys.party} is not pinned")
        prev = chain[-1]
        target = prev.key(kid)
        if target is None:
            raise InputError(f"{keys.party} has no key {kid} in its roster entry v{prev.version}", field="keyid")
        if target.status == "revoked":
            raise InputError(f"key {kid} of {keys.party} is already revoked (at {target.revoked})", field="keyid")
        if target.status == "active":
            raise InputError(
                f"key {kid} is {keys.party}'s active key: rotate first (accord keys rotate), then revoke it",
                field="keyid",
            )
        instant(at, source="revocation", field="at")
        gen = next((g for g in keys.generations if kid in (g.sign_key_id, *map(g.enc_key_id, g.enc))), None)
        same_gen = {kid} if gen is None else {gen.sign_key_id, *map(gen.enc_key_id, gen.enc)}
        signer = keys.find_sign(prev.active_sign.keyid)
        if signer is None:
            raise TrustError(f"the keys given do not hold {keys.party}'s active signing key {prev.active_sign.keyid}")
        records = [
            (
                KeyRecord(k.keyid, k.use, k.type, k.public, "revoked", k.retired, at)
                if k.keyid in same_gen and k.status != "revoked"
                else k
            ).to_dict()
            for k in prev.keys
        ]
        entry = sign_entry(keys.party, prev.version + 1, records, [signer])
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

    def signing_key(self, party: str, kid: str, *, at: str | None = None, what: str = "statement") -> KeyRecord:
        """A signing key of ``party`` by id (active, or retired within its time); anything else is untrusted.

        ``at``: when the signed object (``what``: an item's statement, a re-wrap record, an alternative label,
        a binding, a document) says it was made (ISO 8601 UTC), None when it does not say. Issue 9:

        - a retired key verifies only what predates its retirement (ACC-R11): ``at`` must be given and not after the
          retirement time its roster entry records (both to the second, so an item sealed in the second of
          the rotation still verifies). An object that does not say when it was signed is refused. Entries
          written before retirement times were recorded carry none; their retired keys keep verifying;
        - a revoked key verifies nothing (ACC-R12: its holder may be an attacker, who can backdate anything).
        """
        rec = self.latest(party).key(kid)
        if rec is None or rec.use != "sign":
            raise TrustError(f"signing key {kid} is not in the roster for {party}")
        if rec.status == "revoked":
            raise TrustError(
                f"signing key {kid} of {party} was revoked at {rec.revoked} (compromised): it verifies no {what}"
            )
        if rec.status == "retired" and rec.retired:
            if at is None:
                raise TrustError(
                    f"signing key {kid} of {party} was retired at {rec.retired}; the {what} does not say when it "
                    "was signed, so it cannot show that it predates the retirement"
                )
            when = instant(at, source=what, field="created")
            if when > instant(rec.retired, source="roster", field="retired"):
                raise TrustError(
                    f"signing key {kid} of {party} was retired at {rec.retired}; it does not verify a {what} "
                    f"made at {at}"
                )
        return rec

    def encryption_key(self, party: str, suite_id: str) -> KeyRecord:
        """The active encryption key of ``party`` for ``suite_id``."""
        kt = get_suite(suite_id).key_type
        entry = self.latest(party)
        return next(k for k in entry.keys if k.use == "encrypt" and k.type == kt and k.status == "active")
