"""Stage timestamps of a node process for ``python -m bench.trace_release`` (a measuring aid, not product code).

Loaded by the interpreter at start-up when this directory is on ``PYTHONPATH`` (``sitecustomize``); does
nothing unless ``ACCORD_TRACE`` names a file. It then wraps a few functions of the node (the service's entry
points, the sealer, the group commit, the delivery worker, the transport, the audit feeder, the two hot routes)
so that each records ``(stage, thread, CLOCK_MONOTONIC ns)`` on entry and exit -- the same clock in every
process of the machine -- and appends them to ``ACCORD_TRACE`` every second and at exit. The product code is not
changed; the cost is a list append per event.
"""

from __future__ import annotations

import atexit
import functools
import gc
import os
import threading
import time
from typing import Any

_OUT = os.environ.get("ACCORD_TRACE", "")
_EVENTS: list[tuple[str, str, int]] = []


def _rec(stage: str) -> None:
    _EVENTS.append((stage, threading.current_thread().name, time.monotonic_ns()))


def _wrap(owner: Any, name: str, stage: str) -> None:
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def traced(*a: Any, **k: Any) -> Any:
        _rec(stage + ">")
        try:
            return fn(*a, **k)
        finally:
            _rec(stage + "<")

    setattr(owner, name, traced)


def _wrap_async(owner: Any, name: str, stage: str) -> None:
    fn = getattr(owner, name)

    @functools.wraps(fn)
    async def traced(*a: Any, **k: Any) -> Any:
        _rec(stage + ">")
        try:
            return await fn(*a, **k)
        finally:
            _rec(stage + "<")

    setattr(owner, name, traced)


def _dump() -> None:
    n = len(_EVENTS)
    with open(_OUT, "a") as f:
        for stage, thread, t in _EVENTS[:n]:
            f.write(f"{t} {thread.replace(' ', '_')} {stage}\n")
    del _EVENTS[:n]


def _writer() -> None:  # the node may be killed once stopping takes too long: write as it goes
    while True:
        time.sleep(1.0)
        _dump()


def _install() -> None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from accord.node import delivery, sealing, transport
    from accord.node.api import fast
    from accord.node.api.limits import AdmissionGate
    from accord.node.audit import AuditFeeder
    from accord.node.db import engine
    from accord.node.db.outbox import Outbox
    from accord.node.service import NodeService

    for name in ("submit", "receive_delivery", "acknowledged"):
        _wrap(NodeService, name, name)
    for name in ("seal", "verify", "open", "add_marking"):
        _wrap(sealing.SealedFormat, name, f"sealer.{name}")
    _wrap(engine.Database, "_open_group", "db.begin")
    _wrap(engine.Database, "_commit_group", "db.commit")
    _wrap(delivery.DeliveryWorker, "hand_over", "handover")
    _wrap(delivery.DeliveryWorker, "deliver", "deliver")
    _wrap(Outbox, "claim", "claim")
    _wrap(transport.HttpsTransport, "send", "post")
    _wrap(AuditFeeder, "flush", "feeder.flush")
    _wrap(AuditFeeder, "stage", "audit.stage")
    _wrap(HttpToolsProtocol, "data_received", "http.data")
    gc.callbacks.append(lambda phase, info: _rec(f"gc{info['generation']}" + (">" if phase == "start" else "<")))
    _wrap_async(AdmissionGate, "__call__", "http.gate")
    if hasattr(fast, "HotPath"):  # the hot routes' gate (wave 8: ahead of FastAPI's stack)
        _wrap_async(fast.HotPath, "serve", "http.gate")
    _wrap_async(fast, "_parse", "http.body")
    _wrap(fast, "json_response", "http.answer")


if _OUT:
    _install()
    atexit.register(_dump)
    threading.Thread(target=_writer, daemon=True, name="trace-writer").start()
