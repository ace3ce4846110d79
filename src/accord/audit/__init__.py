"""Tamper-evident audit log (issue 5): RFC 9162 Merkle tree, C2SP checkpoints, witnessing.

Modules: :mod:`.merkle` and :mod:`.note` are pure; :mod:`.log` is the durable per-node log on
SQLAlchemy Core; :mod:`.witness` cosigns partners' checkpoints and detects equivocation;
:mod:`.receipt` builds and checks offline receipt evidence. See ``docs/audit-log.md``.
"""

from accord.audit.errors import (
    AuditIntegrityError,
    EquivocationError,
    MalformedNoteError,
    UnverifiedNoteError,
)
from accord.audit.events import encode_event, event_from_decision
from accord.audit.log import AuditLog, VerifyReport, verify_export
from accord.audit.note import (
    Checkpoint,
    CosignatureSigner,
    NoteSigner,
    open_checkpoint,
    open_note,
    parse_vkey,
)
from accord.audit.receipt import ReceiptEvidence, verify_receipt_evidence
from accord.audit.witness import CheckpointFetcher, LogFetcher, Partner, Witness

__all__ = [
    "AuditIntegrityError",
    "AuditLog",
    "Checkpoint",
    "CheckpointFetcher",
    "CosignatureSigner",
    "EquivocationError",
    "LogFetcher",
    "MalformedNoteError",
    "NoteSigner",
    "Partner",
    "ReceiptEvidence",
    "UnverifiedNoteError",
    "VerifyReport",
    "Witness",
    "encode_event",
    "event_from_decision",
    "open_checkpoint",
    "open_note",
    "parse_vkey",
    "verify_export",
    "verify_receipt_evidence",
]
