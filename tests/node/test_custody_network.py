"""Issue 10, the life of an item over the network (in-process nodes, real services and delivery workers):
reclassification (JK-R12), compromise and freeze (JK-R26), purpose (JK-R7), derived items (JK-R5, R23, R24)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from accord.core.custody import CustodyError
from accord.errors import InputError
from accord.formats.custody_notice import FORMAT, NoticeError, sign_notice
from accord.node import db as st
from accord.node.errors import Refused
from accord.node.flow.notices import KEYID, NoticeRefused
from tests.node.helpers import Net, label

SECRET, CONFIDENTIAL = "군사Ⅱ급비밀", "군사Ⅲ급비밀"


@pytest.fixture
def net(tmp_path: Path) -> Net:
    return Net(tmp_path)


def custody(net: Net, party: str, item: str) -> dict[str, Any]:
    rec = net.nodes[party].custody_record(item)
    rec["derived"] = json.dumps(rec["derived"])  # as the item status shows it
    return rec


def events(net: Net, party: str, type_: str) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in net.nodes[party].store.rows(st.events, st.events.c.type == type_)]


def two_hops(net: Net, item: str, cls: str = SECRET) -> None:
    """KOR releases ``item`` to JPN (GSOMIA, 2017); JPN passes it on to USA with Korea's consent (JK-R6)."""
    net.submit("KOR", label(item, cls=cls, rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    assert net.nodes["JPN"].forward(item, "USA", "2017-02-13").status == "held"
    net.pump()
    kor = net.nodes["KOR"]
    kor.decide_consent(f"jpn-cr:{item}:USA", True, "officer kim")
    net.pump()
    assert custody(net, "USA", item)["received_from"] == "JPN"


def test_reclassification_reaches_a_holder_two_hops_away_and_every_ack_returns_JK_R12(net: Net) -> None:
    two_hops(net, "kor-rc-1", CONFIDENTIAL)
    kor = net.nodes["KOR"]
    sent = kor.issue_notice("kor-rc-1", "reclassification", classification=SECRET, note="upgrade", at="2017-03-01")
    assert [(p["party"], p["state"]) for p in sent["parties"]] == [("JPN", "sent")]  # the originator's release
    net.pump()
    assert not net.refusals
    (status,) = kor.item_notices("kor-rc-1")
    assert [(p["party"], p["via"], p["state"]) for p in status["parties"]] == [
        ("JPN", "KOR", "acknowledged"),
        ("USA", "JPN", "acknowledged"),  # two hops away, passed on by Japan, its ack relayed back by Japan
    ]
    assert status["acknowledged"]
    jpn, usa = custody(net, "JPN", "kor-rc-1"), custody(net, "USA", "kor-rc-1")
    assert (jpn["marking"], jpn["alternative"]) == (SECRET, "極秘")  # JK-R4 equivalent re-marked
    assert (usa["marking"], usa["alternative"]) == (SECRET, "SECRET")
    assert [e["to"] for e in events(net, "USA", "reclassified")] == [SECRET]
    assert len(events(net, "KOR", "custody_notice_ack")) == 2
    # exactly once: the notice delivered again (a replay after a crash) changes nothing and is answered as such
    (row,) = net.nodes["JPN"].store.rows(st.custody_notices, st.custody_notices.c.kind == "reclassification")
    msg = json.dumps({"notice": json.loads(row["doc"]), "covers": {}, "at": "2017-03-01"}).encode()
    assert net.dispatch("JPN", "custody_notice", "USA", msg)["status"] == "replay"
    assert len(events(net, "USA", "reclassified")) == 1


def test_reclassified_item_is_decided_at_its_new_level_JK_R12(net: Net) -> None:
    """Declassified below what the GSOMIA covers, or re-marked: the holder's decisions follow the notice."""
    net.submit("KOR", label("kor-rc-2", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    kor, jpn = net.nodes["KOR"], net.nodes["JPN"]
    kor.issue_notice("kor-rc-2", "reclassification", classification="대외비", at="2017-03-01")
    net.pump()
    assert custody(net, "JPN", "kor-rc-2")["marking"] == "대외비"
    with pytest.raises(Refused) as e:  # 대외비 is no CMI under the GSOMIA (JK-R1): not even held any more
        jpn.forward("kor-rc-2", "USA", "2017-03-02")
    codes = {r["code"] for r in e.value.extensions()["decision"]["reasons"]}
    assert codes & {"NOT_HELD", "LEVEL_NOT_COVERED"}


def test_holder_refuses_a_notice_not_signed_by_the_items_originator(net: Net) -> None:
    """Attack: the US node signs a reclassification (and a freeze) of a Korean item held by Japan."""
    net.submit("KOR", label("kor-rc-3", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    usa = net.nodes["USA"]
    for kind, extra in (("reclassification", {"classification": "TOP SECRET"}), ("freeze", {})):
        body = {"format": FORMAT, "kind": kind, "item": "kor-rc-3", "originator": "USA", "date": "2017-03-01", **extra}
        forged = sign_notice(body, "USA", KEYID, usa.receipt_key.sign)
        msg = json.dumps({"notice": forged, "covers": {}, "at": "2017-03-01"}).encode()
        with pytest.raises(NoticeRefused, match="originator is KOR"):
            net.dispatch("USA", "custody_notice", "JPN", msg)
    # the item's originator named, but signed with the US key: the signature does not verify
    body = {"format": FORMAT, "kind": "freeze", "item": "kor-rc-3", "originator": "KOR", "date": "2017-03-01"}
    forged = sign_notice(body, "KOR", KEYID, usa.receipt_key.sign)
    with pytest.raises(NoticeError, match="does not verify"):
        net.dispatch("USA", "custody_notice", "JPN", json.dumps({"notice": forged, "at": "2017-03-01"}).encode())
    rec = custody(net, "JPN", "kor-rc-3")
    assert (rec["state"], rec["marking"]) == ("HELD", SECRET)
    assert len(events(net, "JPN", "custody_notice_refused")) == 3
    # a report of a loss of an item Korea never released to the US, and an acknowledgement of a notice never sent
    body = {"format": FORMAT, "kind": "compromise", "item": "kor-rc-3", "originator": "KOR", "holder": "USA"}
    report = sign_notice({**body, "date": "2017-03-01", "stage": "SUSPECTED"}, "USA", KEYID, usa.receipt_key.sign)
    with pytest.raises(NoticeRefused, match="released no item"):
        net.dispatch("USA", "custody_notice", "KOR", json.dumps({"notice": report, "at": "2017-03-01"}).encode())
    assert net.nodes["KOR"].custody_alarms() == []
    with pytest.raises(InputError, match="only the originator"):  # a holder's officer cannot issue one either
        net.nodes["JPN"].issue_notice("kor-rc-3", "freeze", at="2017-03-01")


def test_compromise_alarms_the_originator_and_its_freeze_stops_the_item_and_its_derivative_JK_R26(net: Net) -> None:
    net.submit("KOR", label("kor-cf-1", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    kor, jpn = net.nodes["KOR"], net.nodes["JPN"]
    made = jpn.derive_item(["kor-cf-1"], "translation", "jpn-tr-1", language="ja", at="2017-02-20")
    assert made["label"]["originator"] == "KOR" and made["custody"]["sources"] == ["kor-cf-1"]
    out = jpn.report_compromise("kor-cf-1", "SUSPECTED", "laptop missing", at="2017-03-01")
    assert out["stage"] == "SUSPECTED" and custody(net, "JPN", "kor-cf-1")["state"] == "COMPROMISED"
    with pytest.raises(CustodyError):  # in order only
        jpn.report_compromise("kor-cf-1", "REPORTED", at="2017-03-01")
    net.pump()
    (alarm,) = kor.custody_alarms()  # the originator is told at once
    assert (alarm["item_id"], alarm["holder"], alarm["stage"]) == ("kor-cf-1", "JPN", "SUSPECTED")
    assert events(net, "KOR", "custody_derived")[0]["sources"] == ["kor-cf-1"]
    kor.issue_notice("kor-cf-1", "freeze", note="pending investigation", at="2017-03-02")
    net.pump()
    assert custody(net, "JPN", "kor-cf-1")["state"] == "FROZEN"
    assert custody(net, "JPN", "jpn-tr-1")["state"] == "FROZEN"  # the derivative too
    frozen = jpn.custody_decision("jpn-tr-1", "USA", "2017-03-03")
    assert not frozen["allowed"] and frozen["reasons"][0]["code"] == "FROZEN"
    assert frozen["reasons"][0]["rule"] == "JK-R26"
    assert kor.item_notices("kor-cf-1")[-1]["parties"][0]["state"] == "acknowledged"
    with pytest.raises(Refused) as e:
        jpn.forward("kor-cf-1", "USA", "2017-03-03")
    (why,) = [r for r in e.value.extensions()["decision"]["reasons"] if r["code"] == "FROZEN"]
    assert why["rule"] == "JK-R26"
    for stage in ("NOTIFIED", "INVESTIGATING", "REPORTED"):
        jpn.report_compromise("kor-cf-1", stage, at="2017-03-04")
    jpn.report_compromise("jpn-tr-1", "SUSPECTED", "the translation too", at="2017-03-04")  # a derived item's loss
    net.pump()
    assert not net.refusals
    alarms = [(a["item_id"], a["stage"]) for a in kor.custody_alarms()]
    assert alarms == [("jpn-tr-1", "SUSPECTED")] + [
        ("kor-cf-1", s) for s in ("REPORTED", "INVESTIGATING", "NOTIFIED", "SUSPECTED")
    ]
    kor.issue_notice("kor-cf-1", "unfreeze", at="2017-03-05")
    net.pump()
    assert custody(net, "JPN", "kor-cf-1")["state"] == "HELD" and custody(net, "JPN", "jpn-tr-1")["state"] == "HELD"
    assert jpn.forward("kor-cf-1", "USA", "2017-03-06").status == "held"  # the third-party rule again


def test_recipient_recheck_refuses_a_frozen_item_JK_R26(net: Net) -> None:
    """Japan has not yet heard of the freeze and sends the item on: the US node, which has, refuses it."""
    kor, jpn = net.nodes["KOR"], net.nodes["JPN"]
    net.submit("KOR", label("kor-cf-2", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.submit("KOR", label("kor-cf-2", rel=("JPN", "USA")), "USA", "2017-02-12")
    net.pump()
    assert jpn.forward("kor-cf-2", "USA", "2017-02-13").status == "held"
    net.pump()
    kor.decide_consent("jpn-cr:kor-cf-2:USA", True, "officer kim")
    kor.issue_notice("kor-cf-2", "freeze", at="2017-02-13")
    for e in kor.store.claim("test-KOR", limit=100, lease_seconds=30):  # the freeze reaches USA only, for now
        if e.kind == "consent_decision" or e.recipient == "USA":
            net.workers["KOR"].deliver(e, "test-KOR")
        else:
            kor.store.mark_retry(e.id, "test-KOR", "held back by the test", 3600, give_up=False)
    net.pump()  # JPN relays on Korea's consent; USA re-checks
    refused = [r for r in net.refusals if r[:2] == ("JPN", "USA")]
    assert refused and "refused" in refused[0][2]
    (d,) = [
        json.loads(r["body"])["decision"]
        for r in net.nodes["USA"].store.rows(st.events, st.events.c.type == "decision")
        if '"FROZEN"' in r["body"]
    ]
    assert d["reasons"][0]["code"] == "FROZEN" and d["reasons"][0]["rule"] in ("JK-R26", "US-R7")


def test_release_for_another_purpose_needs_the_originators_approval_JK_R7(net: Net) -> None:
    import datetime as dt

    kor, jpn = net.nodes["KOR"], net.nodes["JPN"]
    for item in ("kor-pp-1", "kor-pp-2"):
        net.submit("KOR", label(item, rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    for item in ("kor-pp-1", "kor-pp-2"):
        kor.issue_notice(item, "purpose", purpose="missile warning", at="2017-02-12")
    kor.grant_standing("JPN", "USA", ["DPRK-MISSILE"], dt.date(2017, 1, 1), dt.date(2017, 12, 31), "officer kim")
    net.pump()
    assert custody(net, "JPN", "kor-pp-1")["purpose"] == "missile warning"
    # the standing consent frees the third-party rule, not another purpose: held for Korea's approval
    out = jpn.forward("kor-pp-1", "USA", "2017-02-13", purpose="training")
    assert out.status == "held"
    why = out.decision["reasons"][0]
    assert (why["code"], why["rule"], why["agreement"]) == ("OTHER_PURPOSE", "JK-R7", "jpn-kor-gsomia")
    net.pump()
    assert [r["item_id"] for r in net.nodes["USA"].store.rows(st.inbox)] == []  # nothing went
    (req,) = kor.consent_requests("pending")
    assert req["request_id"] == "jpn-cr:kor-pp-1:USA"
    kor.decide_consent(req["request_id"], True, "officer kim", "training approved")  # the written approval
    net.pump()
    assert [r["item_id"] for r in net.nodes["USA"].store.rows(st.inbox)] == ["kor-pp-1"]
    # the purpose it was provided for: the standing consent suffices; the return needs no purpose
    assert jpn.forward("kor-pp-2", "USA", "2017-02-13", purpose="missile warning").status == "relayed"
    assert jpn.forward("kor-pp-2", "KOR", "2017-02-13", purpose="training").status == "relayed"


def test_decide_hop_refuses_another_purpose_without_an_item_consent_JK_R7() -> None:
    import datetime as dt

    from accord.core.consent import Consent
    from accord.core.custody import Custody
    from accord.formats.label_json import label_from_dict
    from accord.node.policy import load_agreement_set
    from accord.release import decide_hop

    aset = load_agreement_set(None)
    lab = label_from_dict(label("kor-pp-3", rel=("JPN", "USA")))
    rec = Custody("kor-pp-3", "KOR", "JPN", "jpn-kor-gsomia", "KOR", dt.date(2017, 2, 12), SECRET, "極秘")
    rec = dataclasses.replace(rec, purpose="missile warning")
    day = dt.date(2017, 2, 13)
    standing = Consent("kor-s1", "KOR", "JPN", "USA", day, day, topics=frozenset({"DPRK-MISSILE"}), standing=True)
    d = decide_hop(lab, "JPN", "USA", day, aset, [standing], rec, purpose="training")
    assert not d.allowed and d.denials[0].code.value == "OTHER_PURPOSE" and d.denials[0].rule == "JK-R7"
    assert decide_hop(lab, "JPN", "USA", day, aset, [standing], rec, purpose="missile warning").allowed
    item = Consent("kor-c1", "KOR", "JPN", "USA", day, day, item="kor-pp-3")
    assert decide_hop(lab, "JPN", "USA", day, aset, [item], rec, purpose="training").allowed


def test_derived_items_keep_markings_lineage_and_copy_counts_JK_R5_R23_R24(net: Net) -> None:
    net.submit("KOR", label("kor-dv-1", cls=CONFIDENTIAL, rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.submit("KOR", label("kor-dv-2", cls=SECRET, rel=("JPN",)), "JPN", "2017-02-12")
    net.pump()
    jpn = net.nodes["JPN"]
    out = jpn.derive_item(["kor-dv-1", "kor-dv-2"], "extract", "jpn-ex-1", at="2017-02-20")
    assert out["label"]["classification"] == SECRET  # high-water mark
    assert out["label"]["releasable_to"] == ["JPN"]  # most restrictive releasability
    assert out["custody"]["sources"] == ["kor-dv-1", "kor-dv-2"]
    jpn.derive_item(["kor-dv-1"], "reproduction", "jpn-cp-1", at="2017-02-20")
    rec = custody(net, "JPN", "kor-dv-1")
    assert rec["copies"] == 1 and json.loads(rec["derived"]) == ["jpn-ex-1", "jpn-cp-1"]
    with pytest.raises(InputError):  # an item not held here
        jpn.derive_item(["kor-nothing"], "reproduction", at="2017-02-20")
    net.pump()
    assert [e["derivation"] for e in events(net, "KOR", "custody_derived")] == ["extract", "reproduction"]
    # a reclassification of a source re-marks the derived items at the highest level of their sources
    net.nodes["KOR"].issue_notice("kor-dv-2", "reclassification", classification=CONFIDENTIAL, at="2017-03-01")
    net.pump()
    ex = custody(net, "JPN", "jpn-ex-1")
    assert ex["marking"] == CONFIDENTIAL
    # the derived item is releasable under the same rules: onward, the originator's consent (JK-R6)
    d = jpn.custody_decision("jpn-cp-1", "USA", "2017-03-01")
    assert not d["allowed"] and d["reasons"][0]["code"] == "CONSENT_REQUIRED"
    assert (d["reasons"][0]["rule"], d["reasons"][0]["agreement"]) == ("JK-R6", "jpn-kor-gsomia")
    assert not jpn.custody_decision("jpn-ex-1", "USA", "2017-03-01")["allowed"]  # REL TO JPN only
    jpn.record_custody("kor-dv-1", "RETURNED", "end of purpose")
    with pytest.raises(CustodyError):  # nothing is derived from an item no longer held (JK-R13)
        jpn.derive_item(["kor-dv-1"], "reproduction", at="2017-03-02")
    net.pump()
    (returned,) = events(net, "KOR", "custody_reported")  # the return is reported to the originator (JK-R13)
    assert (returned["kind"], returned["holder"], returned["note"]) == ("returned", "JPN", "end of purpose")


def test_cli_custody_commands_and_their_one_line_errors(net: Net) -> None:
    from tests.support.cli import run

    net.submit("KOR", label("kor-cli-1", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    kor, jpn = (str(net.cfgs[p].dir) for p in ("KOR", "JPN"))
    code, out, _ = run("node", "custody", "purpose", "--dir", kor, "--item", "kor-cli-1", "--purpose", "warning")
    assert code == 0 and "purpose" in out and "JPN sent" in out
    code, out, _ = run("node", "custody", "compromise", "--dir", jpn, "--item", "kor-cli-1", "--stage", "SUSPECTED")
    assert code == 0 and "SUSPECTED" in out
    net.pump()
    code, out, _ = run("node", "custody", "alarms", "--dir", kor)
    assert code == 0 and json.loads(out)[0]["stage"] == "SUSPECTED"
    code, out, _ = run("node", "custody", "notices", "--dir", kor, "--item", "kor-cli-1")
    assert code == 0 and json.loads(out)[0]["parties"][0]["state"] == "acknowledged"
    for args in (
        ("compromise", "--dir", jpn, "--item", "kor-cli-1", "--stage", "LOST"),  # no such stage
        ("compromise", "--dir", jpn, "--item", "kor-cli-1", "--stage", "REPORTED"),  # out of order
        ("freeze", "--dir", jpn, "--item", "kor-cli-1"),  # not the originator
        ("reclassify", "--dir", kor, "--item", "kor-cli-1", "--to", "SECRET"),  # not in Korea's scheme
        ("derive", "--dir", jpn, "--source", "kor-cli-1", "--kind", "photocopy"),
    ):
        code, out, err = run("node", "custody", *args)
        assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, (args, err)
    code, _, err = run("node", "custody", "reclassify", "--dir", kor, "--item", "kor-nothing", "--to", "대외비")
    assert code == 2 and err.startswith("error: ")


def test_freeze_and_unfreeze_applied_in_the_originators_order_whatever_the_order_of_arrival_JK_R26(net: Net) -> None:
    kor = net.nodes["KOR"]
    net.submit("KOR", label("kor-seq-1", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    kor.issue_notice("kor-seq-1", "freeze", at="2017-03-01")
    kor.issue_notice("kor-seq-1", "unfreeze", at="2017-03-01")
    entries = kor.store.claim("test-KOR", limit=10, lease_seconds=30)
    assert [json.loads(e.body)["notice"]["kind"] for e in entries] == ["freeze", "unfreeze"]
    for e in reversed(entries):  # the unfreeze overtakes the freeze
        net.workers["KOR"].deliver(e, "test-KOR")
    net.pump()
    assert custody(net, "JPN", "kor-seq-1")["state"] == "HELD"  # not left frozen by the late freeze
    (freeze, unfreeze) = kor.item_notices("kor-seq-1")
    assert freeze["parties"][0]["state"] == unfreeze["parties"][0]["state"] == "acknowledged"
    assert "superseded" in freeze["parties"][0]["note"]


def test_a_party_the_item_reaches_after_a_notice_gets_the_notice_with_it_JK_R12(net: Net) -> None:
    kor = net.nodes["KOR"]
    net.submit("KOR", label("kor-late-1", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    kor.issue_notice("kor-late-1", "reclassification", classification=CONFIDENTIAL, at="2017-02-13")
    kor.issue_notice("kor-late-1", "purpose", purpose="missile warning", at="2017-02-13")
    net.pump()
    assert net.nodes["JPN"].forward("kor-late-1", "USA", "2017-02-14", purpose="missile warning").status == "held"
    net.pump()
    kor.decide_consent("jpn-cr:kor-late-1:USA", True, "officer kim")
    net.pump()
    rec = custody(net, "USA", "kor-late-1")  # the sealed label still says SECRET; the notices followed the item
    assert (rec["marking"], rec["alternative"], rec["purpose"]) == (CONFIDENTIAL, "CONFIDENTIAL", "missile warning")
    for n in kor.item_notices("kor-late-1"):
        assert [(p["party"], p["via"], p["state"]) for p in n["parties"]] == [
            ("JPN", "KOR", "acknowledged"),
            ("USA", "JPN", "acknowledged"),
        ]
