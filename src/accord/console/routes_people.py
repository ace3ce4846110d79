"""The console's register of cleared individuals (JK-R10) and visits (JK-R18), for security officers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from accord.console.forms import member_from_form, parse_day, parse_topics
from accord.console.web import Web
from accord.core.people import Role, Visit
from accord.errors import InputError
from accord.people.register import iter_roles


def register(app: FastAPI, web: Web) -> None:
    """Add these pages to ``app``."""
    backend, reg = web.backend, web.reg
    page, need, form, redirect = web.page, web.need, web.form, web.redirect

    @app.get("/people", response_class=HTMLResponse)
    def people(request: Request, note: str = "") -> Response:
        s = need(request, "people")
        return page(
            request,
            "people.html",
            s,
            members=reg.members(),
            visits=reg.visits(),
            note=note[:200],
            roles=[r.value for r in Role],
        )

    @app.post("/people/add")
    async def people_add(request: Request) -> Response:
        s = need(request, "people")
        d = await form(request, s)
        m = member_from_form(d, backend.party)
        reg.add(m, by=s.person.id, password=d.get("password") or None)
        return redirect(request, "/people", f"Added {m.id}")

    @app.post("/people/{pid}/clearance")
    async def people_clearance(request: Request, pid: str) -> Response:
        s = need(request, "people")
        d = await form(request, s)
        reg.set_clearance(pid, d.get("clearance") or None, parse_day(d.get("until", "")), by=s.person.id)
        if "need_to_know" in d:
            reg.set_need_to_know(pid, parse_topics(d["need_to_know"]), by=s.person.id)
        roles = iter_roles([r.value for r in Role if d.get(f"role-{r.value}")])
        if pid == s.person.id and Role.SECURITY_OFFICER not in roles:
            raise InputError("you cannot remove your own security-officer role", field="roles")
        m = reg.get(pid)
        if m is not None and m.roles != roles:
            reg.set_roles(pid, roles, by=s.person.id)
        return redirect(request, "/people", f"Updated {pid}")

    @app.post("/people/{pid}/disable")
    async def people_disable(request: Request, pid: str) -> Response:
        s = need(request, "people")
        d = await form(request, s)
        if pid == s.person.id:
            raise InputError("you cannot disable your own account", field="person")
        reg.disable(pid, by=s.person.id, reason=d.get("reason", "")[:500])
        return redirect(request, "/people", f"Disabled {pid}")

    @app.post("/visits")
    async def visits_add(request: Request) -> Response:
        s = need(request, "people")
        d = await form(request, s)
        start, end = parse_day(d.get("start", "")), parse_day(d.get("end", ""))
        if start is None or end is None:
            raise InputError("a visit has a start and an end day", field="start")
        v = Visit(
            id=d.get("id", "").strip(),
            person=d.get("person", "").strip(),
            host=backend.party,
            highest=d.get("highest", "").strip(),
            topics=parse_topics(d.get("topics", "")),
            start=start,
            end=end,
            purpose=d.get("purpose", "").strip(),
            approved_by=s.person.id,
        )
        reg.add_visit(v, by=s.person.id)
        return redirect(request, "/people", f"Visit {v.id} recorded")
