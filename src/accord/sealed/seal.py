"""Sealing against a release plan: encrypt the payload, sign the statement, wrap the key per hop."""

from __future__ import annotations

import os
import zipfile
from typing import IO, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accord.errors import InputError, TrustError
from accord.formats.canonical import canonical_json
from accord.sealed import labelxml
from accord.sealed.format import (
    DEFAULT_SEGMENT_SIZE,
    FORMAT,
    MANIFEST_NAME,
    MAX_SEGMENT_SIZE,
    MIN_SEGMENT_SIZE,
    PARTY_RE,
    PAYLOAD_NAME,
    VERSION,
    b64e,
)
from accord.sealed.keys import PartyKeys, Roster
from accord.sealed.manifest import (
    SIG_ALG,
    digest384,
    statement_message,
    wrap_info,
)
from accord.sealed.model import ManifestInfo
from accord.sealed.payload import (
    Progress,
    encrypt_segments,
    key_commitment,
    now_utc,
    stored_entry,
)
from accord.sealed.plan import ReleasePlan
from accord.sealed.suites import enc_public_from_raw, get_suite, wrap_key

SRC = "sealed item"
_EPOCH = (1980, 1, 1, 0, 0, 0)


# --- sealing ---------------------------------------------------------------------------------------


def seal_stream(
    src: IO[bytes],
    dst: IO[bytes],
    *,
    label_xml: bytes,
    plan: ReleasePlan,
    signer: PartyKeys,
    roster: Roster,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    mime_type: str = "application/octet-stream",
    progress: Progress | None = None,
) -> ManifestInfo:
    """Seal ``src`` into the zip written to the seekable ``dst``, in constant memory, as ``plan`` says.

    Refuses a plan made for another label or holder, an empty or duplicate recipient list, a malformed
    label, an unknown or too weak suite, and any recipient or signer not in the roster.
    """
    plan.check(label_xml, signer.party)
    labelxml.check(label_xml)
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise InputError(f"segment size must be in [{MIN_SEGMENT_SIZE}, {MAX_SEGMENT_SIZE}]", field="segment_size")
    # Trust checks before any work: the signer's current key must be the roster's active one.
    if roster.latest(signer.party).active_sign.keyid != signer.sign_key_id:
        raise TrustError(f"{signer.party}'s current signing key is not the roster's active key")
    enc_keys = {}
    for p in plan.recipients:
        if not PARTY_RE.fullmatch(p):
            raise InputError(f"recipient {p!r} is not an alpha-3 code", field="recipients")
        enc_keys[p] = roster.encryption_key(p, plan.suite)
    dek = AESGCM.generate_key(256)
    item_id = os.urandom(16)
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        with zf.open(stored_entry(PAYLOAD_NAME), "w", force_zip64=True) as out:
            size, count, root = encrypt_segments(src, out, dek, item_id, segment_size, progress)
        payload = {
            "cipher": "AES-256-GCM",
            "segmentHash": "SHA-256",
            "rootHash": "SHA-384",
            "size": size,
            "segmentSize": segment_size,
            "segments": count,
            "root": root,
            "keyCommitment": key_commitment(dek, item_id),
            "mimeType": mime_type,
        }
        statement = _statement(plan, signer, label_xml, item_id, {h.party: enc_keys[h.party].keyid for h in plan.hops})
        statement["payload"] = payload
        msg = statement_message(statement)
        digest = digest384(msg)
        # The ML-DSA half of the signature runs on the second core while this thread makes the ECDSA half
        # and the HPKE wraps: the wraps' info binds the statement digest, never the signature (issue 8).
        pending = signer.begin_sign(msg)
        key_access = _wrap_for_hops(plan, enc_keys, dek, digest)
        signature = pending.finish()
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "statement": statement,
            "signature": {"alg": SIG_ALG, "sig": b64e(signature)},
            "keyAccess": key_access,
            "rewraps": [],
            "alternativeLabels": [],
            "payload": {"url": PAYLOAD_NAME, "protocol": "zip", "isEncrypted": True},
        }
        zf.writestr(stored_entry(MANIFEST_NAME), canonical_json(manifest))
    return ManifestInfo(
        FORMAT,
        VERSION,
        plan.suite,
        plan.holder,
        signer.party,
        signer.sign_key_id,
        plan.at.isoformat(),
        item_id.hex(),
        size,
        segment_size,
        count,
        root,
        mime_type,
    )


def _wrap_for_hops(plan: ReleasePlan, enc_keys: dict[str, Any], dek: bytes, digest: bytes) -> list[dict[str, Any]]:
    """One HPKE-wrapped data key per hop, its ``info`` binding the statement digest, the party and the key id."""
    ws = get_suite(plan.suite)
    key_access = []
    for p in plan.recipients:
        rec = enc_keys[p]
        wrapped = wrap_key(ws, enc_public_from_raw(rec.type, rec.public), dek, wrap_info(digest, p, rec.keyid))
        access = {"recipient": p, "keyid": rec.keyid, "suite": plan.suite, "wrappedKey": b64e(wrapped)}
        key_access.append({**access, "grant": "statement"})
    return key_access


def _statement(
    plan: ReleasePlan, signer: PartyKeys, label_xml: bytes, item_id: bytes, keyids: dict[str, str]
) -> dict[str, Any]:
    return {
        "type": "accord-sealed-statement",
        "itemId": item_id.hex(),
        "holder": plan.holder,
        "signer": {"party": signer.party, "keyid": signer.sign_key_id},
        "at": plan.at.isoformat(),
        "created": now_utc(),
        "suite": plan.suite,
        "label": {"format": "stanag4774-xml", "xml": b64e(label_xml)},
        "recipients": [
            {"party": h.party, "keyid": keyids[h.party], "route": list(h.route), "agreements": list(h.agreements)}
            for h in plan.hops
        ],
        "relays": [
            {"to": r.to, "via": list(r.via), "route": list(r.route), "agreements": list(r.agreements)}
            for r in plan.relays
        ],
    }
