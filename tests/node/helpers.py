"""In-process nodes for fast tests: real services, stores and delivery workers; messages go through the
in-memory PeerTransport instead of HTTPS."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from accord.node.cluster import init_node, pin_each_other
from accord.node.config import NodeConfig
from accord.node.delivery import DeliveryWorker
from accord.node.service import Caller, NodeService
from accord.node.transport import InMemoryTransport, dispatch
from accord.node.wiring import load_service


def label(
    item: str,
    *,
    cls: str = "군사Ⅱ급비밀",
    topics: tuple[str, ...] = ("DPRK-MISSILE",),
    rel: tuple[str, ...] = ("JPN", "USA"),
    created: str = "2015-01-01",
    originator: str = "KOR",
) -> dict[str, Any]:
    return {
        "originator": originator,
        "classification": cls,
        "topics": list(topics),
        "releasable_to": list(rel),
        "caveats": [],
        "created": f"{created}T00:00:00Z",
        "review": None,
        "id": item,
    }


class Net:
    """Three (or more) nodes whose outboxes are delivered by calling the recipient's service directly."""

    def __init__(
        self,
        root: Path,
        parties: tuple[str, ...] = ("KOR", "JPN", "USA"),
        *,
        what_if: bool = True,
        extra: tuple[str, ...] = (),
        dbs: dict[str, str] | None = None,
        audit: bool = True,
    ) -> None:
        dbs = dbs or {}
        self.cfgs: dict[str, NodeConfig] = {
            p: init_node(root / p.lower(), p, what_if=what_if, port=1, db=dbs.get(p), audit_sync=True)
            for p in parties + extra
        }
        pin_each_other([self.cfgs[p] for p in parties], extra=[self.cfgs[p] for p in extra])
        self.nodes: dict[str, NodeService] = {p: load_service(root / p.lower(), audit=audit) for p in parties + extra}
        self.workers = {
            p: DeliveryWorker(svc, threads=1, transport=InMemoryTransport(p, self.nodes))
            for p, svc in self.nodes.items()
        }

    def caller(self, sender: str, recipient: str) -> Caller:
        peer = self.nodes[recipient].roster.peers[sender]
        return Caller(party=sender, local=False, peer=peer)

    def dispatch(self, sender: str, kind: str, recipient: str, body: bytes, idem: str = "") -> dict[str, Any]:
        """Hand one message to ``recipient``'s service directly (errors raised, not turned into answers)."""
        answer: dict[str, Any] = dispatch(
            self.nodes[recipient], self.caller(sender, recipient), kind, json.loads(body), idem
        )
        return answer

    @property
    def refusals(self) -> list[tuple[str, str, str]]:
        """(sender, recipient, problem) of every message a partner refused (4xx)."""
        return [r for w in self.workers.values() for r in w.transport.refusals]  # type: ignore[attr-defined]

    def pump(self, rounds: int = 10) -> int:
        """Deliver every due outbox message with each node's real delivery worker over the in-memory
        transport, repeatedly, until nothing moves. Returns messages moved."""
        moved = 0
        for _ in range(rounds):
            progress = False
            for party, svc in self.nodes.items():
                for e in svc.store.claim(f"test-{party}", limit=100, lease_seconds=30):
                    progress = True
                    moved += 1
                    self.workers[party].deliver(e, f"test-{party}")
            if not progress:
                break
        return moved

    def submit(self, party: str, lab: dict[str, Any], to: str, at: str, payload: bytes = b"x" * 64) -> dict[str, Any]:
        return self.nodes[party].submit(lab, payload, to, at)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
