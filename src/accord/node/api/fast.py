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
path, models and answers); these endpoints are placed ahead of them in the router, so they answer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from accord.errors import InputError
from accord.node.activity import activity_of
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
    fp = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_sha256")
    service: NodeService = request.app.state.service
    return service.identify(fp)


def fast_routes(service: NodeService, wake: Callable[[], None], pool: ThreadPoolExecutor) -> list[Route]:
    """The plain endpoints of ``POST /v1/items`` and ``POST /v1/deliveries`` (to be placed first); the service
    calls run on ``pool`` (shut down by the app's lifespan)."""

    activity = activity_of(service)  # the audit feeder's batch waits for a gap in this (node/activity.py)

    async def in_pool(fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn)

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
