"""What the sender remembers to check receipts faster (issue 8): a partner's audit checkpoint opened once, the
digest of each envelope it queued -- and every receipt is still checked in full."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from accord.audit.note import NoteSigner
from accord.errors import IntegrityError
from accord.node import db as st
from accord.node.flow import receipts
from accord.node.sent import SENT, SentDigests
from tests.node.helpers import Net, label


def _delivered(net: Net, item: str) -> tuple[st.OutboxEntry, dict[str, object]]:
    net.submit("KOR", label(item, rel=("JPN",)), "JPN", "2017-02-12")
    (entry,) = net.nodes["KOR"].store.claim("w", limit=10, lease_seconds=60)
    return entry, net.dispatch("KOR", "delivery", "JPN", entry.body, entry.idem_key)


def test_a_remembered_checkpoint_does_not_spare_the_proof(tmp_path: Path) -> None:
    net = Net(tmp_path)
    kor = net.nodes["KOR"]
    entry, answer = _delivered(net, "kor-cpm-1")
    forged = copy.deepcopy(answer)
    forged["evidence"]["event"] = forged["evidence"]["event"].replace('"kor-cpm-1"', '"kor-cpm-x"')  # type: ignore[index]
    kor.acknowledged(entry, answer)  # the checkpoint is now remembered
    hits = receipts.CHECKPOINTS.hits
    with pytest.raises(IntegrityError):
        kor.acknowledged(entry, forged)  # same checkpoint: opened from memory, the proof still fails
    assert receipts.CHECKPOINTS.hits == hits + 1
    assert len(kor.store.rows(st.receipts)) == 1


def test_a_remembered_checkpoint_is_refused_once_the_partner_key_changes(tmp_path: Path) -> None:
    net = Net(tmp_path)
    kor = net.nodes["KOR"]
    entry, answer = _delivered(net, "kor-cpm-2")
    assert kor.check_evidence("JPN", "kor-cpm-2", _digest(entry), answer["evidence"]) is not None
    peer = kor.roster.peers["JPN"]
    kor.roster.peers["JPN"] = type(peer)(
        **{**peer.__dict__, "audit_vkey": NoteSigner.generate("accord.jpn.node/audit").vkey}
    )  # a roster reload with another audit key for JPN
    with pytest.raises(IntegrityError):
        kor.acknowledged(entry, answer)
    assert kor.store.rows(st.receipts) == []


def _digest(entry: st.OutboxEntry) -> str:
    import base64
    import json

    from accord.node.canon import sha256_hex

    return sha256_hex(base64.b64decode(json.loads(entry.body)["sealed"]))


def _entry(body: bytes, key: str = "delivery:kor-sd-1:KOR->JPN") -> st.OutboxEntry:
    return st.OutboxEntry(1, key, "delivery", "kor-sd-1", "JPN", "JPN", "2017-02-12", body, 0)


def _body(sealed: bytes) -> bytes:
    import base64
    import json

    return json.dumps({"item_id": "kor-sd-1", "sealed": base64.b64encode(sealed).decode()}).encode()


def test_a_kept_digest_is_given_only_for_the_very_envelope_and_once() -> None:
    from accord.node.canon import sha256_hex

    memo = SentDigests()
    body, other = _body(b"sealed-1"), _body(b"sealed-2")
    memo.put("delivery:kor-sd-1:KOR->JPN", body, "kept")  # a marker, not a real digest: shows where it came from
    assert memo.digest(_entry(other)) == sha256_hex(b"sealed-2")  # same key, another envelope: computed
    memo.put("delivery:kor-sd-1:KOR->JPN", body, "kept")
    assert memo.digest(_entry(body, "delivery:kor-sd-1:KOR->USA")) == sha256_hex(b"sealed-1")  # another key
    assert memo.digest(_entry(body)) == "kept"
    assert memo.digest(_entry(body)) == sha256_hex(b"sealed-1")  # taken once: computed the second time


def test_the_kept_digests_are_bounded() -> None:
    memo = SentDigests(size=2)
    for i in range(3):
        memo.put(f"k{i}", _body(b"x"), f"kept-{i}")
    assert memo.digest(_entry(_body(b"x"), "k0")) != "kept-0"  # forgotten: computed
    assert memo.digest(_entry(_body(b"x"), "k2")) == "kept-2"


def test_the_digest_kept_at_enqueue_is_the_container_s_and_a_wrong_receipt_digest_is_still_refused(
    tmp_path: Path,
) -> None:
    from accord.node.canon import sha256_hex, sign
    from accord.node.flow.journal import RECEIPT_DOMAIN

    net = Net(tmp_path)
    kor = net.nodes["KOR"]
    entry, answer = _delivered(net, "kor-sd-2")
    kept = SENT._sent[entry.idem_key]
    assert kept == (entry.body, _digest(entry))  # what a decode and hash of the envelope gives
    forged = copy.deepcopy(answer)
    forged["receipt"]["digest"] = sha256_hex(b"another container")  # type: ignore[index]
    # signed by JPN's real receipt key: only the comparison with the kept digest can refuse it
    forged["signature"] = sign(net.nodes["JPN"].receipt_key, RECEIPT_DOMAIN, forged["receipt"])
    with pytest.raises(IntegrityError):
        kor.acknowledged(entry, forged)
    assert kor.store.rows(st.receipts) == []
    kor.acknowledged(entry, answer)  # the kept digest was taken: computed again, and it matches
    assert len(kor.store.rows(st.receipts)) == 1


def test_the_kept_envelopes_are_bounded_in_bytes_and_a_large_one_is_not_kept() -> None:
    from accord.node.canon import sha256_hex

    memo = SentDigests(max_bytes=16 * 100)
    big = _body(b"b" * 200)  # over 1/16 of the budget: not kept
    memo.put("k-big", big, "kept-big")
    assert memo.digest(_entry(big, "k-big")) == sha256_hex(b"b" * 200)
    small = [_body(bytes([65 + i]) * 40) for i in range(40)]  # ~80 bytes each: the budget holds ~20
    for i, body in enumerate(small):
        memo.put(f"k{i}", body, f"kept-{i}")
    assert memo._bytes <= memo.max_bytes and memo._bytes == sum(len(b) for b, _ in memo._sent.values())
    assert memo.digest(_entry(small[0], "k0")) == sha256_hex(b"A" * 40)  # the oldest: forgotten
    assert memo.digest(_entry(small[-1], "k39")) == "kept-39"
    assert memo._bytes == sum(len(b) for b, _ in memo._sent.values())
