"""Issue 8, wave 7 (inbound): the deliveries of one group commit share ONE signed audit checkpoint.

Each recipient's transaction stages its journal events into the audit log in its own commit (receipt evidence
at once); members of a group commit each signed a checkpoint of their own (an Ed25519 signature and a row per
member, all but the last superseded within the same COMMIT). The checkpoint is now signed once, just before the
group's COMMIT, over every member's events; each member's receipt evidence verifies against it, a member that
fails leaves nothing in the log, and the log verifies.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from accord.audit import store as audit_store
from accord.audit.receipt import ReceiptEvidence, verify_receipt_evidence
from accord.formats.canonical import canonical_json
from accord.node import db as st
from accord.node.audit import AuditFeeder, init_audit_key
from accord.node.db.events_sql import insert_event


def _journal(conn: object, item: str) -> int:
    body = {"type": "delivery", "node": "JPN", "item_id": item, "sender": "KOR", "digest": "ab" * 32}
    row = {"type": "delivery", "item_id": item, "body": canonical_json(body).decode(), "created_at": st.now()}
    return insert_event(conn, row)  # type: ignore[arg-type]


def _checkpoints(s: st.Store) -> int:
    with s.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(audit_store.checkpoints)).scalar() or 0)


def _feeder(tmp_path: Path) -> tuple[st.Store, AuditFeeder]:
    s = st.Store(f"sqlite:///{tmp_path / 'node.db'}")
    init_audit_key(tmp_path, "JPN")
    return s, AuditFeeder(s, tmp_path, "JPN")


def test_jpn_one_checkpoint_for_a_group_commit_of_deliveries(tmp_path: Path) -> None:
    s, feeder = _feeder(tmp_path)
    before = _checkpoints(s)
    inside, go = threading.Event(), threading.Event()
    jids: dict[str, int] = {}
    errors: list[str] = []

    def member(item: str, *, block: bool = False, fail: bool = False) -> None:
        try:
            with s.tx() as conn:
                jids[item] = _journal(conn, item)
                assert feeder.stage(conn) >= 1
                if block:
                    inside.set()
                    go.wait(5)
                if fail:
                    raise RuntimeError("refused after staging")
        except RuntimeError as e:
            errors.append(str(e))

    first = threading.Thread(target=member, args=("kor-g1",), kwargs={"block": True})
    first.start()
    assert inside.wait(5)
    others = [
        threading.Thread(target=member, args=("kor-g2",)),
        threading.Thread(target=member, args=("kor-g3",), kwargs={"fail": True}),
        threading.Thread(target=member, args=("kor-g4",)),
    ]
    for t in others:
        t.start()
    deadline = time.monotonic() + 5
    while s._queued < 3 and time.monotonic() < deadline:  # all three queue behind the first: one group
        time.sleep(0.01)
    go.set()
    for t in [first, *others]:
        t.join(10)
    assert errors == ["refused after staging"]
    # One checkpoint row for the group (was one per member that staged: 4, of which the failed one's undone).
    assert _checkpoints(s) == before + 1
    log = feeder.log
    assert log.size == 3  # kor-g1, kor-g2, kor-g4; the failed member's event is not in the log
    verifier = log._signer.verifier()  # type: ignore[union-attr]
    for item in ("kor-g1", "kor-g2", "kor-g4"):
        idx = feeder.index_of(jids[item])
        assert idx is not None
        ev = log.receipt_evidence(idx)
        assert (
            verify_receipt_evidence(ReceiptEvidence(ev.checkpoint, idx, ev.event, ev.proof), [verifier])["item"] == item
        )
        assert ev.checkpoint == log.checkpoint()  # the group's one checkpoint covers each of them
    assert log.verify().ok
    feeder.stop()
    s.dispose()


def test_jpn_a_lone_delivery_still_commits_its_own_checkpoint(tmp_path: Path) -> None:
    s, feeder = _feeder(tmp_path)
    before = _checkpoints(s)
    for i in range(3):
        with s.tx() as conn:
            _journal(conn, f"kor-l{i}")
            feeder.stage(conn)
        assert _checkpoints(s) == before + i + 1  # every commit that staged events is covered by its own
        assert feeder.log.size == i + 1
    assert feeder.log.verify().ok
    feeder.stop()
    s.dispose()


def test_jpn_a_group_whose_only_stager_failed_signs_nothing(tmp_path: Path) -> None:
    s, feeder = _feeder(tmp_path)
    with s.tx() as conn:
        _journal(conn, "kor-ok")
        feeder.stage(conn)
    before, size = _checkpoints(s), feeder.log.size
    try:
        with s.tx() as conn:
            _journal(conn, "kor-bad")
            feeder.stage(conn)
            raise RuntimeError("refused")
    except RuntimeError:
        pass
    assert (_checkpoints(s), feeder.log.size) == (before, size)
    assert feeder.log.verify().ok
    feeder.stop()
    s.dispose()


def test_jpn_a_failing_pre_commit_hook_fails_the_transaction(tmp_path: Path) -> None:
    s = st.Store(f"sqlite:///{tmp_path / 'node.db'}")

    def broken(_conn: object) -> None:
        raise RuntimeError("no checkpoint")

    def write() -> None:
        with s.tx() as conn:
            _journal(conn, "kor-pre")
            s.before_commit("k", broken)

    with pytest.raises(RuntimeError, match="no checkpoint"):
        write()
    with s.engine.connect() as c:  # nothing of it was committed
        assert c.execute(select(func.count()).select_from(st.events)).scalar() == 0
    with s.tx() as conn:  # the next transaction works (a fresh writer connection)
        _journal(conn, "kor-next")
    s.dispose()
