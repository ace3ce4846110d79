"""Issue 10, T-R5 at a blind hub: an item relayed blind without the originator's approval of the relay waits
at the hub, sealed and unopened, in the consent queue; the originator's officer approves (forwarded once,
receipted by the recipient, the recipient's receipt passed back to the originator) or denies (never
forwarded). The hold survives a kill -9 of the hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accord.errors import IntegrityError
from accord.node import db as st
from accord.node.errors import Conflict
from tests.node.helpers import Net, label

MARKER = b"BLIND-HOLD-PLAINTEXT-MARKER-51c0"
DAY = "2015-06-01"


@pytest.fixture
def net(tmp_path: Path) -> Net:
    return Net(tmp_path)


def _types(net: Net, party: str, item: str) -> list[str]:
    return [str(e["type"]) for e in net.nodes[party].journal_events(item_id=item, limit=1000)]


def _relays(net: Net, party: str = "USA") -> list[dict[str, object]]:
    return net.nodes[party].store.rows(st.relays)


def _hold(net: Net, item: str) -> str:
    """KOR releases ``item`` (REL TO JPN only) to JPN through the US hub without approving the relay."""
    out = net.nodes["KOR"].submit(label(item, rel=("JPN",)), MARKER, "JPN", DAY, hub_approval=False)
    assert [h["mode"] for h in out.decision["hops"]] == ["relay-blind", "relay-blind"]
    net.pump()
    assert not net.refusals
    return f"cr:{item}:USA-JPN"


def test_blind_hub_holds_an_item_without_the_originators_approval_T_R5(net: Net) -> None:
    request = _hold(net, "kor-hold-1")
    usa, kor, jpn = net.nodes["USA"], net.nodes["KOR"], net.nodes["JPN"]
    # Held at the hub: sealed, unopened, not forwarded; the originator's officer is asked once.
    (relay,) = _relays(net)
    assert relay["state"] == "held" and relay["request_id"] == request and relay["sealed"]
    with pytest.raises(IntegrityError):  # the hub holds what it cannot open
        usa.sealer.open(bytes(relay["sealed"]))  # type: ignore[arg-type]
    assert MARKER not in bytes(relay["sealed"])  # type: ignore[arg-type]
    assert usa.store.rows(st.items) == [] and usa.store.rows(st.custody) == []
    assert usa.store.rows(st.outbox, st.outbox.c.kind == "delivery") == []
    assert [i["state"] for i in usa.store.rows(st.inbox)] == ["held-blind"]
    assert jpn.store.rows(st.inbox) == []
    assert {"blind_hold", "consent_requested"} <= set(_types(net, "USA", "kor-hold-1"))
    assert "blind_relay" not in _types(net, "USA", "kor-hold-1")
    (incoming,) = kor.consent_requests("pending")
    assert (incoming["request_id"], incoming["holder"], incoming["recipient"]) == (request, "USA", "JPN")
    # The originator still has the hub's receipt of the hop.
    assert [r["recipient"] for r in kor.item_status("kor-hold-1")["receipts"]] == ["USA"]
    # The hub's status of the held item: who, to whom, when, state; no content, no label.
    status = usa.item_status("kor-hold-1")
    assert status["relay"] == "blind" and status["state"] == "held"
    assert (status["from"], status["to"], status["originator"]) == ("KOR", "JPN", "KOR")
    assert status["consent_request"] == request and "label" not in status and "payload" not in status


def test_approved_blind_hold_is_forwarded_once_and_receipted_by_the_recipient(net: Net) -> None:
    net.nodes["USA"].store.prune_delivered = False  # keep the forwarded envelope to read its consents
    request = _hold(net, "kor-hold-2")
    kor, usa, jpn = net.nodes["KOR"], net.nodes["USA"], net.nodes["JPN"]
    kor.decide_consent(request, approve=True, officer="kor-officer", reason="T-R5 relay approved")
    net.pump()
    assert not net.refusals
    (relay,) = _relays(net)
    assert relay["state"] == "delivered" and relay["sealed"] is None  # the hub keeps no sealed copy
    assert len(usa.store.rows(st.outbox, st.outbox.c.kind == "delivery")) == 1
    assert [i["state"] for i in usa.store.rows(st.inbox)] == ["relayed-blind"]
    assert _types(net, "USA", "kor-hold-2").count("blind_relay") == 1
    assert jpn.open_item("kor-hold-2")[1] == MARKER
    assert [r["recipient"] for r in usa.item_status("kor-hold-2")["receipts"]] == ["JPN"]
    # The approval travelled with the item to the recipient.
    env = json.loads(bytes(usa.store.rows(st.outbox, st.outbox.c.kind == "delivery")[0]["body"]))
    assert [c["consent"]["id"] for c in env["consents"]] == [f"consent:{request}"]
    # A second decision on the same request changes nothing: exactly once.
    with pytest.raises(Conflict):
        kor.decide_consent(request, approve=True, officer="kor-officer")
    net.pump()
    assert len(usa.store.rows(st.outbox, st.outbox.c.kind == "delivery")) == 1
    assert len(jpn.store.rows(st.inbox)) == 1


def test_denied_blind_hold_is_never_forwarded_T_R5(net: Net) -> None:
    request = _hold(net, "kor-hold-3")
    kor, usa, jpn = net.nodes["KOR"], net.nodes["USA"], net.nodes["JPN"]
    kor.decide_consent(request, approve=False, officer="kor-officer", reason="not this one")
    net.pump()
    (relay,) = _relays(net)
    assert relay["state"] == "denied" and relay["sealed"] is None and relay["decided_by"] == "kor-officer"
    assert usa.store.rows(st.outbox, st.outbox.c.kind == "delivery") == []
    assert [i["state"] for i in usa.store.rows(st.inbox)] == ["denied"]
    assert jpn.store.rows(st.inbox) == [] and jpn.store.rows(st.items) == []
    assert "blind_relay_refused" in _types(net, "USA", "kor-hold-3")
    assert "blind_relay" not in _types(net, "USA", "kor-hold-3")
    assert usa.item_status("kor-hold-3")["state"] == "denied"


def test_standing_consent_releases_a_blind_hold(net: Net) -> None:
    import datetime as dt

    _hold(net, "kor-hold-4")
    net.nodes["KOR"].grant_standing(
        "USA", "JPN", ["DPRK-MISSILE"], dt.date(2015, 1, 1), dt.date(2015, 12, 31), officer="kor-officer"
    )
    net.pump()
    assert _relays(net)[0]["state"] == "delivered"
    assert net.nodes["JPN"].open_item("kor-hold-4")[1] == MARKER


def test_blind_hub_forwards_at_once_with_a_standing_consent(net: Net) -> None:
    import datetime as dt

    net.nodes["KOR"].grant_standing(
        "USA", "JPN", ["DPRK-MISSILE"], dt.date(2015, 1, 1), dt.date(2015, 12, 31), officer="kor-officer"
    )
    net.pump()
    out = net.nodes["KOR"].submit(label("kor-hold-5", rel=("JPN",)), MARKER, "JPN", DAY, hub_approval=False)
    assert out.next_hop == "USA"
    net.pump()
    assert _relays(net)[0]["state"] == "delivered"
    assert net.nodes["KOR"].consent_requests() == []
