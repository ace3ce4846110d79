"""Issue 10: the Japan–ROK GSOMIA 2016–2023 replayed through real nodes (KOR, USA hub, JPN in process, real
stores, sealing, delivery workers and receipts over the in-memory PeerTransport).

The dates and expectations are those of the core-only timeline (tests/core/test_timeline.py): TISA from
2014-12-29 (T-R4, hub USA), the GSOMIA signed and in force 2016-11-23 (JK-R1), Korea's notice of 2019-08-23
(effective 2019-11-23), its suspension on 2019-11-22, the withdrawal of the notes on 2023-03-21; and, as a
what-if, the notice never suspended (the GSOMIA terminated on 2019-11-23, JK-R31). Each release is submitted
at KOR's node and either reaches Japan (direct or through the US hub, blind or re-wrapped) with Japan's receipt
back at KOR, or is refused at KOR with the rule that refuses it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from accord.node import db as st
from accord.node.errors import Refused
from tests.node.helpers import Net, label

PAYLOAD = b"REPLAY-PLAINTEXT-MARKER-90af"
MISSILE = ("DPRK-MISSILE",)
NAVAL = ("NAVAL-OPS",)


@pytest.fixture
def net(tmp_path: Path) -> Net:
    return Net(tmp_path)


def _release(
    net: Net,
    item: str,
    day: str,
    *,
    rel: tuple[str, ...] = ("JPN",),
    topics: tuple[str, ...] = MISSILE,
    cls: str = "군사Ⅱ급비밀",
) -> dict[str, Any]:
    """KOR releases ``item`` to JPN on ``day``; delivered by the nodes' workers. Returns Japan's status."""
    out = net.nodes["KOR"].submit(label(item, rel=rel, topics=topics, cls=cls, created=day), PAYLOAD, "JPN", day)
    net.pump()
    assert not net.refusals, net.refusals
    status = net.nodes["JPN"].item_status(item).to_dict()
    assert net.nodes["JPN"].open_item(item)[1] == PAYLOAD
    receipts = {r["recipient"] for r in net.nodes["KOR"].item_status(item)["receipts"]}
    assert "JPN" in receipts  # Japan's own signed receipt is at KOR, directly or passed back by the hub
    status["decision"] = out.decision
    return status


def _refused(net: Net, item: str, day: str, **kw: Any) -> list[tuple[str, str | None]]:
    """KOR's node refuses the release: nothing is queued, nothing reaches Japan. Returns (code, rule) pairs."""
    lab = label(item, rel=kw.get("rel", ("JPN",)), topics=kw.get("topics", MISSILE), cls=kw.get("cls", "군사Ⅱ급비밀"))
    with pytest.raises(Refused) as e:
        net.nodes["KOR"].submit(lab, PAYLOAD, "JPN", day)
    net.pump()
    assert net.nodes["KOR"].store.rows(st.outbox, st.outbox.c.item_id == item) == []
    assert net.nodes["JPN"].store.rows(st.inbox, st.inbox.c.item_id == item) == []
    return [(r.code.value, r.rule) for r in e.value.decision.denials]  # type: ignore[attr-defined]


def _route(status: dict[str, Any]) -> tuple[list[str], list[str]]:
    return status["decision"]["route"], [h["mode"] for h in status["decision"]["hops"]]


def test_replay_2012_to_2023_kor_to_jpn_through_the_nodes_JK_R1_T_R4_T_R5(net: Net) -> None:
    usa, jpn = net.nodes["USA"], net.nodes["JPN"]

    # 2012-06-29: the signing was aborted; no TISA yet: nothing crosses (ACC-R1, JK-R1).
    assert {c for c, _ in _refused(net, "kor-2012-a", "2012-06-29")} == {"NOT_IN_FORCE"}
    # 2014-12-28: the day before TISA took effect (T-R4 from 2014-12-29).
    assert {c for c, _ in _refused(net, "kor-2014-a", "2014-12-28")} == {"NOT_IN_FORCE"}

    # 2015-06-01, TISA only: a missile item REL TO JPN goes through the US hub, blind (T-R4, T-R5, ACC-R5).
    s = _release(net, "kor-2015-blind", "2015-06-01")
    assert _route(s) == (["KOR", "USA", "JPN"], ["relay-blind", "relay-blind"])
    assert s["sender"] == "USA" and s["marking"] == "極秘"
    assert s["custody"]["received_from"] == "KOR" and s["custody"]["agreement"] == "kor-jpn-usa-tisa"
    assert s["custody"]["route"]["via"] == ["USA"]
    hub = usa.relay_status("kor-2015-blind")
    assert hub["relay"] == "blind" and hub["state"] == "delivered" and "label" not in hub
    # ... and a naval item is out of TISA's scope, with no GSOMIA yet (T-R1, ACC-R1).
    naval = _refused(net, "kor-2015-naval", "2015-06-01", rel=("JPN", "USA"), topics=NAVAL)
    assert ("OUT_OF_SCOPE", "T-R1") in naval and ("NOT_IN_FORCE", "ACC-R1") in naval

    # 2016-11-22, the eve of the GSOMIA: REL TO JPN, USA goes through the hub, which reads and re-wraps it.
    s = _release(net, "kor-2016-rewrap", "2016-11-22", rel=("JPN", "USA"))
    assert _route(s) == (["KOR", "USA", "JPN"], ["relay-rewrap", "relay-rewrap"])
    assert usa.item_status("kor-2016-rewrap")["marking"] == "SECRET"  # T-R6: the hub's equivalent
    assert s["custody"]["received_from"] == "KOR" and s["custody"]["route"]["via"] == ["USA"]
    assert s["custody"]["agreement"] == "kor-jpn-usa-tisa"  # held under the arrangement that carried it
    # Japan's onward release to the US is judged under that arrangement: Korea must approve (T-R5).
    onward = jpn.forward("kor-2016-rewrap", "USA", "2016-12-01")
    assert onward.status == "held"
    needs = [(r["code"], r["agreement"], r["rule"]) for r in onward.decision["reasons"]]
    assert ("CONSENT_REQUIRED", "kor-jpn-usa-tisa", "T-R5") in needs
    net.pump()
    (asked,) = net.nodes["KOR"].consent_requests("pending")
    net.nodes["KOR"].decide_consent(asked["request_id"], approve=False, officer="kor-officer")
    net.pump()
    # Korea said no: the US has the item only from its own 2016 relay hop, never from Japan.
    assert [r["sender"] for r in usa.store.rows(st.inbox, st.inbox.c.item_id == "kor-2016-rewrap")] == ["KOR"]

    # 2016-11-23, signed and in force the same day: direct, no hub (JK-R1), Japan's marking (JK-R2, JK-R4).
    s = _release(net, "kor-2016-direct", "2016-11-23")
    assert _route(s) == (["KOR", "JPN"], ["direct"])
    assert s["decision"]["agreements"] == ["jpn-kor-gsomia"] and s["marking"] == "極秘"
    assert s["custody"]["agreement"] == "jpn-kor-gsomia" and s["custody"]["route"]["via"] == []
    assert usa.store.rows(st.inbox, st.inbox.c.item_id == "kor-2016-direct") == []
    # ... and beyond missile topics, which TISA never covered.
    assert _route(_release(net, "kor-2016-naval", "2016-11-23", topics=NAVAL))[0] == ["KOR", "JPN"]
    # Grade I never crosses, whatever the day (ACC-R4: shared with no country).
    assert ("NEVER_RELEASED", "ACC-R4") in _refused(net, "kor-2017-grade1", "2017-06-01", cls="군사Ⅰ급비밀")

    # 2017: Japan holds a KOR naval item under the GSOMIA; onward to the US it waits for Korea (JK-R6) ...
    _release(net, "kor-2017-naval", "2017-03-01", rel=("JPN", "USA"), topics=NAVAL)
    assert jpn.forward("kor-2017-naval", "USA", "2018-01-01").status == "held"
    net.pump()
    (asked,) = net.nodes["KOR"].consent_requests("pending")
    assert (asked["holder"], asked["recipient"]) == ("JPN", "USA")
    net.nodes["KOR"].decide_consent(asked["request_id"], approve=False, officer="kor-officer", reason="JK-R6")
    net.pump()
    assert usa.store.rows(st.inbox, st.inbox.c.item_id == "kor-2017-naval") == []  # ... and Korea said no
    jk_r6 = [e for e in jpn.journal_events(type_="decision", item_id="kor-2017-naval") if '"JK-R6"' in str(e)]
    assert jk_r6, "Japan's decision cites JK-R6"

    # 2019-08-23 notice: the GSOMIA stays in force until 2019-11-23; direct on 2019-10-01.
    s = _release(net, "kor-2019-notice", "2019-10-01")
    assert _route(s)[0] == ["KOR", "JPN"]
    assert any("2019-11-23" in r["message"] for r in s["decision"]["reasons"])
    # 2019-11-22 suspension: still direct after the date the notice would have ended it.
    s = _release(net, "kor-2019-suspended", "2019-11-25", topics=NAVAL)
    assert _route(s)[0] == ["KOR", "JPN"]
    assert any("suspended on 2019-11-22" in r["message"] for r in s["decision"]["reasons"])
    # 2023-03-21 withdrawal of the notes: renewing automatically again.
    s = _release(net, "kor-2023-normal", "2023-03-21")
    assert _route(s)[0] == ["KOR", "JPN"]
    assert any("renewing automatically" in r["message"] for r in s["decision"]["reasons"])
    s = _release(net, "kor-2023-naval", "2023-06-01", topics=NAVAL)
    assert _route(s)[0] == ["KOR", "JPN"]

    # Every custody record at Japan names the releasing party, the route and the agreement it is held under.
    held = {r["item_id"]: r for r in jpn.store.rows(st.custody)}
    assert {r["received_from"] for r in held.values()} == {"KOR"}
    routes = {r["item_id"]: r for r in jpn.store.rows(st.custody_routes)}
    assert set(routes) == set(held)


def test_replay_what_if_the_2019_notice_had_run_JK_R31_T_R4(net: Net) -> None:
    """What-if: the 2019-11-22 suspension never happened, so the GSOMIA ended on 2019-11-23. New naval items
    no longer cross (JK-R31); missile items fall back to TISA through the US hub (T-R4, blind: ACC-R5); an
    item Japan already holds stays protected and may go only back to Korea, never on to the US (JK-R6)."""
    _release(net, "kor-2017-held", "2017-03-01", rel=("JPN", "USA"), topics=NAVAL)
    for svc in net.nodes.values():  # every node decides under the same hypothetical set
        svc.agreements = svc.agreements.what_if(drop=[("jpn-kor-gsomia", dt.date(2019, 11, 22))])

    s = _release(net, "kor-2019-direct", "2019-11-01")  # during the notice: still direct
    assert _route(s)[0] == ["KOR", "JPN"]
    naval = _refused(net, "kor-2019-naval", "2019-12-01", rel=("JPN", "USA"), topics=NAVAL)
    assert ("TERMINATED", "JK-R31") in naval and ("OUT_OF_SCOPE", "T-R1") in naval
    s = _release(net, "kor-2019-fallback", "2019-12-01")
    assert _route(s) == (["KOR", "USA", "JPN"], ["relay-blind", "relay-blind"])
    assert s["custody"]["agreement"] == "kor-jpn-usa-tisa" and s["custody"]["route"]["via"] == ["USA"]
    assert net.nodes["USA"].relay_status("kor-2019-fallback")["state"] == "delivered"

    # The item Japan held since 2017 stays protected (JK-R31): onward to the US only with Korea's consent.
    jpn = net.nodes["JPN"]
    assert jpn.forward("kor-2017-held", "USA", "2019-12-01").status == "held"
    held = jpn.item_status("kor-2017-held")["custody"]
    assert held["agreement"] == "jpn-kor-gsomia" and held["state"] == "HELD"
    from accord.node.policy import label_from_dict

    lab = label_from_dict(label("kor-2017-held", rel=("JPN", "USA"), topics=NAVAL, created="2017-03-01"))
    home = jpn._decision(lab, "JPN", "KOR", dt.date(2019, 12, 1), ())
    assert home.allowed and {"RETURN", "SURVIVAL"} <= {r.code.value for r in home.reasons}  # JK-R13, JK-R31
