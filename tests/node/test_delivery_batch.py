"""Batched deliveries (issue 8, wave 8): several due deliveries to one partner in ONE request.

The attacks first (each refused, and refused alone where it is one envelope's), then the sender's side:
one result per envelope, one transaction for all the receipts, the fall-backs to single deliveries. In
process: real services and stores, the in-memory transport answering as ``POST /v1/deliveries/batch`` would.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from accord.node import db as st
from accord.node.api.batch import BatchEntry, BatchRefused, parse_batch, receive_batch
from accord.node.db import OutboxEntry
from accord.node.delivery import DeliveryWorker, _HandOver, batch_results
from accord.node.transport import BATCH_MAX_BYTES, BATCH_MAX_ITEMS, InMemoryTransport, PeerAnswer, batch_body
from tests.node.helpers import Net, label

DAY = "2017-02-12"  # KOR-JPN GSOMIA in force: a direct release


@pytest.fixture
def net(tmp_path: Path) -> Net:
    return Net(tmp_path, parties=("KOR", "JPN", "USA"))


def _queued(net: Net, n: int, tag: str, to: str = "JPN") -> list[OutboxEntry]:
    """``n`` releases KOR→``to`` committed at KOR and claimed (leased to ``w``), not yet delivered."""
    for i in range(n):
        net.submit("KOR", label(f"kor-{tag}-{i}", rel=(to,)), to, DAY)
    return net.nodes["KOR"].store.claim("w", limit=100, lease_seconds=60)


def _entries(es: list[OutboxEntry]) -> list[BatchEntry]:
    return parse_batch(batch_body([(e.body, e.idem_key) for e in es]))


def _jpn_inbox(net: Net) -> list[dict[str, Any]]:
    return net.nodes["JPN"].store.rows(st.inbox)


# ---------------------------------------------------------------- attacks on the recipient


def test_batch_over_the_count_limit_is_refused_whole() -> None:
    items = [(json.dumps({"item_id": f"kor-c-{i}"}).encode(), f"k{i}") for i in range(BATCH_MAX_ITEMS + 1)]
    with pytest.raises(BatchRefused) as e:
        parse_batch(batch_body(items))
    assert e.value.status == 422 and "1 to 16" in e.value.doc["detail"]
    with pytest.raises(BatchRefused) as e:
        parse_batch(b'{"deliveries": []}')
    assert e.value.status == 422


def test_batch_over_the_byte_limit_is_refused_before_it_is_parsed() -> None:
    body = b"{" + b" " * BATCH_MAX_BYTES + b"}"  # valid JSON, one byte over: never handed to the parser
    with pytest.raises(BatchRefused) as e:
        parse_batch(body)
    assert e.value.status == 413 and e.value.doc["type"].endswith("/too-large")


def test_repeated_idempotency_key_in_a_batch_is_refused_not_resolved(net: Net) -> None:
    es = _queued(net, 2, "rk")
    body = batch_body([(es[0].body, "delivery:same"), (es[1].body, "delivery:same")])
    with pytest.raises(BatchRefused) as e:
        parse_batch(body)
    assert e.value.status == 400 and "idempotency key repeated" in e.value.doc["detail"]
    assert _jpn_inbox(net) == []


def test_repeated_item_id_in_a_batch_is_refused_not_resolved(net: Net) -> None:
    (e,) = _queued(net, 1, "ri")
    with pytest.raises(BatchRefused) as ex:
        parse_batch(batch_body([(e.body, e.idem_key), (e.body, e.idem_key + "-again")]))
    assert ex.value.status == 400 and "item id repeated" in ex.value.doc["detail"]
    assert _jpn_inbox(net) == []


def test_repeated_field_anywhere_in_a_batch_is_refused(net: Net) -> None:
    (e,) = _queued(net, 1, "rf")
    env = e.body[:-1] + b',"sender":"USA"}'  # the envelope names two senders: ambiguous, never the last one wins
    with pytest.raises(BatchRefused) as ex:
        parse_batch(batch_body([(env, e.idem_key)]))
    assert ex.value.status == 422
    for bad in (b"[]", b'{"deliveries": {}}', b'{"deliveries": [], "x": 1}', b"\xff", b'{"deliveries": [1]}'):
        with pytest.raises(BatchRefused):
            parse_batch(bad)


def test_an_envelope_the_sender_may_not_send_is_refused_alone(net: Net) -> None:
    """In 2015 KOR may reach JPN only through the US hub (T-R4): a direct envelope of that day is refused by
    JPN's re-decision from KOR's side (JK-R6); the other envelopes of the batch are stored."""
    es = _queued(net, 3, "ms")
    bad = json.loads(es[1].body)
    bad["at"] = "2015-04-12"
    entries = _entries(es)
    entries[1] = BatchEntry(entries[1].key, bad)
    results = receive_batch(net.nodes["JPN"], net.caller("KOR", "JPN"), entries)
    assert [r["status"] for r in results] == [200, 403, 200]
    assert results[1]["answer"]["type"].endswith("/release-refused")
    assert [r["item_id"] for r in results] == [e.item_id for e in es]
    assert {r["item_id"] for r in _jpn_inbox(net)} == {es[0].item_id, es[2].item_id}


def test_an_envelope_of_a_day_the_peer_is_not_admitted_is_refused_alone(net: Net) -> None:
    es = _queued(net, 2, "na")
    early = json.loads(es[0].body)
    early["at"] = "2010-01-01"  # no agreement binds KOR and JPN that day
    entries = _entries(es)
    entries[0] = BatchEntry(entries[0].key, early)
    results = receive_batch(net.nodes["JPN"], net.caller("KOR", "JPN"), entries)
    assert [r["status"] for r in results] == [403, 200]
    assert results[0]["answer"]["type"].endswith("/peer-refused")
    assert [r["item_id"] for r in _jpn_inbox(net)] == [es[1].item_id]


def test_a_forged_sender_or_malformed_envelope_is_refused_alone(net: Net) -> None:
    es = _queued(net, 3, "fs")
    forged = json.loads(es[0].body)
    forged["sender"] = "USA"  # KOR claims to hand over USA's delivery
    entries = _entries(es)
    entries[0] = BatchEntry(entries[0].key, forged)
    entries[2] = BatchEntry(entries[2].key, {**json.loads(es[2].body), "smuggled": "SECRET-VALUE-42"})
    results = receive_batch(net.nodes["JPN"], net.caller("KOR", "JPN"), entries)
    assert [r["status"] for r in results] == [403, 200, 422]
    assert ["envelope", "smuggled"] in [e["loc"] for e in results[2]["answer"]["errors"]]
    assert "SECRET-VALUE-42" not in json.dumps(results)
    assert [r["item_id"] for r in _jpn_inbox(net)] == [es[1].item_id]


def test_a_batch_is_for_partners_only(net: Net) -> None:
    from accord.node.errors import PeerRefused
    from accord.node.service import Caller

    es = _queued(net, 1, "own")
    with pytest.raises(PeerRefused):
        receive_batch(net.nodes["JPN"], Caller(party="JPN", local=True), _entries(es))
    assert _jpn_inbox(net) == []


def test_a_replayed_batch_is_stored_once_and_answered_with_the_stored_receipts(net: Net) -> None:
    es = _queued(net, 2, "rp")
    first = receive_batch(net.nodes["JPN"], net.caller("KOR", "JPN"), _entries(es))
    again = receive_batch(net.nodes["JPN"], net.caller("KOR", "JPN"), _entries(es))
    assert [r["answer"]["replay"] for r in again] == [True, True]
    assert [r["answer"]["receipt"] for r in again] == [r["answer"]["receipt"] for r in first]
    assert len(_jpn_inbox(net)) == 2


# ---------------------------------------------------------------- the sender


def _count_tx(monkeypatch: pytest.MonkeyPatch, svc: Any) -> list[int]:
    calls: list[int] = []
    orig = svc._tx

    def counting(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return orig(*a, **k)

    monkeypatch.setattr(svc, "_tx", counting)
    return calls


def test_the_sender_acknowledges_every_receipt_of_a_batch_in_one_transaction(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    kor = net.nodes["KOR"]
    es = _queued(net, 5, "one-tx")
    w = net.workers["KOR"]
    txs = _count_tx(monkeypatch, kor)
    w.deliver_batch(es, "w")
    assert len(txs) == 1  # five receipts, one transaction
    assert {r["item_id"] for r in kor.store.rows(st.receipts)} == {e.item_id for e in es}
    assert {r["state"] for r in kor.store.outbox_rows()} == {"delivered"}
    assert (w.requests, w.batched) == (1, 5)
    assert len(_jpn_inbox(net)) == 5


def test_a_refused_envelope_is_recorded_refused_and_the_others_acknowledged(net: Net) -> None:
    kor = net.nodes["KOR"]
    es = _queued(net, 2, "rf-s")
    bad = json.loads(es[0].body)
    bad["at"] = "2010-01-01"
    es[0] = OutboxEntry(**{**es[0].__dict__, "body": json.dumps(bad).encode()})
    net.workers["KOR"].deliver_batch(es, "w")
    states = {r["item_id"]: r["state"] for r in kor.store.outbox_rows()}
    assert states == {es[0].item_id: "failed", es[1].item_id: "delivered"}
    assert [r["item_id"] for r in kor.store.rows(st.receipts)] == [es[1].item_id]
    assert [e["type"] for e in kor.store.rows(st.events) if e["type"] == "delivery_refused"] == ["delivery_refused"]


class _Tamper:
    """A hostile partner: answers the batch through ``inner`` and then alters the answer with ``alter``."""

    def __init__(self, inner: InMemoryTransport, alter: Any) -> None:
        self.inner, self.alter = inner, alter
        self.singles = 0

    def send(self, *a: Any) -> PeerAnswer:
        self.singles += 1
        return self.inner.send(*a)

    def send_batch(self, peer: Any, items: Any) -> PeerAnswer:
        r = self.inner.send_batch(peer, items)
        return PeerAnswer(r.status, self.alter(r.body))

    def close(self) -> None:
        return None


def _worker(net: Net, transport: Any) -> DeliveryWorker:
    return DeliveryWorker(net.nodes["KOR"], threads=1, transport=transport)


def test_a_receipt_in_the_answer_for_an_item_not_in_the_request_is_never_acknowledged(net: Net) -> None:
    """The partner answers the second envelope with the receipt it signed for the first (and labels the
    result as the second's): that message stays pending; the first is acknowledged."""
    kor = net.nodes["KOR"]
    es = _queued(net, 2, "swap")

    def swap(body: dict[str, Any]) -> dict[str, Any]:
        body["results"][1]["answer"] = body["results"][0]["answer"]
        return body

    _worker(net, _Tamper(InMemoryTransport("KOR", net.nodes), swap)).deliver_batch(es, "w")
    rows = {r["item_id"]: r for r in kor.store.outbox_rows()}
    assert rows[es[0].item_id]["state"] == "delivered"
    assert rows[es[1].item_id]["state"] == "pending" and "bad acknowledgement" in rows[es[1].item_id]["last_error"]
    assert [r["item_id"] for r in kor.store.rows(st.receipts)] == [es[0].item_id]


def test_results_out_of_order_or_of_another_count_are_not_trusted(net: Net) -> None:
    kor = net.nodes["KOR"]
    es = _queued(net, 3, "order")

    def reverse(body: dict[str, Any]) -> dict[str, Any]:
        body["results"].reverse()  # each result now names another envelope than the one at its place
        return body

    _worker(net, _Tamper(InMemoryTransport("KOR", net.nodes), reverse)).deliver_batch(es, "w")
    states = {r["item_id"]: r["state"] for r in kor.store.outbox_rows()}
    assert states[es[1].item_id] == "delivered"  # the middle one stays in its place
    assert states[es[0].item_id] == states[es[2].item_id] == "pending"
    assert batch_results({"results": []}, es) is None
    assert batch_results({"results": "x"}, es) is None
    assert batch_results([], es) is None
    extra = {"item_id": "usa-x", "idempotency_key": "k", "status": 200, "answer": {}}
    assert batch_results({"results": [extra] * 4}, es) is None


class _OldNode:
    """A partner without the batch route: 404 to a batch, single deliveries as usual."""

    def __init__(self, inner: InMemoryTransport, status: int = 404) -> None:
        self.inner, self.status = inner, status
        self.batches = self.singles = 0

    def send(self, *a: Any) -> PeerAnswer:
        self.singles += 1
        return self.inner.send(*a)

    def send_batch(self, peer: Any, items: Any) -> PeerAnswer:
        self.batches += 1
        return PeerAnswer(self.status, {"title": "Not Found", "detail": "no route"})

    def close(self) -> None:
        return None


@pytest.mark.parametrize("status", [404, 405])
def test_a_partner_without_the_batch_route_gets_single_deliveries(net: Net, status: int) -> None:
    kor = net.nodes["KOR"]
    es = _queued(net, 3, f"old{status}")
    old = _OldNode(InMemoryTransport("KOR", net.nodes), status)
    w = _worker(net, old)
    w.deliver_batch(es, "w")
    assert (old.batches, old.singles) == (1, 3)
    assert {r["state"] for r in kor.store.outbox_rows()} == {"delivered"}
    queue = _HandOver()
    w._queue = queue
    later = _queued(net, 2, f"later{status}")
    queue.put((later[1], time.monotonic() + 60))
    assert w._companions(later[0]) == []  # not asked again for a while


def test_a_batch_refused_whole_goes_one_by_one_and_a_5xx_is_retried(net: Net) -> None:
    kor = net.nodes["KOR"]
    es = _queued(net, 2, "whole")
    old = _OldNode(InMemoryTransport("KOR", net.nodes), 413)
    _worker(net, old).deliver_batch(es, "w")
    assert (old.batches, old.singles) == (1, 2)
    assert {r["state"] for r in kor.store.outbox_rows()} == {"delivered"}
    es = _queued(net, 2, "busy")
    busy = _OldNode(InMemoryTransport("KOR", net.nodes), 503)
    _worker(net, busy).deliver_batch(es, "w")
    assert (busy.batches, busy.singles) == (1, 0)
    pending = [r for r in kor.store.outbox_rows() if r["state"] == "pending"]
    assert {r["item_id"] for r in pending} == {e.item_id for e in es}
    assert all(r["attempts"] == 1 for r in pending)


# ---------------------------------------------------------------- what the delivery thread takes


def _entry(i: int, recipient: str = "JPN", *, kind: str = "delivery", size: int = 10, item: str = "") -> OutboxEntry:
    return OutboxEntry(i, f"key-{i}", kind, item or f"kor-i-{i}", recipient, recipient, DAY, b"x" * size, 0)


def test_the_thread_takes_the_queued_deliveries_for_the_same_partner_within_the_bounds() -> None:
    q = _HandOver()
    later = time.monotonic() + 60
    first = _entry(0)
    others = [
        _entry(1),
        _entry(2, "USA"),  # another partner
        _entry(3, kind="consent"),  # not a delivery
        _entry(4, item="kor-i-0"),  # the first's item again
        _entry(5),
    ]
    for e in others:
        q.put((e, later))
    q.put((_entry(6), time.monotonic() - 1))  # its lease ran out in the queue: left to the next claim
    q.put(None)  # a stop marker keeps its place
    taken = q.take_batch(first, count=15, max_bytes=1 << 20)
    assert [e.id for e, _ in taken] == [1, 5]
    rest = [q.get() for _ in range(5)]
    assert [x[0].id if x else None for x in rest] == [2, 3, 4, 6, None]
    for i in range(1, 21):
        q.put((_entry(10 + i), later))
    assert len(q.take_batch(first, count=BATCH_MAX_ITEMS - 1, max_bytes=1 << 20)) == BATCH_MAX_ITEMS - 1
    big = _HandOver()
    for i in range(1, 5):
        big.put((_entry(i, size=400_000), later))
    taken = big.take_batch(_entry(0, size=400_000), count=15, max_bytes=BATCH_MAX_BYTES)
    assert [e.id for e, _ in taken] == [1]  # two more would pass 1 MiB


class _Held(InMemoryTransport):
    """Holds the first single delivery until released, so that the next submissions queue behind it."""

    def __init__(self, sender: str, nodes: Any) -> None:
        super().__init__(sender, nodes)
        self.release = threading.Event()
        self.sent: list[int] = []  # envelopes per request, in order

    def send(self, peer: Any, kind: str, body: bytes, idem_key: str) -> PeerAnswer:
        if kind == "delivery":
            self.sent.append(1)
            self.release.wait(10)
        return super().send(peer, kind, body, idem_key)

    def send_batch(self, peer: Any, items: Any) -> PeerAnswer:
        self.sent.append(len(items))
        return super().send_batch(peer, items)


def test_a_delivery_thread_sends_the_deliveries_queued_behind_it_in_one_request(net: Net) -> None:
    """One delivery thread: the first release goes alone through POST /v1/deliveries (the one-at-a-time path);
    the four submitted while it is in flight queue up (BACKLOG places per thread) and leave together in one
    batch."""
    kor = net.nodes["KOR"]
    t = _Held("KOR", net.nodes)
    w = DeliveryWorker(kor, threads=1, transport=t)
    kor.courier = w
    w.start()
    try:
        net.submit("KOR", label("kor-q-0", rel=("JPN",)), "JPN", DAY)
        deadline = time.monotonic() + 10
        while not t.sent and time.monotonic() < deadline:
            time.sleep(0.01)
        for i in range(1, 5):
            net.submit("KOR", label(f"kor-q-{i}", rel=("JPN",)), "JPN", DAY)
        t.release.set()
        while len(kor.store.rows(st.receipts)) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        w.stop()
    assert t.sent == [1, 4]
    assert (w.requests, w.batched) == (2, 5)
    assert {r["state"] for r in kor.store.outbox_rows()} == {"delivered"}
    assert len(_jpn_inbox(net)) == 5


def test_the_recipient_runs_a_batchs_envelopes_at_once_and_never_waits_on_a_queued_helper() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from accord.node.api.batch import fan_out

    entries = [BatchEntry(f"k{i}", {"item_id": f"kor-f-{i}"}) for i in range(3)]
    together = threading.Barrier(3, timeout=10)  # passes only when the three run at the same time

    def meet(e: BatchEntry) -> dict[str, Any]:
        together.wait()
        return {"item_id": e.item_id}

    with ThreadPoolExecutor(4) as pool:
        assert [r["item_id"] for r in fan_out(pool, meet, entries)] == ["kor-f-0", "kor-f-1", "kor-f-2"]
    with ThreadPoolExecutor(1) as busy:  # its only thread is taken: the caller does every envelope itself
        held = threading.Event()
        busy.submit(held.wait, 10)
        out = fan_out(busy, lambda e: {"item_id": e.item_id}, entries)
        held.set()
    assert [r["item_id"] for r in out] == ["kor-f-0", "kor-f-1", "kor-f-2"]


def test_batch_wire_format_vectors() -> None:
    """tests/vectors/node/batch.json: the sender's bytes for two envelopes, and the bodies refused whole."""
    v = json.loads((Path(__file__).parent.parent / "vectors" / "node" / "batch.json").read_text())
    req = v["request"]
    items = [(i["envelope"].encode(), i["idempotency_key"]) for i in req["items"]]
    assert batch_body(items).decode() == req["body"]
    parsed = parse_batch(req["body"].encode())
    assert [(e.key, e.envelope) for e in parsed] == [
        (i["idempotency_key"], json.loads(i["envelope"])) for i in req["items"]
    ]
    for case in v["refused"]:
        with pytest.raises(BatchRefused) as e:
            parse_batch(case["body"].encode())
        assert e.value.status == case["status"], case["why"]


def test_a_storage_fault_on_one_envelope_answers_it_as_the_single_route_does(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9 in a batch: the database away while one envelope is stored rolls back that envelope alone; its
    result is the single route's 503 problem document (retry) and the storage alarm is raised."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from accord.node.api.handlers import error_document
    from accord.node.db.faults import StorageAlarm

    es = _queued(net, 3, "sf")
    jpn = net.nodes["JPN"]
    real = jpn.receive_delivery
    lost = sqlite3.OperationalError("disk I/O error")
    lost.sqlite_errorcode = 10  # type: ignore[attr-defined]  # SQLITE_IOERR: the storage went away
    fault = OperationalError("INSERT", {}, lost)

    def flaky(caller: Any, d: dict[str, Any]) -> Any:
        if d["item_id"] == es[1].item_id:
            raise fault
        return real(caller, d)

    monkeypatch.setattr(jpn, "receive_delivery", flaky)
    alarm = StorageAlarm()
    results = receive_batch(jpn, net.caller("KOR", "JPN"), _entries(es), alarm)
    assert [r["status"] for r in results] == [200, 503, 200]
    assert results[1]["answer"] == error_document(fault, None)[0]  # the single route's document, exactly
    assert results[1]["answer"]["type"].endswith("/storage-unavailable")
    assert alarm.raised == 1  # raised by the fault (and cleared by the next envelope stored)
    assert {r["item_id"] for r in _jpn_inbox(net)} == {es[0].item_id, es[2].item_id}
