"""How a node reaches its partners: the ``PeerTransport`` port, over HTTPS or in memory.

The delivery worker (:mod:`accord.node.delivery`) sends every outbox message through a
:class:`PeerTransport`. :class:`HttpsTransport` posts over mutual TLS to the partner's pinned
certificate; :class:`InMemoryTransport` hands the message to the partner's service in this process and
answers exactly as its HTTP API would (same status codes, same problem documents). Tests use the latter
instead of a hand-made copy of delivery (after python-tuf's ``FetcherInterface`` and its simulator).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from accord.errors import AccordError
from accord.node.config import NodeConfig, Peer, Roster

if TYPE_CHECKING:
    from accord.node.service import NodeService

PATHS = {
    "delivery": "/v1/deliveries",
    "consent_request": "/v1/peer/consent-requests",
    "consent_decision": "/v1/peer/consent-decisions",
    "consent": "/v1/peer/consents",
    "custody_notice": "/v1/peer/custody-notices",  # issue 10: accord.node.flow.notices
}


class TransportError(Exception):
    """The message did not reach the partner (connection, TLS, timeout): retry later."""


@dataclass(frozen=True)
class PeerAnswer:
    """A partner's answer: the HTTP status and its JSON body (a receipt, or a problem document)."""

    status: int
    body: Any

    @property
    def problem(self) -> str:
        """A short description of an error answer (the problem document's title and detail)."""
        if isinstance(self.body, dict):
            return f"{self.status} {self.body.get('title', '')}: {self.body.get('detail', '')}"[:500]
        return str(self.status)


class PeerTransport(Protocol):
    """Sends one outbox message (``kind``: a key of :data:`PATHS`) to a partner node."""

    def send(self, peer: Peer, kind: str, body: bytes, idem_key: str) -> PeerAnswer:
        """Deliver ``body``; raises :class:`TransportError` when the partner could not be reached."""
        ...

    def close(self) -> None: ...


class HttpsTransport:
    """Mutual TLS to each partner, pinned to its certificate; one keep-alive client per partner."""

    def __init__(self, cfg: NodeConfig, roster: Roster, *, timeout: float = 10.0) -> None:
        from accord.node.client import PeerClients

        self.clients = PeerClients(cfg, roster, timeout=timeout)

    def send(self, peer: Peer, kind: str, body: bytes, idem_key: str) -> PeerAnswer:
        try:
            r = self.clients.get(peer).post(
                PATHS[kind],
                content=body,
                headers={"Idempotency-Key": idem_key, "Content-Type": "application/json"},
            )
        except httpx.HTTPError as ex:
            raise TransportError(f"transport: {type(ex).__name__}") from ex
        try:
            doc: Any = r.json()
        except ValueError:
            doc = None
        return PeerAnswer(r.status_code, doc)

    def close(self) -> None:
        self.clients.close()


class InMemoryTransport:
    """Hands messages to partner services in this process, answering as their HTTP API would.

    ``nodes``: party -> service (shared by every node of a test network); ``sender``: who sends.
    ``refusals`` collects (sender, recipient, problem) for every 4xx answer; ``down`` lists parties that
    cannot be reached (a :class:`TransportError`, as a network failure would be).
    """

    def __init__(self, sender: str, nodes: dict[str, NodeService]) -> None:
        self.sender = sender
        self.nodes = nodes
        self.refusals: list[tuple[str, str, str]] = []
        self.down: set[str] = set()

    def send(self, peer: Peer, kind: str, body: bytes, idem_key: str) -> PeerAnswer:
        from accord.node.api.problems import problem_of
        from accord.node.service import Caller

        svc = self.nodes.get(peer.party)
        if svc is None or peer.party in self.down:
            raise TransportError("transport: unreachable")
        caller = Caller(party=self.sender, local=False, peer=svc.roster.peers.get(self.sender))
        if caller.peer is None:
            raise TransportError("transport: TLS handshake refused (certificate not pinned)")
        try:
            answer = dispatch(svc, caller, kind, json.loads(body), idem_key)
        except AccordError as e:
            doc = problem_of(e)
            if 400 <= doc["status"] < 500:
                self.refusals.append((self.sender, peer.party, str(e)))
            return PeerAnswer(doc["status"], doc)
        return PeerAnswer(200, json.loads(json.dumps(answer)))

    def close(self) -> None:
        return None


def dispatch(svc: NodeService, caller: Any, kind: str, doc: dict[str, Any], idem_key: str = "") -> Any:
    """Call the service entry point a peer message of ``kind`` reaches (as the API's peer routes do)."""
    if kind == "delivery":
        doc["idem_key"] = idem_key
        return svc.receive_delivery(caller, doc)
    if kind == "consent_request":
        return svc.receive_consent_request(caller, doc).to_dict()
    if kind == "consent_decision":
        return svc.receive_consent_decision(caller, doc).to_dict()
    if kind == "consent":
        return svc.receive_consent(caller, doc).to_dict()
    if kind == "custody_notice":
        return svc.receive_custody_notice(caller, doc)
    raise ValueError(f"unknown message kind {kind!r}")
