"""The durable audit log (JK-R11 custody trail): tampering of every kind is detected.

Runs on SQLite and on a real PostgreSQL 15 (shared ``postgres_db_url`` fixture): same code.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update

from accord.audit import store
from accord.audit.errors import AuditIntegrityError, UnverifiedNoteError
from accord.audit.log import AuditLog, verify_export
from accord.audit.merkle import leaf_hash
from accord.audit.note import Checkpoint, CosignatureSigner, NoteSigner, sign_note
from accord.audit.receipt import ReceiptEvidence, verify_receipt_evidence
from accord.audit.witness import LogFetcher, Partner, Witness
from accord.errors import InputError, IntegrityError

ORIGIN = "accord.kor.example/audit"


def ev(i: int, kind: str = "decision") -> dict:
    return {
        "type": kind,
        "item": f"item-{i}",
        "digest": "sha256:" + hashlib.sha256(f"sealed-{i}".encode()).hexdigest(),
        "at": "2017-01-05T09:00:00Z",
        "label": {"originator": "KOR", "classification": "군사Ⅱ급비밀", "releasable_to": ["JPN"]},
        "decision": {"allowed": i % 3 != 0, "route": ["KOR", "JPN"]},
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "audit.db")
    return request.getfixturevalue("postgres_db_url")


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


@pytest.fixture
def log(db: str, signer: NoteSigner):
    lg = AuditLog(db, origin=ORIGIN, signer=signer)
    lg.append_many([ev(i) for i in range(40)])
    for i in range(40, 50):
        lg.append(ev(i))
    yield lg
    lg.close()


def test_append_returns_indices_and_every_commit_is_checkpointed(log: AuditLog, signer: NoteSigner) -> None:
    assert log.size == 50
    rep = log.verify()
    assert rep.size == 50
    assert rep.last_checkpoint == 50
    assert rep.checkpoints_verified == 11  # one batch of 40, then 10 single appends


def test_concurrent_appends_are_group_committed(db: str, signer: NoteSigner) -> None:
    with AuditLog(db, origin=ORIGIN, signer=signer) as lg:
        got: list[int] = []
        lock = threading.Lock()

        def worker(k: int) -> None:
            for i in range(25):
                idx = lg.append(ev(k * 100 + i))
                with lock:
                    got.append(idx)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(got) == list(range(200))
        rep = lg.verify()
        assert rep.checkpoints_verified <= 200


def test_reopen_rebuilds_the_same_tree(db: str, signer: NoteSigner, log: AuditLog) -> None:
    root = log.root()
    log.close()
    with AuditLog(db, origin=ORIGIN, signer=signer) as again:
        assert again.size == 50
        assert again.root() == root
        assert again.append(ev(99)) == 50


def test_reopen_with_another_key_or_origin_is_refused(db: str, log: AuditLog) -> None:
    log.close()
    with pytest.raises(InputError, match="key"):
        AuditLog(db, origin=ORIGIN, signer=NoteSigner.generate(ORIGIN))
    with pytest.raises(InputError, match="holds the log"):
        AuditLog(db, origin="other.example/log", signer=NoteSigner.generate("other.example/log"))


def test_malformed_event_is_rejected_and_nothing_is_written(log: AuditLog) -> None:
    bad = [ev(1), {**ev(2), "digest": "md5:abc"}]
    with pytest.raises(InputError, match="digest"):
        log.append_many(bad)
    with pytest.raises(InputError, match="never content"):
        log.append({**ev(3), "content": "SECRET TEXT"})
    with pytest.raises(InputError, match="type"):
        log.append({**ev(3), "type": "gossip"})
    assert log.size == 50
    log.verify()


def _tamper(log: AuditLog, stmt) -> None:
    with log.engine.begin() as conn:
        conn.execute(stmt)


def _edit_and_rehash(log: AuditLog):
    edited = log.event(5).replace(b'"allowed":true', b'"allowed":false')
    if edited == log.event(5):
        edited = log.event(5).replace(b'"allowed":false', b'"allowed":true')
    return update(store.leaves).where(store.leaves.c.idx == 5).values(event=edited, leaf_hash=leaf_hash(edited))


def _insert_uncovered(log: AuditLog):
    extra = b'{"at":"2017-01-05T09:00:00Z","digest":"sha256:' + b"0" * 64 + b'","item":"x","type":"access","v":1}'
    return insert(store.leaves).values(idx=50, event=extra, leaf_hash=leaf_hash(extra), kind="access", item="x")


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        pytest.param(lambda log: delete(store.leaves).where(store.leaves.c.idx == 17), "17", id="deleted-row"),
        pytest.param(lambda log: delete(store.leaves).where(store.leaves.c.idx == 49), "beyond", id="deleted-tail-row"),
        pytest.param(_edit_and_rehash, "root does not match", id="edited-row-even-with-a-matching-stored-hash"),
        pytest.param(
            lambda log: update(store.leaves).where(store.leaves.c.idx == 7).values(event=log.event(8)),
            "leaf 7",
            id="edited-row-without-rehash",
        ),
        pytest.param(_insert_uncovered, "not covered", id="inserted-row"),
    ],
)
def test_tampered_row_is_detected(log: AuditLog, tamper, problem: str) -> None:
    _tamper(log, tamper(log))
    with pytest.raises(AuditIntegrityError) as e:
        log.verify()
    assert any(problem in p for p in e.value.problems)


def test_inserted_row_in_the_middle_is_detected(log: AuditLog) -> None:
    with log.engine.begin() as conn:
        rows = conn.execute(
            select(store.leaves).where(store.leaves.c.idx >= 20).order_by(store.leaves.c.idx.desc())
        ).all()
        for r in rows:  # shift 20.. up by one, then put a forged event at 20
            conn.execute(update(store.leaves).where(store.leaves.c.idx == r.idx).values(idx=r.idx + 1))
        forged = log.event(3)
        conn.execute(insert(store.leaves).values(idx=20, event=forged, leaf_hash=leaf_hash(forged), kind="decision"))
    with pytest.raises(AuditIntegrityError):
        log.verify()


def test_reordered_rows_are_detected(log: AuditLog) -> None:
    a, b = log.event(10), log.event(11)
    with log.engine.begin() as conn:
        conn.execute(update(store.leaves).where(store.leaves.c.idx == 10).values(event=b, leaf_hash=leaf_hash(b)))
        conn.execute(update(store.leaves).where(store.leaves.c.idx == 11).values(event=a, leaf_hash=leaf_hash(a)))
    with pytest.raises(AuditIntegrityError) as e:
        log.verify()
    assert any("root does not match" in p for p in e.value.problems)


def test_tail_rewritten_and_resigned_with_a_new_key_is_detected(log: AuditLog, signer: NoteSigner) -> None:
    # The attacker rewrites rows 30.., drops the checkpoints that covered them and signs new
    # checkpoints with a key of their own, recording that key in the database.
    from accord.audit.merkle import MerkleTree

    evil = NoteSigner.generate(ORIGIN)
    with log.engine.begin() as conn:
        conn.execute(delete(store.checkpoints).where(store.checkpoints.c.size > 30))
        hashes = [bytes(h) for (h,) in conn.execute(select(store.leaves.c.leaf_hash).order_by(store.leaves.c.idx))]
        for i in range(30, 50):
            forged = log.event(i).replace(b"item-", b"ITEM-")
            conn.execute(
                update(store.leaves).where(store.leaves.c.idx == i).values(event=forged, leaf_hash=leaf_hash(forged))
            )
            hashes[i] = leaf_hash(forged)
        t = MerkleTree(hashes)
        note = sign_note(Checkpoint(ORIGIN, 50, t.root()).text(), [evil])
        conn.execute(insert(store.checkpoints).values(size=50, note=note, created_ms=0))
        conn.execute(update(store.meta).where(store.meta.c.key == "vkey").values(value=evil.vkey))
    with pytest.raises(AuditIntegrityError) as e:
        log.verify(trusted=[signer.verifier()])
    problems = "\n".join(e.value.problems)
    assert "not signed by a trusted key" in problems
    assert "not covered" in problems
    assert "not a trusted key" in problems


def test_truncated_tail_with_its_checkpoints_is_caught_by_a_checkpoint_seen_elsewhere(log: AuditLog) -> None:
    seen = log.checkpoint()  # e.g. held by a witness or carried in a receipt
    with log.engine.begin() as conn:
        conn.execute(delete(store.leaves).where(store.leaves.c.idx >= 45))
        conn.execute(delete(store.checkpoints).where(store.checkpoints.c.size > 45))
    with pytest.raises(AuditIntegrityError) as e:
        log.verify(known_checkpoints=[seen])
    assert any("tail removed" in p for p in e.value.problems)


def test_proofs_from_the_log_verify(log: AuditLog) -> None:
    from accord.audit.merkle import verify_consistency, verify_inclusion

    for i in range(50):
        assert verify_inclusion(log.leaf_hash(i), i, 50, log.inclusion_proof(i), log.root())
    assert verify_consistency(10, 50, log.root(10), log.root(), log.consistency_proof(10))
    with pytest.raises(InputError):
        log.inclusion_proof(50)


def test_receipt_evidence_verifies_offline_and_fails_when_tampered(log: AuditLog, signer: NoteSigner) -> None:
    idx = log.append(ev(777, "receipt"))
    evidence = ReceiptEvidence.from_json(log.receipt_evidence(idx).to_json())
    event = verify_receipt_evidence(evidence, [signer.verifier()], origin=ORIGIN)
    assert event["type"] == "receipt"
    assert event["item"] == "item-777"
    forged = ReceiptEvidence(
        evidence.checkpoint, evidence.index, evidence.event.replace(b"777", b"778"), evidence.proof
    )
    with pytest.raises(IntegrityError):
        verify_receipt_evidence(forged, [signer.verifier()])
    with pytest.raises(UnverifiedNoteError):
        verify_receipt_evidence(evidence, [NoteSigner.generate(ORIGIN).verifier()])


def test_export_verify_and_import(log: AuditLog, signer: NoteSigner, tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    assert log.export(path) == 50
    rep = verify_export(path, trusted=[signer.verifier()])
    assert rep.size == 50
    imported = AuditLog.import_file(path, tmp_path / "copy.db", trusted=[signer.verifier()])
    assert imported.root() == log.root()
    imported.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("item-2", "item-X")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(AuditIntegrityError):
        verify_export(path, trusted=[signer.verifier()])


def test_witness_cosigns_partner_and_detects_equivocation(db: str, tmp_path: Path) -> None:
    kor = NoteSigner.generate(ORIGIN)
    log = AuditLog(tmp_path / "kor.db", origin=ORIGIN, signer=kor)
    log.append_many([ev(i) for i in range(5)])
    cos = CosignatureSigner.generate("accord.jpn.example/witness")
    w = Witness(db, cosigner=cos, clock=lambda: 1_483_606_800.0)
    partner = Partner(ORIGIN, [kor.verifier()], LogFetcher(log))
    r = w.witness(partner)
    assert (r.status, r.size) == ("new", 5)
    from accord.audit.note import open_note

    assert len(open_note(r.cosigned, [kor.verifier(), cos.verifier()]).sigs) == 2
    log.append(ev(5))
    assert w.witness(partner).status == "extended"
    assert w.witness(partner).status == "unchanged"
    log.close()
    # The partner forks: a different history of the same size, signed with its real key.
    fork = AuditLog(tmp_path / "fork.db", origin=ORIGIN, signer=kor)
    fork.append_many([ev(100 + i) for i in range(6)])
    from accord.audit.errors import EquivocationError

    with pytest.raises(EquivocationError) as e:
        w.witness(Partner(ORIGIN, [kor.verifier()], LogFetcher(fork)))
    assert "different roots" in e.value.reason
    fork.append(ev(200))  # a larger, non-consistent extension
    with pytest.raises(EquivocationError, match="append-only"):
        w.witness(Partner(ORIGIN, [kor.verifier()], LogFetcher(fork)))
    found = w.equivocations(ORIGIN)
    assert len(found) == 2
    assert found[0].note_a != found[0].note_b
    # Anyone holding the log's key can check the evidence offline.
    from accord.audit.witness import check_evidence

    assert "different roots" in (check_evidence(found[0].note_a, found[0].note_b, [kor.verifier()]) or "")
    assert check_evidence(found[0].note_a, found[0].note_a, [kor.verifier()]) is None
    with pytest.raises(UnverifiedNoteError):
        check_evidence(found[0].note_a, found[0].note_b, [NoteSigner.generate(ORIGIN).verifier()])
    fork.close()


def test_core_decisions_are_logged_with_label_and_digest_never_content(tmp_path: Path, aset, label) -> None:
    """JK-R11: every decision, allowed or denied, is on the custody trail (core Decision + Label)."""
    from datetime import date

    from accord.audit.events import decode_event, event_from_decision
    from accord.core.decision import decide

    lab = label(rel=("JPN",))
    digest = "sha256:" + hashlib.sha256(b"the sealed item").hexdigest()
    allowed = decide(lab, holder="KOR", recipient="JPN", at=date(2017, 1, 5), agreements=aset)
    denied = decide(lab, holder="KOR", recipient="USA", at=date(2017, 1, 5), agreements=aset)
    assert allowed.allowed
    assert not denied.allowed
    signer = NoteSigner.generate(ORIGIN)
    with AuditLog(tmp_path / "a.db", origin=ORIGIN, signer=signer) as lg:
        idx = lg.append_many([event_from_decision(d, lab, digest, node="KOR") for d in (allowed, denied)])
        events = [decode_event(lg.event(i)) for i in idx]
        lg.verify()
    assert [e["decision"]["allowed"] for e in events] == [True, False]
    assert events[0]["item"] == lab.id
    assert events[0]["label"]["originator"] == "KOR"
    assert events[0]["digest"] == digest


def test_prepared_events_are_appended_and_a_forged_prepared_leaf_is_caught(tmp_path: Path) -> None:
    from accord.audit.log import PreparedEvent, prepare_event

    signer = NoteSigner.generate(ORIGIN)
    with AuditLog(tmp_path / "p.db", origin=ORIGIN, signer=signer) as lg:
        assert lg.append_many([prepare_event(ev(i)) for i in range(3)]) == [0, 1, 2]
        lg.verify()
        junk = b'{ "type": "access" }'  # not canonical, never went through prepare_event
        lg.append(PreparedEvent(junk, leaf_hash(junk), "access", "x"))
        with pytest.raises(AuditIntegrityError) as e:
            lg.verify()
        assert any("not canonical" in p for p in e.value.problems)


@pytest.mark.parametrize(
    "extra",
    [
        {"content": "x"},
        {"label": {"Payload": "x"}},
        {"decision": {"reasons": [{"PLAINTEXT": "x"}]}},
        {"ciphertext": "x"},
    ],
)
def test_events_carrying_content_are_refused_at_any_depth(extra: dict) -> None:
    from accord.audit.events import encode_event

    with pytest.raises(InputError, match="never content"):
        encode_event({**ev(1), **extra})


def test_a_string_value_that_looks_like_a_key_is_not_refused() -> None:
    from accord.audit.events import encode_event

    encode_event({**ev(1), "note": 'the word "content": appears in a value'})


def test_failed_commit_acknowledges_nothing_and_the_log_recovers(db: str, signer: NoteSigner) -> None:
    from accord.errors import AccordError

    with AuditLog(db, origin=ORIGIN, signer=signer) as lg:
        lg.append_many([ev(i) for i in range(5)])
        root = lg.root()
        blocker = b"{}"
        with lg.engine.begin() as conn:  # another writer took index 5: the next commit must fail
            conn.execute(insert(store.leaves).values(idx=5, event=blocker, leaf_hash=leaf_hash(blocker), kind="x"))
        with pytest.raises(AccordError, match="commit failed"):
            lg.append(ev(5))
        assert lg.size == 5
        assert lg.root() == root
        with lg.engine.begin() as conn:
            conn.execute(delete(store.leaves).where(store.leaves.c.idx == 5))
        assert lg.append(ev(5)) == 5
        lg.verify()


def test_witness_stale_checkpoint_is_not_cosigned_and_bad_key_is_refused(tmp_path: Path) -> None:
    from accord.audit.witness import ExportFetcher

    kor = NoteSigner.generate(ORIGIN)
    cos = CosignatureSigner.generate("accord.usa.example/witness")
    with AuditLog(tmp_path / "kor.db", origin=ORIGIN, signer=kor) as lg:
        lg.append_many([ev(i) for i in range(3)])
        lg.export(tmp_path / "old.jsonl")
        lg.append_many([ev(i) for i in range(3, 9)])
        lg.export(tmp_path / "new.jsonl")
    w = Witness(tmp_path / "usa.db", cosigner=cos)
    new, old = ExportFetcher(tmp_path / "new.jsonl"), ExportFetcher(tmp_path / "old.jsonl")
    assert w.witness(Partner(ORIGIN, [kor.verifier()], new)).status == "new"
    # An old export cannot prove 3 -> 9: a fetch failure, not evidence of equivocation.
    from accord.errors import AccordError

    with pytest.raises(AccordError, match="could not fetch"):
        w.witness(Partner(ORIGIN, [kor.verifier()], old))

    class Lagging:  # a mirror that serves an old checkpoint but can prove consistency
        def fetch_checkpoint(self) -> bytes:
            return old.fetch_checkpoint()

        def fetch_consistency_proof(self, a: int, b: int) -> list[bytes]:
            return new.fetch_consistency_proof(a, b)

    stale = w.witness(Partner(ORIGIN, [kor.verifier()], Lagging()))
    assert (stale.status, stale.cosigned) == ("stale", None)
    assert b"\n9\n" in (w.last_seen(ORIGIN) or b"")
    with pytest.raises(UnverifiedNoteError):
        w.witness(Partner(ORIGIN, [NoteSigner.generate(ORIGIN).verifier()], ExportFetcher(tmp_path / "new.jsonl")))
    assert w.equivocations() == []


def test_equivocation_is_appended_to_the_witness_log_with_both_notes(tmp_path: Path) -> None:
    from accord.audit.errors import EquivocationError
    from accord.audit.events import decode_event

    kor = NoteSigner.generate(ORIGIN)
    a = AuditLog(tmp_path / "a.db", origin=ORIGIN, signer=kor)
    b = AuditLog(tmp_path / "b.db", origin=ORIGIN, signer=kor)
    a.append_many([ev(i) for i in range(4)])
    b.append_many([ev(10 + i) for i in range(4)])
    jpn = NoteSigner.generate("accord.jpn.example/audit")
    own = AuditLog(tmp_path / "jpn.db", origin="accord.jpn.example/audit", signer=jpn)
    w = Witness(own.engine, cosigner=CosignatureSigner.generate("accord.jpn.example/witness"), log=own)
    w.witness(Partner(ORIGIN, [kor.verifier()], LogFetcher(a)))
    with pytest.raises(EquivocationError) as e:
        w.witness(Partner(ORIGIN, [kor.verifier()], LogFetcher(b)))
    report = decode_event(own.event(own.size - 1))
    assert report["type"] == "witness"
    assert report["finding"] == "equivocation"
    assert report["evidence"] == [e.value.note_a.decode(), e.value.note_b.decode()]
    own.verify()
    for lg in (a, b, own):
        lg.close()


def test_append_after_close_is_refused(tmp_path: Path) -> None:
    from accord.errors import AccordError

    lg = AuditLog(tmp_path / "c.db", origin=ORIGIN, signer=NoteSigner.generate(ORIGIN))
    lg.append(ev(1))
    lg.close()
    with pytest.raises(AccordError, match="closed"):
        lg.append(ev(2))
    lg.close()  # idempotent


def test_read_only_log_refuses_appends_but_proves(tmp_path: Path) -> None:
    from accord.errors import AccordError

    signer = NoteSigner.generate(ORIGIN)
    with AuditLog(tmp_path / "r.db", origin=ORIGIN, signer=signer) as lg:
        lg.append_many([ev(i) for i in range(4)])
    with AuditLog(tmp_path / "r.db", origin=ORIGIN, verifiers=[signer.verifier()]) as ro:
        with pytest.raises(AccordError, match="read-only"):
            ro.append(ev(9))
        assert ro.verify().size == 4
        ev_ = ro.receipt_evidence(2)
        assert verify_receipt_evidence(ev_, [signer.verifier()])["item"] == "item-2"


def test_evidence_document_is_the_receipt_evidence_json_object(db: str, signer: NoteSigner) -> None:
    """Issue 8, wave 6: the document a delivery's answer carries, built directly (the size of a checkpoint this
    log's own, its signature lines not parsed back) is exactly ``json.loads(receipt_evidence(i).to_json())``, verifies
    offline, and a reopened log (checkpoint read from the database) still answers the same."""
    import json

    from accord.audit.receipt import evidence_document

    with AuditLog(db, origin=ORIGIN, signer=signer) as lg:
        lg.append_many([ev(i) for i in range(13)])
        for i in range(13, 17):
            lg.append(ev(i))
        for i in range(17):
            doc = evidence_document(lg, i)
            assert doc == json.loads(lg.receipt_evidence(i).to_json())
            event = verify_receipt_evidence(ReceiptEvidence.from_obj(doc), [signer.verifier()], origin=ORIGIN)
            assert event["item"] == f"item-{i}"
        with pytest.raises(InputError):
            evidence_document(lg, 17)
    with AuditLog(db, origin=ORIGIN, signer=signer) as again:  # the checkpoint read back: parsed, as before
        assert evidence_document(again, 5) == json.loads(again.receipt_evidence(5).to_json())
