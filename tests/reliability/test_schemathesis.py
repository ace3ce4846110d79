"""schemathesis against the node's API (issue 9, figures): no input makes the node answer 5xx.

The node's own OpenAPI document (``/openapi.json``, fetched through the app like any client would) drives
schemathesis' generators over every documented operation, against the real app in process (FastAPI + the
fast routes + the :class:`AdmissionGate` in front of everything), with the pinned certificate of the caller
set as the TLS layer would set it. Two callers: the node's own systems (the local API) and a pinned partner
(the peer API: deliveries, receipts, consent). Both valid-looking and invalid inputs (schemathesis'
positive and negative modes) are sent.

Each answer is checked: never a 5xx, and every error is an RFC 9457 problem document. ``make test`` sends a few
examples per operation; ``make reliability`` more (``ACCORD_SCHEMATHESIS_EXAMPLES``).
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.node.helpers import Net, label
from tests.support.reliability import record

pytestmark = [pytest.mark.reliability]

EXAMPLES = int(os.environ.get("ACCORD_SCHEMATHESIS_EXAMPLES", "3"))


def _asgi(app: Any, fingerprint: str) -> Any:
    async def with_cert(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": fingerprint}
        await app(scope, receive, send)

    return with_cert


def test_schemathesis_against_the_node_api_finds_no_5xx(tmp_path: Path) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation.modes import GenerationMode

    from accord.node.app import create_app
    from accord.node.identity import cert_fingerprint

    net = Net(tmp_path)  # KOR, JPN, USA; KOR holds a released item so reads find something
    net.submit("KOR", label("kor-st-1"), "JPN", "2015-04-12")
    net.pump()
    svc = net.nodes["JPN"]
    app = create_app(svc, workers=0)
    callers = {
        "own systems": cert_fingerprint(net.cfgs["JPN"].cert_file.read_bytes()),
        "partner KOR": cert_fingerprint(net.cfgs["KOR"].cert_file.read_bytes()),
    }
    from fastapi.testclient import TestClient

    # the document is for the node's own certificate only (no lifespan here: the app's pool must stay up)
    spec = TestClient(_asgi(app, callers["own systems"]), base_url="https://testserver").get("/openapi.json").json()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    attempts = 0
    operations = 0

    def fuzz(op: Any, who: str, mode: Any) -> Any:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            nonlocal attempts
            r = case.call()
            attempts += 1
            statuses[r.status_code] += 1
            ctype = str(r.headers.get("content-type", ""))
            if r.status_code >= 500:
                failures.append(f"{who}: {op.label}: {r.status_code} {r.text[:200]}")
            elif r.status_code >= 400 and "application/problem+json" not in ctype:
                failures.append(f"{who}: {op.label}: {r.status_code} is not a problem document ({ctype})")

        return run

    for who, fp in callers.items():
        schema = schemathesis.openapi.from_dict(spec)
        schema.app = _asgi(app, fp)  # every case is called in process through the whole app
        for result in schema.get_all_operations():
            op = result.ok()
            operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                with contextlib.suppress(Unsatisfiable):  # an operation with no satisfiable input in that mode
                    fuzz(op, who, mode)()
    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    record(
        f"node: schemathesis against the API (5xx): {operations} operations × 2 callers (own systems, partner), "
        f"positive + negative, ≤{EXAMPLES} examples each; answers "
        + ", ".join(f"{n}× {s}" for s, n in sorted(statuses.items())),
        group="API fuzzing",
        attempts=attempts,
        refused=sum(n for s, n in statuses.items() if 400 <= s < 500),
        accepted=sum(n for s, n in statuses.items() if s < 400),
        crashed=server_errors,
    )
    assert attempts >= operations
    assert failures == []
