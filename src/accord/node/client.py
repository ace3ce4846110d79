"""Outgoing HTTPS with mutual TLS: to a partner (trusting only its pinned certificate) or to our own node,
and :class:`NodeClient`, the typed SDK client of a node's HTTP API."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx

from accord.errors import AccordError
from accord.node.config import NodeConfig, Peer, Roster
from accord.node.identity import client_context
from accord.node.results import (
    ConsentDecided,
    ConsentRequest,
    CustodyRecorded,
    EventRecord,
    Forwarded,
    Health,
    ItemStatus,
    OutboxMessage,
    RelayStatus,
    StandingGranted,
    Submitted,
)


class PeerClients:
    """One keep-alive httpx client per partner, each pinned to that partner's certificate."""

    def __init__(self, cfg: NodeConfig, roster: Roster, *, timeout: float = 10.0) -> None:
        self.cfg = cfg
        self.roster = roster
        self.timeout = timeout
        self._clients: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()

    def get(self, peer: Peer) -> httpx.Client:
        with self._lock:
            c = self._clients.get(peer.party)
            if c is None:
                ctx = client_context(self.cfg.cert_file, self.cfg.key_file, peer.cert_pem.encode())
                c = httpx.Client(base_url=peer.url, verify=ctx, timeout=self.timeout)
                self._clients[peer.party] = c
            return c

    def forget(self, party: str) -> None:
        """Drop the client of ``party`` (its pinned entry changed: the next message makes a new one)."""
        with self._lock:
            c = self._clients.pop(party, None)
        if c is not None:
            c.close()

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()


def local_client(cfg: NodeConfig, *, timeout: float = 30.0, port: int | None = None) -> httpx.Client:
    """A client for this nation's own systems: presents the node's certificate and pins it."""
    ctx = client_context(cfg.cert_file, cfg.key_file, cfg.cert_file.read_bytes())
    url = f"https://{cfg.host}:{port}" if port else cfg.url
    return httpx.Client(base_url=url, verify=ctx, timeout=timeout)


def problem_title(r: httpx.Response) -> str:
    """A short description of an error answer (the problem document's title and detail)."""
    try:
        p: Any = r.json()
        return f"{r.status_code} {p.get('title', '')}: {p.get('detail', '')}"[:500]
    except ValueError:
        return f"{r.status_code}"


# --- the typed client of a node's HTTP API (SDK) -------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """A held item opened for this nation's own systems: its banner and plaintext."""

    banner: str
    content: bytes


def _raise_problem(r: httpx.Response) -> None:
    """Turn a problem document into the error Accord raised on the node (refusals, bad input, not found...)."""
    from accord import errors

    try:
        doc: Any = r.json()
    except ValueError:
        doc = {}
    detail = str(doc.get("detail", "")) if isinstance(doc, dict) else ""
    kind = str(doc.get("kind") or str(doc.get("type", "")).rsplit("/", 1)[-1]) if isinstance(doc, dict) else ""
    if kind == "release-refused":
        e: AccordError = errors.ReleaseRefused("", doc.get("decision"), detail)
    elif kind == "read-refused":  # a person's read (issue 12)
        e = errors.Refusal(detail, decision=doc.get("decision"))
    elif kind == "peer-refused":
        e = errors.PeerRefused(detail)
    elif kind == "not-found":
        e = errors.NotFound(detail)
    elif kind == "conflict":
        e = errors.Conflict(detail)
    elif kind == "integrity":
        e = errors.IntegrityError()
    elif kind == "retry":
        e = errors.Busy(detail)
    else:
        e = errors.InputError(detail or f"HTTP {r.status_code}", source="node")
    raise e


class NodeClient:
    """A typed client of one node's HTTP API, as this nation's own systems (mutual TLS, pinned).

    ``NodeClient.for_node(directory)`` uses the node's own certificate and pins it (like ``accord node``).
    Errors come back as Accord's own (:class:`~accord.errors.ReleaseRefused` with the decision,
    :class:`~accord.errors.NotFound`, :class:`~accord.errors.InputError`...).
    """

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    @classmethod
    def for_node(cls, directory: str | Path, *, port: int | None = None, timeout: float = 30.0) -> NodeClient:
        from accord.node.config import NodeConfig

        return cls(local_client(NodeConfig.load(Path(directory)), timeout=timeout, port=port))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        r = self.http.request(method, path, **kw)
        if r.status_code != 200:
            _raise_problem(r)
        return r

    def health(self) -> Health:
        """Liveness; with the audit alarm (quarantined or pending audit events)."""
        return Health.from_dict(self._call("GET", "/v1/health").json())

    def submit(self, label: dict[str, Any], payload: bytes, to: str, at: dt.date | None = None) -> Submitted:
        body = {"label": label, "to": to, "payload_b64": base64.b64encode(payload).decode()}
        if at is not None:
            body["at"] = at.isoformat()
        return Submitted.from_dict(self._call("POST", "/v1/items", json=body).json())

    def forward(self, item_id: str, to: str, at: dt.date | None = None) -> Forwarded:
        body: dict[str, Any] = {"to": to}
        if at is not None:
            body["at"] = at.isoformat()
        return Forwarded.from_dict(self._call("POST", f"/v1/items/{quote(item_id, safe='')}/forward", json=body).json())

    def item(self, item_id: str) -> ItemStatus | RelayStatus:
        """Custody of one item: label, marking, outbox, inbox, receipts, custody record; at a hub, for an item
        it relayed blind, the relay's status (no label, no content)."""
        doc = self._call("GET", f"/v1/items/{quote(item_id, safe='')}").json()
        if isinstance(doc, dict) and doc.get("relay") == "blind":
            return RelayStatus.from_dict(doc)
        return ItemStatus.from_dict(doc)

    def payload(self, item_id: str, *, person: str, purpose: str) -> Payload:
        """The plaintext, read by a registered ``person`` for a stated ``purpose`` (decided and audited on the
        node, JK-R7/R15; a refusal raises :class:`~accord.errors.Refusal` with the decision)."""
        headers = {"Accord-Person": person, "Accord-Purpose": quote(purpose, safe="")}
        r = self._call("GET", f"/v1/items/{quote(item_id, safe='')}/payload", headers=headers)
        return Payload(unquote(r.headers.get("accord-banner", "")), r.content)

    def consent_requests(self, state: str | None = None) -> list[ConsentRequest]:
        params = {"state": state} if state else None
        return [ConsentRequest.from_dict(r) for r in _rows(self._call("GET", "/v1/consent-requests", params=params))]

    def decide_consent(
        self, request_id: str, approve: bool, officer: str, reason: str = "", until: dt.date | None = None
    ) -> ConsentDecided:
        """This nation's security officer approves (``until``: last day of the consent) or denies a request."""
        body: dict[str, Any] = {"officer": officer, "reason": reason}
        if until is not None and approve:
            body["until"] = until.isoformat()
        path = f"/v1/consent-requests/{quote(request_id, safe='')}/{'approve' if approve else 'deny'}"
        return ConsentDecided.from_dict(self._call("POST", path, json=body).json())

    def grant_standing(
        self, holder: str, recipient: str, topics: list[str], granted: dt.date, until: dt.date, officer: str
    ) -> StandingGranted:
        """A standing consent for ``holder`` to release items on ``topics`` to ``recipient``."""
        body = {
            "holder": holder,
            "recipient": recipient,
            "topics": topics,
            "granted": granted.isoformat(),
            "until": until.isoformat(),
            "officer": officer,
        }
        return StandingGranted.from_dict(self._call("POST", "/v1/consents/standing", json=body).json())

    def record_custody(self, item_id: str, state: str, note: str = "") -> CustodyRecorded:
        """Record a change of custody of a held item (RETURNED, DESTROYED, COMPROMISED, HELD)."""
        body = {"state": state, "note": note}
        path = f"/v1/items/{quote(item_id, safe='')}/custody"
        return CustodyRecorded.from_dict(self._call("POST", path, json=body).json())

    def outbox(self, state: str | None = None) -> list[OutboxMessage]:
        params = {"state": state} if state else None
        return [OutboxMessage.from_dict(m) for m in _rows(self._call("GET", "/v1/outbox", params=params))]

    def events(self, item_id: str | None = None) -> list[EventRecord]:
        params = {"item_id": item_id} if item_id else None
        return [EventRecord.from_dict(e) for e in _rows(self._call("GET", "/v1/events", params=params))]


def _rows(r: httpx.Response) -> list[Any]:
    """A JSON array answer (anything else is refused as a malformed answer)."""
    out = r.json()
    if not isinstance(out, list):
        raise AccordError("the node's answer is not a JSON array")
    return out
