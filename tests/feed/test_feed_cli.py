"""`accord feed` on the command line: simulate, publish (refusals: one line, exit 2), subscribe, status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.feed.support import FeedProcess, flight_messages, free_port, wait_for

pytestmark = pytest.mark.integration


def accord(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accord", *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def test_simulate_prints_warning_messages() -> None:
    r = accord("feed", "simulate", "--rate", "50", "--duration", "3", "--interval", "0.5")
    assert r.returncode == 0, r.stderr
    msgs = [json.loads(line) for line in r.stdout.splitlines()]
    assert 60 < len(msgs) < 250 and {m["kind"] for m in msgs} == {"launch", "track", "impact"}
    assert not any("sensor" in k for m in msgs for k in m)


def test_bad_arguments_are_one_line_errors() -> None:
    r = accord("feed", "simulate", "--rate", "0")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("error:")
    r = accord("feed", "serve", "--dir", "/nonexistent/node")
    assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr


def test_publish_subscribe_and_status_from_the_cli(nodes: dict[str, Path], tmp_path: Path) -> None:
    hub = free_port()
    procs = [
        FeedProcess(nodes["USA"], hub),
        FeedProcess(nodes["KOR"], free_port(), hub=hub),
        FeedProcess(nodes["JPN"], free_port(), hub=hub),
    ]
    try:
        for p in procs:
            p.start()
        kor, jpn = procs[1], procs[2]
        wait_for(lambda: jpn.status().get("heads", {}).get("KOR-JPN", 0) >= 1, what="session")
        msgs = flight_messages("CLI1", 5)
        bad = {**msgs[2], "radar_site": "Kyogamisaki"}
        lines = "\n".join(json.dumps(m) for m in [*msgs, bad]) + "\n"
        r = accord("feed", "publish", "--dir", str(nodes["KOR"]), "--port", str(kor.port), stdin=lines)
        assert r.returncode == 2 and "published 7, refused 1" in r.stdout
        assert "stdin:8: FORBIDDEN_FIELD" in r.stderr and "[M-R2]" in r.stderr and "Kyogamisaki" not in r.stderr

        # `publish` returns once KOR holds the messages; `subscribe --once` shows what JPN holds now. Under load
        # the hop through the US hub may still be under way: wait until JPN holds KOR's head of the stream (else
        # the first subscribe sees a prefix -- the flake of 2026-11-30 10:56).
        # (Both read the nodes' status files, rewritten about once a second: KOR's must first show the 7.)
        def relayed() -> bool:
            k = kor.status()
            head = k.get("heads", {}).get("KOR-JPN", 0)
            return k.get("published", 0) >= 7 and jpn.status().get("heads", {}).get("KOR-JPN", 0) >= head

        wait_for(relayed, what="relayed to JPN")
        hwm = tmp_path / "jpn.hwm"
        r = accord(
            "feed",
            "subscribe",
            "--dir",
            str(nodes["JPN"]),
            "--port",
            str(jpn.port),
            "--json",
            "--once",
            "--hwm",
            str(hwm),
        )
        assert r.returncode == 0, r.stderr
        got = [json.loads(line) for line in r.stdout.splitlines()]
        mine = [(g["kind"], g["time"]) for g in got if g["stream"] == "KOR-JPN"]
        assert mine == [(m["kind"], m["time"]) for m in msgs]
        r = accord(
            "feed",
            "subscribe",
            "--dir",
            str(nodes["JPN"]),
            "--port",
            str(jpn.port),
            "--json",
            "--once",
            "--hwm",
            str(hwm),
        )
        assert r.returncode == 0 and r.stdout == ""  # resumed after the high-water mark: nothing twice
        r = accord("feed", "subscribe", "--dir", str(nodes["JPN"]), "--port", str(jpn.port), "--once")
        assert r.returncode == 0 and "CLI1" in r.stdout and "latency p50" in r.stdout  # the live view
        wait_for(lambda: jpn.status().get("received", 0) > 0, what="status")
        r = accord("feed", "status", "--dir", str(nodes["JPN"]))
        assert r.returncode == 0 and "JPN (hub USA)" in r.stdout
    finally:
        for p in procs:
            p.stop()
