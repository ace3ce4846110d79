"""The sender opens a partner's audit checkpoint once (issue 8) and still checks every receipt's evidence."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from accord.audit.note import NoteSigner
from accord.errors import IntegrityError
from accord.node import db as st
from accord.node.flow import receipts
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
