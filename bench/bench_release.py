"""Releases KOR→JPN of 10 KB items through two real nodes, against a plain HTTPS POST between two uvicorns.

Ours, per item: the national system POSTs to KOR's node (mutual TLS); KOR decides, seals, commits the item
and its outbox entry (SQLite, WAL, synchronous=FULL), answers; its delivery worker POSTs the sealed item to
JPN's node, which verifies, re-decides, marks, commits and signs a receipt; KOR verifies and commits the
receipt. An item counts when its receipt is stored at KOR.

Peer, per item: the client POSTs the same 10 KB to uvicorn process A, which POSTs them to uvicorn process B
(both Starlette, same mutual TLS, httptools + uvloop like the nodes), and answers when B has answered.
No decision, no crypto, no disk.
"""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.common import Result

ROOT = Path(__file__).resolve().parent.parent
SIZE = 10 * 1024
N_THROUGHPUT = 400
N_LATENCY = 150
CONCURRENCY = 8


def _label(i: int, tag: str) -> dict[str, object]:
    return {"originator": "KOR", "classification": "군사Ⅱ급비밀", "topics": ["DPRK-MISSILE"], "releasable_to": ["JPN"],
            "caveats": [], "created": "2017-02-12T00:00:00Z", "review": None, "id": f"bench-{tag}-{i:05d}"}


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def _ours(root: Path) -> tuple[float, list[float]]:
    from accord.node import db as st
    from accord.node.client import local_client
    from accord.node.cluster import NodeProcess, init_node, pin_each_other

    fast = {"poll_seconds": 0.02}
    kor = init_node(root / "kor", "KOR", **fast)  # type: ignore[arg-type]
    jpn = init_node(root / "jpn", "JPN", **fast)  # type: ignore[arg-type]
    pin_each_other([kor, jpn])
    procs = [NodeProcess(jpn, workers=4), NodeProcess(kor, workers=4)]
    payload = base64.b64encode(b"\xa5" * SIZE).decode()
    store = st.Store(kor.db, create=False)

    def receipts() -> int:
        with store.engine.connect() as c:
            return int(c.exec_driver_sql("SELECT count(*) FROM receipts").scalar_one())

    try:
        for p in procs:
            p.start()
        clients = [local_client(kor) for _ in range(CONCURRENCY)]

        def submit(i: int, tag: str) -> None:
            r = clients[i % CONCURRENCY].post(
                "/v1/items", json={"label": _label(i, tag), "to": "JPN", "at": "2017-02-12", "payload_b64": payload})
            r.raise_for_status()

        for i in range(20):  # warm-up
            submit(i, "warm")
        while receipts() < 20:
            time.sleep(0.01)
        # throughput: CONCURRENCY submitters, until every receipt is stored
        t0 = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as ex:
            list(ex.map(lambda i: submit(i, "tp"), range(N_THROUGHPUT)))
        while receipts() < 20 + N_THROUGHPUT:
            time.sleep(0.002)
        rate = N_THROUGHPUT / (time.perf_counter() - t0)
        # latency: one at a time, submit to receipt stored
        lat: list[float] = []
        for i in range(N_LATENCY):
            want = 20 + N_THROUGHPUT + i + 1
            t = time.perf_counter()
            submit(i, "lat")
            while receipts() < want:
                time.sleep(0.0005)
            lat.append((time.perf_counter() - t) * 1000)
        for c in clients:
            c.close()
        return rate, lat
    finally:
        store.dispose()
        for p in procs:
            p.stop()


def _peer(root: Path) -> tuple[float, list[float]]:
    from accord.node.client import client_context
    from accord.node.cluster import free_port
    from accord.node.identity import generate_tls_identity, write_secret

    d = root / "plain"
    d.mkdir()
    cert, key = generate_tls_identity("USA")
    (d / "tls-cert.pem").write_bytes(cert)
    write_secret(d / "tls-key.pem", key)
    pa, pb = free_port(), free_port()
    procs = [
        subprocess.Popen([sys.executable, "-m", "bench._plain_https", str(d), str(pb)], cwd=ROOT),
        subprocess.Popen([sys.executable, "-m", "bench._plain_https", str(d), str(pa),
                          f"https://127.0.0.1:{pb}/post", str(d / "tls-cert.pem")], cwd=ROOT),
    ]
    body = b"\xa5" * SIZE
    try:
        ctx = client_context(d / "tls-cert.pem", d / "tls-key.pem", cert)
        clients = [httpx.Client(base_url=f"https://127.0.0.1:{pa}", verify=ctx, timeout=30) for _ in range(CONCURRENCY)]
        deadline = time.monotonic() + 20
        while True:
            try:
                if clients[0].post("/post", content=body).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("plain HTTPS peer did not start")
            time.sleep(0.1)

        def post(i: int) -> None:
            clients[i % CONCURRENCY].post("/post", content=body).raise_for_status()

        for i in range(20):
            post(i)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as ex:
            list(ex.map(post, range(N_THROUGHPUT)))
        rate = N_THROUGHPUT / (time.perf_counter() - t0)
        lat = []
        for i in range(N_LATENCY):
            t = time.perf_counter()
            post(i)
            lat.append((time.perf_counter() - t) * 1000)
        for c in clients:
            c.close()
        return rate, lat
    finally:
        for p in reversed(procs):  # A (the client of B) first
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="accord-bench-release-") as tmp:
        root = Path(tmp)
        ours_rate, ours_lat = _ours(root)
        peer_rate, peer_lat = _peer(root)
    peer = "plain HTTPS POST A→B (2 uvicorn, mTLS)"
    note = f"10 KB, {CONCURRENCY} submitters; SQLite FULL; {dt.date.today()}"
    return [
        Result("release.throughput", "releases/s", ours_rate, peer, peer_rate, True, note),
        Result("release.latency_p50", "ms", _pct(ours_lat, 0.50), peer, _pct(peer_lat, 0.50), False,
               "one at a time, submit → receipt stored"),
        Result("release.latency_p99", "ms", _pct(ours_lat, 0.99), peer, _pct(peer_lat, 0.99), False,
               "one at a time, submit → receipt stored"),
    ]
