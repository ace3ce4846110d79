"""Issue 8, wave 5 (sqlcut2): the held-item and inbox statements of the release path at the driver, and one read
of the item per delivery, with the same outcome.

- ``db/items_sql.py``'s label read, id-clash read, replay look-up, inserts and container swap, now at the driver
  (``accord.node.db.driver``), write and read the same rows as SQLAlchemy on SQLite and PostgreSQL (stored
  datetime and binary forms included).
- A delivery reads the item once (flow/inbound.py): the id clash check judges that row and the store uses it. A
  partner's item under a held id with another label is still refused (issue 9), nothing stored; the same item
  from a second sender is stored once and receipted.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from accord.formats.canonical import canonical_json
from accord.node import db as st
from accord.node.db import items_sql
from accord.node.errors import IdRefused
from accord.node.policy import label_from_dict
from tests.node.helpers import Net, label


def _item(item_id: str, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "item_id": item_id,
        "originator": "KOR",
        "label_json": f'["{item_id}"]',
        "digest": "a" * 64,
        "sealed": b"\x00sealed\xff" * 40,
        "origin": "received",
        "sender": "USA",
        "marking": "Secret",
        "alt_label_xml": "<x/>",
        "created_at": dt.datetime(2017, 2, 12, 10, 11, 12, 345678, tzinfo=dt.UTC),
    }
    row.update(over)
    return row


def _inbox(item_id: str, sender: str) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "sender": sender,
        "idem_key": "k",
        "final_recipient": "JPN",
        "at_date": "2017-02-12",
        "digest": "b" * 64,
        "state": "stored",
        "receipt_json": "{}",
        "receipt_sig": "sig",
        "journal_id": 7,
        "received_at": dt.datetime(2017, 2, 12, 10, 11, 13, 1, tzinfo=dt.UTC),
    }


def test_driver_item_and_inbox_statements_write_and_read_the_rows_sqlalchemy_does(store: st.Store) -> None:
    with store.tx() as conn:
        items_sql.insert_item(conn, _item("kor-d1"))  # the driver
        conn.execute(insert(st.items), _item("kor-d2"))  # SQLAlchemy
        items_sql.insert_item(conn, {k: v for k, v in _item("kor-d3").items() if k != "alt_label_xml"})  # other keys
        items_sql.insert_inbox(conn, _inbox("kor-d1", "USA"))
        conn.execute(insert(st.inbox), _inbox("kor-d2", "USA"))
    rows = {r["item_id"]: r for r in store.rows(st.items)}
    d1, d2, d3 = (dict(rows[i]) for i in ("kor-d1", "kor-d2", "kor-d3"))
    assert {**d1, "item_id": "kor-d2", "label_json": d2["label_json"]} == d2  # same stored forms
    assert d3["alt_label_xml"] is None and d3["sealed"] == d1["sealed"]
    with store.engine.connect() as conn:  # raw stored text (SQLite) / value (PostgreSQL): identical
        raw: dict[Any, Any] = dict(conn.exec_driver_sql("SELECT item_id, created_at FROM items").all())
        assert raw["kor-d1"] == raw["kor-d2"]
        raw_in: dict[Any, Any] = dict(conn.exec_driver_sql("SELECT item_id, received_at FROM inbox").all())
        assert raw_in["kor-d1"] == raw_in["kor-d2"]
    by_inbox = {r["item_id"]: dict(r) for r in store.rows(st.inbox)}
    assert {k: v for k, v in by_inbox["kor-d1"].items() if k not in ("id", "item_id")} == {
        k: v for k, v in by_inbox["kor-d2"].items() if k not in ("id", "item_id")
    }
    with store.tx() as conn:
        for item_id in ("kor-d1", "kor-d2", "kor-none"):
            full = items_sql.get_item(conn, item_id)  # SQLAlchemy, the whole row
            claim = items_sql.item_claim(conn, item_id)
            label_json = items_sql.item_label_json(conn, item_id)
            if full is None:
                assert claim is None and label_json is None
                continue
            assert claim == {k: full[k] for k in ("item_id", "origin", "originator", "label_json")}
            assert label_json == full["label_json"]
            prior = items_sql.prior_delivery(conn, item_id, "USA")
            old = conn.execute(select(st.inbox).where(st.inbox.c.item_id == item_id)).mappings().one()
            assert prior == dict(old)
        assert items_sql.prior_delivery(conn, "kor-d1", "JPN") is None
        was = bytes(items_sql.get_item(conn, "kor-d2")["sealed"])  # type: ignore[index]
        assert items_sql.replace_sealed(conn, "kor-d2", b"not-it", b"new") is False  # changed: no match
        assert items_sql.replace_sealed(conn, "kor-d2", was, b"marked") is True
        assert bytes(items_sql.get_item(conn, "kor-d2")["sealed"]) == b"marked"  # type: ignore[index]


def test_delivery_reads_the_item_once_and_still_refuses_a_held_id_under_another_label(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = Net(tmp_path)
    net.submit("KOR", label("kor-sc2-1"), "JPN", "2015-04-12")  # through the US hub (T-R4): JPN holds it from USA
    net.pump()
    assert not net.refusals
    jpn = net.nodes["JPN"]
    (held,) = jpn.store.rows(st.items)
    reads: list[str] = []

    def counting(name: str, fn: Any) -> Any:
        def read(conn: Any, item_id: str) -> Any:
            reads.append(name)
            return fn(conn, item_id)

        return read

    monkeypatch.setattr(items_sql, "item_claim", counting("claim", items_sql.item_claim))
    monkeypatch.setattr(items_sql, "get_item", counting("full", items_sql.get_item))
    monkeypatch.setattr(items_sql, "item_label_json", counting("label", items_sql.item_label_json))

    # KOR's own keys, the same id, another label: refused (issue 9), nothing stored or receipted
    other = label("kor-sc2-1", rel=("JPN",))
    sealed = net.nodes["KOR"].sealer.seal(
        b"other" * 8, label_from_dict(other), to="JPN", at=dt.date(2017, 2, 12), consents=[]
    )
    env: dict[str, Any] = {"item_id": "kor-sc2-1", "sender": "KOR", "final_recipient": "JPN", "at": "2017-02-12"}
    env |= {"sealed": base64.b64encode(sealed).decode(), "consents": []}
    with pytest.raises(IdRefused, match="another label"):
        net.dispatch("KOR", "delivery", "JPN", canonical_json(env))
    assert reads == ["claim"]
    assert jpn.store.rows(st.items) == [held] and len(jpn.store.rows(st.inbox)) == 1

    # the same item from a second sender (KOR, directly, 2017): stored once, receipted, one read
    reads.clear()
    net.submit("KOR", label("kor-sc2-1"), "JPN", "2017-02-12")
    net.pump()
    assert not net.refusals
    assert reads == ["label", "claim"]  # KOR's submit reads the label; JPN reads the item once
    assert jpn.store.rows(st.items) == [held]  # never a second copy
    assert sorted((r["sender"], r["state"]) for r in jpn.store.rows(st.inbox)) == [
        ("KOR", "stored"),
        ("USA", "stored"),
    ]


def test_driver_errors_are_sqlalchemys_so_storage_faults_still_answer_507_503(store: st.Store) -> None:
    """A DB-API error at the driver is raised as SQLAlchemy raises it (the handler's ``DBAPIError`` -> 507/503,
    issue 9), without its parameters (no payload in an error); the disk-full case: tests/reliability."""
    from sqlalchemy.exc import IntegrityError

    with store.tx() as conn:
        items_sql.insert_item(conn, _item("kor-dup"))
    with pytest.raises(IntegrityError) as e, store.tx() as conn:
        items_sql.insert_item(conn, _item("kor-dup", sealed=b"secret-payload"))
    assert "secret-payload" not in str(e.value) and "INSERT INTO items" in str(e.value)
    assert len(store.rows(st.items)) == 1
