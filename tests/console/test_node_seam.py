"""The node's public methods the console uses (instead of the node's private ones): journal, held items, labels."""

from __future__ import annotations

import json

import pytest

from accord.errors import NotFound
from tests.console.world import World


def test_held_items_newest_first_without_the_sealed_form(world: World) -> None:
    jpn = world.net.nodes["JPN"]
    rows = jpn.held_items()
    assert {r["item_id"] for r in rows} == {"kor-missile", "kor-nuclear"}  # k-relay waits at USA for KOR's consent
    assert all("sealed" not in r for r in rows)  # the list never carries (or loads) sealed content
    assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows), reverse=True)


def test_item_label_without_opening_and_unknown_item(world: World) -> None:
    jpn = world.net.nodes["JPN"]
    label, digest = jpn.item_label("kor-missile")
    assert (label.id, label.originator, len(digest)) == ("kor-missile", "KOR", 64)
    with pytest.raises(NotFound):
        jpn.item_label("no-such-item")


def test_journal_event_in_the_callers_transaction_and_filtered_reads(world: World) -> None:
    jpn = world.net.nodes["JPN"]
    with jpn.store.tx() as conn:
        jpn.journal_event(conn, "person", None, {"action": "note", "text": "100%_match"})

    def failing() -> None:
        with jpn.store.tx() as conn:
            jpn.journal_event(conn, "person", None, {"action": "lost"})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):  # the event is rolled back with its transaction
        failing()
    bodies = [json.loads(e["body"]) for e in jpn.journal_events(type_="person")]  # rows: body is JSON text
    notes = [b for b in bodies if b.get("action") == "note"]
    assert len(notes) == 1 and notes[0]["text"] == "100%_match" and notes[0]["node"] == "JPN"
    assert not jpn.journal_events(type_="person", text='"lost"')
    assert len(jpn.journal_events(text="100%_match")) == 1  # % and _ match literally
    assert not jpn.journal_events(text="100%%match")
    assert all(e["item_id"] == "kor-missile" for e in jpn.journal_events(item_id="kor-missile"))
    assert len(jpn.journal_events(limit=2)) == 2
