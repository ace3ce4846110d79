"""Helpers of the feed tests: feed processes on loopback, messages in their launch-impact window."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def now_us() -> int:
    return time.time_ns() // 1000


def flight_messages(event: str, n_tracks: int, *, t0: int | None = None) -> list[dict[str, Any]]:
    """A launch 5 s ago, ``n_tracks`` track points since, and an impact prediction 5 min ahead."""
    t = now_us() if t0 is None else t0
    launch = t - 5_000_000
    out: list[dict[str, Any]] = [{"event": event, "kind": "launch", "time": launch, "lat": 39.03, "lon": 125.75}]
    for i in range(n_tracks):
        out.append(
            {
                "event": event,
                "kind": "track",
                "time": launch + 1_000 * (i + 1),
                "lat": 39.03 + i * 1e-4,
                "lon": 125.75 + i * 1e-3,
                "alt_m": 1000.0 + i,
                "vel_e": 1500.0,
                "vel_n": 10.0,
                "vel_u": 800.0,
            }
        )
    out.append({"event": event, "kind": "impact", "time": t + 300_000_000, "lat": 39.5, "lon": 133.0})
    return out


@dataclass
class FeedProcess:
    """``accord feed serve`` for one node directory."""

    directory: Path
    port: int
    hub: int | None = None
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: float = 30.0) -> FeedProcess:
        cmd = [
            sys.executable,
            "-m",
            "accord",
            "feed",
            "serve",
            "--dir",
            str(self.directory),
            "--port",
            str(self.port),
            *self.extra,
        ]
        if self.hub is not None:
            cmd += ["--hub", f"127.0.0.1:{self.hub}"]
        log = open(self.directory / "feed-serve.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + wait
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"feed {self.directory.name} exited: {self.log()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"feed {self.directory.name} did not start: {self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return (self.directory / "feed-serve.log").read_text(errors="replace")[-3000:]

    def status(self) -> dict[str, Any]:
        path = self.directory / "feed" / "status.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def wait_for(pred: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
