"""Typed results at the node's service boundary (issue 8, "one of each"): the service, the HTTP API and the SDK
client speak the same result types, and the JSON on the wire is what it was (the members of the former dicts)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.errors import AccordError, InputError, NotFound
from accord.node.app import create_app
from accord.node.client import NodeClient
from accord.node.identity import cert_fingerprint
from accord.node.results import (
    ConsentDecided,
    ConsentRequest,
    CustodyRecorded,
    EventRecord,
    Forwarded,
    Health,
    InboxEntry,
    ItemStatus,
    OutboxHop,
    OutboxMessage,
    ReceiptRecord,
    Submitted,
)
from tests.node.helpers import Net, label

ITEM_MEMBERS = {
    "custody",
    "item_id",
    "origin",
    "sender",
    "digest",
    "label",
    "marking",
    "alternative_label",
    "outbox",
    "inbox",
    "receipts",
}


@pytest.fixture
def net(tmp_path: Path) -> Net:
    return Net(tmp_path)


def _http(net: Net, party: str) -> TestClient:
    """The node's app as its own systems reach it (the node's certificate, as the TLS layer reports it)."""
    app = create_app(net.nodes[party], workers=0)
    fp = cert_fingerprint(net.cfgs[party].cert_file.read_bytes())

    async def with_cert(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": fp}
        await app(scope, receive, send)

    return TestClient(with_cert, base_url="https://testserver")  # type: ignore[arg-type]


def _sdk(net: Net, party: str) -> NodeClient:
    return NodeClient(_http(net, party))


def test_release_read_back_as_typed_results_through_the_sdk(net: Net) -> None:
    kor, jpn = _sdk(net, "KOR"), _sdk(net, "JPN")
    out = kor.submit(label("kor-res-1"), b"x" * 64, "JPN", dt.date(2017, 1, 5))
    assert isinstance(out, Submitted) and out.status == "queued" and out.next_hop == "JPN"
    net.pump()

    mine = kor.item("kor-res-1")
    assert isinstance(mine, ItemStatus) and mine.origin == "local" and mine.custody is None
    (hop,) = mine.outbox
    assert isinstance(hop, OutboxHop) and (hop.kind, hop.to, hop.final, hop.state) == (
        "delivery",
        "JPN",
        "JPN",
        "delivered",
    )
    (receipt,) = mine.receipts
    assert isinstance(receipt, ReceiptRecord) and receipt.recipient == "JPN" and receipt.receipt
    theirs = jpn.item("kor-res-1")
    assert theirs.sender == "KOR" and theirs.marking  # JPN's own marking (JK-R4)
    assert [(i.sender, i.state) for i in theirs.inbox] == [("KOR", "stored")]
    assert all(isinstance(i, InboxEntry) for i in theirs.inbox)

    (msg,) = kor.outbox()
    assert isinstance(msg, OutboxMessage) and (msg.kind, msg.recipient, msg.state) == ("delivery", "JPN", "delivered")
    assert kor.outbox("pending") == []
    events = kor.events("kor-res-1")
    assert all(isinstance(e, EventRecord) for e in events)
    assert "decision" in [e.type for e in events]
    health = kor.health()
    assert isinstance(health, Health) and health.ok and health.caller == "KOR" and health.audit is not None


def test_the_json_on_the_wire_is_the_former_dict(net: Net) -> None:
    net.submit("KOR", label("kor-res-2"), "JPN", "2017-01-05")
    net.pump()
    raw = _http(net, "JPN").get("/v1/items/kor-res-2").json()
    assert set(raw) == ITEM_MEMBERS
    assert set(raw["inbox"][0]) == {"sender", "state", "final"}
    assert ItemStatus.from_dict(raw).to_dict() == raw
    # the service's result reads as that mapping too (code written against the dicts keeps working)
    status = net.nodes["JPN"].item_status("kor-res-2")
    assert status == raw and status["inbox"][0]["sender"] == "KOR" and dict(status) == raw
    health = _http(net, "KOR").get("/v1/health").json()
    assert set(health) == {"party", "ok", "caller", "audit", "storage"}  # + the storage alarm (issue 9, disk full)


def test_consent_at_a_hub_through_typed_results_T_R5(net: Net) -> None:
    net.submit("KOR", label("kor-res-3", topics=("DPRK-NUCLEAR",)), "USA", "2015-06-20")
    net.pump()
    usa, kor = _sdk(net, "USA"), _sdk(net, "KOR")
    held = usa.forward("kor-res-3", "JPN", dt.date(2015, 6, 22))
    assert isinstance(held, Forwarded) and held.status == "held"
    net.pump()
    (req,) = kor.consent_requests("pending")
    assert isinstance(req, ConsentRequest)
    assert (req.role, req.holder, req.recipient, req.item_id, req.state) == (
        "incoming",
        "USA",
        "JPN",
        "kor-res-3",
        "pending",
    )
    assert req.label["id"] == "kor-res-3" and req.created_at is not None
    decided = kor.decide_consent(req.request_id, True, "officer Kim", "approved")
    assert decided == ConsentDecided(req.request_id, "approved")
    assert decided.to_dict() == {"request_id": req.request_id, "state": "approved"}  # no "item" at the originator
    net.pump()
    assert _sdk(net, "JPN").item("kor-res-3").sender == "USA"
    (outgoing,) = usa.consent_requests("approved")
    assert outgoing.role == "outgoing"


def test_a_denied_consent_and_a_custody_change_come_back_typed_JK_R13(net: Net) -> None:
    net.submit("KOR", label("kor-res-4", topics=("DPRK-NUCLEAR",)), "USA", "2015-06-20")
    net.pump()
    net.nodes["USA"].forward("kor-res-4", "JPN", "2015-06-22")
    net.pump()
    kor = _sdk(net, "KOR")
    (req,) = kor.consent_requests("pending")
    denied = kor.decide_consent(req.request_id, False, "officer Kim", "not this one")
    assert denied.state == "denied"
    net.pump()
    (answer,) = _sdk(net, "USA").consent_requests("denied")  # the hub heard the answer
    assert (answer.role, answer.item_id, answer.state) == ("outgoing", "kor-res-4", "denied")

    net.submit("KOR", label("kor-res-5"), "JPN", "2017-01-05")
    net.pump()
    jpn = _sdk(net, "JPN")
    assert jpn.item("kor-res-5").custody is not None  # the recipient keeps a custody record (issue 10)
    out = jpn.record_custody("kor-res-5", "RETURNED", "back to KOR")
    assert isinstance(out, CustodyRecorded) and out.state == "RETURNED" and out["state"] == "RETURNED"
    with pytest.raises(InputError):
        jpn.record_custody("kor-res-5", "HELD")  # RETURNED is final


def test_refused_answers_and_malformed_results() -> None:
    with pytest.raises(InputError):
        ItemStatus.from_dict({"item_id": "kor-x"})  # members missing
    with pytest.raises(InputError):
        ConsentDecided.from_dict(["not", "an", "object"])
    with pytest.raises(TypeError):
        ConsentDecided.from_dict({"request_id": "r", "state": "pending", "surprise": 1}, strict=True)
    assert ConsentDecided.from_dict({"request_id": "r", "state": "pending", "newer": 1}).state == "pending"


def test_sdk_raises_the_nodes_own_errors(net: Net) -> None:
    kor = _sdk(net, "KOR")
    with pytest.raises(NotFound):
        kor.item("kor-no-such-item")
    with pytest.raises(NotFound):
        kor.decide_consent("usa-cr:kor-none:JPN", True, "officer Kim")
    with pytest.raises(AccordError):
        kor.record_custody("kor-no-such-item", "RETURNED")
