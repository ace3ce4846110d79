"""CPU per request of the node's HTTP edge, against the plain Starlette peer (issue 8, wave 8).

``make bench ONLY=edge`` (the row ``edge.cpu_per_request``, ratio against the plain peer), or ``python
bench/bench_edge.py [N]`` (by path, so that ``PYTHONPATH`` chooses which ``accord`` the server imports: an
older tree can be compared with this one). A real node process (uvicorn, the pinned protocol,
mutual TLS, the app as ``accord node run`` serves it) whose service answers ``POST /v1/deliveries`` at once
(``receive_delivery`` replaced by a constant answer: no crypto, no disk), and the benchmark's plain peer
(``bench/_plain_https.py``) on the same machine. A partner's client POSTs the same ~14 KB envelope N times,
one at a time on one kept connection, to each; the figure is each server process's CPU (utime + stime) per
request -- what the edge costs, the service aside. Printed: CPU µs per request (ours, plain, the gap) and
the wall time per request.

``python bench/bench_edge.py inproc [N]``: the app alone, in this process (no TLS, no uvicorn): N deliveries
driven through the ASGI interface in batches of 200 on uvloop; printed: the process CPU per request (median
and spread of the batches).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve(directory: str, port: int) -> None:
    """The node process: ``serve`` as ``accord node run`` does, with a constant ``receive_delivery``."""
    import accord.node.app as app_mod

    load = app_mod.__dict__["load_service"]

    def stub(d: Path, **kw: Any) -> Any:
        service = load(d, **kw)

        def receive_delivery(_caller: Any, d: dict[str, Any]) -> dict[str, Any]:
            return {"status": "stored", "item_id": d["item_id"], "receipt": {"by": "KOR", "sig": "ab" * 40}}

        setattr(service, "receive_delivery", receive_delivery)  # noqa: B010 - the stub, on this instance
        return service

    setattr(app_mod, "load_service", stub)  # noqa: B010
    app_mod.serve(Path(directory), workers=0, audit=False, port=port, log_level="warning")


def _wait(client: Any, path: str, body: bytes, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            r = client.post(path, content=body, headers=headers)
            if r.status_code == 200:
                return
            raise SystemExit(f"{path}: {r.status_code} {r.text[:300]}")
        except Exception as e:  # not up yet
            if isinstance(e, SystemExit) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _measure(pid: int, client: Any, path: str, body: bytes, headers: dict[str, str], n: int) -> tuple[float, float]:
    _wait(client, path, body, headers)
    for _ in range(200):  # warm
        client.post(path, content=body, headers=headers)
    spy = None
    if os.environ.get("EDGE_PYSPY") and path != "/post":  # a measuring aid: py-spy on PATH
        out = os.environ["EDGE_PYSPY"]
        cmd = ["py-spy", "record", "-r", "500", "-f", "raw", "-o", out, "-p", str(pid)]
        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    c0, t0 = _cpu(pid), time.perf_counter()
    for i in range(n):
        headers["idempotency-key"] = f"jpn-edge-{i}"
        r = client.post(path, content=body, headers=headers)
        assert r.status_code == 200, r.status_code
    if spy is not None:
        spy.send_signal(2)
        spy.wait(30)
    return (_cpu(pid) - c0) / n * 1e6, (time.perf_counter() - t0) / n * 1e6


def measure(n: int) -> tuple[float, float, float, float]:
    """(ours, plain) CPU µs per request, then (ours, plain) wall µs per request."""
    import httpx

    from accord.node.cluster import free_port, init_node, pin_each_other
    from accord.node.identity import client_context, generate_tls_identity, write_secret

    root = Path(tempfile.mkdtemp(prefix="accord-edge-cpu-"))
    kor, jpn = init_node(root / "kor", "KOR"), init_node(root / "jpn", "JPN")
    pin_each_other([kor, jpn])
    env = {
        "item_id": "kor-edge-0001",
        "sender": "KOR",
        "final_recipient": "KOR",
        "at": "2017-02-12",
        "sealed": base64.b64encode(os.urandom(10 * 1024)).decode(),
        "consents": [],
    }
    body = json.dumps(env).encode()
    port = free_port()
    ours = subprocess.Popen([sys.executable, __file__, "serve", str(root / "kor"), str(port)], cwd=ROOT)
    d = root / "plain"
    d.mkdir()
    cert, key = generate_tls_identity("USA")
    (d / "tls-cert.pem").write_bytes(cert)
    write_secret(d / "tls-key.pem", key)
    pport = free_port()
    plain = subprocess.Popen([sys.executable, "-m", "bench._plain_https", str(d), str(pport)], cwd=ROOT)
    try:
        ctx = client_context(jpn.cert_file, jpn.key_file, kor.cert_file.read_bytes())
        pctx = client_context(d / "tls-cert.pem", d / "tls-key.pem", cert)
        h = {"content-type": "application/json", "idempotency-key": "jpn-edge-0"}
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=ctx, timeout=30) as c:
            cpu_o, wall_o = _measure(ours.pid, c, "/v1/deliveries", body, h, n)
        with httpx.Client(base_url=f"https://127.0.0.1:{pport}", verify=pctx, timeout=30) as c:
            cpu_p, wall_p = _measure(plain.pid, c, "/post", body, dict(h), n)
    finally:
        for p in (ours, plain):
            p.terminate()
            p.wait(10)
        shutil.rmtree(root, ignore_errors=True)
    return cpu_o, cpu_p, wall_o, wall_p


def run() -> list[Any]:
    """The benchmark row (``make bench ONLY=edge``)."""
    from bench.common import Result

    cpu_o, cpu_p, wall_o, wall_p = measure(3000)
    note = (
        f"server process CPU per POST /v1/deliveries (service stubbed) vs a plain Starlette POST of the same "
        f"14 KB, one at a time, mutual TLS; wall {wall_o:.0f} vs {wall_p:.0f} µs; load {os.getloadavg()[0]:.1f}"
    )
    return [Result("edge.cpu_per_request", "µs", cpu_o, "plain Starlette POST", cpu_p, False, note)]


def main(n: int) -> None:
    cpu_o, cpu_p, wall_o, wall_p = measure(n)
    load = os.getloadavg()[0]
    print(
        f"edge CPU/request: ours {cpu_o:.0f} µs, plain {cpu_p:.0f} µs, gap {cpu_o - cpu_p:.0f} µs; "
        f"wall/request ours {wall_o:.0f} µs, plain {wall_p:.0f} µs (n={n}, load {load:.2f})"
    )


def inproc(n: int) -> None:
    import statistics

    import uvloop

    from accord.node.app import create_app
    from accord.node.cluster import init_node, pin_each_other
    from accord.node.identity import cert_fingerprint
    from accord.node.wiring import load_service

    root = Path(tempfile.mkdtemp(prefix="accord-edge-inproc-"))
    kor, jpn = init_node(root / "kor", "KOR"), init_node(root / "jpn", "JPN")
    pin_each_other([kor, jpn])
    svc = load_service(root / "kor")

    def receive_delivery(_caller: Any, d: dict[str, Any]) -> dict[str, Any]:
        return {"status": "stored", "item_id": d["item_id"], "receipt": {"by": "KOR", "sig": "ab" * 40}}

    setattr(svc, "receive_delivery", receive_delivery)  # noqa: B010 - the stub, on this instance
    app = create_app(svc, workers=0)
    fp = cert_fingerprint(jpn.cert_file.read_bytes())
    env = {"item_id": "kor-edge-0001", "sender": "KOR", "final_recipient": "KOR", "at": "2017-02-12"}
    body = json.dumps({**env, "sealed": base64.b64encode(os.urandom(10 * 1024)).decode(), "consents": []}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def one() -> None:
        scope: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST"}
        scope |= {"scheme": "https", "path": "/v1/deliveries", "raw_path": b"/v1/deliveries", "query_string": b""}
        scope |= {"root_path": "", "headers": [*head, (b"idempotency-key", b"jpn-edge-1")]}
        scope |= {"server": ("127.0.0.1", 443), "client": ("127.0.0.1", 5), "extensions": {}}
        scope["extensions"]["tls"] = {"client_cert_sha256": fp}
        status = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(m: Any) -> None:
            if m["type"] == "http.response.start":
                status.append(m["status"])

        await app(scope, receive, send)
        assert status == [200], status

    async def run() -> list[float]:
        for _ in range(300):
            await one()
        per = []
        for _ in range(max(1, n // 200)):
            c0 = time.process_time()
            for _ in range(200):
                await one()
            per.append((time.process_time() - c0) / 200 * 1e6)
        return per

    per = sorted(uvloop.run(run()))
    q = statistics.quantiles(per, n=10)
    print(
        f"in-process edge CPU/request: median {statistics.median(per):.1f} µs, p10 {q[0]:.1f}, p90 {q[-1]:.1f} "
        f"({len(per)} batches of 200; load {os.getloadavg()[0]:.2f})"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "inproc":
        inproc(int(sys.argv[2]) if len(sys.argv) > 2 else 10000)
    elif len(sys.argv) > 1 and sys.argv[1] == "serve":
        _serve(sys.argv[2], int(sys.argv[3]))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
