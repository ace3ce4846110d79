"""JK-R4 off the release path (issue 8): the final recipient decides and records its equivalent marking at
receipt, and signs its alternative label into the stored container once, the first time the container leaves
the database (forward, return, release after consent, a reader's open) -- never on the release itself."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from accord import release
from accord.node import db as st
from accord.node.errors import Refused
from accord.node.service import NodeService
from accord.node.wiring import load_service
from accord.sealed.item import VerifiedItem
from accord.sealed.plan import ReleasePlan
from accord.sealed.seal import seal_stream
from tests.node.helpers import Net, label

DAY = "2017-02-12"  # the KOR-JPN GSOMIA is in force: a direct release, JPN marks 極秘 (JK-R4)


@pytest.fixture
def net(tmp_path: Path) -> Net:
    return Net(tmp_path)


class _Counting:
    """Counts the hybrid signatures a node's sealer makes for its alternative labels."""

    def __init__(self, node: NodeService) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        self._add = node.sealer.add_marking
        node.sealer.add_marking = self  # type: ignore[method-assign]

    def __call__(self, item: VerifiedItem, xml: bytes) -> VerifiedItem:
        with self._lock:
            self.calls += 1
        return self._add(item, xml)


def _row(node: NodeService, item_id: str) -> dict[str, Any]:
    rows = node.store.rows(st.items, st.items.c.item_id == item_id)
    assert len(rows) == 1
    return rows[0]


def _events(node: NodeService, type_: str, item_id: str) -> list[dict[str, Any]]:
    rows = node.store.rows(st.events, (st.events.c.type == type_) & (st.events.c.item_id == item_id))
    return [json.loads(r["body"]) for r in rows]


def _alt_parties(node: NodeService, blob: bytes) -> list[str]:
    return [a.party for a in node.sealer.verify(blob).alternative_labels]


def _received(net: Net, item_id: str) -> NodeService:
    net.submit("KOR", label(item_id, rel=("JPN",)), "JPN", DAY)
    net.pump()
    return net.nodes["JPN"]


def _sent_blob(node: NodeService, item_id: str, to: str) -> bytes:
    """The container in ``node``'s outbox for ``to``: what left the node."""
    rows = [r for r in node.store.rows(st.outbox, st.outbox.c.item_id == item_id) if r["recipient"] == to]
    assert len(rows) == 1
    return base64.b64decode(json.loads(rows[0]["body"])["sealed"])


def test_marking_is_recorded_at_receipt_and_not_signed_on_the_release_JK_R4(net: Net) -> None:
    counting = _Counting(net.nodes["JPN"])
    jpn = _received(net, "kor-mk1")
    assert counting.calls == 0  # no second hybrid signature on the release path
    row = _row(jpn, "kor-mk1")
    assert row["marking"] == "極秘"
    assert "極秘" in row["alt_label_xml"] and "alternativeConfidentialityLabel" in row["alt_label_xml"]
    assert _alt_parties(jpn, bytes(row["sealed"])) == []  # pending: the container is as received
    record = jpn.custody_record("kor-mk1")
    assert (record["marking"], record["alternative"]) == ("군사Ⅱ급비밀", "極秘")  # the custody record: both
    assert [e["marking"] for e in _events(jpn, "delivery", "kor-mk1")] == ["極秘"]  # and the audited event
    status = jpn.item_status("kor-mk1")
    assert status["marking"] == "極秘" and status["alternative_label"] == row["alt_label_xml"]
    assert _events(jpn, "marked", "kor-mk1") == []
    # the receipt names the digest of the container as delivered
    receipt = net.nodes["KOR"].item_status("kor-mk1")["receipts"][0]["receipt"]
    assert receipt["digest"] == row["digest"]


def test_returned_container_carries_the_signed_alternative_label_verified_against_jpn_key_JK_R4(net: Net) -> None:
    jpn = _received(net, "kor-mk2")
    alt = _row(jpn, "kor-mk2")["alt_label_xml"]
    assert jpn.forward("kor-mk2", "KOR", "2017-02-13").status == "relayed"  # back to the originator (JK-R13)
    blob = _sent_blob(jpn, "kor-mk2", "KOR")
    item = net.nodes["KOR"].sealer.verify(blob)  # KOR's roster: JPN's pinned key verifies the label's signature
    [mine] = [a for a in item.alternative_labels if a.party == "JPN"]
    assert mine.xml.decode() == alt
    assert mine.keyid == net.nodes["JPN"].sealer.keys.sign_key_id  # type: ignore[attr-defined]
    # the stored container is the marked one now; the journal says when it was signed
    assert _alt_parties(jpn, bytes(_row(jpn, "kor-mk2")["sealed"])) == ["JPN"]
    [ev] = _events(jpn, "marked", "kor-mk2")
    assert ev["marking"] == "極秘" and ev["rule"] == "JK-R4"
    net.pump()
    assert [i["state"] for i in net.nodes["KOR"].item_status("kor-mk2")["inbox"]] == ["returned"]


def test_marking_is_signed_once_a_second_read_does_not_sign_again_JK_R4(net: Net) -> None:
    jpn = _received(net, "kor-mk3")
    counting = _Counting(jpn)
    label_, payload = jpn.open_item("kor-mk3")  # the first time the container leaves the database
    assert payload == b"x" * 64 and label_.id == "kor-mk3"
    assert counting.calls == 1
    marked = bytes(_row(jpn, "kor-mk3")["sealed"])
    assert _alt_parties(jpn, marked) == ["JPN"]
    assert jpn.open_item("kor-mk3")[1] == b"x" * 64
    jpn.forward("kor-mk3", "KOR", "2017-02-13")
    assert counting.calls == 1  # neither the second read nor the return signed again
    assert bytes(_row(jpn, "kor-mk3")["sealed"]) == marked
    assert _alt_parties(jpn, _sent_blob(jpn, "kor-mk3", "KOR")) == ["JPN"]
    assert len(_events(jpn, "marked", "kor-mk3")) == 1


def test_concurrent_first_reads_sign_once_and_keep_the_marking_JK_R4(net: Net) -> None:
    jpn = _received(net, "kor-mk4")
    counting = _Counting(jpn)
    start = threading.Barrier(4)
    out: list[bytes] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            start.wait()
            out.append(jpn.open_item("kor-mk4")[1])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert out == [b"x" * 64] * 4
    assert counting.calls == 1
    assert _alt_parties(jpn, bytes(_row(jpn, "kor-mk4")["sealed"])) == ["JPN"]
    assert len(_events(jpn, "marked", "kor-mk4")) == 1


def test_held_for_consent_then_released_leaves_marked_once_JK_R4_T_R5(net: Net) -> None:
    net.submit("KOR", label("kor-mk5", topics=("DPRK-NUCLEAR",)), "USA", "2015-06-20")
    net.pump()
    usa = net.nodes["USA"]
    counting = _Counting(usa)
    assert _alt_parties(usa, bytes(_row(usa, "kor-mk5")["sealed"])) == []  # final recipient: pending
    assert usa.forward("kor-mk5", "JPN", "2015-06-22").status == "held"
    assert counting.calls == 1  # the held container is the one that will leave: marked now
    net.pump()
    [req] = net.nodes["KOR"].consent_requests("pending")
    net.nodes["KOR"].decide_consent(req["request_id"], True, "officer Kim", "approved")
    net.pump()
    assert counting.calls == 1
    jpn = net.nodes["JPN"]
    assert jpn.item_status("kor-mk5")["sender"] == "USA"
    assert _alt_parties(jpn, bytes(_row(jpn, "kor-mk5")["sealed"])) == ["USA"]  # as it left the hub


def test_refused_forward_signs_nothing_JK_R4_JK_R3(net: Net) -> None:
    jpn = _received(net, "kor-mk6")
    counting = _Counting(jpn)
    with pytest.raises(Refused):
        jpn.forward("kor-mk6", "USA", "2017-02-13")  # not releasable to the USA (JK-R3): nothing leaves
    assert counting.calls == 0
    assert _alt_parties(jpn, bytes(_row(jpn, "kor-mk6")["sealed"])) == []


def test_no_equivalent_is_still_refused_at_receipt_and_nothing_is_stored_JK_R4(net: Net) -> None:
    # KOR's node seals a 대외비 item straight to JPN under a plan no decision made: JPN has no
    # equivalent under the GSOMIA (JK-R1/JK-R4) and refuses the delivery on its own decision.
    kor, jpn = net.nodes["KOR"], net.nodes["JPN"]
    lab = label("kor-mk7", cls="대외비", topics=("LOGISTICS",), rel=("JPN",))
    from accord.node.policy import label_from_dict

    xml = release.label_xml_of(label_from_dict(lab))
    plan = ReleasePlan.without_decision(xml, holder="KOR", recipients=["JPN"], at=dt.date(2017, 2, 12))
    out = io.BytesIO()
    seal_stream(io.BytesIO(b"t" * 32), out, label_xml=xml, plan=plan, signer=kor.sealer.keys, roster=kor.sealer.roster)  # type: ignore[attr-defined]
    env = {
        "item_id": "kor-mk7",
        "sender": "KOR",
        "final_recipient": "JPN",
        "at": DAY,
        "sealed": base64.b64encode(out.getvalue()).decode(),
        "consents": [],
    }
    from accord.formats.canonical import canonical_json

    with pytest.raises(Refused) as e:
        net.dispatch("KOR", "delivery", "JPN", canonical_json(env))
    codes = {r["code"] for r in e.value.extensions()["decision"]["reasons"]}
    assert "LEVEL_NOT_COVERED" in codes
    assert jpn.store.rows(st.items) == [] and jpn.store.rows(st.custody) == []
    assert _events(jpn, "marked", "kor-mk7") == []


def test_pending_marking_survives_a_restart_and_is_applied_on_the_first_read_JK_R4(net: Net, tmp_path: Path) -> None:
    _received(net, "kor-mk8")
    net.nodes["JPN"].store.dispose()  # the process is gone: only the database and the key files remain
    jpn = load_service(tmp_path / "jpn")
    try:
        assert _alt_parties(jpn, bytes(_row(jpn, "kor-mk8")["sealed"])) == []
        assert jpn.open_item("kor-mk8")[1] == b"x" * 64
        row = _row(jpn, "kor-mk8")
        [alt] = jpn.sealer.verify(bytes(row["sealed"])).alternative_labels
        assert alt.party == "JPN" and alt.xml.decode() == row["alt_label_xml"]
    finally:
        jpn.store.dispose()


@pytest.mark.integration
def test_kill_9_of_the_recipient_keeps_the_marking_pending_and_the_return_carries_it_JK_R4(tmp_path: Path) -> None:
    from accord.node.client import local_client
    from accord.node.cluster import NodeProcess, init_node, pin_each_other

    fast = {"lease_seconds": 2.0, "retry_base_seconds": 0.1, "retry_max_seconds": 1.0, "poll_seconds": 0.02}
    cfgs = {p: init_node(tmp_path / p.lower(), p, **fast) for p in ("KOR", "JPN")}  # type: ignore[arg-type]
    pin_each_other(list(cfgs.values()))
    kor, jpn = cfgs["KOR"], cfgs["JPN"]
    procs = {p: NodeProcess(cfgs[p], workers=1) for p in cfgs}

    def db_rows(cfg: Any, table: st.Table, *where: Any) -> list[dict[str, Any]]:
        s = st.Store(cfg.db, create=False)
        try:
            return s.rows(table, *where)
        finally:
            s.dispose()

    def wait(what: str, cond: Any) -> None:
        import time

        end = time.monotonic() + 60
        while not cond():
            assert time.monotonic() < end, f"timed out waiting for {what}"
            time.sleep(0.1)

    try:
        for proc in procs.values():
            proc.start()
        with local_client(kor) as c:
            r = c.post(
                "/v1/items",
                json={"label": label("kor-mk9", rel=("JPN",)), "payload_b64": "eHh4", "to": "JPN", "at": DAY},
            )
            assert r.status_code == 200, r.text
        wait("the receipt at KOR", lambda: db_rows(kor, st.receipts) != [])
        procs["JPN"].kill9()  # the item is stored and receipted, its marking recorded, the signature pending
        [row] = db_rows(jpn, st.items)
        assert row["marking"] == "極秘" and row["alt_label_xml"]
        keys = load_service(jpn.dir)
        try:
            assert _alt_parties(keys, bytes(row["sealed"])) == []
        finally:
            keys.store.dispose()
        procs["JPN"].start()
        with local_client(jpn) as c:  # the return to the originator (JK-R13): the container leaves now
            r = c.post("/v1/items/kor-mk9/forward", json={"to": "KOR", "at": "2017-02-13"})
            assert r.status_code == 200 and r.json()["status"] == "relayed", r.text
        procs["JPN"].kill9()  # answered, so committed: the marked container survives this kill too
        procs["JPN"].start()
        wait("the return at KOR", lambda: [i["state"] for i in db_rows(kor, st.inbox)] == ["returned"])
    finally:
        for proc in procs.values():
            proc.stop()
    [row] = db_rows(jpn, st.items)
    svc = load_service(jpn.dir)
    try:
        [alt] = svc.sealer.verify(bytes(row["sealed"])).alternative_labels
        assert alt.party == "JPN" and alt.xml.decode() == row["alt_label_xml"]
        assert len(_events(svc, "marked", "kor-mk9")) == 1
    finally:
        svc.store.dispose()


@pytest.mark.integration
def test_concurrent_first_reads_on_postgres_sign_once_JK_R4(tmp_path: Path, node_pg_url: str) -> None:
    net = Net(tmp_path, dbs={"JPN": node_pg_url})
    jpn = _received(net, "kor-mk10")
    counting = _Counting(jpn)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def first_leave(i: int) -> None:
        try:
            start.wait()
            if i:
                jpn.open_item("kor-mk10")
            else:  # the one return (a second would be refused: the custody ended, JK-R13)
                jpn.forward("kor-mk10", "KOR", "2017-02-13")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=first_leave, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counting.calls == 1  # row lock (FOR UPDATE): the others found the label in the container
    assert _alt_parties(jpn, bytes(_row(jpn, "kor-mk10")["sealed"])) == ["JPN"]
    assert _alt_parties(jpn, _sent_blob(jpn, "kor-mk10", "KOR")) == ["JPN"]
    assert len(_events(jpn, "marked", "kor-mk10")) == 1
