"""What the console needs from a node (:class:`Backend`), and the adapter over today's node service.

The console depends on this protocol only, so that the node's internals can change: after a restructure
only :class:`NodeBackend` is adapted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from accord.node.persons import NodeReader
from accord.node.results import ConsentDecided, ItemStatus
from accord.people.reading import ReadSource

if TYPE_CHECKING:
    from accord.node.service import NodeService


class Backend(ReadSource, Protocol):
    """The node as the console sees it (a :class:`~accord.people.reading.ReadSource`, and its pages)."""

    def items(self) -> list[dict[str, Any]]:
        """Held items: item_id, origin (local|received), sender, label (dict), marking, created_at."""
        ...

    def item(self, item_id: str) -> ItemStatus:
        """One item's custody: label, marking, alternative label, outbox, inbox, receipts (NotFound)."""
        ...

    def outbox(self) -> list[dict[str, Any]]:
        """Messages sent or to send."""
        ...

    def events(
        self, *, type_: str | None = None, item_id: str | None = None, text: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Journal events, newest first: id, type, item_id, body (dict), created_at, audit_idx."""
        ...

    def consent_requests(self, state: str | None = None) -> list[dict[str, Any]]:
        """Consent requests (role incoming: ours to decide; outgoing: ours to originators)."""
        ...

    def decide_consent(self, request_id: str, approve: bool, officer: str, reason: str) -> ConsentDecided:
        """The originator's officer approves or denies a holder's request."""
        ...

    def audit_verify(self, index: int | None = None) -> dict[str, Any]:
        """Verify the audit log: size, root, checkpoints, consistency, and an inclusion proof of ``index``."""
        ...

    def audit_export(self, path: Path) -> int:
        """Export the audit log (JSON lines); returns the number of events."""
        ...


class NodeBackend(NodeReader):
    """:class:`Backend` over :class:`accord.node.service.NodeService`: the node's people path
    (:class:`accord.node.persons.NodeReader`: register, journal, a person's read) and the console's pages."""

    def __init__(self, service: NodeService, directory: Path | None = None) -> None:
        super().__init__(service)
        self.directory = directory if directory is not None else getattr(service.cfg, "dir", None)

    def items(self) -> list[dict[str, Any]]:
        return [
            {
                "item_id": r["item_id"],
                "origin": r["origin"],
                "sender": r["sender"],
                "label": json.loads(r["label_json"]),
                "marking": r["marking"],
                "created_at": r["created_at"],
            }
            for r in self.service.held_items()
        ]

    def item(self, item_id: str) -> ItemStatus:
        return self.service.item_status(item_id)

    def outbox(self) -> list[dict[str, Any]]:
        return [m.to_dict() for m in self.service.outbox_messages()]

    def events(
        self, *, type_: str | None = None, item_id: str | None = None, text: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        rows = self.service.journal_events(type_=type_, item_id=item_id, text=text, limit=limit)
        return [
            {
                "id": r["id"],
                "type": r["type"],
                "item_id": r["item_id"],
                "body": json.loads(r["body"]),
                "created_at": r["created_at"],
                "audit_idx": r["audit_idx"],
            }
            for r in rows
        ]

    def consent_requests(self, state: str | None = None) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.service.consent_requests(state)]  # rows the pages annotate

    def decide_consent(self, request_id: str, approve: bool, officer: str, reason: str) -> ConsentDecided:
        out = self.service.decide_consent(request_id, approve, officer, reason)
        courier = self.service.courier
        if courier is not None and hasattr(courier, "wake"):
            courier.wake()
        return out

    @contextmanager
    def _audit_log(self) -> Iterator[Any]:
        """The node's audit log: the writer's own (after a flush) when this process is the audit writer, else
        a read-only view opened for this call (e.g. ``accord console serve`` beside ``accord node run``)."""
        feeder = self.service.feeder
        if feeder is not None:
            feeder.flush()
            yield feeder.log
            return
        from accord.audit.log import AuditLog
        from accord.node.audit import origin

        log = AuditLog(self.service.store.url, origin=origin(self.party))
        try:
            yield log
        finally:
            log.close()

    def audit_verify(self, index: int | None = None) -> dict[str, Any]:
        from accord.audit.note import parse_vkey

        vkey_file = self.directory / "audit.vkey" if self.directory else None
        if vkey_file is None or not vkey_file.exists():
            return {"available": False, "problems": ["no audit.vkey in the node directory"]}
        verifiers = [parse_vkey(vkey_file.read_text().strip())]
        with self._audit_log() as log:
            return self._verify(log, verifiers, index)

    @staticmethod
    def _verify(log: Any, verifiers: list[Any], index: int | None) -> dict[str, Any]:
        from accord.audit.errors import AuditIntegrityError
        from accord.audit.log import check_consistent
        from accord.audit.merkle import leaf_hash, verify_inclusion
        from accord.audit.note import open_checkpoint

        out: dict[str, Any] = {"available": True, "origin": log.origin}
        try:
            rep = log.verify(trusted=verifiers)
            out.update(
                ok=rep.ok,
                size=rep.size,
                root=rep.root.hex(),
                checkpoints=rep.checkpoints_verified,
                last_checkpoint=rep.last_checkpoint,
                problems=list(rep.problems),
            )
        except AuditIntegrityError as e:
            out.update(ok=False, size=log.size, problems=[str(p) for p in e.problems])
            return out
        latest = log.checkpoint_at(rep.last_checkpoint) if rep.last_checkpoint else None
        if latest is None:
            return out
        cp, _ = open_checkpoint(latest, verifiers, origin=log.origin)
        out["checkpoint"] = latest.decode()
        if cp.size > log.size:  # a reader opened before the writer's latest batch: prove against what it holds
            return out
        # consistency: the first non-empty signed checkpoint against the latest
        rows = log.checkpoints()
        first = next(((s, n) for s, n in rows if 0 < s < cp.size), None)
        if first is not None:
            proof = log.consistency_proof(first[0], cp.size)
            out["consistency"] = {
                "old": first[0],
                "new": cp.size,
                "proof": [h.hex() for h in proof],
                "ok": check_consistent(first[1], latest, proof, verifiers),
            }
        if index is not None and 0 <= index < cp.size:
            proof = log.inclusion_proof(index, cp.size)
            lh = leaf_hash(log.event(index))
            out["inclusion"] = {
                "index": index,
                "size": cp.size,
                "leaf": lh.hex(),
                "proof": [h.hex() for h in proof],
                "ok": verify_inclusion(lh, index, cp.size, proof, cp.root_hash),
            }
        return out

    def audit_export(self, path: Path) -> int:
        with self._audit_log() as log:
            return int(log.export(path))
