"""``POST /v1/deliveries/batch`` over mutual TLS (issue 8, wave 8): a real JPN node process; KOR's service and
delivery worker in this process, sending through the real HTTPS transport.

The limits first: a partner not admitted is refused before its body, a batch over the byte limit by its
``Content-Length`` before a byte of it is read, an ambiguous batch refused whole; then the batch delivered
end to end (one request, one result per envelope, every receipt acknowledged) and its OpenAPI declaration.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.node import db as st
from accord.node.client import local_client
from accord.node.cluster import NodeProcess, init_node, pin_each_other
from accord.node.config import NodeConfig
from accord.node.delivery import DeliveryWorker
from accord.node.identity import client_context
from accord.node.service import NodeService
from accord.node.transport import BATCH_MAX_BYTES, BATCH_PATH, HttpsTransport, batch_body
from accord.node.wiring import load_service
from tests.node.helpers import label

pytestmark = [pytest.mark.integration]

DAY = "2017-02-12"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("batch")
    kor = init_node(root / "kor", "KOR", port=0)
    jpn = init_node(root / "jpn", "JPN")
    chn = init_node(root / "chn", "CHN")  # pinned, valid certificate, no agreement with JPN
    pin_each_other([kor, jpn], extra=[chn])
    proc = NodeProcess(jpn, workers=1)
    proc.start()
    svc = load_service(root / "kor")
    try:
        yield {"kor": kor, "jpn": jpn, "chn": chn, "svc": svc}
    finally:
        proc.stop()
        svc.store.dispose()


def _queued(svc: NodeService, tag: str, n: int) -> list[st.OutboxEntry]:
    for i in range(n):
        svc.submit(label(f"kor-{tag}-{i}", rel=("JPN",)), b"y" * 2048, "JPN", DAY)
    return [e for e in svc.store.claim("t", limit=100, lease_seconds=60) if e.item_id and f"-{tag}-" in e.item_id]


def _client(me: NodeConfig, server: NodeConfig) -> httpx.Client:
    ctx = client_context(me.cert_file, me.key_file, server.cert_file.read_bytes())
    return httpx.Client(base_url=server.url, verify=ctx, timeout=30)


def _head(path: str, length: int) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: jpn\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    return head.encode()


def _raw(me: NodeConfig, server: NodeConfig, head: bytes) -> bytes:
    """Send only ``head`` (no body) and read the whole answer (by its Content-Length; at most 10 s)."""
    ctx = client_context(me.cert_file, me.key_file, server.cert_file.read_bytes())
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10)) as s:
        s.sendall(head)
        out = b""
        try:
            while len(out) < 65536:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                top, sep, body = out.partition(b"\r\n\r\n")
                length = [int(x.split(b":")[1]) for x in top.lower().split(b"\r\n") if x.startswith(b"content-length")]
                if sep and length and len(body) >= length[0]:
                    break
        except (TimeoutError, ssl.SSLError, ConnectionError):
            pass
        return out


def _held(jpn: NodeConfig, es: list[st.OutboxEntry]) -> set[str]:
    """The items of ``es`` that JPN holds (its own API)."""
    with local_client(jpn) as own:
        return {str(e.item_id) for e in es if own.get(f"/v1/items/{e.item_id}").status_code == 200}


def test_batch_from_a_peer_not_admitted_is_refused_before_its_body(net: dict[str, Any]) -> None:
    head = (
        f"POST {BATCH_PATH} HTTP/1.1\r\nHost: jpn\r\nContent-Type: application/json\r\nContent-Length: 500000\r\n\r\n"
    )
    out = _raw(net["chn"], net["jpn"], head.encode())
    assert out.startswith(b"HTTP/1.1 403") and b"no agreement in force" in out


def test_batch_over_the_byte_limit_is_refused_by_its_length_before_a_byte_is_read(net: dict[str, Any]) -> None:
    out = _raw(net["kor"], net["jpn"], _head(BATCH_PATH, BATCH_MAX_BYTES + 1))
    assert out.startswith(b"HTTP/1.1 413") and b"too-large" in out


def test_ambiguous_or_malformed_batches_are_refused_whole_over_https(net: dict[str, Any]) -> None:
    svc = net["svc"]
    es = _queued(svc, "amb", 2)
    with _client(net["kor"], net["jpn"]) as c:
        r = c.post(BATCH_PATH, content=batch_body([(es[0].body, "k"), (es[1].body, "k")]))
        assert r.status_code == 400 and "idempotency key repeated" in r.json()["detail"]
        r = c.post(BATCH_PATH, content=b'{"deliveries": [}')
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
        r = c.post(BATCH_PATH, content=batch_body([(b'{"x": 1}', f"k{i}") for i in range(17)]))
        assert r.status_code == 422
    with local_client(net["jpn"]) as own:
        r = own.post(BATCH_PATH, content=batch_body([(es[0].body, "k")]))
        assert r.status_code == 403  # for partners only
    assert _held(net["jpn"], es) == set()


def test_a_batch_is_delivered_end_to_end_in_one_request(net: dict[str, Any]) -> None:
    svc = net["svc"]
    es = _queued(svc, "e2e", 6)
    bad = json.loads(es[2].body)
    bad["sender"] = "USA"  # one forged envelope: refused alone
    es[2] = st.OutboxEntry(**{**es[2].__dict__, "body": json.dumps(bad).encode()})
    worker = DeliveryWorker(svc, threads=1, transport=HttpsTransport(svc.cfg, svc.roster))
    try:
        worker.deliver_batch(es, "t")
    finally:
        worker.transport.close()
    assert (worker.requests, worker.batched) == (1, 6)
    states = {r["item_id"]: r["state"] for r in svc.store.outbox_rows() if "-e2e-" in (r["item_id"] or "")}
    assert states.pop(es[2].item_id) == "failed"  # 403: the envelope's sender is not the authenticated peer
    assert set(states.values()) == {"delivered"} and len(states) == 5
    receipts = {r["item_id"]: r for r in svc.store.rows(st.receipts)}
    assert all(receipts[e.item_id]["evidence"] for e in es if e is not es[2])  # JPN's audit log proves each
    assert _held(net["jpn"], es) == {e.item_id for e in es} - {es[2].item_id}


def test_the_batch_route_is_described_in_openapi(net: dict[str, Any]) -> None:
    with local_client(net["jpn"]) as own:
        spec = own.get("/openapi.json").json()
    op = spec["paths"][BATCH_PATH]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/DeliveryBatch")
    schemas = spec["components"]["schemas"]
    assert schemas["DeliveryBatch"]["properties"]["deliveries"]["maxItems"] == 16
    item = schemas["DeliveryBatchItem"]["properties"]
    assert item["envelope"]["$ref"].endswith("/DeliveryEnvelope") and "idempotency_key" in item
    assert "DeliveryBatchAnswer" in json.dumps(op["responses"]["200"])


def test_the_declaration_alone_behaves_as_the_served_route(tmp_path: Path) -> None:
    """The FastAPI declaration (routes_peer) mounted alone: same results, same refusal of ambiguity."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from accord.node.api.deps import caller
    from accord.node.api.handlers import install_handlers
    from accord.node.api.routes_peer import peer_routes
    from accord.node.service import Caller
    from tests.node.helpers import Net

    n = Net(tmp_path, parties=("KOR", "JPN"))
    for i in range(2):
        n.submit("KOR", label(f"kor-decl-{i}", rel=("JPN",)), "JPN", DAY)
    es = n.nodes["KOR"].store.claim("t", limit=10, lease_seconds=60)
    app = FastAPI()
    app.state.service = n.nodes["JPN"]
    install_handlers(app)
    app.include_router(peer_routes(n.nodes["JPN"], lambda: None))
    peer = n.nodes["JPN"].roster.peers["KOR"]
    app.dependency_overrides[caller] = lambda: Caller(party="KOR", local=False, peer=peer)
    json_ = {"content-type": "application/json"}
    with TestClient(app) as c:
        r = c.post(BATCH_PATH, content=batch_body([(e.body, "same") for e in es]), headers=json_)
        assert r.status_code == 400 and "repeated" in r.json()["detail"]
        r = c.post(BATCH_PATH, content=batch_body([(e.body, e.idem_key) for e in es]), headers=json_)
        assert r.status_code == 200
        assert [x["status"] for x in r.json()["results"]] == [200, 200]
        assert [x["item_id"] for x in r.json()["results"]] == [e.item_id for e in es]
