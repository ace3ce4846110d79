"""Signed custody notices: what travels between nodes about an item's life (``docs/decisions.md``).

Kinds, and who must sign:

- ``reclassification`` (JK-R12), ``freeze`` / ``unfreeze`` (JK-R26), ``purpose`` (the purpose the item was
  provided for, JK-R7): the **originator**;
- ``compromise`` (a stage of SUSPECTED → NOTIFIED → INVESTIGATING → REPORTED, JK-R26), ``returned`` /
  ``destroyed`` (JK-R13), ``derived`` (a reproduction or translation made by the holder, JK-R5/R23/R24: its
  ``sources`` and ``derivation``): the **holder** reporting to the originator;
- an originator's notice may carry ``sequence``: its count of notices about the item, so that a holder
  receiving two out of order (a freeze and its unfreeze) applies the later one last;
- ``acknowledgement`` of a notice (by its SHA-256 digest; ``forwarded``: the parties the holder passed the
  notice on to): the **holder** that received it.

The signed bytes are ``"accord-custody-notice/v1\\0" ‖ canonical JSON`` of the notice without its signatures;
keys come from the same sources as lifecycle documents (:mod:`accord.formats.lifecycle_doc`). A notice that
is malformed, unsigned, signed by the wrong nation or not verifying raises :class:`NoticeError`
(``SOURCE: FIELD: what``) and is applied to nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from accord.core.custody import Custody, CustodyError, CustodyState, IncidentState, reclassify_all
from accord.core.labels import Label
from accord.core.parties import is_alpha3, is_text
from accord.errors import InputError
from accord.formats._dates import document_day
from accord.formats.canonical import canonical_json
from accord.formats.lifecycle_doc import KeySource, _jsonable

FORMAT = "accord-custody-notice/1"
DS_NOTICE = b"accord-custody-notice/v1\x00"
BY_ORIGINATOR = frozenset({"reclassification", "freeze", "unfreeze", "purpose"})
BY_HOLDER = frozenset({"compromise", "returned", "destroyed", "acknowledgement", "derived"})
DERIVATIONS = frozenset({"reproduction", "translation", "extract"})
_KEYS = {
    "format",
    "kind",
    "item",
    "originator",
    "holder",
    "date",
    "classification",
    "stage",
    "acknowledges",
    "note",
    "purpose",
    "sources",
    "derivation",
    "forwarded",
    "sequence",
    "signatures",
}


class NoticeError(InputError):
    """A custody notice is malformed or wrongly signed; nothing was applied."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A verified custody notice."""

    kind: str
    item: str
    originator: str
    holder: str | None
    on: date
    signer: str
    digest: str
    classification: str | None = None
    stage: IncidentState | None = None
    acknowledges: str | None = None
    note: str = ""
    purpose: str | None = None
    sources: tuple[str, ...] = ()
    derivation: str | None = None
    forwarded: tuple[str, ...] = ()
    sequence: int = 0


def notice_bytes(body: Mapping[str, Any]) -> bytes:
    """The bytes the signature covers."""
    return DS_NOTICE + canonical_json({k: v for k, v in _jsonable(dict(body)).items() if k != "signatures"})


def sign_notice(body: Mapping[str, Any], party: str, keyid: str, sign: Any) -> dict[str, Any]:
    """``body`` signed by ``party`` (``sign(message) -> bytes``)."""
    doc: dict[str, Any] = _jsonable(dict(body))
    doc["signatures"] = [{"party": party, "keyid": keyid, "sig": base64.b64encode(sign(notice_bytes(doc))).decode()}]
    return doc


def verify_notice(data: Any, keys: KeySource, *, source: str) -> Notice:
    """Check a parsed notice: form, signer's role and signature. Raises :class:`NoticeError`."""

    def err(field: str, message: str) -> NoticeError:
        return NoticeError(message, source=source, field=field)

    if not isinstance(data, Mapping):
        raise err("(notice)", "a custody notice is a mapping of fields")
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise err("(notice)", f"unknown field(s) {', '.join(unknown)}")
    if data.get("format") != FORMAT:
        raise err("format", f"expected {FORMAT!r}")
    kind = data.get("kind")
    if kind not in BY_ORIGINATOR | BY_HOLDER:
        raise err("kind", f"expected one of {', '.join(sorted(BY_ORIGINATOR | BY_HOLDER))}")
    item, originator, holder = data.get("item"), data.get("originator"), data.get("holder")
    if not is_text(item):
        raise err("item", "expected the item id")
    if not is_alpha3(originator):
        raise err("originator", "expected an ISO 3166 alpha-3 code")
    if kind in BY_HOLDER and (not is_alpha3(holder) or holder == originator):
        raise err("holder", "expected the holder's alpha-3 code (not the originator)")
    on = document_day(data.get("date"), source=source, field="date", error=NoticeError)
    assert on is not None
    _check_kind_fields(data, str(kind), err)
    signer = str(originator if kind in BY_ORIGINATOR else holder)
    message = _check_signature(data, str(kind), signer, keys, err)
    note, stage = data.get("note", ""), data.get("stage")
    sources, forwarded = data.get("sources"), data.get("forwarded")
    return Notice(
        str(kind),
        str(item),
        str(originator),
        None if holder is None else str(holder),
        on,
        signer,
        hashlib.sha256(message).hexdigest(),
        data.get("classification"),
        None if stage is None else IncidentState(str(stage)),
        data.get("acknowledges"),
        note if isinstance(note, str) else "",
        None if data.get("purpose") is None else str(data.get("purpose")),
        tuple(str(x) for x in sources) if isinstance(sources, list) else (),
        None if data.get("derivation") is None else str(data.get("derivation")),
        tuple(str(x) for x in forwarded) if isinstance(forwarded, list) else (),
        int(data.get("sequence", 0)),
    )


def _check_kind_fields(data: Mapping[str, Any], kind: str, err: Any) -> None:
    """The fields that belong to one kind of notice only, each present exactly for it and well formed."""
    classification = data.get("classification")
    if (kind == "reclassification") != (classification is not None) or (
        classification is not None and not is_text(classification)
    ):
        raise err("classification", "a reclassification carries the new classification, and only it does")
    if kind == "compromise":
        if data.get("stage") not in {s.value for s in IncidentState}:
            raise err("stage", f"expected one of {', '.join(s.value for s in IncidentState)}")
    elif "stage" in data:
        raise err("stage", "only a compromise report has a stage")
    ack = data.get("acknowledges")
    if (kind == "acknowledgement") != (ack is not None) or (
        ack is not None and (not isinstance(ack, str) or len(ack) != 64)
    ):
        raise err("acknowledges", "an acknowledgement names the SHA-256 digest (hex) of the notice it answers")
    purpose = data.get("purpose")
    if (kind == "purpose") != (purpose is not None) or (
        purpose is not None and (not is_text(purpose) or len(str(purpose)) > 500)
    ):
        raise err("purpose", "a purpose notice carries the purpose (at most 500 characters), and only it does")
    sources, derivation = data.get("sources"), data.get("derivation")
    if kind == "derived":
        if not isinstance(sources, list) or not sources or len(sources) > 64 or not all(is_text(x) for x in sources):
            raise err("sources", "a derived-item report names its sources (1 to 64 item ids)")
        if derivation not in DERIVATIONS:
            raise err("derivation", f"expected one of {', '.join(sorted(DERIVATIONS))}")
    elif sources is not None or derivation is not None:
        raise err("sources", "only a derived-item report names sources and a derivation")
    sequence = data.get("sequence", 0)
    if (
        not isinstance(sequence, int)
        or isinstance(sequence, bool)
        or not 0 <= sequence < 2**31
        or (sequence and kind not in BY_ORIGINATOR)
    ):
        raise err("sequence", "the originator's sequence number of its notices about the item (0 to 2^31-1)")
    forwarded = data.get("forwarded")
    if forwarded is not None and (
        kind != "acknowledgement"
        or not isinstance(forwarded, list)
        or len(forwarded) > 64
        or not all(is_alpha3(x) for x in forwarded)
    ):
        raise err("forwarded", "an acknowledgement may list the alpha-3 codes it forwarded the notice to")


def _check_signature(data: Mapping[str, Any], kind: str, signer: str, keys: KeySource, err: Any) -> bytes:
    """The one signature, by the nation whose role signs this kind, verifying; returns the signed bytes."""
    sigs = data.get("signatures")
    if not isinstance(sigs, list) or len(sigs) != 1 or not isinstance(sigs[0], Mapping):
        raise err("signatures", "a custody notice carries exactly one signature")
    sig = sigs[0]
    if sig.get("party") != signer:
        role = "the originator" if kind in BY_ORIGINATOR else "the holder"
        raise err("signatures[0].party", f"a {kind} is signed by {role} {signer}, not {sig.get('party')!r}")
    try:
        raw_sig = base64.b64decode(str(sig.get("sig")), validate=True)
        message = notice_bytes(data)
    except (binascii.Error, ValueError, TypeError):
        raise err("signatures[0]", "malformed signature or value") from None
    if not is_text(sig.get("keyid")) or not keys.verify(signer, str(sig.get("keyid")), raw_sig, message):
        raise err("signatures[0].sig", f"the signature of {signer} does not verify")
    return message


def apply_notice(
    notice: Notice, records: Sequence[Custody], labels: dict[str, Label]
) -> tuple[list[Custody], dict[str, Label]]:
    """The records and labels after a verified notice (the item and, for the originator's notices, every
    item derived from it). Raises :class:`CustodyError` for a change the state machine refuses."""
    out = list(records)
    if notice.kind == "purpose":
        return [replace(r, purpose=notice.purpose) if r.item == notice.item else r for r in out], labels
    if notice.kind == "reclassification":
        assert notice.classification is not None
        return out, reclassify_all(labels, out, notice.item, notice.originator, notice.classification)
    if notice.kind in ("freeze", "unfreeze"):
        from accord.core.custody import freeze, notice_targets

        if notice.kind == "freeze":
            return freeze(out, notice.item, by=notice.originator), labels
        ids = {t.item for t in notice_targets(out, notice.item, notice.originator)}
        return [r.to(CustodyState.HELD) if r.item in ids and r.state is CustodyState.FROZEN else r for r in out], labels
    target = {
        "compromise": CustodyState.COMPROMISED,
        "returned": CustodyState.RETURNED,
        "destroyed": CustodyState.DESTROYED,
    }.get(notice.kind)
    if target is None:  # an acknowledgement or a derived-item report changes no record
        return out, labels
    found = False
    for i, r in enumerate(out):
        if r.item == notice.item and r.holder == notice.holder:
            found = True
            if target is CustodyState.COMPROMISED and r.state in (CustodyState.COMPROMISED, CustodyState.FROZEN):
                continue  # later stages of the same incident: already no release
            out[i] = r.to(target)
    if not found:
        raise CustodyError(f"no custody record of {notice.item} at {notice.holder}", field="item")
    return out, labels
