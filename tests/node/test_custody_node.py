"""Issue 10, node side: each node keeps a custody record per item it holds, decides onward releases under it,
and records returns, destruction and compromise (JK-R11, JK-R13, JK-R26)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.errors import InputError
from accord.node import db as st
from accord.node.errors import Refused
from tests.node.helpers import Net, label


@pytest.fixture
def net(tmp_path: Path) -> Net:
    return Net(tmp_path)


def test_received_item_gets_a_custody_record_under_the_agreement_it_came_by(net: Net) -> None:
    net.submit("KOR", label("kor-c1", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    rec = net.nodes["JPN"].item_status("kor-c1")["custody"]
    assert rec["agreement"] == "jpn-kor-gsomia" and rec["received_from"] == "KOR" and rec["state"] == "HELD"
    assert rec["originator"] == "KOR" and rec["holder"] == "JPN" and rec["alternative"] == "極秘"
    assert net.nodes["KOR"].item_status("kor-c1")["custody"] is None  # the originator's own item needs none


def test_onward_release_is_judged_under_the_recorded_agreement_JK_R6(net: Net) -> None:
    net.submit("KOR", label("kor-c2", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    out = net.nodes["JPN"].forward("kor-c2", "USA", "2017-02-13")
    assert out.status == "held"  # awaiting Korea's consent
    assert out.decision["reasons"][0]["rule"] == "JK-R6"
    assert out.decision["reasons"][0]["agreement"] == "jpn-kor-gsomia"


def test_compromised_item_is_not_released_but_goes_back_to_its_originator_JK_R26(net: Net) -> None:
    net.submit("KOR", label("kor-c3", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    jpn = net.nodes["JPN"]
    assert jpn.record_custody("kor-c3", "COMPROMISED", "possible loss")["state"] == "COMPROMISED"
    with pytest.raises(Refused) as e:
        jpn.forward("kor-c3", "USA", "2017-02-13")
    assert e.value.extensions()["decision"]["reasons"][0]["code"] == "FROZEN"
    assert jpn.forward("kor-c3", "KOR", "2017-02-13").status == "relayed"  # the return stays open
    events = [r["type"] for r in jpn.store.rows(st.events)]
    assert "custody" in events


def test_returned_item_is_no_longer_held_and_custody_changes_are_checked_JK_R13(net: Net) -> None:
    net.submit("KOR", label("kor-c4", rel=("JPN", "USA")), "JPN", "2017-02-12")
    net.pump()
    jpn = net.nodes["JPN"]
    assert jpn.record_custody("kor-c4", "RETURNED")["state"] == "RETURNED"
    with pytest.raises(InputError):
        jpn.record_custody("kor-c4", "HELD")  # RETURNED is final
    with pytest.raises(InputError):
        jpn.record_custody("kor-c4", "LOST")
    with pytest.raises(Refused) as e:
        jpn.forward("kor-c4", "KOR", "2017-02-13")
    assert e.value.extensions()["decision"]["reasons"][0]["code"] == "CUSTODY_ENDED"
