"""The node's files are private whatever the umask, checked at load; bad files at `node run`/`node init` are one
line `error: WHERE: WHAT`, exit 2, before anything serves (issue 9). Each attack is a test named after it."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accord.node import app as node_app
from accord.node.cluster import init_node
from accord.node.config import NodeConfig
from accord.node.wiring import load_service
from tests.support.cli import run
from tests.support.reliability import record

pytestmark = pytest.mark.reliability


@pytest.fixture
def never_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """`node run` must fail before serving: should a check be missing, the test fails instead of hanging."""

    class NoServer:
        def run(self) -> None:
            raise AssertionError("the node started serving")

    monkeypatch.setattr(node_app._Server, "make", staticmethod(lambda *_a, **_k: NoServer()))


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def one_error(code: int, err: str, where: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and where in lines[0], err
    assert "Traceback" not in err


# ---------------------------------------------------------------- private files


def test_files_written_with_umask_000_are_private_including_node_db_wal_and_shm(
    tmp_path: Path, umask_000: None
) -> None:
    d = tmp_path / "kor"
    code, _, err = run("node", "init", "--party", "KOR", "--dir", str(d))
    assert code == 0, err
    svc = load_service(d)  # opens the database (WAL: -wal and -shm appear)
    with svc.store.tx() as conn:
        conn.exec_driver_sql("PRAGMA user_version = 1")
    assert (d / "node.db-wal").exists() and (d / "node.db-shm").exists()
    bad = {}
    for p in [d, *d.rglob("*")]:
        want = 0o700 if p.is_dir() else 0o600
        if mode(p) & 0o077:
            bad[str(p.relative_to(tmp_path))] = oct(mode(p))
        assert mode(p) & ~want == 0 or not (mode(p) & 0o077)
    svc.store.dispose()
    assert bad == {}, bad


@pytest.mark.parametrize("name", ["node.yaml", "roster.yaml", "trust"])
def test_world_writable_config_or_trust_is_refused_at_node_run(tmp_path: Path, never_serve: None, name: str) -> None:
    cfg = init_node(tmp_path / "kor", "KOR")
    os.chmod(cfg.dir / name, 0o777 if name == "trust" else 0o666)
    code, _, err = run("node", "run", "--dir", str(cfg.dir))
    one_error(code, err, name)
    assert "writable by other users" in err


@pytest.mark.parametrize("name", ["tls-key.pem", "receipt-key.pem", "audit-note.key", "keys/party-keys.json"])
def test_group_readable_key_is_refused_at_node_run(tmp_path: Path, never_serve: None, name: str) -> None:
    cfg = init_node(tmp_path / "kor", "KOR")
    os.chmod(cfg.dir / name, 0o640)
    code, _, err = run("node", "run", "--dir", str(cfg.dir))
    one_error(code, err, name)
    assert "readable by other users" in err


# ---------------------------------------------------------------- bad files at node run


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xffgarbage\x89PNG" * 10)


@pytest.mark.parametrize(
    "case",
    [
        "garbage receipt key",
        "garbage TLS key",
        "garbage roster",
        "non-SQLite database",
        "truncated database",
        "read-only database",
    ],
)
def test_node_run_with_bad_files_is_one_error_exit_2(tmp_path: Path, never_serve: None, case: str) -> None:
    cfg = init_node(tmp_path / "kor", "KOR")
    args = ["node", "run", "--dir", str(cfg.dir)]
    where = ""
    if case == "garbage receipt key":
        _garbage(cfg.receipt_key_file)
        where = "receipt-key.pem"
    elif case == "garbage TLS key":
        _garbage(cfg.key_file)
        where = "tls-key.pem"
    elif case == "garbage roster":
        _garbage(cfg.dir / "roster.yaml")
        where = "roster.yaml"
    elif case == "non-SQLite database":
        (cfg.dir / "node.db").write_bytes(b"this is not a database\n" * 200)
        where = "node.db"
    elif case == "truncated database":
        db = cfg.dir / "node.db"
        db.write_bytes(db.read_bytes()[:1500])
        where = "node.db"
    elif case == "read-only database":
        args += ["--db", f"sqlite:///file:{cfg.dir / 'node.db'}?mode=ro&uri=true"]
        where = "node.db"
    code, _, err = run(*args)
    record("node: bad files at node run (one error, exit 2)", group="input", attempts=1, refused=int(code == 2))
    one_error(code, err, where)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("port", "'8443'"),
        ("lease_seconds", "'soon'"),
        ("max_attempts", "1.5"),
        ("poll_seconds", "-1"),
        ("what_if", "'yes'"),
        ("outbox_max_pending", "0"),
        ("max_body_bytes", "true"),
        ("agreements", "[1, 2]"),
    ],
)
def test_node_yaml_value_of_the_wrong_type_is_refused_at_load(
    tmp_path: Path, never_serve: None, key: str, value: str
) -> None:
    cfg = init_node(tmp_path / "kor", "KOR")
    path = cfg.dir / "node.yaml"
    lines = [line for line in path.read_text().splitlines() if not line.startswith(f"{key}:")]
    path.write_text("\n".join([*lines, f"{key}: {value}"]) + "\n")
    code, _, err = run("node", "run", "--dir", str(cfg.dir))
    one_error(code, err, key)


def test_node_init_with_a_mysql_url_is_refused_and_leaves_nothing_behind(tmp_path: Path) -> None:
    d = tmp_path / "kor"
    code, _, err = run("node", "init", "--party", "KOR", "--dir", str(d), "--db", "mysql://u:p@localhost/x")
    one_error(code, err, "--db")
    assert not d.exists()


def test_node_init_that_fails_midway_removes_the_directory_it_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import accord.node.cluster as cluster

    def boom(*_a: Any, **_k: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cluster, "init_audit_key", boom)
    d = tmp_path / "kor"
    with pytest.raises(OSError, match="No space"):
        init_node(d, "KOR")
    assert not d.exists()


def test_config_round_trip_keeps_the_limits(tmp_path: Path) -> None:
    cfg = init_node(tmp_path / "kor", "KOR", max_body_bytes=1234, outbox_max_pending=7)
    again = NodeConfig.load(cfg.dir)
    assert (again.max_body_bytes, again.outbox_max_pending) == (1234, 7)
    assert sqlite3.connect(cfg.dir / "node.db").execute("select count(*) from outbox").fetchone() == (0,)


def test_delivered_envelope_is_pruned_and_the_receipt_and_custody_trail_stay(tmp_path: Path) -> None:
    from accord.node import db as st
    from tests.node.helpers import Net, label

    net = Net(tmp_path)
    net.submit("KOR", label("kor-pr-1", rel=("JPN",)), "JPN", "2017-02-12", payload=b"z" * 10_000)
    net.pump()
    kor = net.nodes["KOR"]
    (row,) = kor.store.rows(st.outbox, st.outbox.c.item_id == "kor-pr-1")
    assert row["state"] == "delivered" and bytes(row["body"]) == b""  # the ~14 KB envelope is gone
    assert len(kor.store.rows(st.receipts, st.receipts.c.item_id == "kor-pr-1")) == 1
    assert {e["type"] for e in kor.store.rows(st.events, st.events.c.item_id == "kor-pr-1")} >= {"release"}
    assert kor.item_status("kor-pr-1")["receipts"]
