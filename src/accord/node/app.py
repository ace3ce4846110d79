"""The node's HTTP API (FastAPI on uvicorn, mutual TLS with pinned certificates).

Callers are identified by the SHA-256 fingerprint of the TLS client certificate they presented (the
handshake already refused any certificate not pinned in the roster): the node's own certificate is this
nation's systems (submit, forward, consent decisions); a partner's is a peer (deliveries, consent
messages), admitted only while an agreement binds both nations that day.

Errors are RFC 9457 ``application/problem+json``. No payload plaintext is ever logged or echoed: input
validation errors report where and what, never the value.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from accord.node.api.batch import batch_routes
from accord.node.api.handlers import install_handlers
from accord.node.api.limits import AdmissionGate, Limits, pinned_protocol
from accord.node.api.routes_custody import custody_routes
from accord.node.api.routes_local import local_routes
from accord.node.api.routes_peer import peer_routes
from accord.node.delivery import DELIVERY_THREADS, DeliveryWorker
from accord.node.service import NodeService
from accord.node.wiring import load_service

log = logging.getLogger("accord.node")

#: Something mounted in the node's app by whoever serves it (``accord.console.mount_console``: the node
#: never imports the console; ``accord node run`` and ``python -m accord.node`` mount it).
Mount = Callable[[FastAPI, NodeService], None]


def create_app(
    service: NodeService, *, workers: int = DELIVERY_THREADS, limits: Limits | None = None, mounts: Sequence[Mount] = ()
) -> FastAPI:
    """The FastAPI application of one node; starts the delivery workers with the app.

    The app is wrapped in :class:`~accord.node.api.limits.AdmissionGate` (admission, own-only docs, body
    size) so nothing reads a body before the caller is admitted. ``mounts`` add sub-applications (the
    console) behind the same gate.
    """
    from accord.node.api.fast import HandOff, HotPath, NodeApp, fast_routes

    worker = DeliveryWorker(service, threads=workers) if workers else None
    service.courier = worker
    pool = HandOff()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if service.feeder:
            service.feeder.start()
        if worker:
            worker.start()
        log.info("accord node %s serving at %s", service.party, service.cfg.url)
        yield
        pool.shutdown()
        if worker:
            worker.stop()
        if service.feeder:
            service.feeder.stop()

    app = NodeApp(
        title=f"Accord node ({service.party})",
        version="1",
        lifespan=lifespan,
        summary="Releases classified military information only as the agreements in force allow.",
        docs_url=None,  # /docs below: self-contained (no CDN), for the node's own certificate only
        redoc_url=None,
    )
    app.state.service = service

    def wake() -> None:
        if worker:
            worker.wake()

    install_handlers(app)
    app.include_router(local_routes(service, wake))
    app.include_router(peer_routes(service, wake))
    app.include_router(custody_routes(service, wake))  # issue 10: the life of an item
    # The routes every release crosses (and batched deliveries, issue 8) answer as plain Starlette endpoints
    # ahead of FastAPI's middleware stack and router, behind the same limits (their FastAPI declarations remain
    # the OpenAPI description): see accord.node.api.fast. Another hot route: one more Route in this list.
    limits = limits or Limits.of(service.cfg)
    app.hot = HotPath(
        AdmissionGate(app, service=service, limits=limits),
        [*fast_routes(service, wake, pool), *batch_routes(service, wake, pool)],
    )
    for mount in mounts:  # issue 12: the console, for the node's own certificate
        mount(app, service)

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs() -> HTMLResponse:
        """The API description as one self-contained page (no script, no external resource)."""
        return HTMLResponse(docs_page(app.openapi()))

    app.add_middleware(AdmissionGate, service=service, limits=limits)
    return app


def docs_page(spec: dict[str, Any]) -> str:
    """An HTML page listing every operation of ``spec`` (OpenAPI) -- inline style only, nothing fetched."""
    esc = html.escape
    info = spec.get("info", {})
    rows = []
    for path, ops in sorted(spec.get("paths", {}).items()):
        for method, op in ops.items():
            params = ", ".join(esc(p.get("name", "")) for p in op.get("parameters", []))
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            ref = body.get("$ref", "").rsplit("/", 1)[-1]
            rows.append(
                f"<tr><td><b>{esc(method.upper())}</b></td><td><code>{esc(path)}</code></td>"
                f"<td>{esc(op.get('summary', ''))}<br><small>{esc(op.get('description', '') or '')}</small></td>"
                f"<td>{params}</td><td>{esc(ref)}</td></tr>"
            )
    schemas = "".join(
        f"<details><summary><code>{esc(name)}</code></summary><pre>{esc(json.dumps(s, indent=2))}</pre></details>"
        for name, s in sorted(spec.get("components", {}).get("schemas", {}).items())
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(info.get('title', 'Accord node'))} API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{border-top:1px solid #ccc;padding:4px;vertical-align:top}"
        "pre{background:#f4f4f4;padding:8px}</style></head><body>"
        f"<h1>{esc(info.get('title', ''))}</h1><p>{esc(info.get('summary', '') or '')}</p>"
        "<p>The machine-readable description is <code>/openapi.json</code> (this nation's certificate only).</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>parameters</th><th>body</th></tr>"
        + "".join(rows)
        + "</table><h2>Schemas</h2>"
        + schemas
        + "</body></html>"
    )


# ---------------------------------------------------------------------------------------------------
# serving


class _Server:
    """uvicorn's Server with the TLS handshake bounded (``ssl_handshake_timeout`` on the listening socket):
    uvicorn has no option for it, so ``create_server`` of the running loop gets it for the start-up only."""

    @staticmethod
    def make(config: Any, handshake_timeout: float) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                loop = asyncio.get_running_loop()
                original = loop.create_server

                async def create_server(*args: Any, **kwargs: Any) -> Any:
                    if kwargs.get("ssl") is not None:
                        kwargs.setdefault("ssl_handshake_timeout", handshake_timeout)
                    return await original(*args, **kwargs)

                try:
                    loop.create_server = create_server  # type: ignore[method-assign]
                    patched = True
                except AttributeError:  # pragma: no cover - a loop class without instance attributes
                    patched = False
                    log.warning("TLS handshake timeout not applied: the event loop does not allow it")
                try:
                    await super().startup(sockets)
                finally:
                    if patched:
                        del loop.create_server

        return Server(config)


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
    workers: int = DELIVERY_THREADS,
    log_level: str = "info",
    port: int | None = None,
    audit: bool = True,
    mounts: Sequence[Mount] = (),
) -> None:
    """Run the node until interrupted: uvicorn, TLS 1.3, client certificate required and pinned.

    ``port`` overrides the configured one: several processes of one nation (one directory, one shared
    PostgreSQL database) can serve side by side and share the outbox.
    """
    import gc
    import os
    import ssl

    import uvicorn

    from accord.errors import InputError
    from accord.node.identity import cert_fingerprint, server_context

    os.umask(0o077)  # this process is the node: whatever it creates (database, -wal, -shm, logs) is private
    service = load_service(directory, db=db, audit=audit)
    cfg = service.cfg
    if port is not None:
        cfg.port = port
    try:
        pinned = [cfg.cert_file.read_bytes()] + [p.cert_pem.encode() for p in service.roster.peers.values()]
        ctx = server_context(cfg.cert_file, cfg.key_file, pinned)
    except (OSError, ValueError, ssl.SSLError) as e:
        service.store.dispose()
        raise InputError(
            f"cannot load the TLS certificate and key ({type(e).__name__})", source=str(cfg.key_file)
        ) from None
    limits = Limits.of(cfg)
    app = create_app(service, workers=workers, limits=limits, mounts=mounts)
    own_fp = cert_fingerprint(cfg.cert_file.read_bytes())
    config = uvicorn.Config(
        app,
        host=cfg.host,
        port=cfg.port,
        http=pinned_protocol(limits, own_fp),
        timeout_keep_alive=max(1, round(limits.keepalive_seconds)),
        # no limit_concurrency: it counts every connection alike, so idle partner connections would cut the node
        # off from its own systems; the per-certificate caps of the protocol bound the total instead.
        ssl_certfile=str(cfg.cert_file),
        ssl_context_factory=lambda _c, _d: ctx,
        log_level=log_level,
        access_log=False,
        # no proxy sits in front of a node: uvicorn's default would trust X-Forwarded-For/-Proto from any
        # loopback client and run one more middleware layer per request (issue 8, wave 8); no `server` banner
        proxy_headers=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    from accord.node.trust_reload import TrustReloader

    reloader = TrustReloader(service, ctx).start()  # `node add-peer`, `keys add` apply without a restart
    # What startup built (~110k objects: modules, app, models) is never garbage: out of the collector's reach, so
    # that a full collection while serving scans only what serving made (one took ~100 ms under load; issue 8).
    gc.collect()
    gc.freeze()
    try:
        _Server.make(config, limits.handshake_timeout_seconds).run()
    finally:
        reloader.stop()
