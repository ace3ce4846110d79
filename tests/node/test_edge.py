"""The node's HTTP edge (issue 8, wave 8): the hot routes answered ahead of FastAPI's middleware stack.

``POST /v1/items`` and ``POST /v1/deliveries`` are dispatched by :class:`~accord.node.api.fast.NodeApp` to
:class:`~accord.node.api.fast.HotPath` -- not through the FastAPI stack -- with every protection of the stack
kept: admission before a byte of the body, the own-only route, the body limit as the body streams, the same
problem documents for Accord's errors and for anything unexpected. Each test drives the ASGI app in process
with the caller's pinned certificate in the scope (as the pinned protocol puts it there) and counts what of
the body was read.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from accord.node.api.fast import HandOff, NodeApp
from accord.node.app import create_app
from accord.node.cluster import init_node
from accord.node.identity import cert_fingerprint
from tests.node.helpers import Net, b64, label

CAP = 64 * 1024


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, reads: int) -> None:
        self.status, self.headers, self.body, self.reads = status, headers, body, reads

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: Any, fp: str | None, path: str, chunks: list[bytes], *, method: str = "POST", length: bool = True
) -> Answer:
    """One request through the ASGI app; ``chunks`` is the body as it streams; ``reads`` counts receive()."""
    headers = [(b"content-type", b"application/json"), (b"idempotency-key", b"jpn-edge-1")]
    if length:
        headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "server": ("127.0.0.1", 443),
        "client": ("127.0.0.1", 5000),
        "extensions": {"tls": {"client_cert_sha256": fp}},
    }
    reads = 0
    out: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        if reads <= len(chunks):
            return {"type": "http.request", "body": chunks[reads - 1], "more_body": reads < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        out.append(msg)

    asyncio.run(app(scope, receive, send))
    start = out[0]
    body = b"".join(m.get("body", b"") for m in out[1:])
    hs = {k.decode(): v.decode() for k, v in start["headers"]}
    return Answer(start["status"], hs, body, reads)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("edge")
    net = Net(root, extra=("CHN",))  # CHN: pinned at KOR, no agreement with it
    svc = net.nodes["JPN"]
    svc.cfg.max_body_bytes = CAP
    app = create_app(svc, workers=0)
    fps = {p: cert_fingerprint(c.cert_file.read_bytes()) for p, c in net.cfgs.items()}
    return {"net": net, "app": app, "fp": fps, "svc": svc}


def envelope(item: str = "kor-edge-1", sealed: str = "") -> bytes:
    env = {"item_id": item, "sender": "KOR", "final_recipient": "JPN", "at": "2015-04-12", "sealed": sealed}
    return json.dumps(env).encode()


def test_hot_routes_bypass_the_fastapi_middleware_stack(tmp_path: Path) -> None:
    net = Net(tmp_path, parties=("KOR", "JPN"))
    app = create_app(net.nodes["JPN"], workers=0)
    assert isinstance(app, NodeApp)
    fp = cert_fingerprint(net.cfgs["KOR"].cert_file.read_bytes())
    r = call(app, fp, "/v1/deliveries", [b"{}"])
    assert r.status == 422 and r.headers["content-type"] == "application/problem+json"
    assert app.middleware_stack is None  # FastAPI's stack was never built: the hot path answered
    r = call(app, fp, "/v1/deliveries/batch", [b"{}"])  # batched deliveries (wave 8, batch): a hot route too
    assert r.status == 422 and r.headers["content-type"] == "application/problem+json"
    assert app.middleware_stack is None
    r = call(app, fp, "/v1/health", [], method="GET")  # anything else: through FastAPI (and its AdmissionGate)
    assert app.middleware_stack is not None


def test_attack_unadmitted_peer_on_a_hot_route_is_refused_before_its_body(node: dict[str, Any]) -> None:
    r = call(node["app"], node["fp"]["CHN"], "/v1/deliveries", [envelope()])
    assert r.status == 403 and r.reads == 0
    doc = r.json()
    assert doc["type"].endswith("/peer-refused") and "CHN" in doc["detail"]
    assert r.headers["connection"] == "close"


def test_attack_unknown_certificate_on_a_hot_route_is_refused_before_its_body(node: dict[str, Any]) -> None:
    r = call(node["app"], "00" * 32, "/v1/items", [b"{}"])
    assert r.status == 403 and r.reads == 0


def test_attack_partner_on_the_own_only_submit_route_is_refused_before_its_body(node: dict[str, Any]) -> None:
    r = call(node["app"], node["fp"]["KOR"], "/v1/items", [b'{"to": "KOR"}'])
    assert r.status == 403 and r.reads == 0
    assert r.json()["type"].endswith("/peer-refused")


def test_attack_declared_body_over_the_limit_is_refused_unread(node: dict[str, Any]) -> None:
    r = call(node["app"], node["fp"]["KOR"], "/v1/deliveries", [b"x" * (CAP + 1)])
    assert r.status == 413 and r.reads == 0
    assert r.json()["type"].endswith("/too-large")


def test_attack_streamed_body_over_the_limit_is_cut_at_the_limit(node: dict[str, Any]) -> None:
    chunks = [b"x" * 16384] * 64  # 1 MiB without Content-Length (chunked)
    r = call(node["app"], node["fp"]["KOR"], "/v1/deliveries", chunks, length=False)
    assert r.status == 413 and r.headers["connection"] == "close"
    assert r.reads == CAP // 16384 + 1  # not one chunk past the one that crossed the limit
    assert r.json()["detail"] == f"body over {CAP} bytes"


def test_attack_repeated_content_length_is_refused(node: dict[str, Any]) -> None:
    app, fp = node["app"], node["fp"]["KOR"]
    body = envelope()
    scope_headers = [(b"content-length", str(len(body)).encode())] * 2
    out: list[dict[str, Any]] = []

    async def go() -> None:
        async def receive() -> dict[str, Any]:
            raise AssertionError("the body must not be read")

        async def send(m: dict[str, Any]) -> None:
            out.append(m)

        scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/v1/deliveries"}
        scope["headers"] = scope_headers
        scope["extensions"] = {"tls": {"client_cert_sha256": fp}}
        await app(scope, receive, send)

    asyncio.run(go())
    assert out[0]["status"] == 400


def test_invalid_envelope_gets_the_422_problem_document_without_the_value(node: dict[str, Any]) -> None:
    secret = "kor-SECRET-VALUE-7"
    body = json.dumps({"item_id": "kor-edge-2", "sender": secret, "final_recipient": "JPN", "at": "x", "sealed": ""})
    r = call(node["app"], node["fp"]["KOR"], "/v1/deliveries", [body.encode()])
    assert r.status == 422 and r.headers["content-type"] == "application/problem+json"
    doc = r.json()
    assert doc["type"].endswith("/validation") and all(e["loc"][0] == "body" for e in doc["errors"])
    assert secret not in r.body.decode()


def test_accord_error_from_the_service_is_its_problem_document(node: dict[str, Any]) -> None:
    # a sealed envelope that is no sealed envelope: the service refuses it (an AccordError), mapped as before
    r = call(node["app"], node["fp"]["KOR"], "/v1/deliveries", [envelope("kor-edge-3", b64(b"not sealed"))])
    assert 400 <= r.status < 500 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == r.status


def test_unexpected_error_is_a_500_problem_without_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = Net(tmp_path, parties=("KOR", "JPN"))
    svc = net.nodes["JPN"]
    app = create_app(svc, workers=0)

    def boom(*_: Any) -> Any:
        raise KeyError("kor-SECRET-in-exception")

    monkeypatch.setattr(svc, "receive_delivery", boom)
    fp = cert_fingerprint(net.cfgs["KOR"].cert_file.read_bytes())
    r = call(app, fp, "/v1/deliveries", [envelope("kor-edge-4")])
    assert r.status == 500 and r.json()["type"].endswith("/internal")
    assert b"SECRET" not in r.body and b"Traceback" not in r.body


def test_submit_from_own_systems_passes_the_own_only_check_and_maps_its_input_error(node: dict[str, Any]) -> None:
    body = json.dumps({"label": label("jpn-edge-1", originator="JPN"), "to": "KOR", "payload_b64": "**not base64**"})
    r = call(node["app"], node["fp"]["JPN"], "/v1/items", [body.encode()])
    assert r.status == 400 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Bad input" and "payload_b64" in r.json()["detail"]


def test_handoff_runs_on_its_threads_and_returns_results_and_errors() -> None:
    pool = HandOff(threads=2)

    async def go() -> tuple[Any, ...]:
        me = threading.get_ident()
        where = await pool.run(threading.get_ident)
        assert where != me
        value = await pool.run(lambda: 42)
        with pytest.raises(ZeroDivisionError):
            await pool.run(lambda: 1 // 0)
        many = await asyncio.gather(*(pool.run(functools.partial(pow, i, 2)) for i in range(20)))
        return value, many

    value, many = asyncio.run(go())
    assert value == 42 and many == [i * i for i in range(20)]
    assert len(pool._runners) <= 2  # never more threads than asked
    pool.shutdown()
    assert all(not t.is_alive() for t in pool._runners)

    async def after() -> None:
        await pool.run(lambda: 1)

    with pytest.raises(RuntimeError, match="stopping"):
        asyncio.run(after())


def test_handoff_is_also_an_executor_for_code_that_submits_to_it() -> None:
    """Routes written for a ``ThreadPoolExecutor`` (``run_in_executor``, ``submit``) work with the app's pool."""
    pool = HandOff(threads=2)

    async def go() -> int:
        v: int = await asyncio.get_running_loop().run_in_executor(pool, functools.partial(pow, 3, 2))
        return v + pool.submit(pow, 2, 3).result(timeout=10)

    assert asyncio.run(go()) == 17
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(pow, 2, 2)


def test_handoff_blocking_calls_each_get_a_thread() -> None:
    """Calls that wait on each other (as transactions waiting on one group commit do) never deadlock: a call
    waits in the queue only when every thread is busy."""
    pool = HandOff(threads=4)
    gate = threading.Barrier(4, timeout=10)

    async def go() -> list[int]:
        return await asyncio.gather(*(pool.run(gate.wait) for _ in range(4)))

    assert sorted(asyncio.run(go())) == [0, 1, 2, 3]
    pool.shutdown()


def test_node_server_sends_no_server_banner(tmp_path: Path) -> None:
    """uvicorn is started without the ``server`` banner (and without its proxy-headers layer: no proxy sits in
    front of a node): a real node process, a partner's TLS client, the hot path over TLS."""
    import httpx

    from accord.node.cluster import NodeProcess, pin_each_other
    from accord.node.identity import client_context

    kor, jpn = init_node(tmp_path / "kor", "KOR"), init_node(tmp_path / "jpn", "JPN")
    pin_each_other([kor, jpn])
    proc = NodeProcess(kor, workers=1)
    proc.start()
    try:
        ctx = client_context(jpn.cert_file, jpn.key_file, kor.cert_file.read_bytes())
        with httpx.Client(base_url=f"https://127.0.0.1:{kor.port}", verify=ctx, timeout=10) as c:
            r = c.post("/v1/deliveries", content=b"{}")
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
            assert "server" not in r.headers and "date" in r.headers
    finally:
        proc.stop()


def test_the_gate_identifies_the_caller_once_and_the_route_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = Net(tmp_path, parties=("KOR", "JPN"))
    svc = net.nodes["JPN"]
    app = create_app(svc, workers=0)
    calls: list[str | None] = []
    identify = svc.identify

    def counted(fp: str | None) -> Any:
        calls.append(fp)
        return identify(fp)

    monkeypatch.setattr(svc, "identify", counted)
    fp = cert_fingerprint(net.cfgs["KOR"].cert_file.read_bytes())
    for _ in range(3):
        assert call(app, fp, "/v1/deliveries", [b"{}"]).status == 422
    assert calls == [fp]  # the gate's decision (cached per certificate and day), not one more per request


def test_a_fault_in_the_gate_is_a_500_problem_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = Net(tmp_path, parties=("KOR", "JPN"))
    svc = net.nodes["JPN"]
    app = create_app(svc, workers=0)

    def broken(_: str | None) -> Any:
        raise RuntimeError("kor-SECRET roster fault")

    monkeypatch.setattr(svc, "identify", broken)
    r = call(app, cert_fingerprint(net.cfgs["KOR"].cert_file.read_bytes()), "/v1/deliveries", [envelope()])
    assert r.status == 500 and r.reads == 0 and r.json()["type"].endswith("/internal")
    assert b"SECRET" not in r.body
