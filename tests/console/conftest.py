"""Fixtures of the console tests: the in-process world, a signed-in TestClient, and a live server for the browser."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from accord.console.app import create_console
from accord.people import register as register_module
from tests.console.world import PASSWORD, World, build

ARTIFACTS = Path(__file__).parent / "artifacts"

# Tests hash with cheap argon2id parameters (the production hasher costs ~0.3 s a hash on this machine);
# test_people.py checks the production parameters themselves.
PRODUCTION_HASHER = register_module._hasher
register_module._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build(tmp_path)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def sign_in(client: TestClient, user: str, password: str = PASSWORD) -> TestClient:
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": user, "password": password, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


@pytest.fixture
def jpn_client(world: World) -> TestClient:
    return TestClient(create_console(world.jpn), base_url="https://testserver")


@pytest.fixture
def kor_client(world: World) -> TestClient:
    return TestClient(create_console(world.kor), base_url="https://testserver")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    """Both consoles (JPN and KOR) on one loopback server: http://localhost:PORT/{jpn,kor}/console."""
    import uvicorn
    from fastapi import FastAPI

    w = build(tmp_path_factory.mktemp("world"))
    root = FastAPI()
    root.mount("/jpn/console", create_console(w.jpn))
    root.mount("/kor/console", create_console(w.kor))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the console server did not start")
        time.sleep(0.05)
    try:
        yield f"http://localhost:{port}", w
    finally:
        server.should_exit = True
        thread.join(timeout=10)
