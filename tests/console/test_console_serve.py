"""``accord console serve``: the console alone for browsers, as a real process on loopback (TLS by default)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.console.world import World

pytestmark = pytest.mark.integration


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("tls", [True, False])
def test_console_serve_answers_sign_in_page(world: World, tls: bool) -> None:
    port = _port()
    args = [
        sys.executable,
        "-m",
        "accord",
        "console",
        "serve",
        "--dir",
        str(world.net.cfgs["JPN"].dir),
        "--port",
        str(port),
        "--tls" if tls else "--no-tls",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/console/login"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(url, verify=False, timeout=2)
                break
            except httpx.TransportError as e:
                if time.monotonic() > deadline or proc.poll() is not None:
                    why = proc.stderr.read().decode() if proc.poll() is not None else "no answer"  # type: ignore[union-attr]
                    raise AssertionError(why) from e
                time.sleep(0.2)
        assert r.status_code == 200 and "Sign in to the JPN node" in r.text
        assert "secure" in r.headers["set-cookie"].lower()
        assert httpx.get(url.replace("/login", "/items"), verify=False, follow_redirects=False).status_code == 303
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_console_serve_without_tls_only_on_loopback(world: World) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "accord",
            "console",
            "serve",
            "--dir",
            str(world.net.cfgs["JPN"].dir),
            "--no-tls",
            "--host",
            "0.0.0.0",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "loopback" in r.stderr
