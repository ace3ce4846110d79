"""An answer's head and body leave the node in one transport write (issue 8): each write is a TLS record and a
``send`` taken by the event loop, and under load each was a wait for the GIL (docs/performance.md, "Wave 6 --
tput"). The order of bytes on a connection never changes, and a head whose body does not follow at once still
goes out on the loop's next turn."""

from __future__ import annotations

import asyncio
from typing import Any

from accord.node.api.limits import _CloseGuard


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


class _Protocol:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.closed = 0

    def close_requested(self) -> None:
        self.closed += 1


def _guard() -> tuple[_CloseGuard, _Transport, _Protocol, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    t, p = _Transport(), _Protocol(loop)
    return _CloseGuard(p, t), t, p, loop


def _turn(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(asyncio.sleep(0))


def test_head_and_body_are_one_write() -> None:
    g, t, _, loop = _guard()
    try:
        g.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        assert t.writes == []  # held for the body
        g.write(b"{}")
        assert t.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
        g.write(b"more")  # later writes go straight through, in order
        _turn(loop)
        assert t.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}", b"more"]
    finally:
        loop.close()


def test_a_head_without_a_body_in_the_same_step_goes_out_on_the_next_turn() -> None:
    g, t, _, loop = _guard()
    try:
        g.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        _turn(loop)
        assert t.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]
        g.write(b"5\r\nhello\r\n")
        assert t.writes[-1] == b"5\r\nhello\r\n" and len(t.writes) == 2
    finally:
        loop.close()


def test_close_writes_a_held_head_first_and_asks_the_protocol() -> None:
    g, t, p, loop = _guard()
    try:
        g.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
        g.close()
        assert t.writes == [b"HTTP/1.1 500 Internal Server Error\r\n\r\n"] and p.closed == 1
        _turn(loop)
        assert len(t.writes) == 1  # not written twice
    finally:
        loop.close()


def test_other_transport_calls_pass_through() -> None:
    g, t, _, loop = _guard()
    try:
        x: Any = g
        assert x.get_extra_info("peername") == "info:peername"
        t.closing = True
        assert x.is_closing()
    finally:
        loop.close()
