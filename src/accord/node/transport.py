"""How a node reaches its partners: the ``PeerTransport`` port, over HTTPS or in memory.

The delivery worker (:mod:`accord.node.delivery`) sends every outbox message through a
:class:`PeerTransport`. :class:`HttpsTransport` posts over mutual TLS to the partner's pinned
certificate; :class:`InMemoryTransport` hands the message to the partner's service in this process and
answers exactly as its HTTP API would (same status codes, same problem documents). Tests use the latter
instead of a hand-made copy of delivery (after python-tuf's ``FetcherInterface`` and its simulator).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from accord.errors import AccordError
from accord.node.config import NodeConfig, Peer, Roster

if TYPE_CHECKING:
    from accord.node.service import NodeService

PATHS = {
    "delivery": "/v1/deliveries",
    "consent_request": "/v1/peer/consent-requests",
    "consent_decision": "/v1/peer/consent-decisions",
    "consent": "/v1/peer/consents",
    "final_receipt": "/v1/peer/final-receipts",
    "custody_notice": "/v1/peer/custody-notices",  # issue 10: accord.node.flow.notices
}


#: Several deliveries to one partner in one request (issue 8, wave 8: :mod:`accord.node.api.batch`).
BATCH_PATH = "/v1/deliveries/batch"
#: The most envelopes, and bytes of request body, in one batch -- the recipient refuses more (413 / 422).
BATCH_MAX_ITEMS = 16
BATCH_MAX_BYTES = 1 << 20


def batch_body(items: Sequence[tuple[bytes, str]]) -> bytes:
    """The body of a batch: ``{"deliveries": [{"idempotency_key": K, "envelope": E}, ...]}``, each envelope
    the exact bytes a single ``POST /v1/deliveries`` would carry (the outbox entry's body, not re-encoded)."""
    parts = [b'{"idempotency_key":' + json.dumps(key).encode() + b',"envelope":' + body + b"}" for body, key in items]
    return b'{"deliveries":[' + b",".join(parts) + b"]}"


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


#: The largest answer read from a partner (a receipt with its evidence is a few KB): a longer one is refused.
MAX_ANSWER_BYTES = 1 << 20


class _PinnedConnection(http.client.HTTPSConnection):
    """One keep-alive HTTPS connection to a partner, pinned by the TLS context, without Nagle's delay; a
    request's head and body in one write."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        """The request's head and a bytes body in ONE ``sendall`` (issue 8, wave 7): ``http.client`` writes the
        head, takes the GIL back, then writes the body, so a partner's server parsed the head and then waited
        for the body while the sending thread queued for the GIL behind this node's other work (JPN saw the
        delivery's body ~0.5 ms after its head, p50). The bytes on the wire are the same, in the same order;
        any other body goes the library's way."""
        if not isinstance(message_body, bytes) or encode_chunked:
            super()._send_output(message_body, encode_chunked)  # type: ignore[misc]
            return
        buf = self._buffer  # type: ignore[attr-defined]
        buf.extend((b"", b""))
        head = b"\r\n".join(buf)
        del buf[:]
        self.send(head + message_body)


class HttpsTransport:
    """Mutual TLS to each partner, pinned to its certificate; keep-alive connections, one per delivery thread
    and partner (issue 8: a plain ``http.client`` connection instead of an httpx client took ~1 ms of the
    sender's CPU off each delivery; the TLS context is the same pinned one, see
    :func:`accord.node.identity.client_context`)."""

    def __init__(self, cfg: NodeConfig, roster: Roster, *, timeout: float = 10.0) -> None:
        self.cfg = cfg
        self.roster = roster
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._contexts: dict[tuple[str, str], Any] = {}
        self._open: set[_PinnedConnection] = set()

    def _connection(self, peer: Peer) -> tuple[_PinnedConnection, bool]:
        """This thread's connection to ``peer`` (new: False when it was opened now)."""
        conns: dict[tuple[str, str, str], _PinnedConnection] = getattr(self._local, "conns", None) or {}
        self._local.conns = conns
        key = (peer.party, peer.url, peer.cert_pem)
        c = conns.get(key)
        if c is not None:
            return c, True
        from accord.node.identity import client_context

        with self._lock:
            ctx = self._contexts.get((peer.party, peer.cert_pem))
            if ctx is None:  # one pinned context per partner certificate (a reloaded pin gets a new one)
                ctx = client_context(self.cfg.cert_file, self.cfg.key_file, peer.cert_pem.encode())
                self._contexts[(peer.party, peer.cert_pem)] = ctx
        u = urlsplit(peer.url)
        if u.scheme != "https" or not u.hostname:
            raise TransportError(f"transport: {peer.party}'s url is not https")
        c = _PinnedConnection(u.hostname, u.port or 443, timeout=self.timeout, context=ctx)
        conns[key] = c
        with self._lock:
            self._open.add(c)
        return c, False

    def _drop(self, peer: Peer, c: _PinnedConnection) -> None:
        conns = getattr(self._local, "conns", {})
        conns.pop((peer.party, peer.url, peer.cert_pem), None)
        with self._lock:
            self._open.discard(c)
        c.close()

    def send(self, peer: Peer, kind: str, body: bytes, idem_key: str) -> PeerAnswer:
        headers = {"Idempotency-Key": idem_key, "Content-Type": "application/json", "Content-Length": str(len(body))}
        return self._post(peer, PATHS[kind], body, headers)

    def send_batch(self, peer: Peer, items: Sequence[tuple[bytes, str]]) -> PeerAnswer:
        """Several delivery envelopes ``(body, idempotency key)`` in ONE request (:data:`BATCH_PATH`): the answer
        holds one result per envelope (see :func:`batch_body` and ``docs/node.md``)."""
        body = batch_body(items)
        return self._post(
            peer, BATCH_PATH, body, {"Content-Type": "application/json", "Content-Length": str(len(body))}
        )

    def _post(self, peer: Peer, path: str, body: bytes, headers: dict[str, str]) -> PeerAnswer:
        for attempt in (0, 1):
            c, reused = self._connection(peer)
            try:
                c.request("POST", path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read(MAX_ANSWER_BYTES + 1)
                if len(data) > MAX_ANSWER_BYTES or not r.isclosed():  # not read to its end: over the bound
                    self._drop(peer, c)
                    raise TransportError("transport: answer too large")
                if r.will_close:
                    self._drop(peer, c)
            except (OSError, http.client.HTTPException) as ex:
                self._drop(peer, c)
                # A kept-alive connection the partner closed meanwhile (idle timeout): once more on a new one.
                # Safe for every message kind: the recipient deduplicates on the idempotency key.
                if reused and attempt == 0:
                    continue
                raise TransportError(f"transport: {type(ex).__name__}") from ex
            break
        try:
            doc: Any = json.loads(data)
        except ValueError:
            doc = None
        return PeerAnswer(r.status, doc)

    def close(self) -> None:
        with self._lock:
            for c in self._open:
                c.close()
            self._open.clear()


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

    def _reach(self, peer: Peer) -> tuple[NodeService, Any]:
        """The partner's service and this sender as it would see it through the TLS handshake (or why not)."""
        from accord.node.service import Caller

        svc = self.nodes.get(peer.party)
        if svc is None or peer.party in self.down:
            raise TransportError("transport: unreachable")
        caller = Caller(party=self.sender, local=False, peer=svc.roster.peers.get(self.sender))
        if caller.peer is None:
            raise TransportError("transport: TLS handshake refused (certificate not pinned)")
        return svc, caller

    def send(self, peer: Peer, kind: str, body: bytes, idem_key: str) -> PeerAnswer:
        from accord.node.api.problems import problem_of

        svc, caller = self._reach(peer)
        try:
            answer = dispatch(svc, caller, kind, json.loads(body), idem_key)
        except AccordError as e:
            doc = problem_of(e)
            if 400 <= doc["status"] < 500:
                self.refusals.append((self.sender, peer.party, str(e)))
            return PeerAnswer(doc["status"], doc)
        return PeerAnswer(200, json.loads(json.dumps(answer)))

    def send_batch(self, peer: Peer, items: Sequence[tuple[bytes, str]]) -> PeerAnswer:
        """A batch, answered as the recipient's ``POST /v1/deliveries/batch`` would (same checks, same results)."""
        from accord.node.api.batch import BatchRefused, parse_batch, receive_batch

        svc, caller = self._reach(peer)
        try:
            parsed = parse_batch(batch_body(items))
        except BatchRefused as e:
            return PeerAnswer(e.status, e.doc)
        results = receive_batch(svc, caller, parsed)
        for r in results:
            if 400 <= r["status"] < 500:
                self.refusals.append((self.sender, peer.party, str(r["answer"].get("detail", ""))))
        return PeerAnswer(200, json.loads(json.dumps({"results": results})))

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
    if kind == "final_receipt":
        return svc.receive_final_receipt(caller, doc)
    if kind == "custody_notice":
        return svc.receive_custody_notice(caller, doc)
    raise ValueError(f"unknown message kind {kind!r}")
