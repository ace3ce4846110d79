"""Receipt evidence: a recipient's signed checkpoint plus the inclusion proof of its receipt event.

A delivery receipt carries this, so the originator can prove, offline and without trusting the
recipient's database, that the recipient logged the receipt (JK-R11 custody trail, JK-R19: once
received, custody is the receiving party's).
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from accord.audit.errors import MalformedNoteError
from accord.audit.events import decode_event
from accord.audit.merkle import leaf_hash, verify_inclusion
from accord.audit.note import Checkpoint, CosignatureVerifier, Ed25519Verifier, Verifier, open_checkpoint, parse_note
from accord.errors import InputError, IntegrityError
from accord.formats._json import load_json

RECEIPT_FORMAT = "accord-audit-receipt/1"
_FIELDS = frozenset({"format", "checkpoint", "index", "event", "proof"})


class ProvingLog(Protocol):
    """What receipt evidence needs from a log (:class:`accord.audit.log.AuditLog` is one): receipts
    depend on the log's interface, never on the log module (no import cycle)."""

    def checkpoint(self) -> bytes: ...

    def event(self, index: int) -> bytes: ...

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]: ...


@dataclass(frozen=True)
class ReceiptEvidence:
    """A signed checkpoint, a leaf index and event, and the inclusion proof between them."""

    checkpoint: bytes
    index: int
    event: bytes
    proof: tuple[bytes, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": RECEIPT_FORMAT,
                "checkpoint": self.checkpoint.decode("utf-8"),
                "index": self.index,
                "event": self.event.decode("utf-8"),
                "proof": [base64.b64encode(p).decode("ascii") for p in self.proof],
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ReceiptEvidence:
        """Parse receipt evidence.

        Raises:
            InputError: not receipt evidence, or a malformed field.
        """
        return cls.from_obj(load_json(text, source="receipt"))  # strict: a repeated key is refused (issue 9)

    @classmethod
    def from_obj(cls, obj: Any) -> ReceiptEvidence:
        """Receipt evidence from its parsed JSON form (as a partner's parsed answer holds it): the checks of
        :meth:`from_json` after its parse, without encoding and parsing the document again (issue 8). A lone
        surrogate in the checkpoint or event (which the strict parse refuses) fails their UTF-8 encoding.

        Raises:
            InputError: not receipt evidence, or a malformed field.
        """
        try:
            if obj.get("format") != RECEIPT_FORMAT:
                raise InputError("not Accord receipt evidence", source="receipt")
            # Exactly the fields to_json writes, with their types: a partner's extra key or a coerced value
            # would be stored as the partner wrote it (issue 9, found by tests/fuzz/test_fuzz_node_inputs.py).
            if set(obj) != _FIELDS:
                raise InputError("receipt evidence: exactly format, checkpoint, index, event, proof", source="receipt")
            cp, index, event, proofs = obj["checkpoint"], obj["index"], obj["event"], obj["proof"]
            if not (isinstance(cp, str) and isinstance(event, str) and type(index) is int and index >= 0):
                raise InputError("receipt evidence: text checkpoint and event, integer index", source="receipt")
            if not isinstance(proofs, list) or not all(isinstance(p, str) for p in proofs):
                raise InputError("receipt evidence: proof must be a list of base64 hashes", source="receipt")
            proof = tuple(base64.b64decode(p, validate=True) for p in proofs)
            return cls(checkpoint=cp.encode("utf-8"), index=index, event=event.encode("utf-8"), proof=proof)
        except InputError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise InputError(f"malformed receipt evidence: {e}", source="receipt") from e


def receipt_evidence(log: ProvingLog, index: int) -> ReceiptEvidence:
    """Evidence that event ``index`` is in ``log``: its latest checkpoint and an inclusion proof."""
    note = log.checkpoint()
    text, _ = parse_note(note)
    cp = Checkpoint.parse(text)
    if not 0 <= index < cp.size:
        raise InputError(f"event {index} is not covered by the latest checkpoint", source="audit log")
    return ReceiptEvidence(note, index, log.event(index), tuple(log.inclusion_proof(index, cp.size)))


def evidence_document(log: ProvingLog, index: int) -> dict[str, Any]:
    """``json.loads(receipt_evidence(log, index).to_json())`` -- what a recipient's answer carries -- built as that
    object directly, the size of the log's own latest checkpoint read from its text without parsing its signature
    lines back (issue 8, wave 6: ~0.1 ms of the recipient's answer). The same document; the same refusals."""
    note = log.checkpoint()
    split = note.rfind(b"\n\n")
    size = Checkpoint.parse(note[: split + 1].decode("utf-8")).size if split >= 0 else -1
    if not 0 <= index < size:
        doc: dict[str, Any] = json.loads(receipt_evidence(log, index).to_json())  # raises as it always did
        return doc
    return {
        "checkpoint": note.decode("utf-8"),
        "event": log.event(index).decode("utf-8"),
        "format": RECEIPT_FORMAT,
        "index": index,
        "proof": [base64.b64encode(p).decode("ascii") for p in log.inclusion_proof(index, size)],
    }


#: The longest signed checkpoint :class:`VerifiedCheckpoints` remembers (a checkpoint is ~200 bytes; a longer
#: note, with many extension lines or cosignatures, is opened each time: the memory stays small).
MAX_REMEMBERED_NOTE = 4096


class VerifiedCheckpoints:
    """A bounded memory of checkpoints already opened (signature verified, body parsed, origin checked).

    A recipient's audit feeder commits deliveries in groups, so consecutive receipts often carry the very
    same signed checkpoint (about half of them under 8 concurrent releases, issue 8). Opening a checkpoint
    is a pure function of the note's bytes, the verifier keys and the required origin; this remembers the
    result for exactly that triple, so the same note is checked once. Only successes are remembered: a note
    that fails is checked (and refused) every time. Only notes up to ``MAX_REMEMBERED_NOTE`` bytes opened with
    the library's own key types (frozen, compared by class, name and key) are remembered; anything else is
    opened every time. A changed key (a roster reload) is a different triple: it never meets a result opened
    with the old one.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._done: OrderedDict[tuple[bytes, tuple[Verifier, ...], str | None], Checkpoint] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def open(self, msg: bytes, verifiers: Sequence[Verifier], *, origin: str | None = None) -> Checkpoint:
        """:func:`~accord.audit.note.open_checkpoint` of ``msg``, from memory when already opened.

        Raises:
            MalformedNoteError, UnverifiedNoteError: as :func:`~accord.audit.note.open_checkpoint`.
        """
        keys = tuple(verifiers)
        if len(msg) > MAX_REMEMBERED_NOTE or not all(type(v) in (Ed25519Verifier, CosignatureVerifier) for v in keys):
            return open_checkpoint(msg, keys, origin=origin)[0]
        key = (bytes(msg), keys, origin)
        with self._lock:
            cp = self._done.get(key)
            if cp is not None:
                self._done.move_to_end(key)
                self.hits += 1
                return cp
        cp, _ = open_checkpoint(msg, keys, origin=origin)  # raises: nothing remembered
        with self._lock:
            self._done[key] = cp
            while len(self._done) > self.size:
                self._done.popitem(last=False)
        return cp


def verify_receipt_evidence(
    ev: ReceiptEvidence, verifiers: list[Verifier], *, origin: str | None = None
) -> dict[str, Any]:
    """Check receipt evidence offline; returns the logged event.

    Raises:
        MalformedNoteError: the checkpoint is malformed.
        IntegrityError: the checkpoint is not signed by a trusted key or the proof fails.
    """
    return check_receipt_evidence(ev, verifiers, origin=origin)[1]


def check_receipt_evidence(
    ev: ReceiptEvidence,
    verifiers: Sequence[Verifier],
    *,
    origin: str | None = None,
    checkpoints: VerifiedCheckpoints | None = None,
) -> tuple[Checkpoint, dict[str, Any]]:
    """:func:`verify_receipt_evidence`, returning the opened checkpoint too; ``checkpoints``: a memory of
    checkpoints already opened (the signature of one seen before is not checked again).

    Raises:
        MalformedNoteError: the checkpoint is malformed.
        IntegrityError: the checkpoint is not signed by a trusted key or the proof fails.
    """
    if checkpoints is not None:
        cp = checkpoints.open(ev.checkpoint, verifiers, origin=origin)
    else:
        cp, _ = open_checkpoint(ev.checkpoint, verifiers, origin=origin)
    if not verify_inclusion(leaf_hash(ev.event), ev.index, cp.size, list(ev.proof), cp.root_hash):
        raise IntegrityError()
    try:
        return cp, decode_event(ev.event)
    except ValueError as e:  # pragma: no cover - a proven leaf is what the log signed
        raise MalformedNoteError("receipt event is not JSON") from e
