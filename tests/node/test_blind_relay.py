"""Issue 10, hub relay semantics on the node: a hub outside an item's releasability relays it blind.

A KOR item REL TO JPN only (DPRK-MISSILE) on 2015-06-01 reaches Japan only through the US hub under the
trilateral TISA (T-R4); the US is not in its releasability, so the decision's hop mode is ``relay-blind``:
the item is sealed to Japan directly, the hub checks what it can without the key (the originator's
signature over label, payload root and recipients against the pinned roster; signer = originator; its own
hop decision) and forwards it unchanged, never holding the content (ACC-R5, T-R5).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import json
from hashlib import sha256
from pathlib import Path

import pytest

from accord.errors import IntegrityError
from accord.formats.canonical import canonical_json
from accord.node import db as st
from accord.node.errors import NotFound
from tests.node.helpers import Net, label

MARKER = b"BLIND-RELAY-PLAINTEXT-MARKER-8e2f"
DAY = "2015-06-01"


@pytest.fixture
def net(tmp_path: Path) -> Net:
    return Net(tmp_path)


def _events(net: Net, party: str, item: str) -> list[dict[str, object]]:
    return net.nodes[party].journal_events(item_id=item, limit=1000)


def _types(net: Net, party: str, item: str) -> list[str]:
    return [str(e["type"]) for e in _events(net, party, item)]


def test_blind_hub_forwards_unopened_kor_item_rel_to_jpn_only_2015(net: Net) -> None:
    net.nodes["USA"].store.prune_delivered = False  # keep the forwarded envelope to compare it
    out = net.submit("KOR", label("kor-b1", rel=("JPN",)), "JPN", DAY, MARKER)
    assert out.decision["route"] == ["KOR", "USA", "JPN"]
    assert [h["mode"] for h in out.decision["hops"]] == ["relay-blind", "relay-blind"]
    assert "USA" not in out.decision["markings"]
    assert out.next_hop == "USA"
    sealed_by_kor = net.nodes["KOR"].store.rows(st.items, st.items.c.item_id == "kor-b1")[0]["sealed"]
    item = net.nodes["KOR"].sealer.verify(bytes(sealed_by_kor))
    assert item.parties() == {"JPN"}  # never wrapped for the hub
    assert net.pump() >= 2
    assert not net.refusals

    usa = net.nodes["USA"]
    # The hub holds nothing: no item, no marking, no custody record; it cannot read the payload.
    assert usa.store.rows(st.items) == []
    assert usa.store.rows(st.custody) == []
    with pytest.raises(NotFound):
        usa.open_item("kor-b1")
    with pytest.raises(IntegrityError):  # the hub never had the data key
        usa.sealer.open(bytes(sealed_by_kor))
    # What it forwarded is the sealed item, byte for byte (no marking added, no re-wrap).
    fwd = usa.store.rows(st.outbox, st.outbox.c.kind == "delivery")
    assert len(fwd) == 1 and fwd[0]["recipient"] == "JPN" and fwd[0]["state"] == "delivered"
    env = json.loads(bytes(fwd[0]["body"]))
    assert base64.b64decode(env["sealed"]) == bytes(sealed_by_kor)
    assert MARKER not in bytes(fwd[0]["body"])
    assert [i["digest"] for i in net.nodes["JPN"].store.rows(st.inbox)] == [sha256(bytes(sealed_by_kor)).hexdigest()]
    assert [i["state"] for i in usa.store.rows(st.inbox)] == ["relayed-blind"]
    blind = [e for e in _events(net, "USA", "kor-b1") if e["type"] == "blind_relay"]
    assert len(blind) == 1
    body = blind[0]["body"]
    body = json.loads(body) if isinstance(body, str) else body
    assert isinstance(body, dict)
    assert body["sender"] == "KOR" and body["to"] == "JPN" and body["next_hop"] == "JPN"
    assert body["mode"] == "relay-blind" and body["route"] == ["KOR", "USA", "JPN"]
    assert "marking" not in body
    assert "receipt" in _types(net, "USA", "kor-b1")  # Japan's receipt, back at the hub

    # The recipient opens it (sealed to it directly), marks it in its own scheme and receipts.
    jpn = net.nodes["JPN"]
    st_jpn = jpn.item_status("kor-b1")
    assert st_jpn["sender"] == "USA" and st_jpn["marking"] == "極秘"
    assert jpn.open_item("kor-b1")[1] == MARKER
    # Custody names the originator as the releasing party and the route through the hub (issue 10, T-R4).
    assert st_jpn["custody"]["received_from"] == "KOR" and st_jpn["custody"]["state"] == "HELD"
    assert st_jpn["custody"]["agreement"] == "kor-jpn-usa-tisa"
    assert st_jpn["custody"]["route"]["route"] == ["KOR", "USA", "JPN"]
    assert st_jpn["custody"]["route"]["via"] == ["USA"] and st_jpn["custody"]["route"]["handed_over_by"] == "USA"
    assert "delivery" in _types(net, "JPN", "kor-b1")

    # The originator has the hub's receipt and Japan's own, passed back by the hub (issue 10).
    receipts = {r["recipient"]: r for r in net.nodes["KOR"].item_status("kor-b1")["receipts"]}
    assert set(receipts) == {"USA", "JPN"}
    final = receipts["JPN"]
    assert final["via"] == "USA" and final["same_digest"] and final["receipt"]["recipient"] == "JPN"
    assert final["receipt"]["digest"] == sha256(bytes(sealed_by_kor)).hexdigest()
    from accord.node.canon import verify
    from accord.node.flow.journal import RECEIPT_DOMAIN

    verify(net.nodes["JPN"].receipt_key.public_key(), RECEIPT_DOMAIN, final["receipt"], final["signature"])
    assert "final_receipt" in _types(net, "KOR", "kor-b1")
    # The hub's status of what it relayed: state, from, to, when, receipts; no content, no label (issue 10).
    hub = usa.item_or_relay_status("kor-b1")
    assert (hub["relay"], hub["state"], hub["sender"], hub["to"]) == ("blind", "delivered", "KOR", "JPN")
    assert hub["received_at"] and hub["forwarded_at"] is None and "label" not in hub
    assert [r["recipient"] for r in hub["receipts"]] == ["JPN"]
    # every node journaled its part
    assert {"release", "receipt"} <= set(_types(net, "KOR", "kor-b1"))
    for party in ("KOR", "USA", "JPN"):
        assert "decision" in _types(net, party, "kor-b1")
    # ... and in each node's audit log (issue 5), never with the payload.
    logged = {p: _audited(net, p, "kor-b1") for p in ("KOR", "USA", "JPN")}
    assert {"release", "receipt"} <= {e["node_event"] for e in logged["KOR"]}
    assert {"delivery", "blind_relay", "receipt"} <= {e["node_event"] for e in logged["USA"]}
    assert {"delivery"} <= {e["node_event"] for e in logged["JPN"]}
    hub_delivery = next(e for e in logged["USA"] if e["node_event"] == "delivery")
    assert hub_delivery["mode"] == "relay-blind" and "marking" not in hub_delivery
    assert next(e for e in logged["USA"] if e["node_event"] == "blind_relay")["type"] == "release"


def _audited(net: Net, party: str, item: str) -> list[dict[str, object]]:
    feeder = net.nodes[party].feeder
    assert feeder is not None
    feeder.flush()
    events = [json.loads(feeder.log.event(i)) for i in range(feeder.log.size)]
    return [e for e in events if e.get("item") == item]


def test_blind_relay_replay_is_answered_once_and_not_forwarded_twice(net: Net) -> None:
    net.nodes["KOR"].store.prune_delivered = False  # keep the delivered envelope to replay it
    net.submit("KOR", label("kor-b2", rel=("JPN",)), "JPN", DAY, MARKER)
    net.pump()
    row = net.nodes["KOR"].store.rows(st.outbox, st.outbox.c.item_id == "kor-b2")[0]
    first = next(r for r in net.nodes["KOR"].item_status("kor-b2")["receipts"] if r["recipient"] == "USA")["receipt"]
    again = net.dispatch("KOR", "delivery", "USA", bytes(row["body"]), str(row["idem_key"]))
    assert again["replay"] and again["receipt"] == first
    assert len(net.nodes["USA"].store.rows(st.outbox, st.outbox.c.kind == "delivery")) == 1


def _blind_blob(net: Net, item: str, *, add_hub: bool) -> bytes:
    """A KOR item REL TO JPN only sealed for a blind relay through the USA; with ``add_hub`` the originator's
    node (buggy or hostile) also wraps the data key for the hub it is not releasable to."""
    from accord import release
    from accord.node.policy import label_from_dict
    from accord.sealed.plan import Hop
    from accord.sealed.seal import seal_stream

    kor = net.nodes["KOR"]
    lab = label_from_dict(label(item, rel=("JPN",)))
    d = kor._decision(lab, "KOR", "JPN", dt.date(2015, 6, 1), ())
    plan = release.plan_from_decisions(lab, [d], holder="KOR", at=dt.date(2015, 6, 1), agreements=kor.agreements)
    if add_hub:
        extra = Hop("USA", ("KOR", "USA"), plan.hops[0].agreements, "direct")
        plan = dataclasses.replace(plan, hops=(*plan.hops, extra))
    out = io.BytesIO()
    seal_stream(
        io.BytesIO(MARKER),
        out,
        label_xml=release.label_xml_of(lab),
        plan=plan,
        signer=kor.sealer.keys,  # type: ignore[attr-defined]
        roster=kor.sealer.roster,  # type: ignore[attr-defined]
    )
    return out.getvalue()


def _env(item: str, blob: bytes, sender: str = "KOR", final: str = "JPN") -> bytes:
    return canonical_json(
        {
            "item_id": item,
            "sender": sender,
            "final_recipient": final,
            "at": DAY,
            "sealed": base64.b64encode(blob).decode(),
            "consents": [],
        }
    )


def test_blind_item_whose_recipients_include_the_hub_is_refused_as_inconsistent(net: Net) -> None:
    blob = _blind_blob(net, "kor-b3", add_hub=True)
    assert "USA" in net.nodes["USA"].sealer.verify(blob).parties()
    with pytest.raises(IntegrityError):
        net.dispatch("KOR", "delivery", "USA", _env("kor-b3", blob))
    usa = net.nodes["USA"]
    assert usa.store.rows(st.items) == [] and usa.store.rows(st.outbox) == [] and usa.store.rows(st.inbox) == []
    assert "inconsistent_relay" in _types(net, "USA", "kor-b3")


def test_blind_item_sent_straight_to_its_hub_as_final_recipient_is_refused(net: Net) -> None:
    # The hub is not in the releasability: it may forward the item, never be its recipient (ACC-R5).
    blob = _blind_blob(net, "kor-b4", add_hub=False)
    with pytest.raises(IntegrityError):  # not sealed to it: it has nothing to open
        net.dispatch("KOR", "delivery", "USA", _env("kor-b4", blob, final="USA"))
    assert net.nodes["USA"].store.rows(st.items) == [] and net.nodes["USA"].store.rows(st.outbox) == []


def test_blind_item_forged_by_the_hub_is_refused_by_the_recipient(net: Net) -> None:
    # What the hub forwards unopened is still bound to the originator's signature (payload root, label,
    # recipients): a hub that alters it is caught by the recipient.
    blob = bytearray(_blind_blob(net, "kor-b5", add_hub=False))
    blob[int(len(blob) * 0.05)] ^= 0x01  # in the payload
    with pytest.raises(IntegrityError):
        net.dispatch("USA", "delivery", "JPN", _env("kor-b5", bytes(blob), sender="USA"))
    assert net.nodes["JPN"].store.rows(st.items) == []


def test_hub_api_has_no_payload_of_a_blind_item(net: Net) -> None:
    from typing import Any

    from fastapi.testclient import TestClient

    from accord.node.app import create_app
    from accord.node.identity import cert_fingerprint

    net.submit("KOR", label("kor-b6", rel=("JPN",)), "JPN", DAY, MARKER)
    net.pump()
    app = create_app(net.nodes["USA"], workers=0)
    own = cert_fingerprint(net.cfgs["USA"].cert_file.read_bytes())

    async def with_cert(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": own}
        await app(scope, receive, send)

    client = TestClient(with_cert, base_url="https://testserver")  # type: ignore[arg-type]
    r = client.get("/v1/items/kor-b6")  # the hub's trail of the relay, never content
    assert r.status_code == 200 and r.json()["relay"] == "blind" and "label" not in r.json()
    assert MARKER not in r.content
    r = client.get("/v1/items/kor-b6/payload", headers={"Accord-Person": "usa-officer", "Accord-Purpose": "relay"})
    assert r.status_code in (403, 404) and MARKER not in r.content


def test_recipient_refuses_a_blind_item_whose_signed_route_is_not_the_originators_decision(net: Net) -> None:
    # Sealed for KOR → USA → JPN in 2015, delivered by the US in 2017 when the originator's own decision is
    # the direct GSOMIA route: the hub's hop is not one the agreements call for that day (JK-R6).
    from accord.node.errors import Refused

    blob = _blind_blob(net, "kor-b7", add_hub=False)
    env = json.loads(_env("kor-b7", blob, sender="USA"))
    env["at"] = "2017-02-12"
    with pytest.raises(Refused):
        net.dispatch("USA", "delivery", "JPN", canonical_json(env))
    assert net.nodes["JPN"].store.rows(st.items) == [] and net.nodes["JPN"].store.rows(st.custody) == []


def test_a_blind_item_delivered_straight_to_its_recipient_by_a_non_hub_is_refused(net: Net) -> None:
    # The originator's route runs through the USA; the same sealed item handed over by a partner that is not
    # that hub (here KOR itself, skipping the hub in 2015) is refused (T-R4).
    from accord.node.errors import Refused

    blob = _blind_blob(net, "kor-b8", add_hub=False)
    with pytest.raises(Refused):
        net.dispatch("KOR", "delivery", "JPN", _env("kor-b8", blob))
    assert net.nodes["JPN"].store.rows(st.items) == []


def test_hub_in_the_releasability_forwards_blind_what_was_sealed_past_it(net: Net) -> None:
    # REL TO JPN, USA but sealed blind (release relay="blind"): the hub could have read it, yet has no key;
    # it forwards it unchanged rather than refusing, and still holds nothing.
    from accord import release
    from accord.node.policy import label_from_dict

    kor = net.nodes["KOR"]
    blob = release.seal_bytes(
        MARKER,
        label_from_dict(label("kor-b9", rel=("JPN", "USA"))),
        recipients=["JPN"],
        signer=kor.sealer.keys,  # type: ignore[attr-defined]
        roster=kor.sealer.roster,  # type: ignore[attr-defined]
        agreements=kor.agreements,
        at=dt.date(2015, 6, 1),
        relay="blind",
    )
    # Approved by KOR's standing consent for the hub's relays to Japan (T-R5; none: held, test_blind_hold.py).
    kor.grant_standing("USA", "JPN", ["DPRK-MISSILE"], dt.date(2015, 1, 1), dt.date(2015, 12, 31), officer="kor-o")
    net.pump()
    assert net.dispatch("KOR", "delivery", "USA", _env("kor-b9", blob))["status"] == "relayed-blind"
    net.pump()
    # Handed to the hub by hand, not from KOR's outbox: KOR refuses the receipt the hub passes back.
    assert net.refusals == [("USA", "KOR", "KOR sent no item kor-b9 to JPN through USA")]
    assert net.nodes["USA"].store.rows(st.items) == []
    assert net.nodes["JPN"].open_item("kor-b9")[1] == MARKER
