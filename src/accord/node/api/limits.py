"""Limits in front of the application (issue 9): who may send a body, how large, how slow, how many.

Two layers, both before any route or model sees a byte of a request body:

- :func:`pinned_protocol` -- uvicorn's HTTP protocol (httptools), extended to pass the pinned TLS client
  certificate's fingerprint to the app, to bound the request head (431 past ``max_header_bytes`` or
  ``max_headers``, 414 past ``max_url_bytes``), to drop a client that does not finish its request head within
  ``header_timeout_seconds`` or its body within ``body_timeout_seconds`` (slowloris), and to bound the
  connections each certificate may hold open (``max_peer_connections`` for a partner, ``max_own_connections``
  for this nation's own systems), so that idle partner connections never cut the node off from its own client.
- :class:`AdmissionGate` -- ASGI middleware: a partner that is not a party to an agreement in force with this
  node (that day; on a what-if node: on any day) is answered 403 before its body is read; ``/openapi.json``
  and ``/docs`` are for the node's own certificate only; a body longer than ``max_body_bytes`` is answered 413
  (from ``Content-Length`` before reading, or while streaming a chunked body: the body is never held whole).

The TLS handshake itself is bounded by ``handshake_timeout_seconds`` (see :func:`accord.node.app.serve`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("accord.node")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PROBLEM = "application/problem+json"
OWN_ONLY = ("/openapi.json", "/docs")


@dataclass(frozen=True)
class Limits:
    """The bounds of one node's HTTP server, read from its :class:`NodeConfig` (which holds the defaults)."""

    max_body_bytes: int
    max_header_bytes: int
    max_headers: int
    max_url_bytes: int
    header_timeout_seconds: float
    body_timeout_seconds: float
    keepalive_seconds: float
    handshake_timeout_seconds: float
    max_peer_connections: int
    max_own_connections: int

    @staticmethod
    def of(cfg: Any) -> Limits:
        return Limits(**{f: getattr(cfg, f) for f in Limits.__dataclass_fields__})


def _problem(status: int, kind: str, title: str, detail: str) -> bytes:
    from accord.node.api.problems import problem_body

    return json.dumps(problem_body(status, kind, title, detail)).encode()


def too_large(cap: int) -> bytes:
    return _problem(413, "too-large", "Content Too Large", f"body over {cap} bytes")


async def _answer(send: Send, status: int, body: bytes, *, retry_after: int | None = None) -> None:
    headers = [
        (b"content-type", PROBLEM.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the protocol reads no more of the body (see on_response_complete)
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AdmissionGate:
    """ASGI middleware: admission by certificate and agreement, own-only docs, body size -- before the body."""

    def __init__(self, app: ASGIApp, service: Any, limits: Limits, today: Callable[[], dt.date] = dt.date.today):
        self.app = app
        self.service = service
        self.limits = limits
        self.today = today
        self._cache: dict[tuple[str | None, dt.date, int], tuple[bool, bool, str, Any]] = {}

    def _admitted(self, fp: str | None) -> tuple[bool, bool, str, Any]:
        """(admitted, local, why-not, the caller) for the certificate fingerprint ``fp`` (cached per certificate
        and day: the roster and the agreements are read once at start)."""
        key = (fp, self.today(), getattr(self.service, "trust_version", 0))  # a trust reload starts afresh
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) > 1024:
                self._cache.clear()
            hit = self._cache[key] = self._decide(fp)
        return hit

    def _decide(self, fp: str | None) -> tuple[bool, bool, str, Any]:
        from accord.errors import AccordError
        from accord.node.policy import agreements_in_force

        try:
            caller = self.service.identify(fp)
        except AccordError as e:
            return False, False, str(e), None
        if caller.local:
            return True, True, "", caller
        svc = self.service
        if svc.cfg.what_if:  # the day is in the body; admit() checks it there -- here: any agreement at all
            ok = any(svc.party in ag.parties and caller.party in ag.parties for ag in svc.agreements)
            when = "on any day"
        else:
            day = self.today()
            ok = bool(agreements_in_force(svc.agreements, svc.party, caller.party, day))
            when = f"on {day}"
        if not ok:
            return (
                False,
                False,
                f"refused peer {caller.party}: no agreement in force between {svc.party} and {caller.party} {when}",
                None,
            )
        return True, False, "", caller

    def refusal(self, scope: Scope) -> tuple[int, bytes] | None:
        """The answer (status, problem document) to a request refused on its head alone -- a partner not
        admitted that day, the API description asked by a partner, a bad or too large ``Content-Length`` --
        or None. Nothing of the body has been read; a refused peer's body will not be (``accord_drain``). An
        admitted caller is left in the scope (``accord_caller``) for the routes."""
        fp = scope.get("extensions", {}).get("tls", {}).get("client_cert_sha256")
        admitted, local, why, scope["accord_caller"] = self._admitted(fp)
        if not admitted:
            log.warning("%s: %s (before its body)", self.service.party, why)
            scope["accord_drain"] = 0  # not one more byte of its body is read
            return 403, _problem(403, "peer-refused", "Forbidden", why)
        path = scope.get("path", "")
        if not local and (path in OWN_ONLY or path.startswith("/docs/")):
            return 403, _problem(403, "peer-refused", "Forbidden", "the API description is for this nation only")
        cap = self.limits.max_body_bytes
        length = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                if length is not None or not value.isdigit():
                    return 400, _problem(400, "bad-input", "Bad Request", "bad Content-Length")
                length = int(value)
        if length is not None and length > cap:
            return 413, too_large(cap)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is not None:
            await _answer(send, *refused)
            return
        cap = self.limits.max_body_bytes
        seen = 0
        started = answered = False

        async def capped_receive() -> Message:
            # A chunked body is counted as it streams: past the cap the caller gets 413 at once and the app a
            # disconnect (the app never holds more than ``cap`` bytes of it).
            nonlocal seen, answered
            if answered:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > cap:
                    if not started:
                        await _answer(send, 413, too_large(cap))
                        answered = True
                    return {"type": "http.disconnect"}
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if answered:
                return
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, capped_receive, tracking_send)
        except Exception:
            if not answered:
                raise


# ---------------------------------------------------------------------------------------------------
# the HTTP protocol


def _status_line(status: int, reason: str) -> bytes:
    return f"HTTP/1.1 {status} {reason}\r\n".encode()


def pinned_protocol(limits: Limits, own_fingerprint: str | None = None) -> type:
    """uvicorn's httptools protocol with the TLS fingerprint in the scope and the limits of :class:`Limits`."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    per_cert: dict[str | None, int] = {}

    class PinnedProtocol(HttpToolsProtocol):
        _limit: tuple[int, str] | None = None
        _head_bytes = 0
        _in_head = True
        _timer: Any = None
        _fp: str | None = None
        _counted = False
        _drain: int | None = None
        _tls: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            ssl_obj = transport.get_extra_info("ssl_object")
            der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
            fp = hashlib.sha256(der).hexdigest() if der else None
            self._fp = fp
            cap = (
                limits.max_own_connections if fp is not None and fp == own_fingerprint else limits.max_peer_connections
            )
            if per_cert.get(fp, 0) >= cap:
                log.warning("refused a connection: certificate %s already holds %d", (fp or "-")[:16], cap)
                transport.close()
                return
            per_cert[fp] = per_cert.get(fp, 0) + 1
            self._counted = True
            self._tls = {"client_cert_sha256": fp}
            self._arm(limits.header_timeout_seconds, "request head")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._counted:
                self._counted = False
                n = per_cert.get(self._fp, 1) - 1
                if n > 0:
                    per_cert[self._fp] = n
                else:
                    per_cert.pop(self._fp, None)
            super().connection_lost(exc)

        # -- timeouts (slow and half-open clients) ---------------------------------------------------
        def _arm(self, seconds: float, what: str) -> None:
            self._disarm()
            self._timer = self.loop.call_later(seconds, self._expired, what)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expired(self, what: str) -> None:
            self._timer = None
            if not self.transport.is_closing():
                log.warning("dropped a slow client: %s not received in time", what)
                self.transport.close()

        # -- bounded request head ----------------------------------------------------------------------
        def data_received(self, data: bytes) -> None:
            if self._limit is not None or self.transport.is_closing():
                return
            if self._drain is not None:
                self._drain -= len(data)
                if self._drain < 0:
                    self._drain = None
                    self._stop_reading()
                    return
            if self._in_head:
                self._head_bytes += len(data)
            super().data_received(data)
            # still in the head after this many bytes: refused (so a huge header is never buffered whole)
            if (
                self._in_head
                and not self._refused()
                and not self.transport.is_closing()
                and self._head_bytes > limits.max_header_bytes + limits.max_url_bytes + 1024
            ):
                self._refuse(431, "Request Header Fields Too Large", "request head too large")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            # No fingerprint (a connection refused in connection_made): no "tls" entry, so the caller is unknown.
            self.scope["extensions"] = {"tls": self._tls} if self._tls is not None else {}
            self._in_head = True
            self._head_bytes = 0
            self._header_bytes = 0
            self._header_count = 0
            if self._timer is None:
                self._arm(limits.header_timeout_seconds, "request head")

        def on_url(self, url: bytes) -> None:
            super().on_url(url)
            if len(self.url) > limits.max_url_bytes:
                self._limit = (414, "URI Too Long")
                raise ValueError("url too long")

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            self._header_bytes += len(name) + len(value) + 4
            if self._header_count > limits.max_headers or self._header_bytes > limits.max_header_bytes:
                self._limit = (431, "Request Header Fields Too Large")
                raise ValueError("too many or too large headers")
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._arm(limits.body_timeout_seconds, "request body")
            super().on_headers_complete()
            cycle = getattr(self, "cycle", None)
            if cycle is not None and not isinstance(cycle.transport, _CloseGuard):
                cycle.transport = _CloseGuard(self, cycle.transport)

        def close_requested(self) -> None:
            """The app answered ``Connection: close``: close now, unless the body is still unread (then
            on_response_complete decides how much more of it to read)."""
            cycle = getattr(self, "cycle", None)
            if cycle is None or not cycle.more_body:
                self.transport.close()

        def send_400_response(self, msg: str) -> None:
            if self._limit is not None:
                self._refuse(*self._limit, "request head over the limits")
            else:
                super().send_400_response(msg)

        def _refuse(self, status: int, reason: str, detail: str) -> None:
            self._limit = (status, reason)
            self._disarm()
            log.warning("refused a request: %s", detail)
            body = _problem(status, "too-large", reason, detail)
            self.transport.write(
                _status_line(status, reason)
                + b"content-type: application/problem+json\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\nconnection: close\r\n\r\n"
                + body
            )
            self._stop_reading()

        def _refused(self) -> bool:
            return self._limit is not None

        def _stop_reading(self) -> None:
            """Read nothing more from this client (a graceful TLS close would go on reading what it sends):
            pause, give the client 5 s to read the answer, then abort the connection."""
            self._disarm()
            with contextlib.suppress(RuntimeError, AttributeError):  # already closing
                self.transport.pause_reading()
            self.loop.call_later(5.0, self.transport.abort)

        def on_response_complete(self) -> None:
            # Answered before the body was read (refused, 413): the rest of the body is never read. (Closing
            # the TLS connection gracefully would go on reading the client's data: reading is paused and the
            # connection aborted once the client had time to read the answer.)
            cycle = getattr(self, "cycle", None)
            unread = cycle is not None and cycle.more_body
            super().on_response_complete()
            if unread and not self.transport.is_closing():
                self._unset_keepalive_if_required()
                # an admitted caller may send up to one more body's worth so that its client (which reads the
                # answer only once it has sent everything) sees the 413; a refused peer: nothing
                assert cycle is not None
                self._drain = int(cycle.scope.get("accord_drain", max(limits.max_body_bytes, 16 << 20)))
                if self._drain <= 0:
                    self._stop_reading()
                else:
                    self._arm(limits.body_timeout_seconds, "request body")

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()
            if self._drain is not None:  # the refused body is over: close once the answer is out
                self._drain = None
                self.transport.close()

    return PinnedProtocol


class _CloseGuard:
    """The transport as a request cycle sees it: ``close()`` asks the protocol first (a graceful TLS close would
    go on reading an unread body); the answer's head goes out with its body.

    uvicorn writes an answer's head and its body with two ``transport.write`` calls, and the TLS transport
    encrypts and sends each at once: two TLS records and two ``send`` syscalls, taken by the event loop while it
    holds the GIL (~13 % of each node's GIL samples under load sat in those two writes, issue 8). The cycle's
    first write (always the head: nothing is written before it) is held until the next write -- the body, which
    Starlette sends in the same step without yielding to the loop -- and goes out joined with it; should no write
    follow in that step (a streamed answer, an error), the loop writes it on its next turn, before anything else
    of this connection can be written."""

    def __init__(self, protocol: Any, transport: Any) -> None:
        self._protocol = protocol
        self._transport = transport
        self._head: bytes | None = None
        self._written = False

    def write(self, data: bytes) -> None:
        if not self._written:  # the head: wait for the body
            self._written = True
            self._head = bytes(data)
            self._protocol.loop.call_soon(self._flush)
            return
        if self._head is not None:
            data, self._head = self._head + data, None
        self._transport.write(data)

    def _flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._protocol.close_requested()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
