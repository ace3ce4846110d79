"""The benchmark's peer: a plain HTTPS POST of the same bytes between two uvicorn processes.

``python -m bench._plain_https DIR PORT [FORWARD_URL FORWARD_CERT]``: a Starlette app on uvicorn with the
same mutual TLS as the nodes (TLS 1.3, client certificate required, pinned). ``POST /post`` stores nothing;
with FORWARD_URL it POSTs the same bytes on to the second process and returns its answer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from accord.node.identity import client_context, server_context


def main() -> None:
    d, port = Path(sys.argv[1]), int(sys.argv[2])
    forward = sys.argv[3] if len(sys.argv) > 3 else None
    cert, key = d / "tls-cert.pem", d / "tls-key.pem"
    client: httpx.AsyncClient | None = None
    if forward:
        peer_cert = Path(sys.argv[4]).read_bytes()
        client = httpx.AsyncClient(verify=client_context(cert, key, peer_cert), timeout=30)

    async def post(request: Request) -> Response:
        body = await request.body()
        if client is not None and forward is not None:
            r = await client.post(forward, content=body)
            return Response(r.content, media_type="application/json")
        return JSONResponse({"ok": True, "n": len(body)})

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/post", post, methods=["POST"]), Route("/health", health)])
    ctx = server_context(cert, key, [cert.read_bytes()])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(cert),
        ssl_context_factory=lambda _c, _d: ctx,
        log_level="warning",
        access_log=False,
        http="httptools",
        loop="uvloop",
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
