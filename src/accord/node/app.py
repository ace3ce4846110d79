"""The node's HTTP API (FastAPI on uvicorn, mutual TLS with pinned certificates).

Callers are identified by the SHA-256 fingerprint of the TLS client certificate they presented (the
handshake already refused any certificate not pinned in the roster): the node's own certificate is this
nation's systems (submit, forward, consent decisions); a partner's is a peer (deliveries, consent
messages), admitted only while an agreement binds both nations that day.

Errors are RFC 9457 ``application/problem+json``. No payload plaintext is ever logged or echoed: input
validation errors report where and what, never the value.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from accord.node.api.handlers import install_handlers
from accord.node.api.routes_local import local_routes
from accord.node.api.routes_peer import peer_routes
from accord.node.service import NodeService
from accord.node.wiring import load_service

log = logging.getLogger("accord.node")


def create_app(service: NodeService, *, workers: int = 4) -> FastAPI:
    """The FastAPI application of one node; starts the delivery workers with the app."""
    from accord.node.delivery import DeliveryWorker

    worker = DeliveryWorker(service, threads=workers) if workers else None
    service.courier = worker

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if service.feeder:
            service.feeder.start()
        if worker:
            worker.start()
        log.info("accord node %s serving at %s", service.party, service.cfg.url)
        yield
        if worker:
            worker.stop()
        if service.feeder:
            service.feeder.stop()

    app = FastAPI(
        title=f"Accord node ({service.party})",
        version="1",
        lifespan=lifespan,
        summary="Releases classified military information only as the agreements in force allow.",
    )
    app.state.service = service

    def wake() -> None:
        if worker:
            worker.wake()

    install_handlers(app)
    app.include_router(local_routes(service, wake))
    app.include_router(peer_routes(service, wake))
    from accord.console import mount_console  # issue 12: the console, for the node's own certificate

    mount_console(app, service)
    return app


# ---------------------------------------------------------------------------------------------------
# serving


def _pinned_protocol() -> type:
    """uvicorn's HTTP protocol (httptools when installed, else h11), passing the fingerprint of the TLS
    client certificate to the app in the scope (``extensions.tls.client_cert_sha256``)."""
    base: type
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol

    class PinnedProtocol(base):  # type: ignore[misc]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            ssl_obj = transport.get_extra_info("ssl_object")
            der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
            fp = hashlib.sha256(der).hexdigest() if der else None
            inner: Any = vars(self)["app"]

            async def app(
                scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
            ) -> None:
                scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": fp}
                await inner(scope, receive, send)

            object.__setattr__(self, "app", app)

    return PinnedProtocol


def _loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover
        return "asyncio"
    return "uvloop"


def serve(
    directory: Path,
    *,
    db: str | None = None,
    workers: int = 4,
    log_level: str = "info",
    port: int | None = None,
    audit: bool = True,
) -> None:
    """Run the node until interrupted: uvicorn, TLS 1.3, client certificate required and pinned.

    ``port`` overrides the configured one: several processes of one nation (one directory, one shared
    PostgreSQL database) can serve side by side and share the outbox.
    """
    import uvicorn

    from accord.node.identity import server_context

    service = load_service(directory, db=db, audit=audit)
    cfg = service.cfg
    if port is not None:
        cfg.port = port
    pinned = [cfg.cert_file.read_bytes()] + [p.cert_pem.encode() for p in service.roster.peers.values()]
    ctx = server_context(cfg.cert_file, cfg.key_file, pinned)
    app = create_app(service, workers=workers)
    config = uvicorn.Config(
        app,
        host=cfg.host,
        port=cfg.port,
        http=_pinned_protocol(),
        ssl_certfile=str(cfg.cert_file),
        ssl_context_factory=lambda _c, _d: ctx,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    uvicorn.Server(config).run()
