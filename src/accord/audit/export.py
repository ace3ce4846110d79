"""The export file of an audit log (JSON lines): write, read and verify offline.

Line 1 is a header (``format``, ``origin``, ``vkey``, ``size``); then one ``{"i", "e"}`` line per event
and one ``{"checkpoint", "size"}`` line per signed checkpoint. Reading is strict (a repeated key is
refused) and streamed: events are read line by line, so memory stays bounded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select

from accord.audit import store
from accord.audit.errors import AuditIntegrityError
from accord.audit.merkle import leaf_hash
from accord.audit.note import Verifier, parse_vkey
from accord.audit.verify import CHUNK, VerifyReport, verify_entries
from accord.errors import InputError
from accord.formats._json import load_json

EXPORT_FORMAT = "accord-audit-log/1"


def write_export(
    path: str | Path,
    *,
    origin: str,
    vkey: str | None,
    size: int,
    rows: Iterable[tuple[int, bytes, bytes | None]],
    checkpoints: Iterable[tuple[int, bytes]],
) -> int:
    """Write a log's events and checkpoints as an export file; returns the number of events."""
    n = 0
    with Path(path).open("w", encoding="utf-8") as f:
        header = {"format": EXPORT_FORMAT, "origin": origin, "vkey": vkey, "size": size}
        f.write(json.dumps(header, sort_keys=True, ensure_ascii=False) + "\n")
        for idx, ev, _h in rows:
            f.write(json.dumps({"i": idx, "e": ev.decode("utf-8")}, ensure_ascii=False) + "\n")
            n += 1
        for sz, note in checkpoints:
            f.write(json.dumps({"checkpoint": note.decode("utf-8"), "size": sz}, ensure_ascii=False) + "\n")
    return n


@dataclass
class Export:
    """An export file: header and checkpoints read at once, events streamed by :meth:`rows`."""

    path: Path
    origin: str
    vkey: str | None
    size: int
    checkpoints: list[tuple[int, bytes]]

    def rows(self) -> Iterator[tuple[int, bytes, bytes | None]]:
        """``(index, event bytes, None)`` in file order, read line by line (bounded memory)."""
        for n, obj in _export_lines(self.path):
            if "checkpoint" in obj:
                continue
            try:
                yield int(obj["i"]), obj["e"].encode("utf-8"), None
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise InputError(f"malformed export line {n}", source=str(self.path)) from e


def _export_lines(p: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with p.open("r", encoding="utf-8") as f:
            next(f, None)  # header
            for n, line in enumerate(f, start=2):
                try:
                    obj = load_json(line, source=str(p))  # strict: a repeated key is refused (issue 9)
                except InputError as e:
                    raise InputError(f"malformed export line {n}: {e.message}", source=str(p)) from e
                if not isinstance(obj, dict):
                    raise InputError(f"malformed export line {n}", source=str(p))
                yield n, obj
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read: {e}", source=str(p)) from e


def read_export(path: str | Path) -> Export:
    """Parse an export file written by :meth:`AuditLog.export` (events are streamed later).

    Raises:
        InputError: not an Accord audit export, or a malformed line.
    """
    p = Path(path)
    try:
        with p.open("r", encoding="utf-8") as f:
            first = f.readline()
        header = load_json(first, source=str(p)) if first else {}
    except (OSError, UnicodeDecodeError, InputError) as e:
        raise InputError("not an Accord audit export", source=str(p)) from e
    if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
        raise InputError("not an Accord audit export", source=str(p))
    origin = header.get("origin")
    if not isinstance(origin, str) or not origin:
        raise InputError("export header has no origin", source=str(p), field="origin")
    cps: list[tuple[int, bytes]] = []
    count = 0
    for n, obj in _export_lines(p):
        if "checkpoint" in obj:
            try:
                cps.append((int(obj["size"]), obj["checkpoint"].encode("utf-8")))
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise InputError(f"malformed export line {n}", source=str(p)) from e
        else:
            count += 1
    vkey = header.get("vkey")
    if vkey is not None:
        parse_vkey(vkey)
    return Export(p, origin, vkey, count, cps)


def verify_export(
    path: str | Path, *, trusted: Sequence[Verifier], known_checkpoints: Sequence[bytes] = ()
) -> VerifyReport:
    """Verify an exported log file offline (raises :class:`AuditIntegrityError` on failure)."""
    exp = read_export(path)
    rep = verify_entries(
        origin=exp.origin,
        rows=exp.rows(),
        checkpoint_notes=exp.checkpoints,
        verifiers=trusted,
        known_checkpoints=known_checkpoints,
    )
    if not rep.ok:
        raise AuditIntegrityError(rep.problems)
    return rep


def load_export(path: str | Path, engine: Engine, *, trusted: Sequence[Verifier], target: str) -> str:
    """Verify an export file and load it into the empty audit tables of ``engine``; returns its origin.

    Raises:
        AuditIntegrityError: the export does not verify against ``trusted``.
        InputError: malformed file, or the target database is not empty.
    """
    exp = read_export(path)
    rep = verify_entries(origin=exp.origin, rows=exp.rows(), checkpoint_notes=exp.checkpoints, verifiers=trusted)
    if not rep.ok:
        raise AuditIntegrityError(rep.problems)
    with engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(store.leaves)).scalar():
            raise InputError("the target audit database is not empty", source=target)
        batch: list[dict[str, Any]] = []
        for idx, ev, _ in exp.rows():
            obj = json.loads(ev)
            batch.append(
                {
                    "idx": idx,
                    "leaf_hash": leaf_hash(ev),
                    "event": ev,
                    "kind": obj.get("type", ""),
                    "item": obj.get("item"),
                }
            )
            if len(batch) >= CHUNK:
                conn.execute(insert(store.leaves), batch)
                batch = []
        if batch:
            conn.execute(insert(store.leaves), batch)
        now = int(time.time() * 1000)
        for size, note in exp.checkpoints:
            conn.execute(insert(store.checkpoints), {"size": size, "note": note, "created_ms": now})
        conn.execute(insert(store.meta), {"key": "origin", "value": exp.origin})
        if exp.vkey:
            conn.execute(insert(store.meta), {"key": "vkey", "value": exp.vkey})
    return exp.origin
