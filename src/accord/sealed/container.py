"""Sealed items: a zip holding ``0.payload`` (segmented AES-256-GCM) and ``0.manifest.json``.

The format is specified in ``docs/sealed-format.md``. In short:

- the payload is cut into segments (default 2 MiB), each sealed with AES-256-GCM under a fresh data key
  (nonce = segment index, AAD binds the item id, the index and a "final" flag: reordering and truncation
  fail); the SHA-256 of every sealed segment feeds a SHA-384 *root*;
- the originator's *statement* (label as STANAG 4774 XML, recipients with their key ids, suite, payload
  size/segments/root, key commitment) is signed with the hybrid ECDSA P-384 + ML-DSA-87 signature; the
  signature verifies only against the roster (a key carried in a file is never used);
- the data key is wrapped per recipient with HPKE, the HPKE ``info`` binding the statement digest, the
  recipient and its key id; a hub may add a wrapped key for the next nation under a signed *rewrap*
  record, and receiving nations may add signed ``alternativeConfidentialityLabel``s. Neither touches the
  statement, so the originator's signature stays valid.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import os
import re
import struct
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accord.core.agreements import AgreementSet
from accord.core.consent import Consent
from accord.core.decision import Decision, decide
from accord.core.labels import Label
from accord.errors import AccordError, InputError, IntegrityError, ReleaseRefused, TrustError
from accord.formats.canonical import canonical_json
from accord.formats.stanag4774 import label_to_xml
from accord.sealed import labelxml
from accord.sealed.format import (
    DEFAULT_SEGMENT_SIZE,
    DS_ALT_LABEL,
    DS_KEY_COMMIT,
    DS_REWRAP,
    DS_ROOT,
    DS_SEGMENT_AAD,
    DS_STATEMENT,
    DS_WRAP_INFO,
    FORMAT,
    HEX384_RE,
    KEYID_RE,
    MANIFEST_NAME,
    MAX_MANIFEST_SIZE,
    MAX_SEGMENT_SIZE,
    MAX_SEGMENTS,
    MIN_SEGMENT_SIZE,
    PARTY_RE,
    PAYLOAD_NAME,
    TAG_SIZE,
    VERSION,
    Reader,
    b64e,
    parse_json,
)
from accord.sealed.keys import PartyKeys, Roster, atomic_output
from accord.sealed.suites import (
    DEFAULT_SUITE,
    enc_public_from_raw,
    get_suite,
    suite_satisfies,
    unwrap_key,
    verify_signature,
    wrap_key,
)

Progress = Callable[[int], None]
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ITEM_ID_RE = re.compile(r"^[0-9a-f]{32}$")
SRC = "sealed item"


# --- public result types ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """A recipient able to open the item: granted by the originator or by a hub's re-wrap."""

    party: str
    keyid: str
    granted_by: str
    route: tuple[str, ...]
    agreements: tuple[str, ...]


@dataclass(frozen=True)
class Relay:
    """An onward destination the originator asked a hub to re-wrap for (signed in the statement)."""

    to: str
    via: tuple[str, ...]
    route: tuple[str, ...]
    agreements: tuple[str, ...]


@dataclass(frozen=True)
class AltLabel:
    """A receiving nation's ``alternativeConfidentialityLabel`` (its own marking), signed by it."""

    party: str
    keyid: str
    xml: bytes


@dataclass(frozen=True)
class ManifestInfo:
    format: str
    version: int
    suite: str
    holder: str
    signer: str
    signer_keyid: str
    at: str
    item_id: str
    size: int
    segment_size: int
    segments: int
    root: str
    mime_type: str


@dataclass(frozen=True)
class Opened:
    """An opened item. ``payload`` is None for :func:`open_file` (the plaintext went to the file)."""

    label_xml: bytes
    label: Label | None
    payload: bytes | None
    manifest: ManifestInfo
    signer: str
    recipients: tuple[Grant, ...]
    relays: tuple[Relay, ...]
    alternative_labels: tuple[AltLabel, ...]

    @property
    def banner(self) -> str:
        return labelxml.banner(self.label_xml, self.label)


@dataclass(frozen=True)
class Inspection:
    """What can be learnt and checked without decrypting."""

    banner: str
    label_xml: bytes
    manifest: ManifestInfo
    suite_description: str
    recipients: tuple[Grant, ...]
    relays: tuple[Relay, ...]
    alternative_labels: tuple[AltLabel, ...]
    signature: str  # "valid", "invalid", "untrusted", "not checked"
    payload: str  # "intact", "corrupt", "not checked"
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.signature == "valid" and self.payload == "intact"


@dataclass(frozen=True)
class RecipientPlan:
    """Who to wrap the key for (the next hop) and why (the decision for the final recipient)."""

    party: str
    route: tuple[str, ...] = ()
    agreements: tuple[str, ...] = ()


# --- helpers ---------------------------------------------------------------------------------------


def _stmt_message(statement: dict[str, Any]) -> bytes:
    return DS_STATEMENT + canonical_json(statement)


def _digest(msg: bytes) -> bytes:
    return hashlib.sha384(msg).digest()


def _wrap_info(stmt_digest: bytes, party: str, kid: str) -> bytes:
    return DS_WRAP_INFO + stmt_digest + party.encode("ascii") + b"\x00" + kid.encode("ascii")


def _key_commitment(dek: bytes, item_id: bytes) -> str:
    return hmac.new(dek, DS_KEY_COMMIT + item_id, hashlib.sha384).hexdigest()


def _nonce(i: int) -> bytes:
    return b"\x00\x00\x00\x00" + i.to_bytes(8, "big")


def _aad(item_id: bytes, i: int, final: bool) -> bytes:
    return DS_SEGMENT_AAD + item_id + i.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


def _segment_count(size: int, seg: int) -> int:
    return max(1, -(-size // seg))


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _sha256(data: bytes | memoryview) -> bytes:
    return hashlib.sha256(data).digest()


class _RootHasher:
    """SHA-384 root over the SHA-256 of each sealed segment.

    From the second segment on, segments are hashed in one worker thread (hashlib releases the GIL) while
    the caller encrypts or decrypts the next one; results are folded into the root in order. Use as a
    context manager so the worker is always stopped.
    """

    def __init__(self) -> None:
        self._root = hashlib.sha384(DS_ROOT)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[bytes]] = deque()
        self._first: bytes | memoryview | None = None
        self.count = 0

    def __enter__(self) -> _RootHasher:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def add(self, sealed: bytes | memoryview) -> None:
        self.count += 1
        if self.count == 1:
            self._first = sealed  # single-segment items never start a thread
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="accord-seal-hash")
            assert self._first is not None
            self._pending.append(self._pool.submit(_sha256, self._first))
            self._first = None
        self._pending.append(self._pool.submit(_sha256, sealed))
        while len(self._pending) > 2:
            self._root.update(self._pending.popleft().result())

    def finish(self, size: int) -> str:
        if self._first is not None:
            self._root.update(_sha256(self._first))
            self._first = None
        while self._pending:
            self._root.update(self._pending.popleft().result())
        self._root.update(struct.pack(">QQ", self.count, size))
        return self._root.hexdigest()


def _read_full(src: IO[bytes], n: int) -> bytes:
    buf = src.read(n)
    if buf is None:
        raise InputError("non-blocking input is not supported", source="input")
    if len(buf) == n or not buf:
        return buf
    parts = [buf]
    got = len(buf)
    while got < n:
        more = src.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _readinto_full(src: IO[bytes], buf: memoryview) -> int:
    """Fill ``buf`` from ``src`` (short only at end of input); returns the byte count."""
    got = 0
    while got < len(buf):
        n = src.readinto(buf[got:])  # type: ignore[attr-defined]
        if n is None:
            raise InputError("non-blocking input is not supported", source="input")
        if n == 0:
            break
        got += n
    return got


class _Ring:
    """A few reused segment buffers: constant memory, no per-segment allocation.

    Three are enough: after each ``add`` the hasher keeps at most two segments pending, so the buffer
    filled next (used three segments ago) has been hashed and folded into the root.
    """

    def __init__(self, size: int, count: int = 3) -> None:
        self._bufs = [memoryview(bytearray(size)) for _ in range(count)]
        self._i = 0

    def next(self, n: int) -> memoryview:
        b = self._bufs[self._i]
        self._i = (self._i + 1) % len(self._bufs)
        return b[:n]


# --- sealing ---------------------------------------------------------------------------------------


def seal_stream(
    src: IO[bytes],
    dst: IO[bytes],
    *,
    label_xml: bytes,
    recipients: Sequence[RecipientPlan],
    signer: PartyKeys,
    roster: Roster,
    at: date,
    holder: str | None = None,
    relays: Sequence[Relay] = (),
    suite: str | None = None,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    mime_type: str = "application/octet-stream",
    progress: Progress | None = None,
) -> ManifestInfo:
    """Seal ``src`` into the zip written to the seekable ``dst``, in constant memory.

    Low level: decisions are the caller's (see :func:`seal_bytes`); ``recipients`` are the parties to
    wrap the data key for. Refuses an empty recipient list, a missing label, an unknown suite, and any
    recipient or signer not in the roster.
    """
    suite_id = suite or DEFAULT_SUITE
    ws = get_suite(suite_id)
    holder = holder or signer.party
    if not recipients:
        raise InputError("no recipient: an item must be sealed for at least one nation", field="recipients")
    labelxml.check(label_xml)
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise InputError(f"segment size must be in [{MIN_SEGMENT_SIZE}, {MAX_SEGMENT_SIZE}]", field="segment_size")
    parties = [r.party for r in recipients]
    if len(set(parties)) != len(parties):
        raise InputError("duplicate recipient", field="recipients")
    if holder != signer.party:
        raise InputError(f"the holder ({holder}) must sign; signer is {signer.party}", field="holder")
    # Trust checks before any work: the signer's current key must be the roster's active one.
    if roster.latest(signer.party).active_sign.keyid != signer.sign_key_id:
        raise TrustError(f"{signer.party}'s current signing key is not the roster's active key")
    enc_keys = {}
    for p in parties:
        if not PARTY_RE.fullmatch(p):
            raise InputError(f"recipient {p!r} is not an alpha-3 code", field="recipients")
        enc_keys[p] = roster.encryption_key(p, suite_id)

    dek = AESGCM.generate_key(256)
    aes = AESGCM(dek)
    item_id = os.urandom(16)
    size = 0
    with _RootHasher() as hasher:
        zf = zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        with zf:
            zi = zipfile.ZipInfo(PAYLOAD_NAME, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_STORED
            with zf.open(zi, "w", force_zip64=True) as out:
                first = _read_full(src, segment_size)
                if len(first) < segment_size:  # one segment: small items allocate no ring
                    sealed1 = aes.encrypt(_nonce(0), first, _aad(item_id, 0, True))
                    hasher.add(sealed1)
                    out.write(sealed1)
                    size = len(first)
                    if progress is not None:
                        progress(size)
                else:
                    ins = [memoryview(bytearray(segment_size)), memoryview(bytearray(segment_size))]
                    ins[0][:] = first
                    del first
                    ring = _Ring(segment_size + TAG_SIZE)
                    k, n_cur, i = 0, segment_size, 0
                    while True:
                        n_nxt = _readinto_full(src, ins[1 - k]) if n_cur == segment_size else 0
                        final = n_nxt == 0
                        sealed = ring.next(n_cur + TAG_SIZE)
                        aes.encrypt_into(_nonce(i), ins[k][:n_cur], _aad(item_id, i, final), sealed)
                        hasher.add(sealed)
                        out.write(sealed)
                        size += n_cur
                        if progress is not None:
                            progress(n_cur)
                        i += 1
                        if final:
                            break
                        if i >= MAX_SEGMENTS:
                            raise InputError("input too large for this segment size", source="input")
                        k, n_cur = 1 - k, n_nxt
            root = hasher.finish(size)
            statement = {
                "type": "accord-sealed-statement",
                "itemId": item_id.hex(),
                "holder": holder,
                "signer": {"party": signer.party, "keyid": signer.sign_key_id},
                "at": at.isoformat(),
                "created": _now(),
                "suite": suite_id,
                "label": {"format": "stanag4774-xml", "xml": b64e(label_xml)},
                "recipients": [
                    {
                        "party": r.party,
                        "keyid": enc_keys[r.party].keyid,
                        "route": list(r.route),
                        "agreements": list(r.agreements),
                    }
                    for r in recipients
                ],
                "relays": [
                    {"to": r.to, "via": list(r.via), "route": list(r.route), "agreements": list(r.agreements)}
                    for r in relays
                ],
                "payload": {
                    "cipher": "AES-256-GCM",
                    "segmentHash": "SHA-256",
                    "rootHash": "SHA-384",
                    "size": size,
                    "segmentSize": segment_size,
                    "segments": hasher.count,
                    "root": root,
                    "keyCommitment": _key_commitment(dek, item_id),
                    "mimeType": mime_type,
                },
            }
            msg = _stmt_message(statement)
            digest = _digest(msg)
            key_access = []
            for p in parties:
                rec = enc_keys[p]
                pub = enc_public_from_raw(rec.type, rec.public)
                key_access.append(
                    {
                        "recipient": p,
                        "keyid": rec.keyid,
                        "suite": suite_id,
                        "wrappedKey": b64e(wrap_key(ws, pub, dek, _wrap_info(digest, p, rec.keyid))),
                        "grant": "statement",
                    }
                )
            manifest = {
                "format": FORMAT,
                "version": VERSION,
                "statement": statement,
                "signature": {"alg": "ecdsa-p384-sha384+mldsa87", "sig": b64e(signer.sign(msg))},
                "keyAccess": key_access,
                "rewraps": [],
                "alternativeLabels": [],
                "payload": {"url": PAYLOAD_NAME, "protocol": "zip", "isEncrypted": True},
            }
            _write_manifest(zf, manifest)
    return _parse_manifest(canonical_json(manifest)).info


def _write_manifest(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> None:
    zi = zipfile.ZipInfo(MANIFEST_NAME, date_time=(1980, 1, 1, 0, 0, 0))
    zi.compress_type = zipfile.ZIP_STORED
    zf.writestr(zi, canonical_json(manifest))


# --- parsing -----------------------------------------------------------------------------------------


@dataclass
class _Parsed:
    raw: dict[str, Any]
    statement: dict[str, Any]
    digest: bytes
    message: bytes
    signature: bytes
    info: ManifestInfo
    label_xml: bytes
    recipients: list[Grant]  # from the statement
    relays: list[Relay]
    key_access: list[tuple[str, str, bytes, str]]  # recipient, keyid, wrapped, grant ("statement" | "rewrap:i")
    rewraps: list[dict[str, Any]]
    alt_labels: list[dict[str, Any]]
    item_id: bytes = b""
    key_commitment: str = ""


def _strs(r: Reader, key: str, pattern: Any = PARTY_RE, max_len: int = 16) -> tuple[str, ...]:
    out = []
    for i, v in enumerate(r.list(key, max_len=max_len)):
        if not isinstance(v, str) or (pattern is not None and not pattern.fullmatch(v)):
            raise InputError("expected a list of codes", source=SRC, field=f"{r.path}.{key}[{i}]")
        out.append(v)
    return tuple(out)


def _parse_manifest(data: bytes) -> _Parsed:
    m = Reader(parse_json(data, source=SRC), "", source=SRC)
    m.only("format", "version", "statement", "signature", "keyAccess", "rewraps", "alternativeLabels", "payload")
    if m.get("format") != FORMAT:
        raise InputError("not an accord sealed item", source=SRC, field="format")
    if m.get("version") != VERSION:
        raise InputError(
            f"unsupported version {str(m.get('version'))[:20]} (this reader knows {VERSION})",
            source=SRC,
            field="version",
        )
    p = m.sub("payload")
    p.only("url", "protocol", "isEncrypted")
    if p.get("url") != PAYLOAD_NAME or p.get("protocol") != "zip" or p.get("isEncrypted") is not True:
        raise InputError("unsupported payload reference", source=SRC, field="payload")
    s = m.sub("statement")
    s.only(
        "type",
        "itemId",
        "holder",
        "signer",
        "at",
        "created",
        "suite",
        "label",
        "recipients",
        "relays",
        "payload",
    )
    if s.str("type") != "accord-sealed-statement":
        raise InputError("wrong statement type", source=SRC, field="statement.type")
    item_id = bytes.fromhex(s.str("itemId", ITEM_ID_RE))
    holder = s.str("holder", PARTY_RE)
    sg = s.sub("signer")
    sg.only("party", "keyid")
    signer = sg.str("party", PARTY_RE)
    signer_kid = sg.str("keyid", KEYID_RE)
    at = s.str("at", DATE_RE)
    s.str("created")
    suite_id = s.str("suite")
    get_suite(suite_id)  # unknown suite: refuse
    lab = s.sub("label")
    lab.only("format", "xml")
    if lab.str("format") != "stanag4774-xml":
        raise InputError("unsupported label format", source=SRC, field="statement.label.format")
    label_xml = lab.bytes("xml")
    labelxml.check(label_xml)
    recipients: list[Grant] = []
    for i in range(len(s.list("recipients", min_len=1, max_len=64))):
        r = s.item("recipients", i)
        r.only("party", "keyid", "route", "agreements")
        recipients.append(
            Grant(
                r.str("party", PARTY_RE),
                r.str("keyid", KEYID_RE),
                holder,
                _strs(r, "route"),
                _strs(r, "agreements", None, 64),
            )
        )
    if len({g.party for g in recipients}) != len(recipients):
        raise InputError("duplicate recipient", source=SRC, field="statement.recipients")
    relays: list[Relay] = []
    for i in range(len(s.list("relays", max_len=64))):
        r = s.item("relays", i)
        r.only("to", "via", "route", "agreements")
        relays.append(
            Relay(r.str("to", PARTY_RE), _strs(r, "via"), _strs(r, "route"), _strs(r, "agreements", None, 64))
        )
    pl = s.sub("payload")
    pl.only(
        "cipher",
        "segmentHash",
        "rootHash",
        "size",
        "segmentSize",
        "segments",
        "root",
        "keyCommitment",
        "mimeType",
    )
    if (pl.get("cipher"), pl.get("segmentHash"), pl.get("rootHash")) != ("AES-256-GCM", "SHA-256", "SHA-384"):
        raise InputError("unsupported payload algorithms", source=SRC, field="statement.payload")
    size = pl.int("size")
    seg = pl.int("segmentSize", MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE)
    nseg = pl.int("segments", 1, MAX_SEGMENTS)
    if nseg != _segment_count(size, seg):
        raise InputError("segment count does not match size", source=SRC, field="statement.payload.segments")
    root = pl.str("root", HEX384_RE)
    commit = pl.str("keyCommitment", HEX384_RE)
    mime = pl.str("mimeType")
    sig = m.sub("signature")
    sig.only("alg", "sig")
    if sig.get("alg") != "ecdsa-p384-sha384+mldsa87":
        raise InputError("unsupported signature algorithm", source=SRC, field="signature.alg")
    signature = sig.bytes("sig")
    key_access: list[tuple[str, str, bytes, str]] = []
    for i in range(len(m.list("keyAccess", min_len=1, max_len=128))):
        k = m.item("keyAccess", i)
        k.only("recipient", "keyid", "suite", "wrappedKey", "grant")
        if k.get("suite") != suite_id:
            raise InputError(
                "wrapped key suite differs from the item's suite", source=SRC, field=f"keyAccess[{i}].suite"
            )
        grant = k.str("grant")
        key_access.append((k.str("recipient", PARTY_RE), k.str("keyid", KEYID_RE), k.bytes("wrappedKey"), grant))
    rewraps = list(m.list("rewraps", max_len=64))
    alts = list(m.list("alternativeLabels", max_len=64))
    statement = dict(s.obj)
    msg = _stmt_message(statement)
    info = ManifestInfo(
        FORMAT, VERSION, suite_id, holder, signer, signer_kid, at, item_id.hex(), size, seg, nseg, root, mime
    )
    return _Parsed(
        dict(m.obj),
        statement,
        _digest(msg),
        msg,
        signature,
        info,
        label_xml,
        recipients,
        relays,
        key_access,
        rewraps,
        alts,
        item_id,
        commit,
    )


@dataclass
class _Verified:
    grants: list[Grant]
    alt_labels: list[AltLabel]


def _verify(parsed: _Parsed, roster: Roster) -> _Verified:
    """Verify the statement, re-wrap records, alternative labels and key-access list against the roster."""
    info = parsed.info
    if info.signer != info.holder:
        raise InputError("the statement must be signed by the releasing holder", source=SRC, field="statement.signer")
    rec = roster.signing_key(info.signer, info.signer_keyid)  # TrustError when not in the roster
    verify_signature(rec.public, parsed.signature, parsed.message)
    grants = list(parsed.recipients)
    digest_hex = parsed.digest.hex()
    for i, raw in enumerate(parsed.rewraps):
        r = Reader(raw, f"rewraps[{i}]", source=SRC)
        r.only("signed", "signature")
        s = r.sub("signed")
        s.only("type", "statement", "hub", "to", "keyid", "wrappedKey", "route", "agreements", "at", "basis")
        if s.get("type") != "accord-sealed-rewrap" or s.get("statement") != digest_hex:
            raise IntegrityError()
        hub = s.str("hub", PARTY_RE)
        sg = r.sub("signature")
        sg.only("keyid", "sig")
        hub_key = roster.signing_key(hub, sg.str("keyid", KEYID_RE))
        verify_signature(hub_key.public, sg.bytes("sig"), DS_REWRAP + canonical_json(dict(s.obj)))
        if hub not in {g.party for g in grants}:
            raise IntegrityError()  # a re-wrap by a party that could not read the item
        to = s.str("to", PARTY_RE)
        if to in {g.party for g in grants}:
            raise InputError("re-wrap for a party that already holds a key", source=SRC, field=f"rewraps[{i}].to")
        s.str("wrappedKey", HEX384_RE)
        s.str("at", DATE_RE)
        s.str("basis")
        grants.append(Grant(to, s.str("keyid", KEYID_RE), hub, _strs(s, "route"), _strs(s, "agreements", None, 64)))
    # Every wrapped key must be accounted for by a signed grant, one for one.
    if len(parsed.key_access) != len(grants):
        raise IntegrityError()
    for idx, (party, kid, wrapped, grant) in enumerate(parsed.key_access):
        g = grants[idx]
        if (party, kid) != (g.party, g.keyid):
            raise IntegrityError()
        if idx < len(parsed.recipients):
            if grant != "statement":
                raise IntegrityError()
        else:
            j = idx - len(parsed.recipients)
            if grant != f"rewrap:{j}":
                raise IntegrityError()
            if parsed.rewraps[j]["signed"]["wrappedKey"] != hashlib.sha384(wrapped).hexdigest():
                raise IntegrityError()
    alts: list[AltLabel] = []
    for i, raw in enumerate(parsed.alt_labels):
        r = Reader(raw, f"alternativeLabels[{i}]", source=SRC)
        r.only("signed", "signature")
        s = r.sub("signed")
        s.only("type", "statement", "party", "xml")
        if s.get("type") != "accord-sealed-alternative-label" or s.get("statement") != digest_hex:
            raise IntegrityError()
        party = s.str("party", PARTY_RE)
        if party not in {g.party for g in grants} or party in {a.party for a in alts}:
            raise IntegrityError()  # only a recipient adds one, once
        xml = s.bytes("xml")
        labelxml.check(xml, alternative=True)
        sg = r.sub("signature")
        sg.only("keyid", "sig")
        kid = sg.str("keyid", KEYID_RE)
        key = roster.signing_key(party, kid)
        verify_signature(key.public, sg.bytes("sig"), DS_ALT_LABEL + canonical_json(dict(s.obj)))
        alts.append(AltLabel(party, kid, xml))
    return _Verified(grants, alts)


# --- zip access ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _as_input_error() -> Iterator[None]:
    """Map any parser failure of the zip layer to Accord's own errors."""
    try:
        yield
    except AccordError:
        raise
    except zipfile.BadZipFile as e:
        if "CRC" in str(e):
            raise IntegrityError() from e
        raise InputError(f"not a valid sealed item (zip): {e}", source=SRC) from e
    except (
        zipfile.LargeZipFile,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        NotImplementedError,
        struct.error,
        RuntimeError,
        OverflowError,
        IndexError,
        TypeError,
        zlib.error,
        UnicodeDecodeError,
    ) as e:
        raise InputError(f"not a valid sealed item: {type(e).__name__}", source=SRC) from e


def _open_zip(f: IO[bytes]) -> tuple[zipfile.ZipFile, _Parsed]:
    with _as_input_error():
        zf = zipfile.ZipFile(f, "r")
        try:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if sorted(names) != sorted([MANIFEST_NAME, PAYLOAD_NAME]):
                raise InputError(f"expected entries {PAYLOAD_NAME} and {MANIFEST_NAME}", source=SRC)
            for zi in infos:
                if zi.compress_type != zipfile.ZIP_STORED or zi.flag_bits & 0x1:
                    raise InputError(f"{zi.filename}: only stored, unencrypted entries are allowed", source=SRC)
            mi = zf.getinfo(MANIFEST_NAME)
            if mi.file_size > MAX_MANIFEST_SIZE:
                raise InputError("manifest too large", source=SRC)
            parsed = _parse_manifest(zf.read(MANIFEST_NAME))
            pi = zf.getinfo(PAYLOAD_NAME)
            expected = parsed.info.size + TAG_SIZE * parsed.info.segments
            if pi.file_size != expected:
                raise IntegrityError()  # truncated or extended payload
        except BaseException:
            zf.close()
            raise
        return zf, parsed


def _payload_file(zf: zipfile.ZipFile) -> tuple[IO[bytes], int]:
    """The open file and the offset of ``0.payload``'s stored bytes (read directly: no CRC pass, no copy).

    The zip CRC is not needed: the signed root covers every byte.
    """
    zi = zf.getinfo(PAYLOAD_NAME)
    fp = zf.fp
    if fp is None or zi.compress_size != zi.file_size:
        raise InputError("payload entry is not stored", source=SRC)
    fp.seek(zi.header_offset)
    head = fp.read(30)
    if len(head) != 30 or head[:4] != b"PK\x03\x04":
        raise InputError("bad local header for 0.payload", source=SRC)
    n, m = struct.unpack("<HH", head[26:30])
    if fp.read(n) != PAYLOAD_NAME.encode():
        raise InputError("local header name differs from the central directory", source=SRC)
    off = zi.header_offset + 30 + n + m
    end = fp.seek(0, os.SEEK_END)
    if off + zi.file_size > end:
        raise IntegrityError()
    return fp, off


def _iter_sealed_segments(zf: zipfile.ZipFile, info: ManifestInfo) -> Iterator[tuple[int, memoryview, bool]]:
    fp, off = _payload_file(zf)
    fp.seek(off)
    ring = _Ring(min(info.segment_size, info.size) + TAG_SIZE)
    remaining = info.size
    for i in range(info.segments):
        n = min(info.segment_size, remaining)
        remaining -= n
        buf = ring.next(n + TAG_SIZE)
        if _readinto_full(fp, buf) != n + TAG_SIZE:
            raise IntegrityError()
        yield i, buf, i == info.segments - 1


def _unwrap(parsed: _Parsed, grants: list[Grant], keys: PartyKeys) -> bytes:
    suite = get_suite(parsed.info.suite)
    mine = [(p, kid, w) for (p, kid, w, _g) in parsed.key_access if p == keys.party]
    if not mine:
        raise TrustError(
            f"{keys.party} is not a recipient of this item (recipients: {', '.join(g.party for g in grants)})"
        )
    for party, kid, wrapped in mine:
        kp = keys.find_enc(kid)
        if kp is None:
            raise TrustError(f"{keys.party} does not hold the key {kid} this item was wrapped for")
        if kp.key_type != suite.key_type:
            raise IntegrityError()
        dek = unwrap_key(suite, kp.private(), wrapped, _wrap_info(parsed.digest, party, kid))
        if not hmac.compare_digest(_key_commitment(dek, parsed.item_id), parsed.key_commitment):
            raise IntegrityError()
        return dek
    raise TrustError("no usable wrapped key")  # pragma: no cover


def _decrypt_to(
    zf: zipfile.ZipFile, parsed: _Parsed, dek: bytes, out: IO[bytes] | None, progress: Progress | None
) -> None:
    aes = AESGCM(dek)
    plainbuf = memoryview(bytearray(min(parsed.info.segment_size, parsed.info.size)))
    with _RootHasher() as hasher, _as_input_error():
        for i, sealed, final in _iter_sealed_segments(zf, parsed.info):
            hasher.add(sealed)
            plain = plainbuf[: len(sealed) - TAG_SIZE]
            try:
                aes.decrypt_into(_nonce(i), sealed, _aad(parsed.item_id, i, final), plain)
            except InvalidTag as e:
                raise IntegrityError() from e
            if out is not None:
                out.write(plain)
            if progress is not None:
                progress(len(plain))
        root = hasher.finish(parsed.info.size)
    if not hmac.compare_digest(root, parsed.info.root):
        raise IntegrityError()


def _check_payload(zf: zipfile.ZipFile, parsed: _Parsed, progress: Progress | None = None) -> None:
    """Check the sealed segments against the signed root without the key."""
    with _RootHasher() as hasher, _as_input_error():
        for _i, sealed, _final in _iter_sealed_segments(zf, parsed.info):
            hasher.add(sealed)
            if progress is not None:
                progress(len(sealed) - TAG_SIZE)
        root = hasher.finish(parsed.info.size)
    if not hmac.compare_digest(root, parsed.info.root):
        raise IntegrityError()


def open_stream(
    src: IO[bytes],
    out: IO[bytes] | None,
    *,
    keys: PartyKeys,
    roster: Roster,
    progress: Progress | None = None,
) -> Opened:
    """Verify and decrypt; plaintext goes to ``out`` as it is verified segment by segment.

    The caller must discard ``out`` unless this returns (see :func:`open_file`).
    """
    zf, parsed = _open_zip(src)
    with zf:
        v = _verify(parsed, roster)
        dek = _unwrap(parsed, v.grants, keys)
        _decrypt_to(zf, parsed, dek, out, progress)
    return Opened(
        parsed.label_xml,
        labelxml.parse_label(parsed.label_xml),
        None,
        parsed.info,
        parsed.info.signer,
        tuple(v.grants),
        tuple(parsed.relays),
        tuple(v.alt_labels),
    )


def open_bytes(blob: bytes, *, keys: PartyKeys, roster: Roster) -> Opened:
    """Open a sealed item held in memory; returns the label and the payload."""
    out = io.BytesIO()
    o = open_stream(io.BytesIO(blob), out, keys=keys, roster=roster)
    return Opened(
        o.label_xml,
        o.label,
        out.getvalue(),
        o.manifest,
        o.signer,
        o.recipients,
        o.relays,
        o.alternative_labels,
    )


def inspect_stream(
    src: IO[bytes], *, roster: Roster | None, check_payload: bool = True, progress: Progress | None = None
) -> Inspection:
    """Read the labels, recipients and suite, and check signatures and payload, without decrypting."""
    zf, parsed = _open_zip(src)
    problems: list[str] = []
    with zf:
        grants: list[Grant] = list(parsed.recipients)
        alts: list[AltLabel] = []
        if roster is None:
            sig_status = "not checked"
        else:
            try:
                v = _verify(parsed, roster)
                grants, alts = v.grants, v.alt_labels
                sig_status = "valid"
            except TrustError as e:
                sig_status = "untrusted"
                problems.append(str(e))
            except IntegrityError:
                sig_status = "invalid"
                problems.append("a signature or key-access record does not verify")
        if check_payload:
            try:
                _check_payload(zf, parsed, progress)
                pay_status = "intact"
            except IntegrityError:
                pay_status = "corrupt"
                problems.append("the payload does not match the signed root")
        else:
            pay_status = "not checked"
    label = labelxml.parse_label(parsed.label_xml)
    return Inspection(
        labelxml.banner(parsed.label_xml, label),
        parsed.label_xml,
        parsed.info,
        get_suite(parsed.info.suite).description,
        tuple(grants),
        tuple(parsed.relays),
        tuple(alts),
        sig_status,
        pay_status,
        tuple(problems),
    )


def inspect_bytes(blob: bytes, *, roster: Roster | None) -> Inspection:
    return inspect_stream(io.BytesIO(blob), roster=roster)


# --- additions after sealing: re-wrap and alternative labels -----------------------------------------


def _copy_with_manifest(zf: zipfile.ZipFile, manifest: dict[str, Any], dst: IO[bytes]) -> None:
    with _as_input_error(), zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as out:
        zi = zipfile.ZipInfo(PAYLOAD_NAME, date_time=(1980, 1, 1, 0, 0, 0))
        zi.compress_type = zipfile.ZIP_STORED
        with zf.open(PAYLOAD_NAME, "r") as src, out.open(zi, "w", force_zip64=True) as w:
            while True:
                chunk = src.read(DEFAULT_SEGMENT_SIZE)
                if not chunk:
                    break
                w.write(chunk)
        _write_manifest(out, manifest)


def rewrap_stream(
    src: IO[bytes],
    dst: IO[bytes],
    *,
    keys: PartyKeys,
    roster: Roster,
    to: str,
    basis: str,
    route: Sequence[str] = (),
    agreements: Sequence[str] = (),
    at: date,
) -> None:
    """Low level: the hub ``keys.party`` adds a wrapped key for ``to`` under a signed re-wrap record.

    The decision is the caller's (see :func:`rewrap`). The hub must hold a grant and the payload must
    match the signed root; the originator's statement and signature are copied unchanged.
    """
    zf, parsed = _open_zip(src)
    with zf:
        v = _verify(parsed, roster)
        if to in {g.party for g in v.grants}:
            raise InputError(f"{to} already holds a key for this item", field="to")
        dek = _unwrap(parsed, v.grants, keys)
        _check_payload(zf, parsed)
        suite = get_suite(parsed.info.suite)
        rec = roster.encryption_key(to, suite.id)
        wrapped = wrap_key(
            suite, enc_public_from_raw(rec.type, rec.public), dek, _wrap_info(parsed.digest, to, rec.keyid)
        )
        signed = {
            "type": "accord-sealed-rewrap",
            "statement": parsed.digest.hex(),
            "hub": keys.party,
            "to": to,
            "keyid": rec.keyid,
            "wrappedKey": hashlib.sha384(wrapped).hexdigest(),
            "route": list(route),
            "agreements": list(agreements),
            "at": at.isoformat(),
            "basis": basis,
        }
        sig = keys.sign(DS_REWRAP + canonical_json(signed))
        manifest = dict(parsed.raw)
        manifest["rewraps"] = [
            *parsed.rewraps,
            {"signed": signed, "signature": {"keyid": keys.sign_key_id, "sig": b64e(sig)}},
        ]
        manifest["keyAccess"] = [
            *parsed.raw["keyAccess"],
            {
                "recipient": to,
                "keyid": rec.keyid,
                "suite": suite.id,
                "wrappedKey": b64e(wrapped),
                "grant": f"rewrap:{len(parsed.rewraps)}",
            },
        ]
        _copy_with_manifest(zf, manifest, dst)


def add_alternative_label_bytes(blob: bytes, *, keys: PartyKeys, roster: Roster, xml: bytes) -> bytes:
    """A receiving nation adds its alternativeConfidentialityLabel (never overwriting the originator's)."""
    labelxml.check(xml, alternative=True)
    zf, parsed = _open_zip(io.BytesIO(blob))
    with zf:
        v = _verify(parsed, roster)
        if keys.party not in {g.party for g in v.grants}:
            raise TrustError(f"{keys.party} is not a recipient of this item")
        if any(a.party == keys.party for a in v.alt_labels):
            raise InputError(f"{keys.party} already added an alternative label", field="alternativeLabels")
        signed = {
            "type": "accord-sealed-alternative-label",
            "statement": parsed.digest.hex(),
            "party": keys.party,
            "xml": b64e(xml),
        }
        sig = keys.sign(DS_ALT_LABEL + canonical_json(signed))
        manifest = dict(parsed.raw)
        manifest["alternativeLabels"] = [
            *parsed.alt_labels,
            {"signed": signed, "signature": {"keyid": keys.sign_key_id, "sig": b64e(sig)}},
        ]
        out = io.BytesIO()
        _copy_with_manifest(zf, manifest, out)
    return out.getvalue()


# --- decisions: the public API ------------------------------------------------------------------------


def _plan(
    label: Label,
    *,
    recipients: Sequence[str],
    holder: str,
    agreements: AgreementSet,
    at: date,
    consents: Sequence[Consent],
    relay: str,
) -> tuple[list[RecipientPlan], list[Relay]]:
    """Ask the decision engine for every recipient; refuse any it denies (ReleaseRefused)."""

    if relay not in ("blind", "rewrap"):
        raise InputError("relay must be 'blind' or 'rewrap'", field="relay")
    plans: dict[str, RecipientPlan] = {}
    relays: list[Relay] = []
    for r in recipients:
        d = decide(label, holder, r, at, tuple(consents), agreements=agreements)
        if not d.allowed:
            raise ReleaseRefused(r, d)
        route = tuple(d.route)
        # A hub outside the releasability relays blind: never sealed for it (issue 10, ACC-R5).
        blind = any(h.mode == "relay-blind" for h in getattr(d, "hops", ()))
        if relay == "rewrap" and len(route) > 2 and not blind:
            # The originator seals for the next hop and asks it (signed) to re-wrap for r (T-R5).
            hop = route[1]
            relays.append(Relay(r, route[1:-1], route, tuple(d.agreements)))
            if hop not in plans:
                plans[hop] = RecipientPlan(hop, route[:2], tuple(d.agreements))
        else:
            plans[r] = RecipientPlan(r, route, tuple(d.agreements))
    return list(plans.values()), relays


def _min_suite(agreements: AgreementSet, ids: Sequence[str], requested: str | None) -> str | None:
    """The strongest minimum suite: any set by an agreement relied on, and the caller's ``requested``."""
    minima = [ag.min_suite for ag in map(agreements.get, ids) if ag is not None and ag.min_suite]
    if requested is not None:
        minima.append(requested)
    return max(minima, key=lambda m: get_suite(m).rank, default=None)  # on a tie, the first (an agreement's)


def _label_xml_of(label: Label) -> bytes:
    if not isinstance(label, Label):
        raise InputError("a core Label is required", field="label")
    return label_to_xml(label)


def seal_bytes(
    payload: bytes,
    label: Label,
    *,
    recipients: Sequence[str],
    signer: PartyKeys,
    roster: Roster,
    agreements: AgreementSet,
    at: date,
    holder: str | None = None,
    consents: Sequence[Consent] = (),
    suite: str | None = None,
    relay: str = "blind",
    min_suite: str | None = None,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> bytes:
    """Seal ``payload`` for ``recipients`` after :func:`accord.core.decision.decide` allowed each one.

    ``relay``: for a recipient reached through a hub, ``"blind"`` wraps for the final recipient (the hub
    forwards without reading), ``"rewrap"`` wraps for the hub and asks it, in the signed statement, to
    re-wrap for the final recipient.

    Raises:
        ReleaseRefused: a recipient was denied (carries the Decision).
    """
    out = io.BytesIO()
    seal_stream(
        io.BytesIO(payload),
        out,
        **_seal_args(
            label,
            recipients,
            signer,
            roster,
            agreements,
            at=at,
            holder=holder,
            consents=consents,
            suite=suite,
            relay=relay,
            min_suite=min_suite,
        ),
        segment_size=segment_size,
    )
    return out.getvalue()


def _seal_args(
    label: Label,
    recipients: Sequence[str],
    signer: PartyKeys,
    roster: Roster,
    agreements: AgreementSet,
    *,
    at: date,
    holder: str | None,
    consents: Sequence[Consent],
    suite: str | None,
    relay: str,
    min_suite: str | None,
) -> dict[str, Any]:
    if not recipients:
        raise InputError("no recipient: an item must be sealed for at least one nation", field="recipients")
    holder = holder or signer.party
    plans, relays = _plan(
        label,
        recipients=recipients,
        holder=holder,
        agreements=agreements,
        at=at,
        consents=consents,
        relay=relay,
    )
    minimum = _min_suite(agreements, [a for p in plans for a in p.agreements], min_suite)
    suite_id = suite or DEFAULT_SUITE
    if not suite_satisfies(suite_id, minimum):
        raise InputError(f"suite {suite_id} is weaker than the minimum {minimum} set by the agreements", field="suite")
    return {
        "label_xml": _label_xml_of(label),
        "recipients": plans,
        "signer": signer,
        "roster": roster,
        "at": at,
        "holder": holder,
        "relays": relays,
        "suite": suite_id,
    }


def rewrap(
    blob: bytes,
    *,
    keys: PartyKeys,
    roster: Roster,
    to: str,
    agreements: AgreementSet,
    at: date,
    consents: Sequence[Consent] = (),
) -> bytes:
    """The hub (``keys``) re-wraps the item for ``to``; the originator's signature stays valid.

    Allowed when the decision engine allows the hub to release to ``to`` — either because the
    originator's signed statement asks for this relay through this hub and ``decide(holder → to)``
    still routes through it (the originator's request is its approval, T-R5), or because
    ``decide(hub → to, consents)`` allows it on its own. Otherwise :class:`ReleaseRefused`.
    """

    out = io.BytesIO()
    _rewrap_io(io.BytesIO(blob), out, keys=keys, roster=roster, to=to, agreements=agreements, at=at, consents=consents)
    return out.getvalue()


def _rewrap_io(
    src: IO[bytes],
    dst: IO[bytes],
    *,
    keys: PartyKeys,
    roster: Roster,
    to: str,
    agreements: AgreementSet,
    at: date,
    consents: Sequence[Consent],
) -> None:
    zf, parsed = _open_zip(src)
    with zf:
        _verify(parsed, roster)  # the relay request is read only from a verified statement
    label = labelxml.parse_label(parsed.label_xml)
    if label is None:
        raise InputError("the item's label cannot be read by the core; cannot decide", field="label")
    requested = next((r for r in parsed.relays if r.to == to and keys.party in r.via), None)
    d: Decision | None = None
    if requested is not None:
        # T-R5: the originator's own request to reach `to` through this hub is its approval.
        d = decide(label, parsed.info.holder, to, at, tuple(consents), agreements=agreements)
        if d.allowed and keys.party in d.route[1:-1]:
            basis = "originator-request"
        else:
            d = None
    if d is None:
        d = decide(label, keys.party, to, at, tuple(consents), agreements=agreements)
        if not d.allowed:
            raise ReleaseRefused(to, d)
        basis = "decision"
    src.seek(0)
    rewrap_stream(
        src,
        dst,
        keys=keys,
        roster=roster,
        to=to,
        basis=basis,
        route=tuple(d.route),
        agreements=tuple(d.agreements),
        at=at,
    )


# --- files ------------------------------------------------------------------------------------------


def _open_input(path: str | os.PathLike[str]) -> IO[bytes]:
    """``path`` opened for reading (the caller closes it); an unreadable file is bad input naming it."""
    try:
        return open(path, "rb")
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", source=str(path)) from e


def seal_file(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    label: Label,
    *,
    recipients: Sequence[str],
    signer: PartyKeys,
    roster: Roster,
    agreements: AgreementSet,
    at: date,
    holder: str | None = None,
    consents: Sequence[Consent] = (),
    suite: str | None = None,
    relay: str = "blind",
    min_suite: str | None = None,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    progress: Progress | None = None,
) -> ManifestInfo:
    """Seal a file of any size in constant memory (decisions as :func:`seal_bytes`)."""
    args = _seal_args(
        label,
        recipients,
        signer,
        roster,
        agreements,
        at=at,
        holder=holder,
        consents=consents,
        suite=suite,
        relay=relay,
        min_suite=min_suite,
    )
    return seal_path(in_path, out_path, segment_size=segment_size, progress=progress, **args)


def seal_path(in_path: str | os.PathLike[str], out_path: str | os.PathLike[str], **kwargs: Any) -> ManifestInfo:
    """Low level file sealing (``kwargs`` as :func:`seal_stream`), written atomically."""
    with _open_input(in_path) as src, atomic_output(out_path, 0o644) as dst:
        return seal_stream(src, dst, **kwargs)


def open_file(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    keys: PartyKeys,
    roster: Roster,
    progress: Progress | None = None,
) -> Opened:
    """Open a sealed file into ``out_path``: plaintext is written to a 0600 temp file in the destination
    directory and renamed only after every check passed; on any failure the temp file is deleted."""
    with _open_input(in_path) as src, atomic_output(out_path) as dst:
        return open_stream(src, dst, keys=keys, roster=roster, progress=progress)


def inspect_file(
    path: str | os.PathLike[str],
    *,
    roster: Roster | None,
    check_payload: bool = True,
    progress: Progress | None = None,
) -> Inspection:
    with _open_input(path) as src:
        return inspect_stream(src, roster=roster, check_payload=check_payload, progress=progress)


def rewrap_file(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    keys: PartyKeys,
    roster: Roster,
    to: str,
    agreements: AgreementSet,
    at: date,
    consents: Sequence[Consent] = (),
) -> None:
    """File form of :func:`rewrap`, streaming (the payload is copied, never decrypted)."""
    with _open_input(in_path) as src, atomic_output(out_path, 0o644) as dst:
        _rewrap_io(src, dst, keys=keys, roster=roster, to=to, agreements=agreements, at=at, consents=consents)
