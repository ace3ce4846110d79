"""``POST /v1/deliveries/batch``: several deliveries from one partner in one request (issue 8, wave 8).

Under load a sender's outbox holds several due deliveries for the same partner at once; its delivery thread
sends them together (:mod:`accord.node.delivery`) instead of one request each. This endpoint is the
recipient's side. The partner was admitted by the :class:`~accord.node.api.limits.AdmissionGate` before a byte
of its body was read; the batch is then bounded (:data:`BATCH_MAX_BYTES` from ``Content-Length`` before
reading, and while streaming; at most :data:`BATCH_MAX_ITEMS` envelopes) and checked as a whole: valid JSON
without a repeated field, exactly ``{"deliveries": [{"idempotency_key", "envelope"}, ...]}``, no idempotency
key and no item id twice (ambiguity is refused, never resolved: the whole batch gets one problem document
and nothing is stored).

Each envelope then goes through exactly the checks of ``POST /v1/deliveries`` -- the same model, the same
:meth:`~accord.node.flow.inbound.Inbound.receive_delivery` (admission on the envelope's day, sender = the
authenticated peer, verification, the decision from the sender's side, ...) -- each on its own pool thread,
so their transactions meet in one group commit and the crypto runs on both cores. The answer holds one result
per envelope, in the request's order: ``{"item_id", "idempotency_key", "status", "answer"}``, where
``answer`` is what the single route answers (the signed receipt with status 200, or the problem document
with its status). One bad envelope never fails the others.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from accord.node.activity import activity_of
from accord.node.api.models import DeliveryEnvelope
from accord.node.api.problems import PROBLEM, problem_body
from accord.node.db.faults import StorageAlarm
from accord.node.errors import PeerRefused
from accord.node.service import Caller, NodeService
from accord.node.transport import BATCH_MAX_BYTES, BATCH_MAX_ITEMS, BATCH_PATH

log = logging.getLogger("accord.node")

__all__ = [
    "BATCH_MAX_BYTES",
    "BATCH_MAX_ITEMS",
    "BatchEntry",
    "BatchRefused",
    "batch_routes",
    "check_entries",
    "parse_batch",
    "queued_any",
    "receive_batch",
]


class BatchRefused(Exception):
    """The batch as a whole is refused (too large, malformed, ambiguous): ``doc`` is its problem document."""

    def __init__(self, status: int, kind: str, detail: str, **ext: Any) -> None:
        super().__init__(detail)
        self.status = status
        title = {400: "Bad input", 413: "Content Too Large"}.get(status, "Invalid request")
        self.doc = problem_body(status, kind, title, detail, **ext)


@dataclass(frozen=True)
class BatchEntry:
    """One envelope of a batch, as sent: its idempotency key and the envelope's JSON value (checked later)."""

    key: str
    envelope: Any

    @property
    def item_id(self) -> str | None:
        value = self.envelope.get("item_id") if isinstance(self.envelope, dict) else None
        return value if isinstance(value, str) else None


class _Repeated(ValueError):
    pass


def _unique_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Repeated(k)
        out[k] = v
    return out


def _invalid(detail: str, where: Sequence[str | int]) -> BatchRefused:
    errors = [{"loc": ["body", *(str(x) for x in where)], "msg": detail, "type": "batch"}]
    return BatchRefused(422, "validation", detail, errors=errors)


def parse_batch(body: bytes) -> list[BatchEntry]:
    """The batch's envelopes, or :class:`BatchRefused` for the whole batch (nothing else is looked at)."""
    import json

    if len(body) > BATCH_MAX_BYTES:
        raise BatchRefused(413, "too-large", f"a batch is at most {BATCH_MAX_BYTES} bytes")
    try:
        doc = json.loads(body, object_pairs_hook=_unique_fields)
    except _Repeated:
        raise _invalid("a field is repeated", []) from None
    except ValueError:  # not UTF-8 or not JSON
        raise BatchRefused(400, "bad-input", "the batch is not JSON") from None
    if not isinstance(doc, dict) or set(doc) != {"deliveries"} or not isinstance(doc["deliveries"], list):
        raise _invalid('a batch is {"deliveries": [...]} and nothing else', [])
    items = doc["deliveries"]
    if not 1 <= len(items) <= BATCH_MAX_ITEMS:
        raise _invalid(f"a batch holds 1 to {BATCH_MAX_ITEMS} deliveries", ["deliveries"])
    entries: list[BatchEntry] = []
    for i, it in enumerate(items):
        where: list[str | int] = ["deliveries", i]
        if not isinstance(it, dict) or set(it) != {"idempotency_key", "envelope"}:
            raise _invalid("each delivery is {idempotency_key, envelope}", where)
        key = it["idempotency_key"]
        if not isinstance(key, str):
            raise _invalid("the idempotency key is a string", [*where, "idempotency_key"])
        entries.append(BatchEntry(key, it["envelope"]))
    check_entries(entries)
    return entries


def check_entries(entries: Sequence[BatchEntry]) -> None:
    """No idempotency key and no item id twice in one batch: refused as a whole, never resolved."""
    keys: set[str] = set()
    ids: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.key in keys:
            raise BatchRefused(400, "bad-input", f"idempotency key repeated in the batch (delivery {i})")
        if entry.item_id is not None and entry.item_id in ids:
            raise BatchRefused(400, "bad-input", f"item id repeated in the batch (delivery {i})")
        keys.add(entry.key)
        if entry.item_id is not None:
            ids.add(entry.item_id)


def _result(entry: BatchEntry, status: int, answer: dict[str, Any]) -> dict[str, Any]:
    return {"item_id": entry.item_id, "idempotency_key": entry.key, "status": status, "answer": answer}


def receive_one(service: NodeService, caller: Caller, entry: BatchEntry, alarm: StorageAlarm | None) -> dict[str, Any]:
    """One envelope through exactly the checks of ``POST /v1/deliveries``; its result (never raises)."""
    from accord.node.api.fast import validation_errors
    from accord.node.api.handlers import error_document

    try:
        env = DeliveryEnvelope.model_validate(entry.envelope)
    except ValidationError as e:
        detail = "the envelope does not match the schema"
        errors = validation_errors(e, prefix="envelope")
        return _result(entry, 422, problem_body(422, "validation", "Invalid request", detail, errors=errors))
    d = env.model_dump()
    d["at"] = env.at.isoformat()
    d["idem_key"] = entry.key
    try:
        out = service.receive_delivery(caller, d)
    except Exception as e:
        # This envelope's problem document, the one the single route answers (a storage fault rolled its
        # transaction back, issue 9: the sender retries it).
        doc, _ = error_document(e, alarm)
        return _result(entry, doc["status"], doc)
    if alarm is not None:
        alarm.ok()
    return _result(entry, 200, out)


def receive_batch(
    service: NodeService,
    caller: Caller,
    entries: Sequence[BatchEntry],
    alarm: StorageAlarm | None = None,
) -> list[dict[str, Any]]:
    """Every envelope's result, in order, one after another (the in-memory transport, the declaration alone;
    the served route fans them out: :func:`fan_out`)."""
    if caller.local or caller.peer is None:
        raise PeerRefused("this endpoint is for partner nodes")
    return [receive_one(service, caller, e, alarm) for e in entries]


def queued_any(results: Sequence[dict[str, Any]]) -> bool:
    """Whether an envelope of the batch was relayed or held at a hub (something was queued: wake the worker)."""
    return any(r["status"] == 200 and r["answer"].get("status") != "stored" for r in results)


def batch_routes(service: NodeService, wake: Callable[[], None], pool: ThreadPoolExecutor) -> list[Route]:
    """The plain endpoint of ``POST /v1/deliveries/batch`` (its OpenAPI declaration: :mod:`routes_peer`)."""
    from accord.node.api.fast import _caller, json_response

    activity = activity_of(service)

    async def deliveries_batch(request: Request) -> Response:
        c = _caller(request)  # the caller the gate admitted (identified once per request, by its certificate)
        if c.local or c.peer is None:
            raise PeerRefused("this endpoint is for partner nodes")
        try:
            body = await _bounded_body(request)
        except BatchRefused as e:
            return json_response(e.doc, e.status, PROBLEM)
        alarm: StorageAlarm | None = getattr(request.app.state, "storage_alarm", None)

        def run() -> tuple[int, dict[str, Any]]:
            # Parsed and answered on the pool (the event loop only reads the body and writes the answer): ONE
            # hand-off to the pool per batch; the envelopes fan out from here (see fan_out).
            try:
                entries = parse_batch(body)
            except BatchRefused as e:
                return e.status, e.doc

            def one(entry: BatchEntry) -> dict[str, Any]:
                with activity.busy():
                    return receive_one(service, c, entry, alarm)

            results = fan_out(pool, one, entries)
            if queued_any(results):
                wake()
            return 200, {"results": results}

        status, doc = await asyncio.get_running_loop().run_in_executor(pool, run)
        return json_response(doc, status, PROBLEM if status != 200 else "application/json")

    return [Route(BATCH_PATH, deliveries_batch, methods=["POST"], include_in_schema=False)]


def fan_out(
    pool: ThreadPoolExecutor, fn: Callable[[BatchEntry], dict[str, Any]], entries: Sequence[BatchEntry]
) -> list[dict[str, Any]]:
    """``fn`` of every entry, in order, run by this thread and up to ``len(entries) - 1`` helpers of ``pool`` at
    once (their transactions share a group commit; the crypto runs on both cores). Each runner takes the next
    entry nobody has taken: this thread never waits for a helper still queued in the pool (it does that
    helper's share itself), so a pool full of batches cannot deadlock."""
    results: list[dict[str, Any] | None] = [None] * len(entries)
    lock = threading.Lock()
    done = threading.Condition(lock)
    state = {"next": 0, "left": len(entries)}

    def runner() -> None:
        while True:
            with lock:
                i = state["next"]
                if i >= len(entries):
                    return
                state["next"] = i + 1
            try:
                results[i] = fn(entries[i])  # fn never raises (receive_one answers every error)
            finally:
                with lock:
                    state["left"] -= 1
                    if state["left"] == 0:
                        done.notify_all()

    for _ in range(len(entries) - 1):
        try:
            pool.submit(runner)
        except RuntimeError:  # the pool is shutting down: this thread does the rest
            break
    runner()
    with lock:
        done.wait_for(lambda: state["left"] == 0)
    return [r for r in results if r is not None]


async def _bounded_body(request: Request) -> bytes:
    """The body, refused past :data:`BATCH_MAX_BYTES`: from ``Content-Length`` before a byte is read, else as
    it streams (the AdmissionGate's own, larger, cap stays in front)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > BATCH_MAX_BYTES:
        raise_too_large()
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > BATCH_MAX_BYTES:
            raise_too_large()
    return bytes(buf)


def raise_too_large() -> None:
    raise BatchRefused(413, "too-large", f"a batch is at most {BATCH_MAX_BYTES} bytes")
