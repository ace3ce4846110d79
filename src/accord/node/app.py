"""The node's HTTP API (FastAPI on uvicorn, mutual TLS with pinned certificates).

Callers are identified by the SHA-256 fingerprint of the TLS client certificate they presented (the
handshake already refused any certificate not pinned in the roster): the node's own certificate is this
nation's systems (submit, forward, consent decisions); a partner's is a peer (deliveries, consent
messages), admitted only while an agreement binds both nations that day.

Errors are RFC 9457 ``application/problem+json``. No payload plaintext is ever logged or echoed: input
validation errors report where and what, never the value.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord.errors import AccordError, InputError, IntegrityError
from accord.node.config import NodeConfig, Roster
from accord.node.errors import NodeError, PeerRefused
from accord.node.identity import load_receipt_key
from accord.node.policy import load_agreement_set
from accord.node.sealing import make_sealer
from accord.node.service import Caller, NodeService
from accord.node.store import Store

log = logging.getLogger("accord.node")

PROBLEM = "application/problem+json"
Party = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 3166 alpha-3 party code")]
ItemId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")]
MAX_PAYLOAD = 64 * 1024 * 1024


def load_service(directory: Path, *, db: str | None = None, audit: bool = False) -> NodeService:
    """Build a node's service from its directory (config, roster, keys, database).

    ``audit``: this process is the nation's audit writer (appends the journal to the audit log). Exactly one
    process per nation should be: the node server (``accord node run``); CLI commands only journal.
    """
    cfg = NodeConfig.load(directory)
    if db:
        cfg.db = db
    roster = Roster.load(directory)
    aset = load_agreement_set(cfg.agreements)
    key = load_receipt_key(cfg.receipt_key_file)
    sealer = make_sealer(directory, aset)
    store = Store(cfg.db)
    feeder = None
    if audit:
        from accord.node.audit import AUDIT_KEY, AuditFeeder

        if (directory / AUDIT_KEY).exists():
            feeder = AuditFeeder(store, directory, cfg.party, poll_seconds=cfg.audit_poll_seconds)
    return NodeService(cfg, roster, store, aset, sealer, key, feeder)


# ---------------------------------------------------------------------------------------------------
# request models (every input validated; unknown fields refused)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmitRequest(_Strict):
    label: dict[str, Any] = Field(description="the originator's label (accord label JSON)")
    to: Party
    payload_b64: str = Field(max_length=MAX_PAYLOAD * 4 // 3 + 4, description="the item, base64")
    at: dt.date | None = Field(default=None, description="decision date (what-if nodes only; default today)")


class ForwardRequest(_Strict):
    to: Party
    at: dt.date | None = None


class ConsentDecisionRequest(_Strict):
    officer: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=2000)
    until: dt.date | None = None


class StandingConsentRequest(_Strict):
    holder: Party
    recipient: Party
    topics: list[Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9._/-]{0,63}$")]] = Field(min_length=1)
    granted: dt.date
    until: dt.date
    officer: str = Field(min_length=1, max_length=200)


class DeliveryEnvelope(_Strict):
    item_id: ItemId
    sender: Party
    final_recipient: Party
    at: dt.date
    sealed: str = Field(max_length=MAX_PAYLOAD * 2)
    consents: list[dict[str, Any]] = Field(default_factory=list, max_length=16)


class ConsentRequestMessage(_Strict):
    request_id: str = Field(min_length=1, max_length=300)
    item_id: ItemId
    originator: Party
    holder: Party
    recipient: Party
    label: dict[str, Any]
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: dt.date
    reasons: list[dict[str, Any]] = Field(default_factory=list)


class ConsentDecisionMessage(_Strict):
    request_id: str = Field(min_length=1, max_length=300)
    approved: bool
    officer: str = Field(max_length=200)
    reason: str = Field(default="", max_length=2000)
    at: dt.date
    consent: dict[str, Any] | None = None


class ConsentMessage(_Strict):
    consent: dict[str, Any]
    officer: str = Field(max_length=200)
    at: dt.date


# ---------------------------------------------------------------------------------------------------
# problem documents


def problem(status: int, kind: str, title: str, detail: str, **ext: Any) -> JSONResponse:
    body = {
        "type": f"https://accord.invalid/problems/{kind}",
        "title": title,
        "status": status,
        "detail": detail,
        **ext,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _titles(status: int) -> str:
    return {
        400: "Bad request",
        403: "Forbidden",
        404: "Not found",
        409: "Conflict",
        422: "Unprocessable",
        500: "Internal error",
    }.get(status, "Error")


def caller(request: Request) -> Caller:
    """The caller, from the pinned TLS client certificate's fingerprint (set by the protocol)."""
    fp = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_sha256")
    service: NodeService = request.app.state.service
    return service.identify(fp)


def local(c: Annotated[Caller, Depends(caller)]) -> Caller:
    """Only this nation's own systems (the node's own certificate)."""
    if not c.local:
        raise PeerRefused("this endpoint is for this nation's own systems")
    return c


Local = Annotated[Caller, Depends(local)]
Any_ = Annotated[Caller, Depends(caller)]


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

    @app.exception_handler(NodeError)
    async def _node_error(_: Request, e: NodeError) -> JSONResponse:
        return problem(e.status, e.kind, _titles(e.status), str(e), **e.extensions)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, e: IntegrityError) -> JSONResponse:
        return problem(422, "integrity", "Integrity check failed", str(e))

    @app.exception_handler(InputError)
    async def _input(_: Request, e: InputError) -> JSONResponse:
        return problem(400, "bad-input", "Bad input", e.diagnostics(), field=e.field)

    @app.exception_handler(AccordError)
    async def _accord(_: Request, e: AccordError) -> JSONResponse:
        return problem(400, "bad-input", "Bad input", e.diagnostics())

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        # Report where and what, never the offending value (it may be classified content).
        errors = [
            {"loc": [str(x) for x in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type")}
            for err in e.errors()
        ]
        return problem(422, "validation", "Invalid request", "the request does not match the schema", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return problem(e.status_code, "http", _titles(e.status_code), str(e.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> JSONResponse:
        log.error("internal error: %s", type(e).__name__)
        return problem(500, "internal", "Internal error", "the node could not process the request")

    @app.get("/v1/health")
    def health(c: Any_) -> dict[str, Any]:
        """Liveness, for any authenticated caller."""
        return {"party": service.party, "ok": True, "caller": c.party}

    @app.post("/v1/items")
    def submit(req: SubmitRequest, _: Local) -> dict[str, Any]:
        """Decide, seal and queue the release of one of this nation's items (durable when answered)."""
        try:
            payload = base64.b64decode(req.payload_b64, validate=True)
        except (binascii.Error, ValueError) as e:
            raise InputError("payload_b64 is not base64", field="payload_b64") from e
        out = service.submit(req.label, payload, req.to, req.at)
        wake()
        return out

    @app.get("/v1/items/{item_id}")
    def item(item_id: str, _: Local) -> dict[str, Any]:
        """Custody of one item: its label, marking, outbox, inbox and receipts."""
        return service.item_status(item_id)

    @app.get("/v1/items/{item_id}/payload", response_class=Response)
    def payload(item_id: str, _: Local, person: Annotated[str, Header(alias="Accord-Person", max_length=100)],
                purpose: Annotated[str, Header(alias="Accord-Purpose", max_length=1500)]) -> Response:
        """The plaintext of a held item, for a registered person with a stated (percent-encoded) purpose:
        decided by clearance and need-to-know, and audited, allowed or refused (JK-R7, JK-R15; issue 12)."""
        from accord.console import person_read

        label, data = person_read(service, item_id, person, unquote(purpose))
        return Response(data, media_type="application/octet-stream", headers={"Accord-Banner": quote(label.banner)})

    @app.post("/v1/items/{item_id}/forward")
    def forward(item_id: str, req: ForwardRequest, _: Local) -> dict[str, Any]:
        """Release a held item onward (third-party rule; may wait for the originator's consent)."""
        out = service.forward(item_id, req.to, req.at)
        wake()
        return out

    @app.get("/v1/consent-requests")
    def consent_list(
        _: Local, state: Annotated[str | None, Query(pattern="^(pending|approved|denied)$")] = None
    ) -> list[dict[str, Any]]:
        """Consent requests (incoming: for this nation's officer; outgoing: ours to originators)."""
        return service.consent_requests(state)

    @app.post("/v1/consent-requests/{request_id}/approve")
    def consent_approve(request_id: str, req: ConsentDecisionRequest, _: Local) -> dict[str, Any]:
        out = service.decide_consent(request_id, True, req.officer, req.reason, req.until)
        wake()
        return out

    @app.post("/v1/consent-requests/{request_id}/deny")
    def consent_deny(request_id: str, req: ConsentDecisionRequest, _: Local) -> dict[str, Any]:
        out = service.decide_consent(request_id, False, req.officer, req.reason)
        wake()
        return out

    @app.post("/v1/consents/standing")
    def standing(req: StandingConsentRequest, _: Local) -> dict[str, Any]:
        """Grant a standing consent to a holder (applies there at once, e.g. TISA missile warnings)."""
        out = service.grant_standing(req.holder, req.recipient, req.topics, req.granted, req.until, req.officer)
        wake()
        return out

    @app.get("/v1/outbox")
    def outbox(
        _: Local, state: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None
    ) -> list[dict[str, Any]]:
        return service.store.outbox_rows(state=state)

    @app.get("/v1/events")
    def events(_: Local, item_id: str | None = None) -> list[dict[str, Any]]:
        from accord.node import store as st

        where = [st.events.c.item_id == item_id] if item_id else []
        return [
            {"id": r["id"], "type": r["type"], "item_id": r["item_id"], "body": r["body"]}
            for r in service.store.rows(st.events, *where)
        ]

    from accord.console import mount_console  # issue 12: the console, for the node's own certificate

    mount_console(app, service)

    # -- partner endpoints --------------------------------------------------------------------------

    @app.post("/v1/deliveries")
    def deliveries(env: DeliveryEnvelope, c: Any_, request: Request) -> dict[str, Any]:
        """A sealed item from a partner; answered with a signed receipt (the same one on a replay)."""
        d = env.model_dump()
        d["at"] = env.at.isoformat()
        d["idem_key"] = request.headers.get("idempotency-key", "")
        out = service.receive_delivery(c, d)
        wake()
        return out

    @app.post("/v1/peer/consent-requests")
    def peer_consent_request(msg: ConsentRequestMessage, c: Any_) -> dict[str, Any]:
        d = msg.model_dump()
        d["at"] = msg.at.isoformat()
        return service.receive_consent_request(c, d)

    @app.post("/v1/peer/consent-decisions")
    def peer_consent_decision(msg: ConsentDecisionMessage, c: Any_) -> dict[str, Any]:
        d = msg.model_dump()
        d["at"] = msg.at.isoformat()
        out = service.receive_consent_decision(c, d)
        wake()
        return out

    @app.post("/v1/peer/consents")
    def peer_consent(msg: ConsentMessage, c: Any_) -> dict[str, Any]:
        d = msg.model_dump()
        d["at"] = msg.at.isoformat()
        out = service.receive_consent(c, d)
        wake()
        return out

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
