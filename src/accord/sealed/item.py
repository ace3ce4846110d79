"""The verified item: an inbound container parsed and verified once; open, mark and re-wrap use it."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from accord.core.labels import Label
from accord.errors import InputError, IntegrityError, TrustError
from accord.formats.canonical import canonical_json
from accord.sealed import labelxml, parallel
from accord.sealed.format import (
    DEFAULT_SEGMENT_SIZE,
    DS_ALT_LABEL,
    DS_REWRAP,
    MANIFEST_NAME,
    MAX_MANIFEST_SIZE,
    PAYLOAD_NAME,
    TAG_SIZE,
    b64e,
)
from accord.sealed.keys import PartyKeys, Roster
from accord.sealed.manifest import (
    ParsedManifest,
    parse_manifest,
    unwrap_dek,
    verify_manifest,
    wrap_info,
)
from accord.sealed.model import AltLabel, Grant, ManifestInfo, Opened, Relay
from accord.sealed.payload import (
    Progress,
    as_input_error,
    check_payload,
    decrypt_to,
    now_utc,
    payload_file,
    stored_entry,
)
from accord.sealed.plan import RewrapPlan
from accord.sealed.suites import enc_public_from_raw, get_suite, wrap_key

SRC = "sealed item"


# --- the verified item -------------------------------------------------------------------------------


@dataclass
class VerifiedItem:
    """A sealed item whose manifest was parsed and verified against the roster, once.

    Its payload stays where it was read from (``source`` at ``offset``); amendments (a marking, a
    re-wrap) return a new object sharing it and cost no verification; :meth:`write` writes once.
    """

    parsed: ParsedManifest
    grants: tuple[Grant, ...]
    alternative_labels: tuple[AltLabel, ...]
    manifest: dict[str, Any]
    source: IO[bytes] = field(repr=False)
    offset: int = 0
    _dek: bytes | None = field(default=None, repr=False)
    _payload_ok: bool = False
    _label: Label | None = field(default=None, repr=False)
    # The data key unwrapped speculatively while the signatures were verified (verify_stream(keys=...)):
    # read only by _key, so only on a VerifiedItem, i.e. after every signature verified.
    _early: tuple[PartyKeys, parallel.Task[bytes]] | None = field(default=None, repr=False, compare=False)

    @property
    def info(self) -> ManifestInfo:
        return self.parsed.info

    @property
    def label_xml(self) -> bytes:
        return self.parsed.label_xml

    @property
    def label(self) -> Label | None:
        """The originator's label as the core reads it (None when the core cannot map it)."""
        if self._label is None:
            self._label = labelxml.parse_label(self.parsed.label_xml)
        return self._label

    @property
    def holder(self) -> str:
        return self.parsed.info.holder

    @property
    def relays(self) -> tuple[Relay, ...]:
        return tuple(self.parsed.relays)

    @property
    def statement_digest(self) -> str:
        """The SHA-384 (hex) of the signed statement: what a re-wrap plan is bound to."""
        return self.parsed.digest.hex()

    def parties(self) -> set[str]:
        return {g.party for g in self.grants}

    def write(self, dst: IO[bytes]) -> None:
        """Write the item (its payload unchanged, its current manifest) to ``dst``."""
        with as_input_error(), zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as out:
            with out.open(stored_entry(PAYLOAD_NAME), "w", force_zip64=True) as w:
                for chunk in self._payload_chunks():
                    w.write(chunk)
            out.writestr(stored_entry(MANIFEST_NAME), canonical_json(self.manifest))

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        self.write(out)
        return out.getvalue()

    def _payload_chunks(self) -> Iterator[bytes]:
        remaining = self.info.size + TAG_SIZE * self.info.segments
        self.source.seek(self.offset)
        while remaining:
            chunk = self.source.read(min(remaining, DEFAULT_SEGMENT_SIZE))
            if not chunk:
                raise IntegrityError()
            remaining -= len(chunk)
            yield chunk

    def _key(self, keys: PartyKeys) -> bytes:
        if self._dek is None:
            early, self._early = self._early, None
            if early is not None and early[0] is keys:
                with contextlib.suppress(Exception):  # redone below, which raises today's error
                    self._dek = early[1].result()  # the same unwrap as below, made on the second core
            if self._dek is None:
                self._dek = unwrap_dek(self.parsed, list(self.grants), keys)
        return self._dek


def _read_zip(src: IO[bytes]) -> tuple[ParsedManifest, int]:
    """Parse the zip's manifest and locate the payload (no signature checked yet)."""
    with as_input_error(), zipfile.ZipFile(src, "r") as zf:
        infos = zf.infolist()
        if sorted(i.filename for i in infos) != sorted([MANIFEST_NAME, PAYLOAD_NAME]):
            raise InputError(f"expected entries {PAYLOAD_NAME} and {MANIFEST_NAME}", source=SRC)
        for zi in infos:
            if zi.compress_type != zipfile.ZIP_STORED or zi.flag_bits & 0x1:
                raise InputError(f"{zi.filename}: only stored, unencrypted entries are allowed", source=SRC)
        if zf.getinfo(MANIFEST_NAME).file_size > MAX_MANIFEST_SIZE:
            raise InputError("manifest too large", source=SRC)
        parsed = parse_manifest(zf.read(MANIFEST_NAME))
        if zf.getinfo(PAYLOAD_NAME).file_size != parsed.info.size + TAG_SIZE * parsed.info.segments:
            raise IntegrityError()  # truncated or extended payload
        _fp, off = payload_file(zf)
        return parsed, off


def verify_stream(src: IO[bytes], *, roster: Roster, opening: PartyKeys | None = None) -> VerifiedItem:
    """Parse and verify ``src`` (seekable; the caller keeps it open while the item is used).

    With ``opening`` (the keys the caller will open the item with), the data key is unwrapped on a free
    worker while the signatures verify (issue 8). Its result is read only by :func:`open_item` /
    :func:`rewrap_item` on the returned :class:`VerifiedItem`, i.e. after every check here passed: a
    container that fails verification raises here and the key unwrapped for it is dropped unused. When the
    early unwrap fails, the open redoes it and raises what it raises today.
    """
    parsed, off = _read_zip(src)
    early = None
    if opening is not None and any(p == opening.party for p, _k, _w, _g in parsed.key_access):
        keys = opening
        task = parallel.offload(lambda: unwrap_dek(parsed, list(parsed.recipients), keys))
        early = None if task is None else (keys, task)
    v = verify_manifest(parsed, roster)
    return VerifiedItem(parsed, tuple(v.grants), tuple(v.alt_labels), dict(parsed.raw), src, off, _early=early)


def verify_bytes(blob: bytes, *, roster: Roster, opening: PartyKeys | None = None) -> VerifiedItem:
    """Parse and verify a sealed item held in memory: the one verification of an inbound item."""
    return verify_stream(io.BytesIO(blob), roster=roster, opening=opening)


def open_item(
    item: VerifiedItem, *, keys: PartyKeys, out: IO[bytes] | None = None, progress: Progress | None = None
) -> Opened:
    """Decrypt a verified item (every tag and the signed root checked); plaintext goes to ``out``.

    With ``out`` None the plaintext is returned in :attr:`Opened.payload`. The caller must discard what
    was written to ``out`` unless this returns.
    """
    sink = io.BytesIO() if out is None else out
    decrypt_to(item.source, item.offset, item.info, item._key(keys), sink, progress)
    item._payload_ok = True
    return Opened(
        item.label_xml,
        item.label,
        sink.getvalue() if out is None else None,  # type: ignore[attr-defined]
        item.info,
        item.info.signer,
        item.grants,
        item.relays,
        item.alternative_labels,
    )


def add_alternative_label(item: VerifiedItem, *, keys: PartyKeys, xml: bytes) -> VerifiedItem:
    """A receiving nation adds its alternativeConfidentialityLabel (never overwriting the originator's)."""
    labelxml.check(xml, alternative=True)
    if keys.party not in item.parties():
        raise TrustError(f"{keys.party} is not a recipient of this item")
    if any(a.party == keys.party for a in item.alternative_labels):
        raise InputError(f"{keys.party} already added an alternative label", field="alternativeLabels")
    signed = {
        "type": "accord-sealed-alternative-label",
        "statement": item.statement_digest,
        "party": keys.party,
        "xml": b64e(xml),
        "created": now_utc(),  # when signed: a retired key verifies only what predates its retirement
    }
    sig = keys.sign(DS_ALT_LABEL + canonical_json(signed))
    manifest = dict(item.manifest)
    manifest["alternativeLabels"] = [
        *item.manifest["alternativeLabels"],
        {"signed": signed, "signature": {"keyid": keys.sign_key_id, "sig": b64e(sig)}},
    ]
    alts = (*item.alternative_labels, AltLabel(keys.party, keys.sign_key_id, xml))
    return dataclasses.replace(item, manifest=manifest, alternative_labels=alts)


def rewrap_item(item: VerifiedItem, plan: RewrapPlan, *, keys: PartyKeys, roster: Roster) -> VerifiedItem:
    """The hub ``keys.party`` adds a wrapped key for ``plan.to`` under a signed re-wrap record.

    The hub must hold a grant and the payload must match the signed root (checked here unless the item
    was already opened); the originator's statement and signature are copied unchanged.
    """
    plan.check(item.statement_digest, keys.party)
    to = plan.to
    if to in item.parties():
        raise InputError(f"{to} already holds a key for this item", field="to")
    dek = item._key(keys)
    if not item._payload_ok:
        check_payload(item.source, item.offset, item.info)
        item._payload_ok = True
    suite = get_suite(item.info.suite)
    rec = roster.encryption_key(to, suite.id)
    wrapped = wrap_key(
        suite, enc_public_from_raw(rec.type, rec.public), dek, wrap_info(item.parsed.digest, to, rec.keyid)
    )
    signed = {
        "type": "accord-sealed-rewrap",
        "statement": item.statement_digest,
        "hub": keys.party,
        "to": to,
        "keyid": rec.keyid,
        "wrappedKey": hashlib.sha384(wrapped).hexdigest(),
        "route": list(plan.route),
        "agreements": list(plan.agreements),
        "at": plan.at.isoformat(),
        "basis": plan.basis,
        "created": now_utc(),  # when signed: a retired key verifies only what predates its retirement
    }
    sig = keys.sign(DS_REWRAP + canonical_json(signed))
    manifest = dict(item.manifest)
    manifest["rewraps"] = [
        *item.manifest["rewraps"],
        {"signed": signed, "signature": {"keyid": keys.sign_key_id, "sig": b64e(sig)}},
    ]
    n = len(item.manifest["rewraps"])
    grant = {"recipient": to, "keyid": rec.keyid, "suite": suite.id, "wrappedKey": b64e(wrapped)}
    grant["grant"] = f"rewrap:{n}"
    manifest["keyAccess"] = [*item.manifest["keyAccess"], grant]
    new = Grant(to, rec.keyid, keys.party, tuple(plan.route), tuple(plan.agreements))
    return dataclasses.replace(item, manifest=manifest, grants=(*item.grants, new))
