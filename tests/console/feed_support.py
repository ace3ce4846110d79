"""Feed data for the console tests: a simulated launch published by KOR through the USA hub to JPN.

Three in-process :class:`FeedNode` services on loopback TLS (as tests/feed does), the console world's own
node directories; KOR publishes the messages of one simulated flight (:func:`accord.feed.sim.flight`)
with :class:`FeedClient`; returns once JPN holds every record durably. ``status.json`` is written the way
``accord feed serve`` writes it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from datetime import date
from pathlib import Path
from typing import Any

from accord.feed.client import FeedClient
from accord.feed.identity import NodeIdentity
from accord.feed.node import FeedNode
from accord.feed.sim import Profile, flight
from accord.formats.agreement_yaml import load_agreements

DAY = date(2026, 6, 1)  # the missile-warning arrangement (2023-12-19) and TISA in force


def simulated_flight(event: str, *, seconds_ago: float = 90.0, azimuth: float = 95.0) -> list[Any]:
    """The messages of a flight launched ``seconds_ago``, up to now (nothing in the future). The early
    impact predictions of a flight launched more than ~100 s ago have passed: the node refuses them (M-R2)."""
    now = time.time_ns() // 1000
    launch = now - int(seconds_ago * 1e6)
    return [m for m in flight(Profile(azimuth_deg=azimuth), launch, event=event) if m.issued_us <= now]


async def _publish(dirs: dict[str, Path], messages: list[Any]) -> dict[str, Any]:
    ag = load_agreements()
    usa = FeedNode(NodeIdentity.load(dirs["USA"]), ag, today=lambda: DAY)
    await usa.start()
    nodes = {"USA": usa}
    try:
        for p in ("KOR", "JPN"):
            nodes[p] = FeedNode(NodeIdentity.load(dirs[p]), ag, today=lambda: DAY, hub_addr=("127.0.0.1", usa.port))
            await nodes[p].start()
        for _ in range(500):  # the recipients' offers reached KOR through the hub
            if {"JPN", "USA"} <= set(nodes["KOR"].offers):
                break
            await asyncio.sleep(0.02)
        async with FeedClient(dirs["KOR"], port=nodes["KOR"].port) as c:
            results = await c.publish_many(messages)
        seqs = [r for r in results if isinstance(r, dict)]
        assert len(seqs) == len(messages), [r for r in results if not isinstance(r, dict)][:3]
        last = seqs[-1]["KOR-JPN"]
        for _ in range(1000):
            if nodes["JPN"].store.head("KOR-JPN") >= last + 1:  # and the batch signature after it
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # the relayed records are committed by the writer thread
        for p, n in nodes.items():
            (dirs[p] / "feed" / "status.json").write_text(json.dumps(n.status()))
        return nodes["JPN"].status()
    finally:
        for n in nodes.values():
            await n.stop()


def publish_flights(dirs: dict[str, Path], messages: list[Any]) -> dict[str, Any]:
    """Publish ``messages`` at KOR; JPN's feed status once they all arrived (in a thread of its own, so
    callers that run an event loop themselves, such as Playwright's sync API, can use it)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _publish(dirs, messages)).result(timeout=120)
