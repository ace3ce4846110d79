"""Releases KOR→JPN of 10 KB items through two real nodes (and KOR→USA→JPN through three), against a plain
HTTPS POST between two uvicorns, and the crypto floor of one release measured alone.

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
import os
import shutil
import sqlite3
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
#: Sizes of the two phases, the same for ours and the peer. 500 one-at-a-time samples make the p99 the 5th
#: slowest release, not (with 150) the 2nd slowest, which a single stall decided; 1,000 items make the rate
#: an average over ~6 s rather than ~2.5 s (issue 8, wave 7: the figures' spread from run to run).
N_THROUGHPUT = 1000
N_LATENCY = 500
CONCURRENCY = 8
#: ``BENCH_PYSPY=DIR``: record a py-spy profile (on-CPU threads, raw stacks) of each node process during the throughput
#: phase into DIR (py-spy must be installed in the venv; a measuring aid, not a project dependency).
PYSPY = os.environ.get("BENCH_PYSPY", "")


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _label(i: int, tag: str) -> dict[str, object]:
    return {
        "originator": "KOR",
        "classification": "군사Ⅱ급비밀",
        "topics": ["DPRK-MISSILE"],
        "releasable_to": ["JPN"],
        "caveats": [],
        "created": "2017-02-12T00:00:00Z",
        "review": None,
        "id": f"kor-bench-{tag}-{i:05d}",
    }


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def _ours(root: Path, *, relay: bool = False) -> tuple[float, list[float], dict[str, float]]:
    """KOR→JPN direct (2017, the GSOMIA) or, with ``relay``, KOR→USA→JPN (2015: through the US hub, T-R5).

    Returns the throughput, the one-at-a-time latencies and each node's CPU (utime + stime, ms) per release
    over the throughput phase -- the figure a loaded machine disturbs least."""
    from accord.node import db as st
    from accord.node.client import local_client
    from accord.node.cluster import NodeProcess, init_node, pin_each_other

    fast = {"poll_seconds": 0.05}  # the default; deliveries are handed over or woken, not polled
    kor = init_node(root / "kor", "KOR", **fast)  # type: ignore[arg-type]
    jpn = init_node(root / "jpn", "JPN", **fast)  # type: ignore[arg-type]
    cfgs = [kor, jpn]
    if relay:
        cfgs.append(init_node(root / "usa", "USA", **fast))  # type: ignore[arg-type]
    pin_each_other(cfgs)
    procs = [NodeProcess(c) for c in reversed(cfgs)]  # as `accord node run` serves them (its default workers)
    at = "2015-04-12" if relay else "2017-02-12"
    payload = base64.b64encode(b"\xa5" * SIZE).decode()
    # An item counts when the last hop's receipt is stored (at KOR direct; at the US hub for a relay).
    store = st.Store((cfgs[2] if relay else kor).db, create=False)  # creates nothing; checks the schema is there
    store.dispose()
    # Watched through one plain read-only SQLite connection (WAL: each statement sees the last commit), so
    # that the measuring process, polling every 0.5 ms, takes as little CPU as it can from the two nodes.
    db_file = (cfgs[2] if relay else kor).db.removeprefix("sqlite:///")
    watch = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)

    def receipts() -> int:
        return int(watch.execute("SELECT count(*) FROM receipts").fetchone()[0])

    def wait_for(n: int, step: float) -> None:
        deadline = time.monotonic() + 60
        while receipts() < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{'relay' if relay else 'release'}: {receipts()} of {n} receipts after 60 s")
            time.sleep(step)

    try:
        for p in procs:
            p.start()
        clients = [local_client(kor) for _ in range(CONCURRENCY)]

        def submit(i: int, tag: str) -> None:
            r = clients[i % CONCURRENCY].post(
                "/v1/items", json={"label": _label(i, tag), "to": "JPN", "at": at, "payload_b64": payload}
            )
            r.raise_for_status()

        for i in range(20):  # warm-up
            submit(i, "warm")
        wait_for(20, 0.01)
        pids = {p.cfg.party: p.proc.pid for p in procs if p.proc is not None}
        spies = _spy(pids, root) if PYSPY else []
        cpu0 = {k: _cpu_seconds(v) for k, v in pids.items()}
        # throughput: CONCURRENCY submitters, until every receipt is stored
        t0 = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as ex:
            list(ex.map(lambda i: submit(i, "tp"), range(N_THROUGHPUT)))
        wait_for(20 + N_THROUGHPUT, 0.002)
        rate = N_THROUGHPUT / (time.perf_counter() - t0)
        cpu = {k: (_cpu_seconds(v) - cpu0[k]) * 1000 / N_THROUGHPUT for k, v in pids.items()}
        for s in spies:
            s.send_signal(2)  # SIGINT: py-spy writes its profile
            s.wait(30)
        # latency: one at a time, submit to receipt stored
        lat: list[float] = []
        for i in range(N_LATENCY):
            want = 20 + N_THROUGHPUT + i + 1
            t = time.perf_counter()
            submit(i, "lat")
            wait_for(want, 0.0005)
            lat.append((time.perf_counter() - t) * 1000)
        for c in clients:
            c.close()
        return rate, lat, cpu
    finally:
        watch.close()
        for p in procs:
            p.stop()


def _spy(pids: dict[str, int], root: Path) -> list[subprocess.Popen[bytes]]:
    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    out = Path(PYSPY)
    out.mkdir(parents=True, exist_ok=True)
    tag = "relay" if "relay" in root.name else "direct"
    spies = [
        subprocess.Popen(
            [
                exe,
                "record",
                "--gil",
                "--format",
                "raw",
                "--rate",
                "250",
                "--pid",
                str(pid),
                "--output",
                str(out / f"{tag}-{party}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for party, pid in pids.items()
    ]
    time.sleep(1.0)  # attached
    return spies


def _peer(root: Path) -> tuple[float, list[float]]:
    from accord.node.cluster import free_port
    from accord.node.identity import client_context, generate_tls_identity, write_secret

    d = root / "plain"
    d.mkdir()
    cert, key = generate_tls_identity("USA")
    (d / "tls-cert.pem").write_bytes(cert)
    write_secret(d / "tls-key.pem", key)
    pa, pb = free_port(), free_port()
    procs = [
        subprocess.Popen([sys.executable, "-m", "bench._plain_https", str(d), str(pb)], cwd=ROOT),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench._plain_https",
                str(d),
                str(pa),
                f"https://127.0.0.1:{pb}/post",
                str(d / "tls-cert.pem"),
            ],
            cwd=ROOT,
        ),
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


def _crypto_floor() -> tuple[float, float]:
    """Milliseconds of the primitives one release needs, sequentially: one hybrid (ECDSA P-384 + ML-DSA-87)
    signature, one HPKE (ML-KEM-1024+P-384) wrap for the recipient, one hybrid verification, one HPKE
    unwrap, AES-256-GCM over 10 KB both ways, one Ed25519 receipt signature and its verification.

    Returns the p50 wall time and the mean CPU time (this thread's), the latter to set against the nodes' CPU
    per release (both inflate alike on a loaded machine; wall time inflates more)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from accord.sealed.keys import PartyKeys, Roster
    from accord.sealed.suites import (
        DEFAULT_SUITE,
        enc_public_from_raw,
        get_suite,
        unwrap_key,
        verify_signature,
        wrap_key,
    )

    kor, jpn = PartyKeys.generate("KOR"), PartyKeys.generate("JPN")
    roster = Roster()
    for k in (kor, jpn):
        roster.pin(Roster.first_entry(k))
    suite = get_suite(DEFAULT_SUITE)
    rec = roster.encryption_key("JPN", DEFAULT_SUITE)
    pub = enc_public_from_raw(rec.type, rec.public)
    priv = jpn.find_enc(rec.keyid)
    assert priv is not None
    sign_pub = roster.signing_key("KOR", kor.sign_key_id).public
    receipt_key = Ed25519PrivateKey.generate()
    msg, data, dek = b"s" * 2000, b"\xa5" * SIZE, AESGCM.generate_key(256)

    def one() -> None:
        sig = kor.sign(msg)
        wrapped = wrap_key(suite, pub, dek, b"info")
        verify_signature(sign_pub, sig, msg)
        key = unwrap_key(suite, priv.private(), wrapped, b"info")
        ct = AESGCM(dek).encrypt(b"\0" * 12, data, None)
        AESGCM(key).decrypt(b"\0" * 12, ct, None)
        receipt_key.public_key().verify(receipt_key.sign(msg), msg)

    for _ in range(5):
        one()
    times = []
    cpu = time.thread_time()
    for _ in range(50):
        t = time.perf_counter()
        one()
        times.append((time.perf_counter() - t) * 1000)
    return _pct(times, 0.50), (time.thread_time() - cpu) * 1000 / 50


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="accord-bench-release-") as tmp:
        root = Path(tmp)
        ours_rate, ours_lat, cpu = _ours(root / "direct")
        failed = ""  # a relay that stalls is reported in the table (rate 0), not left to hang the bench
        try:
            relay_rate, relay_lat, _ = _ours(root / "relay", relay=True)
        except RuntimeError as e:
            relay_rate, relay_lat, failed = 0.0, [float("nan")], f"FAILED ({e}); "
        peer_rate, peer_lat = _peer(root)
    floor, floor_cpu = _crypto_floor()
    peer = "plain HTTPS POST A→B (2 uvicorn, mTLS)"
    note = f"10 KB, {CONCURRENCY} submitters; SQLite FULL; {dt.date.today()}"
    return [
        Result("release.throughput", "releases/s", ours_rate, peer, peer_rate, True, note),
        Result(
            "release.latency_p50",
            "ms",
            _pct(ours_lat, 0.50),
            peer,
            _pct(peer_lat, 0.50),
            False,
            f"one at a time, submit → receipt stored ({N_LATENCY} samples)",
        ),
        Result(
            "release.latency_p99",
            "ms",
            _pct(ours_lat, 0.99),
            peer,
            _pct(peer_lat, 0.99),
            False,
            f"one at a time, submit → receipt stored ({N_LATENCY} samples)",
        ),
        Result(
            "release.relay_throughput",
            "releases/s",
            relay_rate,
            peer,
            peer_rate,
            True,
            failed + "KOR→USA→JPN (2015, T-R5): the hub verifies once, re-wraps, receipts both hops",
        ),
        Result(
            "release.relay_latency_p50",
            "ms",
            _pct(relay_lat, 0.50),
            peer,
            _pct(peer_lat, 0.50),
            False,
            failed + "one at a time, submit → the hub holds JPN's receipt",
        ),
        Result(
            "release.cpu_per_release",
            "ms",
            sum(cpu.values()),
            "crypto floor, CPU (sequential)",
            floor_cpu,
            False,
            "utime+stime of both node processes per release, 8 submitters; "
            + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cpu.items())),
        ),
        Result(
            "release.crypto_floor",
            "ms",
            floor,
            "release KOR→JPN p50 (this run)",
            _pct(ours_lat, 0.50),
            False,
            "sign + HPKE wrap + verify + unwrap + AES-GCM 10 KB + Ed25519 receipt, sequential; ratio = p50/floor",
        ),
    ]


def main() -> None:
    """``python -m bench.bench_release [direct|relay] [N]``: N runs of one row (default: direct, 1), each
    printed on one line with the CPU per release of each node -- for alternated before/after comparisons."""
    which = sys.argv[1] if len(sys.argv) > 1 else "direct"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    for _ in range(n):
        with tempfile.TemporaryDirectory(prefix="accord-bench-release-") as tmp:
            load = os.getloadavg()[0]
            rate, lat, cpu = _ours(Path(tmp) / which, relay=which == "relay")
            print(
                f"{which}: {rate:.1f}/s p50 {_pct(lat, 0.5):.1f} ms p99 {_pct(lat, 0.99):.1f} ms; CPU/release "
                + " ".join(f"{k} {v:.2f}" for k, v in sorted(cpu.items()))
                + f" all nodes {sum(cpu.values()):.2f} ms; load {load:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
