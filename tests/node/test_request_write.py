"""A delivery's request leaves the sender in one socket write (issue 8, wave 7): ``http.client`` writes a request's
head and its body with two ``sendall`` calls and takes the GIL back between them, so the partner's server parsed
the head, then waited for the body while the delivery thread queued for the GIL behind the sender's other work
(docs/performance.md, "Wave 7 -- outack"). The bytes and their order on the wire stay exactly the library's."""

from __future__ import annotations

import http.client
import ssl

from accord.node.transport import _PinnedConnection


class _Sock:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))


def _conn() -> tuple[_PinnedConnection, _Sock]:
    c = _PinnedConnection("jpn.example", 8443, context=ssl.create_default_context())
    s = _Sock()
    c.sock = s  # as after connect(): the request is written, never a connection made
    return c, s


def _library(body: object) -> list[bytes]:
    """What the plain library writes for the same request, write by write."""
    c = http.client.HTTPSConnection("jpn.example", 8443, context=ssl.create_default_context())
    s = _Sock()
    c.sock = s
    c.request("POST", "/v1/deliveries", body=body, headers=_headers(body))  # type: ignore[arg-type]
    return s.writes


def _headers(body: object) -> dict[str, str]:
    n = len(body) if isinstance(body, bytes) else 3
    return {"Idempotency-Key": "delivery:kor-1:KOR->JPN", "Content-Type": "application/json", "Content-Length": str(n)}


def test_delivery_request_head_and_body_are_one_write() -> None:
    body = b'{"item_id":"kor-1","sealed":"' + b"A" * 19_000 + b'"}'
    c, s = _conn()
    c.request("POST", "/v1/deliveries", body=body, headers=_headers(body))
    assert len(s.writes) == 1
    lib = _library(body)
    assert len(lib) == 2  # the library's own way: head, then body
    assert s.writes[0] == b"".join(lib)  # the same bytes in the same order
    assert s.writes[0].endswith(b"\r\n\r\n" + body)


def test_a_request_without_a_body_or_with_an_iterable_one_goes_the_library_way() -> None:
    c, s = _conn()
    c.request("GET", "/v1/health")
    assert len(s.writes) == 1 and s.writes[0].startswith(b"GET /v1/health HTTP/1.1\r\n")
    c2, s2 = _conn()
    c2.request("POST", "/v1/deliveries", body=iter([b"a", b"bc"]), headers=_headers(None))
    assert s2.writes == _library(iter([b"a", b"bc"]))
    assert s2.writes[-2:] == [b"a", b"bc"]
