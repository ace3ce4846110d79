"""Issue 8, wave 5 (sqlcut): the release path's statements, fewer and at the driver, with the same outcome.

- A statement skipped on a direct release is skipped only where it would match nothing: the blind relay's close
  and the hub's pass-back of the final receipt still happen (blind and re-wrapping hubs); the freeze gate's read
  without a SQLAlchemy connection refuses a frozen item as before (JK-R26); the outbox bound, now read with the
  idempotency key in one statement, still refuses past it.
- Driver-level statements (``accord.node.db.driver``) write and read the same rows as SQLAlchemy on SQLite and
  PostgreSQL, stored forms included (SQLite's datetime text).
- The audit leaf built from the journaled record in memory is byte for byte the leaf built from the journal row
  read back (JK-R11); another writer's pending events are still read from the journal and appended.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from accord.audit.log import prepare_event
from accord.node import db as st
from accord.node.audit import to_audit_event
from accord.node.db import events_sql, notices_sql, relays_sql
from accord.node.db.driver import DriverSql, stored_value
from accord.node.db.outbox import OutboxFull
from accord.node.errors import Refused
from accord.node.flow import custody_gate
from accord.node.flow.receipts import Receipts
from accord.node.policy import label_from_dict
from tests.node.helpers import Net, label


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Calls of the relay close and of the pass-back, with the rows they found."""
    calls: dict[str, list[Any]] = {"close": [], "pass_back": []}
    close, pass_back = relays_sql.mark_relay_delivered, Receipts._pass_back

    def counting_close(conn: Any, item_id: str, next_hop: str) -> None:
        calls["close"].append((item_id, next_hop))
        close(conn, item_id, next_hop)

    def counting_pass_back(self: Receipts, conn: Any, item_id: str, final: str, *a: Any, **k: Any) -> None:
        senders = a[4] if len(a) > 4 else k.get("senders")  # (at, receipt, sig, via, senders)
        calls["pass_back"].append((self.party, item_id, final, senders))
        pass_back(self, conn, item_id, final, *a, **k)

    monkeypatch.setattr(relays_sql, "mark_relay_delivered", counting_close)
    monkeypatch.setattr(Receipts, "_pass_back", counting_pass_back)
    return calls


def _receipts_at(net: Net, party: str, item: str) -> list[str]:
    return sorted(str(r["recipient"]) for r in net.nodes[party].item_status(item)["receipts"])


# -- skipped only where they match nothing -------------------------------------------------------------------


def test_direct_release_receipt_neither_closes_a_relay_nor_passes_back(
    tmp_path: Path, counted: dict[str, list[Any]]
) -> None:
    net = Net(tmp_path)
    net.submit("KOR", label("kor-sc-direct", rel=("JPN",)), "JPN", "2017-02-12")
    assert net.pump() >= 1 and not net.refusals
    assert _receipts_at(net, "KOR", "kor-sc-direct") == ["JPN"]
    assert counted == {"close": [], "pass_back": []}  # nothing relayed here: the one inbox read found nothing
    assert net.nodes["KOR"].store.rows(st.relays) == [] and net.nodes["KOR"].store.rows(st.inbox) == []


def test_blind_hub_still_closes_its_relay_and_passes_the_final_receipt_back_T_R5(
    tmp_path: Path, counted: dict[str, list[Any]]
) -> None:
    net = Net(tmp_path)
    out = net.submit("KOR", label("kor-sc-blind", rel=("JPN",)), "JPN", "2015-06-01")
    assert [h["mode"] for h in out.decision["hops"]] == ["relay-blind", "relay-blind"]
    net.pump()
    assert not net.refusals
    usa = net.nodes["USA"]
    assert [r["state"] for r in usa.store.rows(st.relays)] == ["delivered"]  # the close matched
    assert ("kor-sc-blind", "JPN") in counted["close"]
    assert ("USA", "kor-sc-blind", "JPN", ["KOR"]) in counted["pass_back"]
    assert _receipts_at(net, "KOR", "kor-sc-blind") == ["JPN", "USA"]  # Japan's own, passed back


def test_rewrapping_hub_passes_back_without_a_relay_close_T_R4(tmp_path: Path, counted: dict[str, list[Any]]) -> None:
    net = Net(tmp_path)
    out = net.submit("KOR", label("kor-sc-hub"), "JPN", "2015-04-12")
    assert out.decision["route"] == ["KOR", "USA", "JPN"]
    net.pump()
    assert not net.refusals
    assert [i["state"] for i in net.nodes["USA"].store.rows(st.inbox)] == ["relayed"]
    assert counted["close"] == []  # no blind relay at the hub: its UPDATE would have matched nothing
    assert ("USA", "kor-sc-hub", "JPN", ["KOR"]) in counted["pass_back"]
    assert _receipts_at(net, "KOR", "kor-sc-hub") == ["JPN", "USA"]


def test_relayed_here_finds_the_rows_the_old_statements_matched(store: st.Store) -> None:
    rows = [("kor-sc-r1", "KOR", "JPN", "relayed-blind"), ("kor-sc-r1", "CHN", "JPN", "relayed")]
    rows += [("kor-sc-r1", "RUS", "JPN", "held-blind"), ("kor-sc-r1", "GBR", "USA", "stored")]
    rows += [("kor-sc-r2", "KOR", "JPN", "relayed")]
    with store.tx() as conn:
        for item, sender, final, state in rows:
            conn.execute(
                insert(st.inbox),
                {
                    "item_id": item,
                    "sender": sender,
                    "idem_key": "",
                    "final_recipient": final,
                    "at_date": "2017-01-01",
                    "digest": "0" * 64,
                    "state": state,
                    "receipt_json": "{}",
                    "receipt_sig": "x",
                    "received_at": st.now(),
                },
            )
        found = sorted(relays_sql.relayed_here(conn, "kor-sc-r1"))
        old = conn.execute(
            select(st.inbox.c.sender)
            .where(st.inbox.c.item_id == "kor-sc-r1")
            .where(st.inbox.c.final_recipient == "JPN")
            .where(st.inbox.c.state.in_(("relayed", "relayed-blind")))
        ).all()
        assert relays_sql.relayed_here(conn, "kor-sc-none") == []
    assert found == [("CHN", "JPN", "relayed"), ("KOR", "JPN", "relayed-blind")]
    assert sorted(s for s, f, _ in found if f == "JPN") == sorted(r[0] for r in old)


def _notice(conn: Any, n: int, kind: str, seq: int, originator: str = "KOR", item: str = "kor-sc-f1") -> None:
    conn.execute(
        insert(notices_sql.custody_notices),
        {
            "digest": f"{n:064x}",
            "role": "received",
            "kind": kind,
            "item_id": item,
            "originator": originator,
            "holder": "JPN",
            "signer": originator,
            "peer": originator,
            "doc": json.dumps({"sequence": seq}),
            "applied": "[]",
            "created_at": st.now(),
        },
    )


def test_freeze_gate_still_refuses_a_frozen_item_and_agrees_with_frozen_by_JK_R26(tmp_path: Path) -> None:
    svc = Net(tmp_path).nodes["JPN"]
    d = svc._decision(label_from_dict(label("kor-sc-f1", rel=("JPN",))), "KOR", "JPN", dt.date(2017, 2, 12), ())
    assert d.allowed
    store, agreements = svc.store, svc.agreements

    def both() -> tuple[bool, str | None]:
        gated = custody_gate.freeze_gate(store, agreements, d)
        with store.engine.connect() as conn:
            return gated.allowed, custody_gate.frozen_by(conn, "kor-sc-f1", "KOR")

    assert both() == (True, None)  # no notice: the read finds nothing, the decision stands
    with store.tx() as conn:
        _notice(conn, 1, "freeze", 1, originator="JPN")  # another party's "freeze" is not the originator's
        _notice(conn, 2, "freeze", 1, item="kor-sc-other")
    assert both() == (True, None)
    with store.tx() as conn:
        _notice(conn, 3, "freeze", 2)
    allowed, digest = both()
    assert not allowed and digest == f"{3:064x}"
    assert custody_gate.freeze_gate(store, agreements, d).reasons[0].code.value == "FROZEN"
    with store.tx() as conn:
        _notice(conn, 4, "unfreeze", 1)  # an older sequence arriving late changes nothing
    assert both() == (False, f"{3:064x}")
    with store.tx() as conn:
        _notice(conn, 5, "unfreeze", 3)
    assert both() == (True, None)


def test_outbox_bound_still_refuses_past_it_with_key_and_count_in_one_statement(store: st.Store) -> None:
    store.outbox_max_pending = 2

    def put(key: str, kind: str = "delivery", to: str = "JPN") -> bool:
        with store.tx() as conn:
            return store.enqueue(conn, idem_key=key, kind=kind, recipient=to, body=b"{}", at_date="2017-01-01")

    assert put("sc-a") and put("sc-b")
    with pytest.raises(OutboxFull) as e:
        put("sc-c")
    assert e.value.recipient == "JPN"
    assert not put("sc-a")  # a key already queued is answered "already queued", full or not (as before)
    assert put("sc-d", to="USA")  # per recipient
    assert put("sc-e", kind="consent")  # only new releases wait
    assert [r["idem_key"] for r in store.outbox_rows()] == ["sc-a", "sc-b", "sc-d", "sc-e"]
    with pytest.raises(OutboxFull):  # the consent counts among the pending towards JPN (as before)
        put("sc-c")
    claimed = store.claim("w", limit=2, lease_seconds=30)
    assert [e.idem_key for e in claimed] == ["sc-a", "sc-b"]
    with store.tx() as conn:
        store.mark_delivered(conn, claimed[0].id)
    with pytest.raises(OutboxFull):
        put("sc-c")
    with store.tx() as conn:
        store.mark_delivered(conn, claimed[1].id)
    assert put("sc-c")  # room again once delivered


# -- driver-level statements: same rows as SQLAlchemy ---------------------------------------------------------


def test_driver_statements_write_and_read_what_sqlalchemy_does(store: st.Store) -> None:
    t = dt.datetime(2026, 11, 30, 5, 21, 46, 447592, tzinfo=dt.UTC)
    row = {"type": "release", "item_id": "kor-sc-d1", "body": '{"a":"한국"}', "created_at": t}
    ins = DriverSql(insert(st.events).returning(st.events.c.id), keys=("type", "item_id", "body", "created_at"))
    sel = DriverSql(select(st.events).where(st.events.c.item_id == "kor-sc-d1").order_by(st.events.c.id))
    with store.tx() as conn:
        a = conn.execute(insert(st.events), row).inserted_primary_key[0]  # type: ignore[index]
        (b,) = ins.all(conn, row)[0]
        assert events_sql.insert_event(conn, row) == b + 1
        by_driver = sel.mappings(conn)
        by_sqlalchemy = [dict(r._mapping) for r in conn.execute(select(st.events).order_by(st.events.c.id))]
        if store.is_sqlite:  # the stored text itself
            stored = [r[0] for r in conn.exec_driver_sql("SELECT created_at FROM events ORDER BY id")]
            assert stored == ["2026-11-30 05:21:46.447592"] * 3
        assert events_sql.pending_ids(conn, 10) == [a, b, b + 1]
        events_sql.set_audit_indices(conn, [{"jid": a, "idx": 7}, {"jid": b, "idx": 8}])
        assert events_sql.pending_ids(conn, 10) == [b + 1]
        assert [r["audit_idx"] for r in events_sql.pending_events(conn, 10)] == [None]
        read_back = conn.execute(select(st.events.c.created_at).where(st.events.c.id == a)).scalar()
        assert events_sql.created_as_read(conn, t) == read_back
        assert stored_value(conn.dialect, st.events.c.created_at.type, t) == read_back
    assert by_driver == by_sqlalchemy
    assert [r["id"] for r in by_driver] == [a, b, b + 1]
    # notices and the outbox, both ways
    with store.tx() as conn:
        _notice(conn, 9, "freeze", 1)
        old = [dict(r._mapping) for r in conn.execute(select(notices_sql.custody_notices))]
        assert notices_sql.notices_for(conn, "kor-sc-f1") == old
    assert notices_sql.read_notices_for(store, "kor-sc-f1") == old
    with store.tx() as conn:
        e = store.enqueue_entry(
            conn, idem_key="sc-o", kind="delivery", recipient="JPN", body=b"\x00{}", at_date="2017-01-01"
        )
    assert e is not None
    (claimed,) = store.claim("w", limit=5, lease_seconds=30)
    assert (claimed.id, claimed.body, claimed.idem_key) == (e.id, b"\x00{}", "sc-o")
    with store.tx() as conn:
        store.mark_delivered(conn, e.id)
    (o,) = store.rows(st.outbox)
    assert (o["state"], o["attempts"], o["lease_until"], o["body"]) == ("delivered", 1, None, b"\x00{}")
    assert o["delivered_at"].tzinfo is not None and o["created_at"] <= o["delivered_at"]


def test_custody_insert_keeps_the_first_record(store: st.Store) -> None:
    from accord.core.custody import Custody
    from accord.node.db import custody_sql

    first = Custody("kor-sc-c1", "KOR", "JPN", "kor-jpn-gsomia", "KOR", dt.date(2017, 2, 12), "x", "極秘")
    with store.tx() as conn:
        custody_sql.insert_custody(conn, first)
        custody_sql.insert_custody(conn, dataclasses.replace(first, marking="y"))  # a replay: ignored
        got = custody_sql.get_custody(conn, "kor-sc-c1")
    assert got == first
    assert len(store.rows(st.custody)) == 1


# -- the audit leaf, built once ------------------------------------------------------------------------------


def _leaves_equal_rebuilt(net: Net, party: str) -> int:
    """Every leaf of ``party``'s log that carries a journal id equals the leaf built from that journal row
    read back (the pre-wave-5 way); returns how many were compared."""
    from accord.audit.store import leaves

    svc = net.nodes[party]
    rows = {int(r["id"]): r for r in svc.store.rows(st.events)}
    n = 0
    with svc.store.engine.connect() as conn:
        for idx, raw in conn.execute(select(leaves.c.idx, leaves.c.event).order_by(leaves.c.idx)):
            ev = json.loads(bytes(raw))
            jid = ev.get("journal")
            if not isinstance(jid, int):
                continue
            r = dict(rows[jid])
            r["created_at"] = r["created_at"].replace(tzinfo=None)  # as SQLite returns it
            assert prepare_event(to_audit_event(r, party)).leaf == bytes(raw), (party, idx)
            assert rows[jid]["audit_idx"] in (idx, None)
            n += 1
    return n


def test_audit_leaves_built_in_memory_equal_the_leaves_read_back_JK_R11(tmp_path: Path) -> None:
    net = Net(tmp_path)
    net.submit("KOR", label("kor-sc-l1", rel=("JPN",)), "JPN", "2017-02-12")  # direct
    net.submit("KOR", label("kor-sc-l2", rel=("JPN",)), "JPN", "2015-06-01")  # blind hub
    net.submit("KOR", label("kor-sc-l3"), "JPN", "2015-04-12")  # re-wrapping hub
    with pytest.raises(Refused):  # a refusal is journaled in a transaction of its own
        net.submit("KOR", label("kor-sc-l4", rel=("JPN",)), "CHN", "2017-02-12")
    net.pump()
    assert not net.refusals
    for party in ("KOR", "USA", "JPN"):
        assert _leaves_equal_rebuilt(net, party) >= 3
        health = net.nodes[party].audit_health()
        assert health["pending"] == 0 and health["quarantined"] == 0  # no flush needed after a staged commit
        assert net.nodes[party].feeder is not None
        assert net.nodes[party].feeder.log.verify().ok


def test_another_writers_pending_event_is_read_back_and_appended(tmp_path: Path) -> None:
    net = Net(tmp_path, ("KOR", "JPN"))
    kor = net.nodes["KOR"]
    # Journaled by another process of the nation (no audit writer there): pending in the journal.
    with kor.store.tx() as conn:
        foreign = events_sql.insert_event(
            conn,
            {"type": "access", "item_id": "kor-sc-x1", "body": '{"type":"access","who":"cli"}', "created_at": st.now()},
        )
    with kor.store.engine.connect() as conn:
        assert foreign in events_sql.pending_ids(conn, 10)
    net.submit("KOR", label("kor-sc-x2", rel=("JPN",)), "JPN", "2017-02-12")  # stages it with its own events
    with kor.store.engine.connect() as conn:
        assert events_sql.pending_ids(conn, 10) == []
    assert _leaves_equal_rebuilt(net, "KOR") >= 3
    assert len(kor.journal_events(item_id="kor-sc-x1", limit=10)) == 1
    with kor.store.engine.connect() as conn:
        assert conn.execute(text("SELECT audit_idx FROM events WHERE id = :i"), {"i": foreign}).scalar() >= 0


def test_feeder_builds_committed_transactions_leaves_from_their_records_JK_R11(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``audit_sync`` a release's events reach the log from the feeder's own stage: their records are
    handed over on commit and the leaves built from them (no read of the bodies); equal to the leaves read back."""
    net = Net(tmp_path, ("KOR", "JPN"))
    kor = net.nodes["KOR"]
    kor.cfg.audit_sync = False
    feeder = kor.feeder
    assert feeder is not None
    read_back: list[int] = []
    pending_events = events_sql.pending_events

    def counting(conn: Any, limit: int) -> list[dict[str, Any]]:
        rows = pending_events(conn, limit)
        read_back.extend(int(r["id"]) for r in rows)
        return rows

    monkeypatch.setattr(events_sql, "pending_events", counting)
    net.submit("KOR", label("kor-sc-h1", rel=("JPN",)), "JPN", "2017-02-12")
    with kor.store.engine.connect() as conn:
        waiting = events_sql.pending_ids(conn, 10)
    assert len(waiting) == 2 and set(waiting) <= set(feeder._handed)  # decision + release, handed over
    assert feeder.flush() == 2
    assert read_back == [] and feeder._handed == {}  # built from memory, then dropped
    net.pump()  # the receipt's transaction: handed over, appended by the feeder's next pass
    feeder.flush()
    assert read_back == []
    assert _leaves_equal_rebuilt(net, "KOR") >= 3
    assert kor.audit_health()["pending"] == 0
    # A record no longer in memory (dropped, or another process's event) is read back as before.
    with kor.store.tx() as conn:
        events_sql.insert_event(
            conn, {"type": "access", "item_id": "kor-sc-h2", "body": '{"type":"access"}', "created_at": st.now()}
        )
    assert feeder.flush() == 1 and len(read_back) == 1
    assert _leaves_equal_rebuilt(net, "KOR") >= 4
