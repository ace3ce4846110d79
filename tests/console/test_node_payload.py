"""The node's ``GET /v1/items/{id}/payload`` reads as a person (JK-R7, JK-R15), and the console mounted in the node."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from accord.console import mount_console
from accord.node.app import create_app
from accord.node.identity import cert_fingerprint
from tests.console.world import MISSILE, World


def _client(world: World, party: str, *, fingerprint: str | None) -> TestClient:
    service = world.net.nodes[party]
    app = create_app(service, workers=0, mounts=[mount_console])  # as `accord node run` serves it

    async def with_cert(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": fingerprint}
        await app(scope, receive, send)

    return TestClient(with_cert, base_url="https://testserver")  # type: ignore[arg-type]


def _fingerprint(world: World, party: str) -> str:
    return cert_fingerprint(world.net.cfgs[party].cert_file.read_bytes())


@pytest.fixture
def own(world: World) -> TestClient:
    return _client(world, "JPN", fingerprint=_fingerprint(world, "JPN"))


def test_payload_without_a_person_is_refused_attack_node_certificate_reads_all(own: TestClient) -> None:
    r = own.get("/v1/items/kor-missile/payload")
    assert r.status_code == 422 and MISSILE not in r.content
    r = own.get("/v1/items/kor-missile/payload", headers={"Accord-Person": "jpn-analyst"})
    assert r.status_code == 422  # no purpose stated


def test_payload_for_a_cleared_person_with_purpose(own: TestClient, world: World) -> None:
    r = own.get(
        "/v1/items/kor-missile/payload",
        headers={"Accord-Person": "jpn-analyst", "Accord-Purpose": quote("警報 analysis")},
    )
    assert r.status_code == 200 and r.content == MISSILE
    ev = world.jpn.events(type_="access", item_id="kor-missile")[0]["body"]
    assert (ev["person"], ev["purpose"], ev["allowed"]) == ("jpn-analyst", "警報 analysis", True)


@pytest.mark.parametrize(
    ("person", "item", "code"),
    [
        ("jpn-analyst", "kor-nuclear", "NO_NEED_TO_KNOW"),
        ("jpn-lowly", "kor-missile", "CLEARANCE_TOO_LOW"),
        ("jpn-officer", "kor-missile", "NO_NEED_TO_KNOW"),
        ("nobody", "kor-missile", "DISABLED"),
    ],
)
def test_payload_refusals_are_403_problems_and_audited(
    own: TestClient, world: World, person: str, item: str, code: str
) -> None:
    r = own.get(f"/v1/items/{item}/payload", headers={"Accord-Person": person, "Accord-Purpose": "analysis"})
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("read-refused")
    assert r.json()["decision"]["reasons"][0]["code"] == code
    assert MISSILE not in r.content
    ev = world.jpn.events(type_="access", item_id=item)[0]["body"]
    assert (ev["person"], ev["allowed"]) == (person, False)


def test_console_mounted_in_the_node_only_for_its_own_certificate(own: TestClient, world: World) -> None:
    assert own.get("/console/login").status_code == 200
    peer = _client(world, "JPN", fingerprint=_fingerprint(world, "KOR"))
    r = peer.get("/console/login")
    assert r.status_code == 403 and "own systems" in r.text
    assert _client(world, "JPN", fingerprint=None).get("/console/login").status_code == 403
