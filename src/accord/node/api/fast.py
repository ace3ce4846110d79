"""The two routes every release crosses, as plain Starlette endpoints (issue 8, speed).

``POST /v1/items`` (submit, at the sender) and ``POST /v1/deliveries`` (a partner's delivery, at the
recipient) are served here instead of through FastAPI's request stack (routing, dependency solving, a
``json.loads`` then a model validation, ``jsonable_encoder``, anyio's thread-pool hand-off), which took about
45 % of each node's Python CPU per release (docs/performance.md). Each request is now: the caller from the
pinned certificate, one validation of the raw body by the same pydantic model (``model_validate_json``), the
service call on a plain thread pool, one ``json.dumps``.

Nothing else changes for a client: the same models (unknown fields refused), the same 422 problem document
for a body that does not match (``loc`` starting with ``body``, never the value), the same problem documents
for Accord's errors (raised here, mapped by the app's exception handlers), the same limits (the
:class:`~accord.node.api.limits.AdmissionGate` and the pinned protocol sit in front of every route, so a
partner is still admitted before a byte of its body is read). The FastAPI declarations of both routes stay
in :mod:`routes_local` / :mod:`routes_peer`: they are what ``/openapi.json`` and ``/docs`` describe (same
path, models and answers); these endpoints answer.

Wave 8 (the HTTP edge): the hot routes are no longer found through FastAPI's middleware stack and router
(ServerErrorMiddleware, the telemetry and body-limit layers, the AdmissionGate's per-request closures,
ExceptionMiddleware, Route matching, ``request_response``). :class:`NodeApp` dispatches a request for one of
them by its exact path and method to :class:`HotPath`, which applies the same limits in the same order --
:meth:`AdmissionGate.refusal <accord.node.api.limits.AdmissionGate.refusal>` on the head (admission before a
byte of the body, own-only description, ``Content-Length``), the body read by the endpoint and capped at
``max_body_bytes`` as it streams (413, the same problem document) -- and maps an exception to the same
problem document as the app's handlers (:func:`~accord.node.api.handlers.error_response`). The service calls
go to :class:`HandOff` threads, whose answer comes back through one ``call_soon_threadsafe`` (no
``concurrent.futures`` future chained to an asyncio one).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import json
import threading
from collections.abc import AsyncGenerator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from queue import SimpleQueue
from typing import Any, TypeVar

from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from accord.errors import InputError
from accord.node.activity import activity_of
from accord.node.api.handlers import error_response
from accord.node.api.limits import AdmissionGate, Receive, Scope, Send, _answer, too_large
from accord.node.api.models import DeliveryEnvelope, SubmitRequest
from accord.node.api.problems import PROBLEM, problem_body
from accord.node.errors import PeerRefused
from accord.node.service import Caller, NodeService

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

#: Threads that run the two hot routes' service calls (they block on the group commit, so more than cores).
THREADS = 32


def _default(o: object) -> str:
    if isinstance(o, dt.date | dt.datetime):
        return o.isoformat()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def json_response(doc: Any, status: int = 200, media_type: str = "application/json") -> Response:
    body = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_default)
    return Response(body.encode(), status_code=status, media_type=media_type)


def validation_errors(e: ValidationError, prefix: str = "body") -> list[dict[str, Any]]:
    """Where and what, never the offending value (it may be classified content) -- as the app's handler."""
    return [
        {"loc": [prefix, *(str(x) for x in err.get("loc", ()))], "msg": err.get("msg", ""), "type": err.get("type")}
        for err in e.errors(include_url=False, include_input=False)
    ]


class _Invalid(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors


def _invalid(errors: list[dict[str, Any]]) -> Response:
    doc = problem_body(422, "validation", "Invalid request", "the request does not match the schema", errors=errors)
    return json_response(doc, 422, PROBLEM)


async def _parse(request: Request, model: type[M]) -> M:
    body = await request.body()  # bounded by the AdmissionGate (413 past max_body_bytes)
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        raise _Invalid(validation_errors(e)) from None


def _caller(request: Request) -> Caller:
    """The caller the gate admitted (:meth:`AdmissionGate.refusal` identified it by its pinned certificate)."""
    c: Caller | None = request.scope.get("accord_caller")
    if c is not None:
        return c
    fp = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_sha256")
    service: NodeService = request.app.state.service
    return service.identify(fp)


class HandOff(ThreadPoolExecutor):
    """Threads that run the hot routes' blocking service calls (they wait on the group commit: more than cores).

    :meth:`run` awaits one call: one ``SimpleQueue.put`` and, from the thread, one ``loop.call_soon_threadsafe``
    that settles the caller's future -- ``run_in_executor`` does the same through a ``concurrent.futures``
    future, a work item and callbacks that copy its state into an asyncio future (~4 % of a node's GIL samples,
    issue 8). Its threads start on demand, up to ``threads``. It is also a plain ``ThreadPoolExecutor`` (its own
    threads, started only if used) for code that submits to it; :meth:`shutdown` lets both finish what they
    hold, then joins them."""

    def __init__(self, threads: int = 0, name: str = "accord-api") -> None:
        super().__init__(threads or THREADS, thread_name_prefix=f"{name}-pool")
        self.max = threads or THREADS
        self.name = name
        self._jobs: SimpleQueue[tuple[Callable[[], Any], asyncio.AbstractEventLoop, asyncio.Future[Any]] | None]
        self._jobs = SimpleQueue()
        self._runners_lock = threading.Lock()
        self._runners: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    async def run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        with self._runners_lock:
            if self._closed:
                raise RuntimeError("the node is stopping")
            if self._idle:
                self._idle -= 1  # that thread is taken (it counts itself idle again when done)
            elif len(self._runners) < self.max:
                t = threading.Thread(target=self._work, name=f"{self.name}_{len(self._runners)}", daemon=True)
                self._runners.append(t)
                t.start()
        self._jobs.put((fn, loop, fut))
        return await fut

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, loop, fut = job
            try:
                ok, value = True, fn()
            except BaseException as e:  # handed to the awaiting request
                ok, value = False, e
            with self._runners_lock:
                self._idle += 1
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody awaits this any more
                loop.call_soon_threadsafe(_settle, fut, ok, value)
            del job, fn, fut, value

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._runners_lock:
            self._closed = True
            runners = list(self._runners)
        for _ in runners:
            self._jobs.put(None)
        super().shutdown(wait, cancel_futures=cancel_futures)
        if wait:
            for t in runners:
                t.join()


def _settle(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.cancelled():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


class _HotRequest(Request):
    """A request whose body is capped as it streams (the AdmissionGate's ``capped_receive``, without the
    wrapper): past ``cap`` bytes, :class:`_TooLarge` -- the hot path answers 413 and reads no more."""

    cap = 0

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            chunks: list[bytes] = []
            seen, more = 0, True
            while more:
                msg = await self._receive()
                if msg["type"] != "http.request":  # http.disconnect: the client went away
                    raise ClientDisconnect()
                chunk = msg.get("body", b"")
                seen += len(chunk)
                if seen > self.cap:
                    raise _TooLarge()
                chunks.append(chunk)
                more = msg.get("more_body", False)
            self._body = b"".join(chunks)
        return self._body

    async def stream(self) -> AsyncGenerator[bytes, None]:
        yield await self.body()
        yield b""


class _TooLarge(Exception):
    pass


class HotPath:
    """The hot routes, found by exact path and method, behind the same limits as every other route."""

    def __init__(self, gate: AdmissionGate, routes: Iterable[Route]) -> None:
        self.gate = gate
        self.routes: dict[str, tuple[frozenset[str], Callable[[Request], Any]]] = {}
        for r in routes:
            self.add(r)

    def add(self, route: Route) -> None:
        """Serve ``route`` (a plain Starlette endpoint: ``async (Request) -> Response``) on the hot path."""
        self.routes[route.path] = (frozenset(route.methods or ()), route.endpoint)

    def find(self, scope: Scope) -> Callable[[Request], Any] | None:
        hit = self.routes.get(scope["path"])
        return hit[1] if hit is not None and scope["method"] in hit[0] else None

    async def serve(self, endpoint: Callable[[Request], Any], scope: Scope, receive: Receive, send: Send) -> None:
        request = _HotRequest(scope, receive)
        request.cap = self.gate.limits.max_body_bytes
        try:
            refused = self.gate.refusal(scope)
            if refused is not None:
                await _answer(send, *refused)
                return
            response: Response = await endpoint(request)
        except _TooLarge:
            await _answer(send, 413, too_large(request.cap))
            return
        except ClientDisconnect:
            return  # nobody to answer
        except Exception as e:  # mapped to its problem document, as the app's handlers do
            response = error_response(e, scope["app"].state.storage_alarm)
        await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


class NodeApp(FastAPI):
    """The node's FastAPI app, with the hot routes (:class:`HotPath`) answered ahead of its middleware stack;
    everything else (and a hot path asked with another method) goes through FastAPI as before."""

    hot: HotPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.hot
        if hot is not None and scope["type"] == "http":
            endpoint = hot.find(scope)
            if endpoint is not None:
                scope["app"] = self
                await hot.serve(endpoint, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def fast_routes(service: NodeService, wake: Callable[[], None], pool: HandOff) -> list[Route]:
    """The plain endpoints of ``POST /v1/items`` and ``POST /v1/deliveries`` (to be placed first); the service
    calls run on ``pool`` (shut down by the app's lifespan)."""

    activity = activity_of(service)  # the audit feeder's batch waits for a gap in this (node/activity.py)

    in_pool = pool.run

    async def submit(request: Request) -> Response:
        c = _caller(request)
        if not c.local:
            raise PeerRefused("this endpoint is for this nation's own systems")
        try:
            req = await _parse(request, SubmitRequest)
        except _Invalid as e:
            return _invalid(e.errors)
        try:
            payload = base64.b64decode(req.payload_b64, validate=True)
        except (binascii.Error, ValueError) as e:
            raise InputError("payload_b64 is not base64", field="payload_b64") from e

        def run() -> dict[str, Any]:
            with activity.busy():
                out = service.submit(req.label, payload, req.to, req.at, hub_approval=req.hub_approval)
            wake()
            request.app.state.storage_alarm.ok()  # a write went through: the storage alarm (if any) clears
            return out.to_dict()

        return json_response(await in_pool(run))

    async def deliveries(request: Request) -> Response:
        c = _caller(request)
        try:
            env = await _parse(request, DeliveryEnvelope)
        except _Invalid as e:
            return _invalid(e.errors)
        d = env.model_dump()
        d["at"] = env.at.isoformat()
        d["idem_key"] = request.headers.get("idempotency-key", "")

        def run() -> dict[str, Any]:
            with activity.busy():
                out = service.receive_delivery(c, d)
            if out.get("status") != "stored":  # relayed or held at a hub: something was queued
                wake()
            request.app.state.storage_alarm.ok()
            return out

        return json_response(await in_pool(run))

    return [
        Route("/v1/items", submit, methods=["POST"], include_in_schema=False),
        Route("/v1/deliveries", deliveries, methods=["POST"], include_in_schema=False),
    ]
