"""A running node picks up a newly pinned peer (`accord node add-peer`) without a restart (issue 9)."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from accord.cli import get_app
from accord.node import db as st
from accord.node.client import local_client
from accord.node.cluster import NodeProcess, init_node
from accord.node.config import NodeConfig, Peer, self_entry
from tests.node.helpers import label

pytestmark = pytest.mark.integration

FAST = {"lease_seconds": 2.0, "retry_base_seconds": 0.1, "retry_max_seconds": 0.5, "poll_seconds": 0.02}


def _rows(cfg: NodeConfig, table: st.Table) -> list[dict[str, Any]]:
    s = st.Store(cfg.db, create=False)
    try:
        return s.rows(table)
    finally:
        s.dispose()


def _add_peer(at: NodeConfig, other: NodeConfig, tmp: Path) -> None:
    entry = self_entry(other)
    path = tmp / f"{other.party.lower()}-entry.yaml"
    path.write_text(yaml.safe_dump(entry))
    fp = Peer.from_dict(entry, source="test").entry_fingerprint
    r = CliRunner().invoke(
        get_app(), ["node", "add-peer", "--dir", str(at.dir), "--entry", str(path), "--fingerprint", fp]
    )
    assert r.exit_code == 0, r.stderr


def test_peer_added_to_running_nodes_is_delivered_to_without_a_restart(tmp_path: Path) -> None:
    kor = init_node(tmp_path / "kor", "KOR", **FAST)  # type: ignore[arg-type]
    jpn = init_node(tmp_path / "jpn", "JPN", **FAST)  # type: ignore[arg-type]
    procs = [NodeProcess(kor, workers=1), NodeProcess(jpn, workers=1)]
    try:
        for p in procs:
            p.start()

        def submit(item: str) -> Any:
            body = {
                "label": label(item, rel=("JPN",)),
                "to": "JPN",
                "payload_b64": base64.b64encode(b"x" * 64).decode(),
                "at": "2017-02-12",
            }
            with local_client(kor) as c:
                return c.post("/v1/items", json=body)

        r = submit("kor-live-0")
        assert r.status_code == 400 and "JPN is not in the roster" in r.json()["detail"]  # not pinned yet
        _add_peer(kor, jpn, tmp_path)
        _add_peer(jpn, kor, tmp_path)
        deadline = time.monotonic() + 30
        while (r := submit("kor-live-1")).status_code != 200:
            assert time.monotonic() < deadline, f"the running node never picked up the new peer: {r.text}"
            time.sleep(0.2)
        deadline = time.monotonic() + 30
        while not _rows(jpn, st.inbox):
            assert time.monotonic() < deadline, "never delivered to the new peer"
            time.sleep(0.1)
        (row,) = _rows(jpn, st.inbox)
        assert row["item_id"] == "kor-live-1" and row["sender"] == "KOR"
        with local_client(kor) as c:
            deadline = time.monotonic() + 30
            while not c.get("/v1/items/kor-live-1").json()["receipts"]:
                assert time.monotonic() < deadline, "no receipt"
                time.sleep(0.1)
        for p in procs:
            assert p.proc is not None and p.proc.poll() is None  # never restarted
    finally:
        for p in procs:
            p.stop()
