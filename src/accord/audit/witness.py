"""Witnessing partners' audit logs: consistency checks, cosignatures, equivocation evidence.

Each node witnesses its partners (bilateral anti-equivocation). For a partner log it fetches the
latest signed checkpoint (through a :class:`CheckpointFetcher`, so tests need no network), checks
it against the last one it saw with a consistency proof, and cosigns it with a
c2sp.org/tlog-cosignature Ed25519 cosignature. Two checkpoints from one log that cannot both be
true (same size and different roots, or a larger one that is not an append-only extension of the
smaller one) are *equivocation*: recorded with both signed notes as evidence, optionally appended
to the witness's own audit log, and raised as :class:`EquivocationError`.

The first checkpoint seen from a partner is trusted on first use.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from sqlalchemy import Engine, delete, insert, select

from accord.audit import store
from accord.audit.errors import EquivocationError
from accord.audit.events import now_iso
from accord.audit.merkle import MerkleTree, leaf_hash, verify_consistency
from accord.audit.note import Checkpoint, CosignatureSigner, Verifier, add_cosignature, open_checkpoint
from accord.errors import AccordError, InputError

if TYPE_CHECKING:
    from accord.audit.log import AuditLog


class CheckpointFetcher(Protocol):
    """How a witness reaches a partner's log: its latest checkpoint and consistency proofs."""

    def fetch_checkpoint(self) -> bytes: ...

    def fetch_consistency_proof(self, old: int, new: int) -> list[bytes]: ...


def _fetch_proof(fetcher: CheckpointFetcher, old: int, new: int) -> list[bytes]:
    try:
        return list(fetcher.fetch_consistency_proof(old, new))
    except AccordError:
        raise
    except Exception as e:  # a fetcher's own failure (network, missing data) is not evidence
        raise AccordError(f"could not fetch a consistency proof {old} -> {new} from the partner: {e}") from e


class LogFetcher:
    """A fetcher over an :class:`~accord.audit.log.AuditLog` in this process (tests, same host)."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def fetch_checkpoint(self) -> bytes:
        return self.log.checkpoint()

    def fetch_consistency_proof(self, old: int, new: int) -> list[bytes]:
        return self.log.consistency_proof(old, new)


class ExportFetcher:
    """A fetcher over an exported log file (partners exchanging files offline)."""

    def __init__(self, path: str | Path) -> None:
        from accord.audit.log import read_export

        exp = read_export(path)
        self._tree = MerkleTree()
        buf = bytearray()
        for _, e, _ in exp.rows():
            buf += leaf_hash(e)
        self._tree.extend_flat(buf)
        if not exp.checkpoints:
            raise InputError("export holds no checkpoint", source=str(path))
        self._note = max(exp.checkpoints)[1]

    def fetch_checkpoint(self) -> bytes:
        return self._note

    def fetch_consistency_proof(self, old: int, new: int) -> list[bytes]:
        return self._tree.consistency_proof(old, new)


@dataclass(frozen=True)
class Partner:
    """A partner log to witness: its origin, its trusted log key(s) and how to reach it."""

    origin: str
    verifiers: Sequence[Verifier]
    fetcher: CheckpointFetcher


@dataclass(frozen=True)
class WitnessResult:
    origin: str
    status: Literal["new", "extended", "unchanged", "stale"]
    size: int
    cosigned: bytes | None  # the checkpoint with this witness's cosignature added


def equivocation_reason(a: Checkpoint, b: Checkpoint, proof: Sequence[bytes] | None) -> str | None:
    """Why two checkpoints of one log cannot both be true, or None if they are consistent.

    ``proof`` is the consistency proof from the smaller to the larger (ignored for equal sizes).
    """
    if a.origin != b.origin:
        raise InputError("checkpoints of different logs")
    if a.size == b.size:
        return None if a.root_hash == b.root_hash else f"two checkpoints of size {a.size} with different roots"
    small, big = (a, b) if a.size < b.size else (b, a)
    if proof is not None and verify_consistency(small.size, big.size, small.root_hash, big.root_hash, proof):
        return None
    return f"checkpoint of size {big.size} is not an append-only extension of size {small.size}"


def check_evidence(
    note_a: bytes, note_b: bytes, verifiers: Sequence[Verifier], proof: Sequence[bytes] | None = None
) -> str | None:
    """Check equivocation evidence offline (a third party, an auditor): both notes must be signed
    by the log's key; returns the reason they cannot both be true, or None.

    Two checkpoints of the same size with different roots are self-contained proof. For different
    sizes, pass the consistency proof the log gave (or None: the log could not give one).

    Raises:
        UnverifiedNoteError: a note is not signed by ``verifiers`` (no evidence against that log).
    """
    a, _ = open_checkpoint(note_a, verifiers)
    b, _ = open_checkpoint(note_b, verifiers, origin=a.origin)
    return equivocation_reason(a, b, proof)


class Witness:
    """A witness with its own cosigner key and state (last checkpoint seen per partner).

    Args:
        db: where the witness keeps its state (SQLAlchemy URL, SQLite path or Engine); usually
            the node's own audit database.
        cosigner: the witness's Ed25519 cosignature key (type 0x04).
        log: the witness node's own audit log; equivocations are appended to it as ``witness``
            events (with both notes as evidence).
        clock: POSIX seconds, for cosignature timestamps.
    """

    def __init__(
        self,
        db: str | Path | Engine,
        *,
        cosigner: CosignatureSigner,
        log: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = store.make_engine(db)
        self.cosigner = cosigner
        self.log = log
        self.clock = clock

    def last_seen(self, origin: str) -> bytes | None:
        """The last checkpoint of ``origin`` this witness cosigned."""
        with self.engine.connect() as conn:
            row = conn.execute(select(store.witness_state.c.note).where(store.witness_state.c.origin == origin)).first()
        return bytes(row[0]) if row else None

    def equivocations(self, origin: str | None = None) -> list[EquivocationError]:
        """Recorded equivocation evidence."""
        q = select(
            store.equivocations.c.origin,
            store.equivocations.c.note_a,
            store.equivocations.c.note_b,
            store.equivocations.c.reason,
        ).order_by(store.equivocations.c.id)
        if origin is not None:
            q = q.where(store.equivocations.c.origin == origin)
        with self.engine.connect() as conn:
            return [EquivocationError(o, bytes(a), bytes(b), r) for o, a, b, r in conn.execute(q)]

    def _report(self, origin: str, note_a: bytes, note_b: bytes, reason: str) -> EquivocationError:
        err = EquivocationError(origin, note_a, note_b, reason)
        with self.engine.begin() as conn:
            conn.execute(
                insert(store.equivocations),
                {
                    "origin": origin,
                    "reason": reason,
                    "note_a": note_a,
                    "note_b": note_b,
                    "detected_ms": int(self.clock() * 1000),
                },
            )
        if self.log is not None:
            self.log.append(
                {
                    "type": "witness",
                    "item": origin,
                    "digest": "sha256:" + hashlib.sha256(note_a + note_b).hexdigest(),
                    "at": now_iso(),
                    "finding": "equivocation",
                    "reason": reason,
                    "evidence": [note_a.decode("utf-8"), note_b.decode("utf-8")],
                }
            )
        return err

    def witness(self, partner: Partner) -> WitnessResult:
        """Fetch, check and cosign ``partner``'s latest checkpoint.

        Raises:
            EquivocationError: the new checkpoint contradicts the last one seen (recorded).
            AccordError: the partner could not provide a consistency proof (nothing recorded).
            UnverifiedNoteError: the checkpoint is not signed by the partner's key.
            MalformedNoteError: the checkpoint is malformed or of another origin.
        """
        note = partner.fetcher.fetch_checkpoint()
        cp, _ = open_checkpoint(note, partner.verifiers, origin=partner.origin)
        prev_note = self.last_seen(partner.origin)
        status: Literal["new", "extended", "unchanged", "stale"]
        if prev_note is None:
            status = "new"  # trust on first use
        else:
            prev, _ = open_checkpoint(prev_note, partner.verifiers, origin=partner.origin)
            if cp.size == prev.size:
                reason = equivocation_reason(prev, cp, None)
                status = "unchanged"
            elif cp.size > prev.size:
                proof = _fetch_proof(partner.fetcher, prev.size, cp.size)
                reason = equivocation_reason(prev, cp, proof)
                status = "extended"
            else:
                proof = _fetch_proof(partner.fetcher, cp.size, prev.size)
                reason = equivocation_reason(cp, prev, proof)
                status = "stale"
            if reason is not None:
                raise self._report(partner.origin, prev_note, note, reason)
            if status == "stale":  # older than what we cosigned: consistent, but not the largest
                return WitnessResult(partner.origin, status, cp.size, None)
        cosigned = add_cosignature(note, self.cosigner, int(self.clock()))
        with self.engine.begin() as conn:
            conn.execute(delete(store.witness_state).where(store.witness_state.c.origin == partner.origin))
            conn.execute(
                insert(store.witness_state),
                {
                    "origin": partner.origin,
                    "size": cp.size,
                    "note": cosigned,
                    "updated_ms": int(self.clock() * 1000),
                },
            )
        return WitnessResult(partner.origin, status, cp.size, cosigned)
