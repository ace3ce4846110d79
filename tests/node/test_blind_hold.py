"""Issue 10, T-R5 at a blind hub: an item relayed blind without the originator's approval of the relay waits
at the hub, sealed and unopened, in the consent queue; the originator's officer approves (forwarded once,
receipted by the recipient, the recipient's receipt passed back to the originator) or denies (never
forwarded). The hold survives a kill -9 of the hub."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from accord.errors import IntegrityError
from accord.node import db as st
from accord.node.errors import Conflict
from accord.node.flow.admission import consent_request_id
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
    return consent_request_id(item, "USA", "JPN")


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
    status = usa.relay_status("kor-hold-1")
    assert status["relay"] == "blind" and status["state"] == "held"
    assert (status["sender"], status["to"], status["originator"]) == ("KOR", "JPN", "KOR")
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
    assert [r["recipient"] for r in usa.relay_status("kor-hold-2")["receipts"]] == ["JPN"]
    # The approval travelled with the item to the recipient.
    env = json.loads(bytes(usa.store.rows(st.outbox, st.outbox.c.kind == "delivery")[0]["body"]))
    assert [c["consent"]["id"] for c in env["consents"]] == [f"kor-consent:{request}"]
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
    assert usa.relay_status("kor-hold-3")["state"] == "denied"


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


@pytest.mark.integration
def test_kill_9_of_the_hub_while_it_holds_a_blind_item_keeps_it_held(tmp_path: Path) -> None:
    """Real node processes over mutual TLS: the hub holds the sealed item, is killed -9, restarts; the item is
    still held (nothing forwarded, nothing lost); KOR's officer approves over the API; it is forwarded once
    and Japan's receipt comes back to KOR."""
    from accord.node.client import local_client
    from accord.node.cluster import NodeProcess, init_node, pin_each_other
    from tests.node.test_integration import FAST, rows, wait_for

    cfgs = {p: init_node(tmp_path / p.lower(), p, **FAST) for p in ("KOR", "JPN", "USA")}  # type: ignore[arg-type]
    pin_each_other(list(cfgs.values()))
    kor, jpn, usa = cfgs["KOR"], cfgs["JPN"], cfgs["USA"]
    procs = {p: NodeProcess(cfgs[p], workers=1) for p in cfgs}
    try:
        for p in procs.values():
            p.start()
        with local_client(kor) as c:  # KOR's own systems release it, asking each hub to wait for its officer
            r = c.post(
                "/v1/items",
                json={
                    "label": label("kor-k9-hold", rel=("JPN",)),
                    "to": "JPN",
                    "at": DAY,
                    "payload_b64": base64.b64encode(MARKER).decode(),
                    "hub_approval": False,
                },
            )
            assert r.status_code == 200, r.text
        wait_for(lambda: [r["state"] for r in rows(usa, st.relays)] == ["held"], what="the hub holds the item")
        request = consent_request_id("kor-k9-hold", "USA", "JPN")
        pending = st.consent_requests.c.state == "pending"
        wait_for(lambda: rows(kor, st.consent_requests, pending), what="KOR's officer is asked")
        procs["USA"].kill9()
        (held,) = rows(usa, st.relays)
        assert held["state"] == "held" and held["sealed"] and held["request_id"] == request
        procs["USA"].start()
        time.sleep(1.0)  # the restarted hub's delivery worker has had time to send anything it would
        assert rows(usa, st.outbox, st.outbox.c.kind == "delivery") == [] and rows(jpn, st.inbox) == []
        assert [r["state"] for r in rows(usa, st.relays)] == ["held"]  # still held after the restart
        with local_client(kor) as c:
            r = c.post(f"/v1/consent-requests/{request}/approve", json={"officer": "kor-officer", "reason": "T-R5"})
            assert r.status_code == 200, r.text
        wait_for(lambda: rows(jpn, st.items), what="Japan receives the item")
        final = st.receipts.c.recipient == "JPN"
        wait_for(lambda: rows(kor, st.receipts, final), what="Japan's receipt back at KOR")
    finally:
        for p in procs.values():
            p.stop()
    assert [r["state"] for r in rows(usa, st.relays)] == ["delivered"]
    assert len(rows(usa, st.outbox, st.outbox.c.kind == "delivery")) == 1  # forwarded exactly once
    assert len(rows(jpn, st.inbox)) == 1
    assert MARKER not in json.dumps([dict(r, sealed=None) for r in rows(usa, st.relays)], default=str).encode()


def _final_receipt(net: Net, item: str) -> dict[str, object]:
    """The final-receipt message the hub passed back to KOR for ``item`` (kept: prune off at the hub)."""
    (row,) = net.nodes["USA"].store.rows(st.outbox, st.outbox.c.kind == "final_receipt")
    body: dict[str, object] = json.loads(bytes(row["body"]))
    return body


@pytest.fixture
def relayed(net: Net) -> Net:
    """A blind relay KOR → USA → JPN done, the hub's passed-back receipt kept; KOR's copy of it removed."""
    net.nodes["USA"].store.prune_delivered = False
    net.nodes["KOR"].submit(label("kor-fr-1", rel=("JPN",)), MARKER, "JPN", DAY)
    net.pump()
    assert {r["recipient"] for r in net.nodes["KOR"].store.rows(st.receipts)} == {"USA", "JPN"}
    with net.nodes["KOR"].store.tx() as conn:
        conn.execute(st.receipts.delete().where(st.receipts.c.recipient == "JPN"))
    return net


def test_final_receipt_forged_by_the_hub_is_refused(relayed: Net) -> None:
    from accord.node.canon import sign
    from accord.node.flow.journal import RECEIPT_DOMAIN

    body = _final_receipt(relayed, "kor-fr-1")
    body["signature"] = sign(relayed.nodes["USA"].receipt_key, RECEIPT_DOMAIN, body["receipt"])  # not Japan's key
    with pytest.raises(IntegrityError):
        relayed.dispatch("USA", "final_receipt", "KOR", json.dumps(body).encode())
    assert [r["recipient"] for r in relayed.nodes["KOR"].store.rows(st.receipts)] == ["USA"]


def test_final_receipt_altered_by_the_hub_is_refused(relayed: Net) -> None:
    body = _final_receipt(relayed, "kor-fr-1")
    receipt = dict(body["receipt"])  # type: ignore[call-overload]
    receipt["digest"] = "0" * 64  # Japan signed another digest
    with pytest.raises(IntegrityError):
        relayed.dispatch("USA", "final_receipt", "KOR", json.dumps({**body, "receipt": receipt}).encode())
    extra = {**dict(body["receipt"]), "payload": "x"}  # type: ignore[call-overload]
    with pytest.raises(IntegrityError):  # exactly the receipt's fields
        relayed.dispatch("USA", "final_receipt", "KOR", json.dumps({**body, "receipt": extra}).encode())
    assert [r["recipient"] for r in relayed.nodes["KOR"].store.rows(st.receipts)] == ["USA"]


def test_final_receipt_from_a_node_that_carried_nothing_is_refused(relayed: Net) -> None:
    from accord.node.errors import PeerRefused

    body = _final_receipt(relayed, "kor-fr-1")
    with pytest.raises(PeerRefused):  # JPN was never KOR's hub for this item
        relayed.dispatch("JPN", "final_receipt", "KOR", json.dumps({**body, "via": ["JPN"]}).encode())
    with pytest.raises(PeerRefused):  # a hub speaking for another
        relayed.dispatch("JPN", "final_receipt", "KOR", json.dumps(body).encode())
    # the genuine one is stored, once
    assert relayed.dispatch("USA", "final_receipt", "KOR", json.dumps(body).encode())["stored"] is True
    assert relayed.dispatch("USA", "final_receipt", "KOR", json.dumps(body).encode())["stored"] is False
    assert sorted(r["recipient"] for r in relayed.nodes["KOR"].store.rows(st.receipts)) == ["JPN", "USA"]


def test_approved_hold_whose_hop_is_no_longer_allowed_is_dropped_not_forwarded(net: Net) -> None:
    """The hop is decided again when the approval arrives: the hub's agreements no longer carry it (here the
    hub stops applying TISA), so the held item is dropped, never forwarded (fail closed, T-R4)."""
    from accord.core.agreements import AgreementSet

    request = _hold(net, "kor-hold-6")
    usa = net.nodes["USA"]
    usa.agreements = AgreementSet(a for a in usa.agreements if a.id != "kor-jpn-usa-tisa")
    net.nodes["KOR"].decide_consent(request, approve=True, officer="kor-officer")
    net.pump()
    (relay,) = _relays(net)
    assert relay["state"] == "denied" and relay["sealed"] is None
    assert usa.store.rows(st.outbox, st.outbox.c.kind == "delivery") == []
    assert net.nodes["JPN"].store.rows(st.inbox) == []
    refused = usa.journal_events(type_="blind_relay_refused", item_id="kor-hold-6")
    assert len(refused) == 1
