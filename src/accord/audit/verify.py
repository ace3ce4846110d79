"""Verification of an audit log: recompute the tree from its rows and check every signed checkpoint.

Works on rows from anywhere -- the node's database (:func:`verify_database`), an export file
(:func:`accord.audit.export.verify_export`) or a log in this process (:meth:`AuditLog.verify`) -- against
trusted log keys, never the database's own record of its key. Rows not covered by a trusted checkpoint
are a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, select

from accord.audit import store
from accord.audit.errors import AuditIntegrityError, MalformedNoteError, UnverifiedNoteError
from accord.audit.events import is_canonical
from accord.audit.merkle import MerkleTree, leaf_hash, verify_consistency
from accord.audit.note import Verifier, open_checkpoint
from accord.errors import AccordError, InputError

CHUNK = 20_000  # rows read (and leaf hashes added to the tree) at a time


def _as_bytes(v: object) -> bytes:
    """A BLOB column's value as bytes (a tampered row may hold TEXT instead)."""
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape")
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    return b""  # NULL or another type: it will not match any hash


@dataclass
class VerifyReport:
    """What :func:`verify_entries` found. ``ok`` is True iff ``problems`` is empty."""

    size: int = 0
    root: bytes = b""
    checkpoints_verified: int = 0
    last_checkpoint: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_entries(
    *,
    origin: str,
    rows: Iterable[tuple[int, bytes, bytes | None]],
    checkpoint_notes: Iterable[tuple[int, bytes]],
    verifiers: Sequence[Verifier],
    known_checkpoints: Sequence[bytes] = (),
    cache_from_level: int = 4,
    max_problems: int = 50,
) -> VerifyReport:
    """Recompute a log from its rows and check it against its signed checkpoints.

    Args:
        origin: the log's origin (checkpoint line 1).
        rows: ``(index, event bytes, stored leaf hash or None)`` in index order.
        checkpoint_notes: ``(size recorded with it, signed note)``.
        verifiers: the trusted log keys.
        known_checkpoints: signed checkpoints kept elsewhere (witnesses, receipts) that the log
            must still contain (detects a truncated tail whose checkpoints were deleted too).
    """
    rep = VerifyReport()
    tree = MerkleTree(cache_from_level=cache_from_level)

    def problem(msg: str) -> None:
        if len(rep.problems) < max_problems:
            rep.problems.append(msg)

    expected = 0
    buf = bytearray()
    for idx, ev, stored in rows:
        if idx != expected:
            problem(f"row index {idx} where {expected} was expected (row deleted, inserted or reordered)")
            expected = idx
        h = leaf_hash(ev)
        if stored is not None and h != stored:
            problem(f"leaf {idx}: event does not match its stored hash (edited)")
        if not is_canonical(ev):
            problem(f"leaf {idx}: event is not canonical JSON (edited)")
        buf += h
        if len(buf) >= CHUNK * 32:
            tree.extend_flat(buf)
            buf = bytearray()
        expected += 1
    tree.extend_flat(buf)
    rep.size = tree.size
    rep.root = tree.root()

    best = _check_checkpoints(rep, tree, origin, checkpoint_notes, known_checkpoints, verifiers, problem)
    rep.last_checkpoint = best
    if tree.size and best < tree.size:
        problem(f"rows {best}..{tree.size - 1} are not covered by any trusted signed checkpoint")
    return rep


def _check_checkpoints(
    rep: VerifyReport,
    tree: MerkleTree,
    origin: str,
    checkpoint_notes: Iterable[tuple[int, bytes]],
    known_checkpoints: Sequence[bytes],
    verifiers: Sequence[Verifier],
    problem: Callable[[str], None],
) -> int:
    """Check the stored and the known checkpoints against ``tree``; the largest size a trusted one covers."""
    best = 0
    for recorded, note in checkpoint_notes:
        try:
            cp, _ = open_checkpoint(note, verifiers, origin=origin)
        except UnverifiedNoteError:
            problem(f"checkpoint at size {recorded}: not signed by a trusted key")
            continue
        except MalformedNoteError as e:
            problem(f"checkpoint at size {recorded}: malformed ({e})")
            continue
        if cp.size != recorded:
            problem(f"checkpoint recorded at size {recorded} is for size {cp.size}")
            continue
        if cp.size > tree.size:
            problem(f"checkpoint at size {cp.size} is beyond the {tree.size} rows present (rows deleted)")
            continue
        if tree.root(cp.size) != cp.root_hash:
            problem(f"checkpoint at size {cp.size}: root does not match the rows (rows edited/reordered)")
            continue
        rep.checkpoints_verified += 1
        best = max(best, cp.size)
    for note in known_checkpoints:
        try:
            cp, _ = open_checkpoint(note, verifiers, origin=origin)
        except AccordError as e:
            problem(f"known checkpoint does not verify: {e}")
            continue
        if cp.size > tree.size:
            problem(f"a checkpoint seen elsewhere has size {cp.size} > {tree.size} rows (tail removed)")
        elif tree.root(cp.size) != cp.root_hash:
            problem(f"a checkpoint seen elsewhere at size {cp.size} disagrees with the rows (log rewritten)")
        else:
            best = max(best, cp.size)
    return best


def db_rows(engine: Engine) -> Iterator[tuple[int, bytes, bytes | None]]:
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(
            select(store.leaves.c.idx, store.leaves.c.event, store.leaves.c.leaf_hash).order_by(store.leaves.c.idx)
        )
        for idx, ev, h in result:
            yield int(idx), _as_bytes(ev), _as_bytes(h)


def db_checkpoints(conn: Connection) -> list[tuple[int, bytes]]:
    """The stored signed checkpoints as (size, note), by size."""
    rows = conn.execute(
        select(store.checkpoints.c.size, store.checkpoints.c.note).order_by(store.checkpoints.c.size)
    ).all()
    return [(int(sz), bytes(n)) for sz, n in rows]


def verify_database(
    db: str | Path | Engine,
    *,
    trusted: Sequence[Verifier],
    origin: str | None = None,
    known_checkpoints: Sequence[bytes] = (),
) -> VerifyReport:
    """Recompute a node's audit database and check it against trusted log keys.

    The origin is read from the database unless given. Works on a database that an
    :class:`AuditLog` would refuse to open (e.g. with a gap in its rows).

    Raises:
        AuditIntegrityError: rows deleted, edited, inserted or reordered, checkpoints not signed by
            a trusted key or not matching the rows, or rows not covered by a trusted checkpoint.
        InputError: no trusted key, or no origin recorded or given.
    """
    if not trusted:
        raise InputError("verify needs a trusted verifier key", source="audit log")
    engine = db if isinstance(db, Engine) else store.make_engine(db)
    with engine.connect() as conn:
        metas = dict(conn.execute(select(store.meta.c.key, store.meta.c.value)).all())
        cps = db_checkpoints(conn)
    origin = origin or metas.get("origin")
    if not origin:
        raise InputError("the database records no log origin; give one", source="audit log")
    rep = verify_entries(
        origin=origin,
        rows=db_rows(engine),
        checkpoint_notes=cps,
        verifiers=trusted,
        known_checkpoints=known_checkpoints,
    )
    stored = metas.get("vkey")
    if stored is not None and all(getattr(v, "vkey", None) != stored for v in trusted):
        rep.problems.append("the database records a log key that is not a trusted key")
    if not rep.ok:
        raise AuditIntegrityError(rep.problems)
    return rep


def check_consistent(old_note: bytes, new_note: bytes, proof: Sequence[bytes], verifiers: Sequence[Verifier]) -> bool:
    """True iff two signed checkpoints of one log are consistent given ``proof`` (old -> new)."""
    a, _ = open_checkpoint(old_note, verifiers)
    b, _ = open_checkpoint(new_note, verifiers, origin=a.origin)
    return verify_consistency(a.size, b.size, a.root_hash, b.root_hash, proof)
