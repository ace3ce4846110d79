"""The console's audit pages: the journal searched, the log verified, the log exported (recorded)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.background import BackgroundTask

from accord.console.web import Web


def register(app: FastAPI, web: Web) -> None:
    """Add these pages to ``app``."""
    backend = web.backend
    page, need = web.page, web.need

    @app.get("/audit", response_class=HTMLResponse)
    def audit(request: Request, type: str = "", item: str = "", q: str = "", limit: int = 200) -> Response:
        s = need(request, "audit")
        rows = backend.events(type_=type or None, item_id=item or None, text=q or None, limit=limit)
        types = [
            "decision",
            "release",
            "delivery",
            "receipt",
            "consent",
            "consent_request",
            "consent_decision",
            "access",
            "person",
            "visit",
            "integrity_failure",
        ]
        return page(request, "audit.html", s, rows=rows, type=type, item=item, q=q, types=types)

    @app.get("/audit/verify", response_class=HTMLResponse)
    def audit_verify(request: Request, index: int | None = None) -> Response:
        s = need(request, "audit")
        rep = backend.audit_verify(index)
        return page(request, "verify.html", s, rep=rep, index=index)

    @app.get("/audit/export")
    def audit_export(request: Request) -> Response:
        s = need(request, "audit")
        fd, name = tempfile.mkstemp(prefix="accord-audit-", suffix=".jsonl")
        os.close(fd)
        n = backend.audit_export(Path(name))
        with backend.journal_tx() as conn:
            backend.journal(conn, "person", None, {"action": "audit-export", "by": s.person.id, "events": n})
        return FileResponse(
            name,
            media_type="application/x-ndjson",
            filename=f"accord-audit-{backend.party.lower()}-{backend.today()}.jsonl",
            background=BackgroundTask(lambda: Path(name).unlink(missing_ok=True)),
        )
