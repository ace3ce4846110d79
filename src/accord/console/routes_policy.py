"""The console's consent queue (officers decide requests), agreements with their timeline, the sharing matrix."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from accord.console.forms import parse_day
from accord.console.graphics import graph, timeline
from accord.console.web import Web
from accord.core.matrix import default_topics, sharing_matrix
from accord.errors import InputError


def register(app: FastAPI, web: Web) -> None:
    """Add these pages to ``app``."""
    backend = web.backend
    page, need, form, redirect = web.page, web.need, web.form, web.redirect

    @app.get("/consents", response_class=HTMLResponse)
    def consents(request: Request, note: str = "") -> Response:
        s = need(request, "consents")
        rows = backend.consent_requests()
        for r in rows:
            r["banner"] = web.banner(r["label"])
        pending = [r for r in rows if r["role"] == "incoming" and r["state"] == "pending"]
        decided = [r for r in rows if r["role"] == "incoming" and r["state"] != "pending"]
        ours = [r for r in rows if r["role"] == "outgoing"]
        return page(request, "consents.html", s, pending=pending, decided=decided, ours=ours, note=note[:200])

    @app.post("/consents/{request_id}/decide")
    async def decide(request: Request, request_id: str) -> Response:
        s = need(request, "consents")
        data = await form(request, s)
        action = data.get("action", "")
        if action not in ("approve", "deny"):
            raise InputError("choose approve or deny", field="action")
        reason = data.get("reason", "").strip()
        if not reason:
            raise InputError("a decision records its reason", field="reason")
        backend.decide_consent(request_id, action == "approve", s.person.id, reason[:2000])
        return redirect(request, "/consents", f"{'Approved' if action == 'approve' else 'Denied'}: {request_id}")

    @app.get("/agreements", response_class=HTMLResponse)
    def agreements(request: Request) -> Response:
        s = need(request, "agreements")
        today = backend.today()
        rows = []
        for ag in backend.agreements:
            lc = ag.lifecycle
            points = []
            for day, kind, note in sorted(
                [(d, k, n) for d, k, n in ((lc.signed, "signed", ""), (lc.in_force, "in force", "")) if d]
                + [(e.on, e.type.value, e.note) for e in lc.events],
                key=lambda x: x[0],
            ):
                points.append({"on": day, "kind": kind, "note": note, "state": ag.state_at(day).status.value})
            rows.append({"ag": ag, "state": ag.state_at(today), "points": points})
        return page(request, "agreements.html", s, rows=rows, timeline=timeline(rows))

    @app.get("/matrix", response_class=HTMLResponse)
    def matrix(request: Request, at: str = "", topic: str = "", drop: str = "") -> Response:
        s = need(request, "matrix")
        day = parse_day(at) or backend.today()
        aset = backend.agreements
        topics = default_topics(aset)
        chosen = topic if topic in topics else topics[0]
        m = sharing_matrix(aset, day, topics=[chosen])
        events = [(ag.id, e.on, e.type.value) for ag in aset for e in ag.lifecycle.events]
        whatif = None
        if drop:
            ag_id, _, on = drop.partition("@")
            try:
                hypo = aset.what_if(drop=[(ag_id, dt.date.fromisoformat(on))])
            except (KeyError, ValueError):
                raise InputError("no such lifecycle event", field="drop") from None
            whatif = sharing_matrix(hypo, day, topics=[chosen])
        cells = {(c.holder, c.recipient): c for c in m.cells}
        wcells = {(c.holder, c.recipient): c for c in whatif.cells} if whatif else {}
        return page(
            request,
            "matrix.html",
            s,
            day=day,
            topics=topics,
            topic=chosen,
            parties=m.parties,
            cells=cells,
            wcells=wcells,
            events=events,
            drop=drop,
            graph=graph(m.parties, cells, wcells),
        )
