"""Start and stop local nodes as real processes (demo, tests, benchmark): loopback, free ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from accord.node.audit import init_audit_key
from accord.node.client import local_client
from accord.node.config import NodeConfig, Peer, Roster, self_entry
from accord.node.db import Store
from accord.node.identity import generate_receipt_key, generate_tls_identity, write_secret
from accord.node.sealing import init_keys, pin_entry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def init_node(
    directory: Path,
    party: str,
    *,
    port: int | None = None,
    db: str | None = None,
    what_if: bool = True,
    **options: object,
) -> NodeConfig:
    """What ``accord node init`` does, for programs: every file private (0600/0700) whatever the umask; on
    failure nothing is left behind (a directory this call created is removed)."""
    from accord.node.files import check_db_url, private_umask

    if db:
        check_db_url(db)
    created = not directory.exists()
    try:
        with private_umask():
            return _init_node(directory, party, port=port, db=db, what_if=what_if, **options)
    except BaseException:
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        raise


def _init_node(
    directory: Path, party: str, *, port: int | None, db: str | None, what_if: bool, **options: object
) -> NodeConfig:
    from accord.node.files import create_private_db

    directory.mkdir(parents=True, exist_ok=True)
    cfg = NodeConfig(party=party, port=port or free_port(), db=db or "", what_if=what_if, dir=directory, **options)  # type: ignore[arg-type]
    cert, key = generate_tls_identity(party, hosts=sorted({cfg.host, "127.0.0.1", "localhost"}))
    cfg.cert_file.write_bytes(cert)
    write_secret(cfg.key_file, key)
    write_secret(cfg.receipt_key_file, generate_receipt_key())
    cfg.save()
    init_keys(directory, party)
    init_audit_key(directory, party)
    Roster().save(directory)
    create_private_db(cfg.db)
    Store(cfg.db).dispose()
    (directory / "entry.yaml").write_text(yaml.safe_dump(self_entry(cfg), sort_keys=False))
    return cfg


def pin_each_other(cfgs: list[NodeConfig], *, extra: list[NodeConfig] = ()) -> None:  # type: ignore[assignment]
    """Every node pins every other (and the ``extra`` ones, which pin nobody)."""
    for cfg in cfgs:
        roster = Roster.load(cfg.dir)
        for other in [*cfgs, *extra]:
            if other.party != cfg.party:
                peer = Peer.from_dict(self_entry(other), source="cluster")
                roster.peers[other.party] = peer
                pin_entry(cfg.dir, peer.sealed_entry, source="cluster")
        roster.save(cfg.dir)


@dataclass
class NodeProcess:
    cfg: NodeConfig
    db: str | None = None
    workers: int | None = None  # the node's default (accord.node.delivery.DELIVERY_THREADS)
    log_level: str = "warning"
    port: int | None = None
    audit: bool = True
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self, *, wait: float = 30.0) -> NodeProcess:
        self.log_path = self.cfg.dir / (f"node-{self.port}.log" if self.port else "node.log")
        cmd = [
            sys.executable,
            "-m",
            "accord.node",
            str(self.cfg.dir),
            "--log-level",
            self.log_level,
        ]
        if self.workers is not None:
            cmd += ["--workers", str(self.workers)]
        if self.db:
            cmd += ["--db", self.db]
        if self.port:
            cmd += ["--port", str(self.port)]
        if not self.audit:
            cmd += ["--no-audit"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        self.wait_ready(wait)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with local_client(self.cfg, timeout=2, port=self.port) as c:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"node {self.cfg.party} exited: {self._last_log_line()} (see {self.log_path})")
                try:
                    if c.get("/v1/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"node {self.cfg.party} did not start: see {self.log_path}")
                time.sleep(0.1)

    def _last_log_line(self) -> str:
        """The last line the node wrote (its one-line error), so that a caller whose temporary directory goes
        away with the node still says why it stopped."""
        try:
            lines = [x for x in (self.log_path.read_text(errors="replace") if self.log_path else "").splitlines() if x]
        except OSError:
            return "no log"
        return lines[-1][:300] if lines else "nothing logged"

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
