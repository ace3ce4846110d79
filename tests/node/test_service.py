"""The node's logic with real services and stores, messages pumped in-process (no HTTP)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from accord.errors import InputError, IntegrityError
from accord.formats.canonical import canonical_json as canonical
from accord.node import db as st
from accord.node.errors import Conflict, PeerRefused, Refused
from accord.node.service import Caller
from tests.node.helpers import Net, label

MARKER = b"PAYLOAD-PLAINTEXT-MARKER-5d41402abc4b2a76"


@pytest.fixture
def net(tmp_path: Path) -> Net:
    return Net(tmp_path, extra=("CHN",))


def _rows(net: Net, party: str, table: st.Table) -> list[dict[str, object]]:
    return net.nodes[party].store.rows(table)


def test_trilateral_relay_through_hub_2015_T_R4_T_R5(net: Net) -> None:
    out = net.submit("KOR", label("kor-1"), "JPN", "2015-04-12", MARKER)
    assert out.decision["route"] == ["KOR", "USA", "JPN"]
    assert out.next_hop == "USA"
    assert net.pump() >= 2
    jpn = net.nodes["JPN"].item_status("kor-1")
    assert jpn["sender"] == "USA"
    assert jpn["marking"] == "極秘"  # JK-R4/T-R6: Japan's equivalent of 군사Ⅱ급비밀
    assert jpn["label"]["classification"] == "군사Ⅱ급비밀"  # the originator's label is kept
    assert net.nodes["JPN"].open_item("kor-1")[1] == MARKER
    assert net.nodes["USA"].item_status("kor-1")["marking"] == "SECRET"
    assert sorted(r["recipient"] for r in net.nodes["KOR"].item_status("kor-1")["receipts"]) == ["JPN", "USA"]
    assert [r["recipient"] for r in net.nodes["USA"].item_status("kor-1")["receipts"]] == ["JPN"]
    assert [i["state"] for i in net.nodes["USA"].item_status("kor-1")["inbox"]] == ["relayed"]
    assert not net.refusals


def test_direct_under_gsomia_2017_marks_with_alternative_label_JK_R4(net: Net) -> None:
    out = net.submit("KOR", label("kor-2", rel=("JPN",)), "JPN", "2017-02-12")
    assert out.decision["route"] == ["KOR", "JPN"]
    net.pump()
    jpn = net.nodes["JPN"].item_status("kor-2")
    assert jpn["sender"] == "KOR"
    assert jpn["marking"] == "極秘"
    if jpn["alternative_label"] is not None:
        assert "極秘" in jpn["alternative_label"]
    assert len(net.nodes["KOR"].item_status("kor-2")["receipts"]) == 1


def test_release_to_unknown_third_country_refused_and_nothing_queued(net: Net) -> None:
    with pytest.raises(Refused) as e:
        net.submit("KOR", label("kor-3"), "CHN", "2017-02-12")
    assert e.value.extensions()["decision"]["allowed"] is False
    assert _rows(net, "KOR", st.outbox) == []
    assert _rows(net, "KOR", st.items) == []
    events = [r["type"] for r in _rows(net, "KOR", st.events)]
    assert events == ["decision"]  # the refusal is recorded (JK-R11), nothing else


def test_holder_may_not_pass_on_what_the_originator_did_not_make_releasable_JK_R3(net: Net) -> None:
    net.submit("KOR", label("kor-4", rel=("JPN",)), "JPN", "2017-02-12")
    net.pump()
    with pytest.raises(Refused) as e:
        net.nodes["JPN"].forward("kor-4", "USA", "2017-02-13")
    codes = [r["code"] for r in e.value.extensions()["decision"]["reasons"]]
    assert "NOT_RELEASABLE" in codes
    assert _rows(net, "JPN", st.outbox) == []


def test_hub_holds_until_the_originator_approves_T_R5(net: Net) -> None:
    net.submit("KOR", label("kor-5", topics=("DPRK-NUCLEAR",)), "USA", "2015-06-20")
    net.pump()
    out = net.nodes["USA"].forward("kor-5", "JPN", "2015-06-22")
    assert out.status == "held"
    net.pump()
    pending = net.nodes["KOR"].consent_requests("pending")
    assert [(r["holder"], r["recipient"], r["item_id"], r["role"]) for r in pending] == [
        ("USA", "JPN", "kor-5", "incoming")
    ]
    assert _rows(net, "JPN", st.items) == []
    net.nodes["KOR"].decide_consent(pending[0]["request_id"], True, "officer Kim", "approved")
    net.pump()
    jpn = net.nodes["JPN"].item_status("kor-5")
    assert jpn["sender"] == "USA"
    assert net.nodes["USA"].consent_requests("approved")[0]["item_id"] == "kor-5"
    # the consent cannot be decided twice
    with pytest.raises(Conflict):
        net.nodes["KOR"].decide_consent(pending[0]["request_id"], False, "officer Kim")


def test_originator_denies_and_the_item_stays_with_the_hub(net: Net) -> None:
    net.submit("KOR", label("kor-6", topics=("DPRK-NUCLEAR",)), "USA", "2015-06-20")
    net.pump()
    net.nodes["USA"].forward("kor-6", "JPN", "2015-06-22")
    net.pump()
    req = net.nodes["KOR"].consent_requests("pending")[0]
    net.nodes["KOR"].decide_consent(req["request_id"], False, "officer Kim", "not this one")
    net.pump()
    assert _rows(net, "JPN", st.items) == []
    assert net.nodes["USA"].consent_requests("denied")[0]["item_id"] == "kor-6"


def test_standing_consent_applies_at_once_and_releases_held_items(net: Net) -> None:
    # one item already held at the hub, waiting for KOR
    net.submit("KOR", label("kor-7"), "USA", "2015-10-10")
    net.pump()
    assert net.nodes["USA"].forward("kor-7", "JPN", "2015-10-11").status == "held"
    import datetime as dt

    net.nodes["KOR"].grant_standing("USA", "JPN", ["DPRK-MISSILE"], dt.date(2015, 1, 1), dt.date(2016, 12, 31), "Kim")
    net.pump()
    assert net.nodes["JPN"].item_status("kor-7")["sender"] == "USA"
    # a later item goes on at once
    net.submit("KOR", label("kor-8"), "USA", "2015-11-01")
    net.pump()
    assert net.nodes["USA"].forward("kor-8", "JPN", "2015-11-02").status == "relayed"
    net.pump()
    assert net.nodes["JPN"].item_status("kor-8")["sender"] == "USA"
    # outside the consent's topics it does not apply
    net.submit("KOR", label("kor-9", topics=("DPRK-NUCLEAR",)), "USA", "2015-11-01")
    net.pump()
    assert net.nodes["USA"].forward("kor-9", "JPN", "2015-11-02").status == "held"


def _delivered_body(net: Net, party: str, item: str) -> tuple[bytes, str]:
    rows = net.nodes[party].store.rows(st.outbox, st.outbox.c.item_id == item, st.outbox.c.kind == "delivery")
    return bytes(rows[0]["body"]), str(rows[0]["idem_key"])  # type: ignore[call-overload]


def test_replayed_delivery_is_stored_once_and_gets_the_same_receipt(net: Net) -> None:
    net.nodes["KOR"].store.prune_delivered = False  # keep the delivered envelope to replay it
    net.submit("KOR", label("kor-r1", rel=("JPN",)), "JPN", "2017-02-12")
    net.pump()
    body, idem = _delivered_body(net, "KOR", "kor-r1")
    first = net.nodes["KOR"].item_status("kor-r1")["receipts"][0]["receipt"]
    again = [net.dispatch("KOR", "delivery", "JPN", body, idem) for _ in range(3)]
    assert all(a["replay"] for a in again)
    assert all(a["receipt"] == first for a in again)
    assert len(_rows(net, "JPN", st.inbox)) == 1
    assert len(_rows(net, "JPN", st.items)) == 1
    assert len(_rows(net, "KOR", st.receipts)) == 1


def test_replay_with_other_content_is_a_conflict(net: Net) -> None:
    net.nodes["KOR"].store.prune_delivered = False  # keep the delivered envelope to replay it
    net.submit("KOR", label("kor-r2", rel=("JPN",)), "JPN", "2017-02-12")
    net.pump()
    body, idem = _delivered_body(net, "KOR", "kor-r2")
    env = json.loads(body)
    sealed = net.nodes["KOR"].sealer.seal(b"other", _lab("kor-r2"), to="JPN", at=dt.date(2017, 2, 12))
    env["sealed"] = base64.b64encode(sealed).decode()
    with pytest.raises(Conflict):
        net.dispatch("KOR", "delivery", "JPN", canonical(env), idem)
    assert len(_rows(net, "JPN", st.inbox)) == 1


def _lab(item: str, **kw: object):  # type: ignore[no-untyped-def]
    from accord.node.policy import label_from_dict

    return label_from_dict(label(item, rel=("JPN",), **kw))  # type: ignore[arg-type]


def _env(item: str, blob: bytes, at: str = "2017-02-12") -> bytes:
    return canonical(
        {
            "item_id": item,
            "sender": "KOR",
            "final_recipient": "JPN",
            "at": at,
            "sealed": base64.b64encode(blob).decode(),
            "consents": [],
        }
    )


@pytest.mark.parametrize("where", [0.05, 0.3, 0.5, 0.7, 0.95, "garbage", "truncated", "forged-signer"])
def test_tampered_sealed_item_is_refused_and_nothing_stored(net: Net, where: object) -> None:
    sealed = net.nodes["KOR"].sealer.seal(MARKER, _lab("kor-t1"), to="JPN", at=dt.date(2017, 2, 12))
    if where == "garbage":
        blob = b"\x00not a container"
    elif where == "truncated":
        blob = sealed[: len(sealed) // 2]
    elif where == "forged-signer":
        # a container signed by a KOR key that is not the pinned one (a key carried in a file is never trusted)
        from accord.release import seal_bytes
        from accord.sealed.keys import PartyKeys, Roster

        forged = PartyKeys.generate("KOR")
        theirs = Roster()
        theirs.pin(Roster.first_entry(forged))
        theirs.pin(net.nodes["KOR"].sealer.roster.latest("JPN"))  # type: ignore[attr-defined]
        blob = seal_bytes(
            MARKER,
            _lab("kor-t1"),
            recipients=["JPN"],
            signer=forged,
            roster=theirs,
            agreements=net.nodes["KOR"].agreements,
            at=dt.date(2017, 2, 12),
        )
    else:
        i = int(len(sealed) * float(where))  # type: ignore[arg-type]
        blob = sealed[:i] + bytes([sealed[i] ^ 0x01]) + sealed[i + 1 :]
    with pytest.raises(IntegrityError) as e:
        net.dispatch("KOR", "delivery", "JPN", _env("kor-t1", blob))
    assert str(e.value) == "integrity check failed"
    assert _rows(net, "JPN", st.items) == []
    assert _rows(net, "JPN", st.inbox) == []
    assert [r["type"] for r in _rows(net, "JPN", st.events)] == ["integrity_failure"]


def test_item_id_must_match_the_sealed_statement(net: Net) -> None:
    sealed = net.nodes["KOR"].sealer.seal(MARKER, _lab("kor-t2"), to="JPN", at=dt.date(2017, 2, 12))
    with pytest.raises(IntegrityError):
        net.dispatch("KOR", "delivery", "JPN", _env("another-id", sealed))
    assert _rows(net, "JPN", st.items) == []


def test_recipient_refuses_a_direct_delivery_the_agreements_do_not_allow_JK_R6(net: Net) -> None:
    # 2015: no GSOMIA yet; KOR may reach JPN only through the US hub (T-R4). A KOR node that seals for JPN
    # (blind relay) and sends it directly anyway is refused by the recipient, whatever the sender says.
    from accord.release import seal_bytes

    kor = net.nodes["KOR"].sealer
    blob = seal_bytes(
        MARKER,
        _lab("kor-d1"),
        recipients=["JPN"],
        signer=kor.keys,
        roster=kor.roster,  # type: ignore[attr-defined]
        agreements=net.nodes["KOR"].agreements,
        at=dt.date(2015, 4, 12),
        relay="blind",
    )
    with pytest.raises(Refused) as e:
        net.dispatch("KOR", "delivery", "JPN", _env("kor-d1", blob, "2015-04-12"))
    assert e.value.extensions()["decision"]["route"] == ["KOR", "USA", "JPN"]
    assert _rows(net, "JPN", st.items) == []


def test_envelope_sender_must_be_the_authenticated_peer(net: Net) -> None:
    net.submit("KOR", label("kor-s1", rel=("JPN",)), "JPN", "2017-02-12")
    body, _ = _delivered_body(net, "KOR", "kor-s1")
    with pytest.raises(PeerRefused):
        net.nodes["JPN"].receive_delivery(net.caller("USA", "JPN"), json.loads(body))


def test_peer_with_a_pinned_certificate_but_no_agreement_is_refused_and_logged(
    net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    chn = Caller(party="CHN", local=False, peer=net.nodes["KOR"].roster.peers["CHN"])
    env = {
        "item_id": "kor-c1",
        "sender": "CHN",
        "final_recipient": "KOR",
        "at": "2017-02-12",
        "sealed": "",
        "consents": [],
    }
    with caplog.at_level(logging.WARNING, logger="accord.node"), pytest.raises(PeerRefused):
        net.nodes["KOR"].receive_delivery(chn, env)
    assert any("refused peer CHN" in r.getMessage() for r in caplog.records)
    assert _rows(net, "KOR", st.inbox) == []


def test_partner_not_yet_bound_is_refused_before_any_agreement(net: Net) -> None:
    # 2014-06: neither the TISA (Dec 2014) nor the GSOMIA (2016) binds KOR and JPN.
    with pytest.raises(PeerRefused):
        net.nodes["JPN"].admit(net.caller("KOR", "JPN"), __import__("datetime").date(2014, 6, 1))


def test_unpinned_client_certificate_is_refused(net: Net) -> None:
    with pytest.raises(PeerRefused):
        net.nodes["KOR"].identify("ab" * 32)
    with pytest.raises(PeerRefused):
        net.nodes["KOR"].identify(None)
    assert net.nodes["KOR"].identify(net.nodes["JPN"].roster.peers["KOR"].fingerprint).local


def test_forged_consent_is_rejected(net: Net) -> None:
    import datetime as dt

    from accord.node.policy import Consent

    forged = net.nodes["USA"].sign_consent(
        Consent(
            id="forged",
            originator="USA",
            holder="JPN",
            recipient="KOR",
            granted=dt.date(2015, 1, 1),
            until=dt.date(2015, 12, 31),
            item="x",
        )
    )
    forged["consent"]["originator"] = "KOR"  # claims to be KOR's, signed by USA
    forged["signer"] = "KOR"
    with pytest.raises(IntegrityError):
        net.nodes["JPN"].verify_consent(forged)


def test_a_bad_receipt_is_not_stored_and_the_message_stays_pending(net: Net) -> None:
    net.submit("KOR", label("kor-b1", rel=("JPN",)), "JPN", "2017-02-12")
    (entry,) = net.nodes["KOR"].store.claim("w", limit=10, lease_seconds=0.01)
    answer = net.dispatch("KOR", "delivery", "JPN", entry.body, entry.idem_key)
    answer["receipt"]["digest"] = "0" * 64
    with pytest.raises(IntegrityError):
        net.nodes["KOR"].acknowledged(entry, answer)
    assert _rows(net, "KOR", st.receipts) == []
    assert net.nodes["KOR"].store.outbox_rows()[0]["state"] == "pending"
    __import__("time").sleep(0.05)  # the lease runs out
    net.pump()  # the retry gets the stored receipt
    assert len(_rows(net, "KOR", st.receipts)) == 1


def test_dates_other_than_today_need_a_what_if_node(tmp_path: Path) -> None:
    net = Net(tmp_path, what_if=False)
    with pytest.raises(InputError):
        net.submit("KOR", label("kor-w1", rel=("JPN",)), "JPN", "2017-02-12")
    assert _rows(net, "KOR", st.outbox) == []
    out = net.nodes["KOR"].submit(label("kor-w2", rel=("JPN",)), b"x", "JPN")  # today
    assert out.decision["at"] == __import__("datetime").datetime.now(__import__("datetime").UTC).date().isoformat()


def test_no_payload_plaintext_in_events_logs_or_errors(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        net.submit("KOR", label("kor-p1"), "JPN", "2015-04-12", MARKER)
        net.pump()
        with pytest.raises(Refused) as e:
            net.submit("KOR", label("kor-p2"), "CHN", "2015-04-12", MARKER)
    text = MARKER.decode()
    for party in net.nodes:
        for ev in _rows(net, party, st.events):
            assert text not in str(ev["body"])
    assert all(text not in r.getMessage() for r in caplog.records)
    assert text not in str(e.value) and text not in json.dumps(e.value.extensions(), ensure_ascii=False)


def test_keys_are_private_files(net: Net) -> None:
    cfg = net.cfgs["KOR"]
    for f in (cfg.key_file, cfg.receipt_key_file):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_every_decision_release_delivery_and_receipt_is_recorded_JK_R11(net: Net) -> None:
    net.submit("KOR", label("kor-e1", rel=("JPN",)), "JPN", "2017-02-12")
    net.pump()
    kor = [r["type"] for r in _rows(net, "KOR", st.events)]
    jpn = [r["type"] for r in _rows(net, "JPN", st.events)]
    assert kor == ["decision", "release", "receipt"]
    assert jpn == ["decision", "delivery"]
    body = json.loads(str(_rows(net, "JPN", st.events)[1]["body"]))
    assert body["digest"] and body["label"]["id"] == "kor-e1" and body["marking"] == "極秘"


def test_inbox_is_unique_on_item_and_sender(net: Net) -> None:
    net.submit("KOR", label("kor-u1", rel=("JPN",)), "JPN", "2017-02-12")
    net.pump()
    with net.nodes["JPN"].store.tx() as conn:
        row = dict(conn.execute(select(st.inbox)).mappings().one())
        row.pop("id")
        assert not st.insert_ignore_duplicate(conn, st.inbox, row)


def test_every_journal_event_is_in_the_audit_log_and_the_log_verifies_JK_R11(net: Net) -> None:
    net.submit("KOR", label("kor-a1"), "JPN", "2015-04-12", MARKER)
    net.pump()
    with pytest.raises(Refused):
        net.submit("KOR", label("kor-a2"), "CHN", "2015-04-12", MARKER)
    for party, svc in net.nodes.items():
        if party == "CHN":
            continue
        assert svc.feeder is not None
        journal = _rows(net, party, st.events)
        assert journal and all(r["audit_idx"] is not None for r in journal)
        assert svc.feeder.log.size == len(journal)
        report = svc.feeder.log.verify()
        assert report.ok, report.problems
        leaves = [json.loads(svc.feeder.log.event(i)) for i in range(svc.feeder.log.size)]
        assert [lf["journal"] for lf in leaves] == [r["id"] for r in journal]
        assert all(MARKER.decode() not in json.dumps(lf, ensure_ascii=False) for lf in leaves)
    kor = [json.loads(net.nodes["KOR"].feeder.log.event(i)) for i in range(net.nodes["KOR"].feeder.log.size)]  # type: ignore[union-attr]
    assert [(e["type"], e["item"]) for e in kor] == [
        ("decision", "kor-a1"),
        ("release", "kor-a1"),
        ("receipt", "kor-a1"),
        ("receipt", "kor-a1"),  # Japan's own receipt, passed back by the hub (issue 10)
        ("decision", "kor-a2"),
    ]
    assert kor[0]["decision"]["allowed"] and not kor[4]["decision"]["allowed"]  # denials are logged too
    assert kor[0]["label"]["classification"] == "군사Ⅱ급비밀"


def test_events_journaled_by_another_process_reach_the_log_through_the_writer(net: Net) -> None:
    from accord.node.wiring import load_service

    cli = load_service(net.cfgs["KOR"].dir)  # like `accord node submit`: journals, does not append
    assert cli.feeder is None
    cli.submit(label("kor-c1", rel=("JPN",)), b"x", "JPN", "2017-02-12")
    pending = [r for r in _rows(net, "KOR", st.events) if r["audit_idx"] is None]
    assert [r["type"] for r in pending] == ["decision", "release"]
    writer = net.nodes["KOR"].feeder
    assert writer is not None
    assert writer.flush() == 2
    assert all(r["audit_idx"] is not None for r in _rows(net, "KOR", st.events))


def test_a_crash_between_the_log_and_the_journal_does_not_append_twice(net: Net) -> None:
    from accord.node.audit import AuditFeeder, to_audit_event

    kor = net.nodes["KOR"]
    kor.feeder = None  # journal only
    kor.submit(label("kor-x1", rel=("JPN",)), b"x", "JPN", "2017-02-12")
    rows = _rows(net, "KOR", st.events)
    writer = AuditFeeder(kor.store, net.cfgs["KOR"].dir, "KOR")
    writer.log.append_many([to_audit_event(r, "KOR") for r in rows])  # ... and the process dies here
    writer.log.close()
    again = AuditFeeder(kor.store, net.cfgs["KOR"].dir, "KOR")  # restart: reconcile from the log
    assert again.flush() == 0
    assert again.log.size == len(rows)
    again.log.close()


def test_receipt_carries_proof_that_the_recipient_logged_the_delivery(net: Net) -> None:
    net.submit("KOR", label("kor-ev1", rel=("JPN",)), "JPN", "2017-02-12")
    net.pump()
    (rec,) = _rows(net, "KOR", st.receipts)
    assert rec["evidence"] is not None
    ev = json.loads(str(rec["evidence"]))
    event = json.loads(ev["event"])
    assert (event["node"], event["item"], event["node_event"], event["sender"]) == ("JPN", "kor-ev1", "delivery", "KOR")
    assert ev["checkpoint"].startswith("accord.jpn.node/audit\n")
    receipt_event = next(json.loads(str(r["body"])) for r in _rows(net, "KOR", st.events) if r["type"] == "receipt")
    assert receipt_event["recipient_logged"]["index"] == ev["index"]


@pytest.mark.parametrize("tamper", ["event", "proof", "checkpoint", "other-item", "unknown-key"])
def test_bad_receipt_evidence_is_refused(net: Net, tamper: str) -> None:
    net.submit("KOR", label("kor-ev2", rel=("JPN",)), "JPN", "2017-02-12")
    net.submit("KOR", label("kor-ev3", rel=("JPN",)), "JPN", "2017-02-12")
    entries = net.nodes["KOR"].store.claim("w", limit=10, lease_seconds=60)
    answers = {e.item_id: net.dispatch("KOR", "delivery", "JPN", e.body, e.idem_key) for e in entries}
    entry = next(e for e in entries if e.item_id == "kor-ev2")
    answer = answers["kor-ev2"]
    ev = answer["evidence"]
    if tamper == "event":
        ev["event"] = ev["event"].replace('"kor-ev2"', '"evX"')
    elif tamper == "proof":
        ev["proof"] = list(reversed(ev["proof"])) if len(ev["proof"]) > 1 else [base64.b64encode(b"\0" * 32).decode()]
    elif tamper == "checkpoint":
        lines = ev["checkpoint"].split("\n")
        lines[1] = str(int(lines[1]) + 1)
        ev["checkpoint"] = "\n".join(lines)
    elif tamper == "other-item":
        answer["evidence"] = answers["kor-ev3"]["evidence"]  # a valid proof, of another delivery
    else:
        from accord.audit.note import NoteSigner

        peer = net.nodes["KOR"].roster.peers["JPN"]
        net.nodes["KOR"].roster.peers["JPN"] = type(peer)(
            **{**peer.__dict__, "audit_vkey": NoteSigner.generate("accord.jpn.node/audit").vkey}
        )
    with pytest.raises(IntegrityError):
        net.nodes["KOR"].acknowledged(entry, answer)
    assert _rows(net, "KOR", st.receipts) == []


def test_a_production_node_judges_inbound_messages_as_of_its_own_today(tmp_path: Path) -> None:
    # queued yesterday, delivered today: the recipient decides as of today, it does not refuse the date
    net = Net(tmp_path, what_if=False)
    net.nodes["KOR"].submit(label("kor-t-1", rel=("JPN",)), b"x", "JPN")
    (entry,) = net.nodes["KOR"].store.claim("w", limit=5, lease_seconds=60)
    env = json.loads(entry.body)
    env["at"] = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    answer = net.dispatch("KOR", "delivery", "JPN", canonical(env), entry.idem_key)
    assert answer["replay"] is False
    today = dt.datetime.now(dt.UTC).date().isoformat()
    decision = next(json.loads(str(r["body"])) for r in _rows(net, "JPN", st.events) if r["type"] == "decision")
    assert decision["decision"]["at"] == today


def test_node_and_audit_tables_share_one_storage_engine(net: Net) -> None:
    """Issue 8: the audit log writes through the node's engine (its pragmas, its writer lock), not a second one."""
    kor = net.nodes["KOR"]
    assert kor.feeder is not None
    assert kor.feeder.log.engine is kor.store.engine
    net.submit("KOR", label("kor-one-engine", rel=("JPN",)), "JPN", "2017-02-12")
    net.pump()
    assert kor.feeder.log.size > 0  # the journal reached the log through that engine
