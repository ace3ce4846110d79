"""Limits in front of the node's application (issue 9), each attack written as a test named after it.

A real node process on loopback (mutual TLS): KOR serves; JPN is a partner with agreements; CHN is pinned
(valid certificate) but party to no agreement with KOR. Every loop is bounded in count and time.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.node.client import local_client
from accord.node.cluster import NodeProcess, init_node, pin_each_other
from accord.node.config import NodeConfig
from accord.node.identity import client_context
from tests.node.helpers import label
from tests.support.reliability import record

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

MiB = 1024 * 1024
LIMITS = {
    "max_body_bytes": 1 * MiB,
    "header_timeout_seconds": 1.0,
    "body_timeout_seconds": 2.0,
    "handshake_timeout_seconds": 1.0,
    "keepalive_seconds": 2.0,
    "max_peer_connections": 8,
    "max_own_connections": 64,
    "outbox_max_pending": 4,
    "retry_base_seconds": 0.1,
    "retry_max_seconds": 0.5,
    "poll_seconds": 0.02,
}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("limits")
    kor = init_node(root / "kor", "KOR", **LIMITS)  # type: ignore[arg-type]
    jpn = init_node(root / "jpn", "JPN")  # never started: KOR's outbox towards JPN only grows
    chn = init_node(root / "chn", "CHN")
    pin_each_other([kor, jpn], extra=[chn])
    proc = NodeProcess(kor, workers=1)
    proc.start()
    try:
        yield {"kor": kor, "jpn": jpn, "chn": chn, "proc": proc}
    finally:
        proc.stop()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def tls(me: NodeConfig, server: NodeConfig, timeout: float = 10.0) -> ssl.SSLSocket:
    ctx = client_context(me.cert_file, me.key_file, server.cert_file.read_bytes())
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    return ctx.wrap_socket(raw)


def answer(s: ssl.SSLSocket, limit: float = 10.0) -> bytes:
    """What the server sent until it closed (bounded in time and size)."""
    s.settimeout(limit)
    out = b""
    try:
        while len(out) < 65536:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (TimeoutError, ssl.SSLError, ConnectionError):
        pass
    return out


def closed_within(s: socket.socket, seconds: float) -> bool:
    """True if the server closes ``s`` within ``seconds`` (reads until EOF or error)."""
    s.settimeout(seconds)
    try:
        while s.recv(4096):
            pass
        return True
    except (ssl.SSLError, ConnectionError):
        return True
    except TimeoutError:
        return False


# ---------------------------------------------------------------- admission before the body


def test_body_flood_4x400mib_from_pinned_partner_without_agreement_is_refused_before_the_body(
    net: dict[str, Any],
) -> None:
    kor, chn, proc = net["kor"], net["chn"], net["proc"]
    assert proc.proc is not None
    before = rss_kib(proc.proc.pid)
    sent_total, refused = 0, 0
    for _ in range(4):
        s = tls(chn, kor, timeout=3)
        head = (
            "POST /v1/deliveries HTTP/1.1\r\nhost: kor\r\ncontent-type: application/json\r\n"
            f"content-length: {400 * MiB}\r\n\r\n"
        )
        s.sendall(head.encode())
        chunk, sent = b"{" * MiB, 0
        deadline = time.monotonic() + 20
        try:
            while sent < 400 * MiB and time.monotonic() < deadline:
                s.sendall(chunk)
                sent += len(chunk)
        except (ssl.SSLError, ConnectionError, TimeoutError):
            pass
        got = answer(s, 5)
        s.close()
        sent_total += sent
        if got.startswith(b"HTTP/1.1 403"):
            refused += 1
            assert b"no agreement in force between KOR and CHN" in got
        assert sent < 400 * MiB, "the node read the whole 400 MiB body of a partner it does not admit"
    grown = rss_kib(proc.proc.pid) - before
    record(
        "node: 4 × 400 MiB bodies before admission",
        group="hostile peer",
        attempts=4,
        refused=refused,
        lost=0,
        duplicated=0,
    )
    assert refused == 4
    assert grown < 32 * 1024, f"node memory grew by {grown} KiB"


def test_body_over_the_limit_from_an_admitted_caller_is_413_by_content_length_and_by_streaming(
    net: dict[str, Any],
) -> None:
    kor = net["kor"]
    with local_client(kor) as c:
        r = c.post("/v1/items", content=b"x" * (2 * MiB), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")

        def chunks() -> Iterator[bytes]:  # chunked: no Content-Length, the cap applies while streaming
            for _ in range(3):
                yield b" " * MiB

        r = c.post("/v1/items", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert c.get("/v1/health").status_code == 200


def test_unknown_content_length_forms_are_refused(net: dict[str, Any]) -> None:
    s = tls(net["kor"], net["kor"])
    s.sendall(b"POST /v1/items HTTP/1.1\r\nhost: k\r\ncontent-length: 12\r\ncontent-length: 13\r\n\r\n")
    got = answer(s, 5)
    s.close()
    assert got.startswith(b"HTTP/1.1 400")


# ---------------------------------------------------------------- request head


def test_16_mib_header_is_refused_431_without_buffering_it(net: dict[str, Any]) -> None:
    kor = net["kor"]
    s = tls(kor, kor, timeout=3)
    s.sendall(b"GET /v1/health HTTP/1.1\r\nhost: k\r\nx-big: ")
    sent = 0
    try:
        while sent < 16 * MiB:
            s.sendall(b"a" * 65536)
            sent += 65536
    except (ssl.SSLError, ConnectionError, TimeoutError):
        pass
    got = answer(s, 5)
    s.close()
    assert got.startswith(b"HTTP/1.1 431"), got[:80]
    assert sent < 16 * MiB  # refused long before the end


def test_20000_headers_are_refused_431(net: dict[str, Any]) -> None:
    kor = net["kor"]
    s = tls(kor, kor)
    head = b"GET /v1/health HTTP/1.1\r\nhost: k\r\n" + b"".join(b"x-%d: 1\r\n" % i for i in range(20000)) + b"\r\n"
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        s.sendall(head)
    got = answer(s, 5)
    s.close()
    assert got.startswith(b"HTTP/1.1 431"), got[:80]
    record(
        "node: half-open TCP connections / header size and count limits",
        group="slow and half-open clients",
        attempts=2,
        refused=2,
    )


def test_url_over_the_limit_is_refused_414(net: dict[str, Any]) -> None:
    kor = net["kor"]
    s = tls(kor, kor)
    s.sendall(b"GET /v1/items/" + b"a" * 8192 + b" HTTP/1.1\r\nhost: k\r\n\r\n")
    got = answer(s, 5)
    s.close()
    assert got.startswith(b"HTTP/1.1 414"), got[:80]


# ---------------------------------------------------------------- slow and half-open clients


def test_slowloris_client_is_dropped_after_the_header_timeout(net: dict[str, Any]) -> None:
    kor = net["kor"]
    s = tls(kor, kor)
    s.sendall(b"GET /v1/health HTTP/1.1\r\n")  # ... and never finishes its head
    t0 = time.monotonic()
    assert closed_within(s, 6)
    assert time.monotonic() - t0 < 6
    s.close()


def test_slow_body_is_dropped_after_the_body_timeout(net: dict[str, Any]) -> None:
    kor = net["kor"]
    s = tls(kor, kor)
    s.sendall(b"POST /v1/items HTTP/1.1\r\nhost: k\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
    assert closed_within(s, 8)
    s.close()


def test_half_open_tcp_connection_is_dropped_after_the_handshake_timeout(net: dict[str, Any]) -> None:
    kor = net["kor"]
    raw = socket.create_connection(("127.0.0.1", kor.port), timeout=10)  # TCP only: no TLS handshake
    t0 = time.monotonic()
    assert closed_within(raw, 8), "a client that never completes the TLS handshake is kept forever"
    assert time.monotonic() - t0 < 8
    raw.close()


def test_many_idle_connections_do_not_cut_the_node_off_from_its_own_client(net: dict[str, Any]) -> None:
    kor, jpn, chn = net["kor"], net["jpn"], net["chn"]
    half_open = [socket.create_connection(("127.0.0.1", kor.port), timeout=10) for _ in range(300)]
    idle: list[ssl.SSLSocket] = []
    refused = 0
    for who in (jpn, chn):
        for _ in range(40):  # 5 × the per-partner cap each
            try:
                s = tls(who, kor, timeout=5)
                s.sendall(b"GET /v1/health HTTP/1.1\r\nhost: k\r\n")  # a started, never finished head
                idle.append(s)
            except (ssl.SSLError, ConnectionError, TimeoutError):
                refused += 1
    closed = sum(1 for s in idle if closed_within(s, 0.05))
    try:
        t0 = time.monotonic()
        with local_client(kor, timeout=5) as c:
            ok = sum(1 for _ in range(20) if c.get("/v1/health").status_code == 200)
        took = time.monotonic() - t0
    finally:
        for s in [*half_open, *idle]:
            s.close()
    record(
        "node: many idle partner connections + 300 half-open TCP; own client served",
        group="slow and half-open clients",
        attempts=380,
        refused=refused + closed,
        accepted=ok,
    )
    assert ok == 20 and took < 10, f"own client served {ok}/20 in {took:.1f}s"
    assert refused + closed >= 80 - 2 * LIMITS["max_peer_connections"]  # type: ignore[operator]


# ---------------------------------------------------------------- API description


def test_openapi_and_docs_are_for_the_own_certificate_only(net: dict[str, Any]) -> None:
    kor, jpn = net["kor"], net["jpn"]
    ctx = client_context(jpn.cert_file, jpn.key_file, kor.cert_file.read_bytes())
    with httpx.Client(base_url=kor.url, verify=ctx) as c:
        assert c.get("/openapi.json").status_code == 403
        assert c.get("/docs").status_code == 403
    with local_client(kor) as c:
        assert c.get("/openapi.json").json()["info"]["title"].startswith("Accord node")
        page = c.get("/docs")
        assert page.status_code == 200 and "/v1/items" in page.text


def test_docs_page_references_no_external_resource(net: dict[str, Any]) -> None:
    import re

    with local_client(net["kor"]) as c:
        page = c.get("/docs").text
    assert not re.search(r"(src|href)\s*=", page, re.I)  # nothing to load at all
    assert "http://" not in page and "https://" not in page.replace("https://accord.invalid", "")
    assert "<script" not in page.lower()


# ---------------------------------------------------------------- backpressure


def test_outbox_stays_bounded_under_many_concurrent_submitters_503_retry_after(net: dict[str, Any]) -> None:
    kor = net["kor"]  # JPN is down: nothing leaves KOR's outbox
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def submitter(i: int) -> None:
        body = {
            "label": label(f"kor-bp-{i:03d}", rel=("JPN",)),
            "to": "JPN",
            "at": "2017-02-12",
            "payload_b64": base64.b64encode(b"p" * 1024).decode(),
        }
        with local_client(kor, timeout=30) as c:
            r = c.post("/v1/items", json=body)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=submitter, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    codes = [r.status_code for r in results]
    full = [r for r in results if r.status_code == 503]
    assert len(results) == 32
    assert codes.count(200) == LIMITS["outbox_max_pending"], codes
    assert len(full) == 32 - LIMITS["outbox_max_pending"]  # type: ignore[operator]
    assert all(r.headers.get("retry-after", "").isdigit() for r in full)
    assert all(r.json()["type"].endswith("/outbox-full") for r in full)
    with local_client(kor) as c:
        pending = [o for o in c.get("/v1/outbox", params={"state": "pending"}).json() if o["recipient"] == "JPN"]
    assert len(pending) == LIMITS["outbox_max_pending"]
    record(
        "node: 32 concurrent submitters, outbox bound 4",
        group="load",
        attempts=32,
        refused=len(full),
        accepted=codes.count(200),
        lost=0,
        duplicated=0,
    )


def test_item_and_request_ids_in_paths_follow_the_one_id_grammar(net: dict[str, Any]) -> None:
    with local_client(net["kor"]) as c:
        for bad in ("a%00b", "x" * 129, "%C5%BFid", "-lead"):
            assert c.get(f"/v1/items/{bad}").status_code == 422, bad
            assert c.post(f"/v1/consent-requests/{bad}/approve", json={"officer": "o"}).status_code == 422, bad
        assert c.get("/v1/items/no-such-item").status_code == 404


def test_hot_routes_keep_their_description_validation_and_problems(net: dict[str, Any]) -> None:
    """POST /v1/items and /v1/deliveries are plain endpoints (accord.node.api.fast): still documented, still
    one strict model each (unknown fields refused, 422 problem, value never echoed), still own-only/peer."""
    kor, jpn = net["kor"], net["jpn"]
    with local_client(kor) as c:
        paths = c.get("/openapi.json").json()["paths"]
        assert paths["/v1/items"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/SubmitRequest"
        )
        assert paths["/v1/deliveries"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/DeliveryEnvelope"
        )
        r = c.post("/v1/items", json={"label": {}, "to": "JPN", "payload_b64": "", "smuggled": "SECRET-VALUE-42"})
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
        assert ["body", "smuggled"] in [e["loc"] for e in r.json()["errors"]]
        assert "SECRET-VALUE-42" not in r.text
        r = c.post("/v1/items", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"][0] == "body"
        r = c.post("/v1/items", json={"label": {}, "to": "JPN", "payload_b64": "***"})
        assert r.status_code == 400 and "payload_b64" in r.text
    ctx = client_context(jpn.cert_file, jpn.key_file, kor.cert_file.read_bytes())
    with httpx.Client(base_url=kor.url, verify=ctx) as c:
        r = c.post("/v1/items", json={"label": {}, "to": "JPN", "payload_b64": ""})
        assert r.status_code == 403  # a partner may not submit
        env = {"item_id": "x", "sender": "JPN", "final_recipient": "KOR", "at": "2017-02-12", "sealed": "", "z": 1}
        r = c.post("/v1/deliveries", json=env)
        assert r.status_code == 422 and ["body", "z"] in [e["loc"] for e in r.json()["errors"]]
