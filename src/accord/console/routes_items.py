"""The console's items: inbox, outbox, custody and trail, a person's read (JK-R7, JK-R15), attestation (JK-R17)."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from accord.console.forms import attest, printable
from accord.console.web import Web
from accord.people.reading import ReadRefused, read_item
from accord.people.register import SessionInfo


def register(app: FastAPI, web: Web) -> None:
    """Add these pages to ``app``."""
    _pages(app, web)
    _api(app, web)


def _pages(app: FastAPI, web: Web) -> None:
    """Inbox and outbox, an item's page (custody, trail, reads), a person's read from the page."""
    backend = web.backend
    page, need, form = web.page, web.need, web.form

    @app.get("/items", response_class=HTMLResponse)
    def items(request: Request) -> Response:
        s = need(request, "items")
        rows = backend.items()
        for r in rows:
            r["banner"] = web.banner(r["label"])
        inbox = [r for r in rows if r["origin"] != "local"]
        outbox = backend.outbox()
        local = {r["item_id"]: r for r in rows if r["origin"] == "local"}
        for o in outbox:
            o["banner"] = local[o["item_id"]]["banner"] if o.get("item_id") in local else None
        return page(request, "items.html", s, inbox=inbox, outbox=outbox, own=list(local.values()))

    @app.get("/items/{item_id}", response_class=HTMLResponse)
    def item(request: Request, item_id: str) -> Response:
        s = need(request, "items")
        return _item_page(request, s, item_id)

    def _item_page(request: Request, s: SessionInfo, item_id: str, status: int = 200, **extra: Any) -> Response:
        it = backend.item(item_id)
        trail = backend.events(item_id=item_id, limit=500)
        decisions = [e for e in trail if e["type"] == "decision"]
        reads = [e for e in trail if e["type"] == "access" and e["body"].get("person")][:50]
        return page(
            request,
            "item.html",
            s,
            status=status,
            it=it,
            item_banner=web.banner(it["label"]),
            decisions=decisions,
            reads=reads,
            trail=list(reversed(trail)),
            **extra,
        )

    @app.post("/items/{item_id}/read", response_class=HTMLResponse)
    async def read(request: Request, item_id: str) -> Response:
        s = need(request, "read")
        data = await form(request, s)
        purpose = data.get("purpose", "")
        try:
            decision, content = read_item(backend, s.person.id, item_id, purpose, visit=s.visit)
        except ReadRefused as e:
            return _item_page(request, s, item_id, status=403, refused=e.decision)
        text = content.decode("utf-8", errors="replace") if printable(content) else None
        return _item_page(
            request,
            s,
            item_id,
            allowed=decision,
            content_text=text,
            content_b64=None if text is not None else base64.b64encode(content[:65536]).decode(),
            size=len(content),
        )


def _api(app: FastAPI, web: Web) -> None:
    """The same for scripts: items, a person's read, attestation (session, roles and X-CSRF-Token)."""
    backend = web.backend
    need, check_csrf_header = web.need, web.check_csrf_header

    @app.get("/api/items")
    def api_items(request: Request) -> list[dict[str, Any]]:
        need(request, "items")
        return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in backend.items()]

    @app.post("/api/items/{item_id}/read")
    async def api_read(request: Request, item_id: str) -> Response:
        s = need(request, "read")
        check_csrf_header(request, s)
        body = await request.json()
        purpose = str(body.get("purpose", "")) if isinstance(body, dict) else ""
        try:
            decision, content = read_item(backend, s.person.id, item_id, purpose, visit=s.visit)
        except ReadRefused as e:
            return JSONResponse({"allowed": False, "decision": e.decision.to_dict()}, status_code=403)
        return JSONResponse(
            {"allowed": True, "decision": decision.to_dict(), "content_b64": base64.b64encode(content).decode()}
        )

    @app.post("/api/attest")
    async def api_attest(request: Request) -> dict[str, Any]:
        """JK-R17: are these intended readers cleared for this label today?"""
        s = need(request, "attest")
        check_csrf_header(request, s)
        body = await request.json()
        return attest(backend, body)
