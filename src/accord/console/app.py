"""The operator console: a FastAPI sub-application served by each node (server-rendered, air-gapped).

Sign-in with local accounts (argon2id), server-side sessions (HttpOnly, Secure, SameSite=Strict cookie;
only the token's digest is stored), CSRF tokens on every state change (form field or ``X-CSRF-Token``
header), roles checked on every page and API call. No external resource: templates, CSS and the small
script are served by the node itself, with a Content-Security-Policy of ``'self'``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.background import BackgroundTask

from accord.console.backend import Backend
from accord.console.banners import banner_for
from accord.core.labels import Label
from accord.core.matrix import default_topics, sharing_matrix
from accord.core.people import Employment, Member, Role, Visit, attest_readers
from accord.core.persons import Person
from accord.errors import AccordError, InputError
from accord.people.reading import ReadRefused, read_item
from accord.people.register import SessionInfo, iter_roles

HERE = Path(__file__).parent
COOKIE = "accord_session"
LOGIN_CSRF = "accord_login_csrf"
SESSION_TTL = dt.timedelta(hours=8)
MAX_FAILURES = 5  # failed sign-ins of one user name within LOCKOUT before further attempts are refused
LOCKOUT = dt.timedelta(minutes=15)
MAX_FORM = 64 * 1024

OP, SO, AU = Role.OPERATOR, Role.SECURITY_OFFICER, Role.AUDITOR
ALL = frozenset({OP, SO, AU})
#: who may open what (JK-R14: none of these opens an item's content; access() does)
PAGES: dict[str, frozenset[Role]] = {
    "items": frozenset({OP, SO}),
    "read": frozenset({OP, SO}),
    "consents": frozenset({SO}),
    "agreements": ALL,
    "matrix": ALL,
    "audit": frozenset({AU, SO}),
    "people": frozenset({SO}),
    "feed": frozenset({OP, SO}),
    "attest": frozenset({OP, SO}),
}
NAV = [
    ("items", "Inbox / outbox"),
    ("consents", "Consent queue"),
    ("agreements", "Agreements"),
    ("matrix", "Sharing matrix"),
    ("audit", "Audit"),
    ("people", "People"),
    ("feed", "Feed"),
]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class _Deny(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, sort_keys=True)
    env.globals["deny_codes"] = _deny_codes()
    env.filters["day"] = lambda v: v.isoformat()[:10] if hasattr(v, "isoformat") else (str(v)[:10] if v else "")
    env.filters["when"] = lambda v: (
        v.isoformat(timespec="seconds")[:19].replace("T", " ") if hasattr(v, "isoformat") else (str(v) if v else "")
    )
    env.filters["us_time"] = lambda us: (
        dt.datetime.fromtimestamp(int(us) / 1e6, dt.UTC).isoformat(timespec="milliseconds")[:23].replace("T", " ")
    )
    return env


def _deny_codes() -> frozenset[str]:
    """Reason codes that refuse (decision engine, access, reads): shown in red, the others in green."""
    from accord.core.access import AccessCode
    from accord.core.decision import Code
    from accord.core.people import ReadCode

    out = {c.value for c in Code if getattr(c, "refuses", False)}
    out |= {c.value for c in AccessCode if not c.value.endswith("_OK")}
    out |= {c.value for c in ReadCode if not c.value.endswith("_OK")}
    return frozenset(out)


def create_console(backend: Backend, *, secure_cookies: bool = True) -> FastAPI:
    """The console application for one node (mount it at ``/console`` in the node app, or serve it alone)."""
    app = FastAPI(title=f"Accord console ({backend.party})", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    env = _env()
    reg = backend.register
    failures: dict[str, list[dt.datetime]] = {}  # user name -> recent failed sign-ins (this process)

    def locked(pid: str) -> bool:
        now = dt.datetime.now(dt.UTC)
        recent = [t for t in failures.get(pid, []) if now - t < LOCKOUT]
        failures[pid] = recent
        return len(recent) >= MAX_FAILURES

    # -- plumbing ------------------------------------------------------------------------------------

    def base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def page(request: Request, template: str, s: SessionInfo | None, status: int = 200, **ctx: Any) -> HTMLResponse:
        roles = s.person.roles if s else frozenset()
        nav = [(k, t) for k, t in NAV if PAGES[k] & roles]
        html = env.get_template(template).render(
            base=base(request),
            me=s.person if s else None,
            visit=s.visit if s else None,
            csrf=s.csrf if s else "",
            party=backend.party,
            nav=nav,
            today=backend.today(),
            **ctx,
        )
        return HTMLResponse(html, status_code=status)

    def session(request: Request) -> SessionInfo | None:
        token = request.cookies.get(COOKIE)
        return reg.session(token) if token else None

    def need(request: Request, key: str) -> SessionInfo:
        s = session(request)
        if s is None:
            raise _Deny(401, "sign in first")
        if not (PAGES[key] & s.person.roles):
            raise _Deny(403, f"your roles ({', '.join(sorted(s.person.roles)) or 'none'}) do not allow this page")
        return s

    async def form(request: Request, s: SessionInfo) -> dict[str, str]:
        """The posted form, after the CSRF check (a field ``csrf`` or header ``X-CSRF-Token``)."""
        if int(request.headers.get("content-length") or 0) > MAX_FORM:
            raise _Deny(413, "form too large")
        data = {k: str(v) for k, v in (await request.form()).items() if isinstance(v, str)}
        sent = data.pop("csrf", "") or request.headers.get("x-csrf-token", "")
        if not sent or not secrets.compare_digest(sent, s.csrf):
            raise _Deny(403, "missing or wrong CSRF token: reload the page and try again")
        return data

    def check_csrf_header(request: Request, s: SessionInfo) -> None:
        sent = request.headers.get("x-csrf-token", "")
        if not sent or not secrets.compare_digest(sent, s.csrf):
            raise _Deny(403, "missing or wrong X-CSRF-Token header")

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        resp: Response = await call_next(request)
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    @app.exception_handler(_Deny)
    async def _deny(request: Request, e: _Deny) -> Response:
        if request.url.path.startswith(base(request) + "/api/") or "/api/" in request.url.path:
            return JSONResponse({"error": str(e)}, status_code=e.status)
        if e.status == 401:
            return RedirectResponse(f"{base(request)}/login", status_code=303)
        return page(request, "error.html", session(request), status=e.status, message=str(e))

    @app.exception_handler(AccordError)
    async def _accord(request: Request, e: AccordError) -> Response:
        status = int(getattr(e, "status", 400))
        if "/api/" in request.url.path:
            return JSONResponse({"error": e.diagnostics()}, status_code=status)
        return page(request, "error.html", session(request), status=status, message=e.diagnostics())

    def redirect(request: Request, path: str, note: str = "") -> RedirectResponse:
        from urllib.parse import quote

        return RedirectResponse(f"{base(request)}{path}" + (f"?note={quote(note)}" if note else ""), status_code=303)

    # -- sign-in -------------------------------------------------------------------------------------

    def _cookie(resp: Response, name: str, value: str, request: Request, max_age: int | None = None) -> None:
        resp.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            secure=secure_cookies,
            samesite="strict",
            path=base(request) or "/",
        )

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, error: str = "") -> Response:
        token = secrets.token_urlsafe(32)
        resp = page(request, "login.html", None, login_csrf=token, error=error[:200])
        _cookie(resp, LOGIN_CSRF, token, request, max_age=3600)
        return resp

    @app.post("/login")
    async def login(request: Request) -> Response:
        data = {k: str(v) for k, v in (await request.form()).items() if isinstance(v, str)}
        cookie = request.cookies.get(LOGIN_CSRF, "")
        if not cookie or not secrets.compare_digest(cookie, data.get("csrf", "")):
            raise _Deny(403, "missing or wrong CSRF token: reload the sign-in page")
        pid, password = data.get("username", "").strip()[:100], data.get("password", "")[:1024]
        if locked(pid):
            with backend.journal_tx() as conn:
                backend.journal(conn, "person", None, {"action": "sign-in-locked", "by": pid})
            return page(
                request,
                "login.html",
                None,
                status=429,
                login_csrf=cookie,
                error=f"Too many failed sign-ins for this user name: try again in {LOCKOUT.seconds // 60} "
                "minutes, or ask a security officer.",
            )
        member = reg.authenticate(pid, password) if pid and password else None
        bad = "Wrong user name or password, or the account is disabled."
        if member is None:
            failures.setdefault(pid, []).append(dt.datetime.now(dt.UTC))
            with backend.journal_tx() as conn:
                backend.journal(conn, "person", None, {"action": "sign-in-refused", "by": pid})
            return page(request, "login.html", None, status=401, login_csrf=cookie, error=bad)
        failures.pop(pid, None)
        visit: Visit | None = None
        if member.person.nationality != backend.party:  # a visitor: only during a visit (JK-R18)
            today = backend.today()
            visit = next((v for v in reg.visits(member.id) if v.active(today)), None)
            if visit is None:
                return page(
                    request,
                    "login.html",
                    None,
                    status=403,
                    login_csrf=cookie,
                    error=f"No visit authorized by {backend.party} today: visitors sign in only during "
                    "a declared visit (JK-R18).",
                )
        if not member.roles:
            return page(
                request, "login.html", None, status=403, login_csrf=cookie, error="Your account has no console role."
            )
        token, _csrf = reg.open_session(member, ttl=SESSION_TTL, visit=visit)
        landing = "/items" if PAGES["items"] & member.roles else "/agreements"
        resp = redirect(request, landing)
        _cookie(resp, COOKIE, token, request, max_age=int(SESSION_TTL.total_seconds()))
        resp.delete_cookie(LOGIN_CSRF, path=base(request) or "/")
        return resp

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        s = session(request)
        if s is not None:
            await form(request, s)
            reg.close_session(request.cookies.get(COOKIE, ""))
        resp = redirect(request, "/login")
        resp.delete_cookie(COOKIE, path=base(request) or "/")
        return resp

    @app.get("/")
    def home(request: Request) -> Response:
        s = session(request)
        if s is None:
            return redirect(request, "/login")
        return redirect(request, "/items" if PAGES["items"] & s.person.roles else "/agreements")

    # -- items ---------------------------------------------------------------------------------------

    def _label(d: dict[str, Any]) -> Label | None:
        from accord.node.policy import label_from_dict

        try:
            return label_from_dict(d)
        except AccordError:
            return None

    def _banner(d: dict[str, Any]) -> Any:
        lab = _label(d)
        return banner_for(lab, backend.agreements, holder=backend.party) if lab is not None else None

    @app.get("/items", response_class=HTMLResponse)
    def items(request: Request) -> Response:
        s = need(request, "items")
        rows = backend.items()
        for r in rows:
            r["banner"] = _banner(r["label"])
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
            item_banner=_banner(it["label"]),
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
        text = content.decode("utf-8", errors="replace") if _printable(content) else None
        return _item_page(
            request,
            s,
            item_id,
            allowed=decision,
            content_text=text,
            content_b64=None if text is not None else base64.b64encode(content[:65536]).decode(),
            size=len(content),
        )

    # -- consents ------------------------------------------------------------------------------------

    @app.get("/consents", response_class=HTMLResponse)
    def consents(request: Request, note: str = "") -> Response:
        s = need(request, "consents")
        rows = backend.consent_requests()
        for r in rows:
            r["banner"] = _banner(r["label"])
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

    # -- agreements and matrix -----------------------------------------------------------------------

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
        return page(request, "agreements.html", s, rows=rows, timeline=_timeline(rows))

    @app.get("/matrix", response_class=HTMLResponse)
    def matrix(request: Request, at: str = "", topic: str = "", drop: str = "") -> Response:
        s = need(request, "matrix")
        day = _day(at) or backend.today()
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
            graph=_graph(m.parties, cells, wcells),
        )

    # -- audit ---------------------------------------------------------------------------------------

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
        import os

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

    # -- people and visits ---------------------------------------------------------------------------

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
        reg.set_clearance(pid, d.get("clearance") or None, _day(d.get("until", "")), by=s.person.id)
        if "need_to_know" in d:
            reg.set_need_to_know(pid, _topics(d["need_to_know"]), by=s.person.id)
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
        start, end = _day(d.get("start", "")), _day(d.get("end", ""))
        if start is None or end is None:
            raise InputError("a visit has a start and an end day", field="start")
        v = Visit(
            id=d.get("id", "").strip(),
            person=d.get("person", "").strip(),
            host=backend.party,
            highest=d.get("highest", "").strip(),
            topics=_topics(d.get("topics", "")),
            start=start,
            end=end,
            purpose=d.get("purpose", "").strip(),
            approved_by=s.person.id,
        )
        reg.add_visit(v, by=s.person.id)
        return redirect(request, "/people", f"Visit {v.id} recorded")

    def feed_data() -> dict[str, Any]:
        from accord.feed.view import latest_tracks

        directory = getattr(backend, "directory", None)
        if directory is None:
            return {"party": backend.party, "available": False, "why": "this console has no node directory"}
        return latest_tracks(directory)

    def feed_banners() -> list[Any]:
        """One banner per originator of warning data this node may receive (M-R4: the feed's label)."""
        from accord.feed.scope import mechanisms
        from accord.feed.view import feed_label

        day = backend.today()
        parties = sorted({p for m in mechanisms(backend.agreements) for p in m.parties if p != backend.party})
        labels = [feed_label(backend.agreements, p, day) for p in parties]
        return [banner_for(lab, backend.agreements, holder=backend.party) for lab in labels if lab is not None]

    @app.get("/feed", response_class=HTMLResponse)
    def feed(request: Request) -> Response:
        s = need(request, "feed")
        return page(request, "feed.html", s, banners=feed_banners(), feed=feed_data())

    @app.get("/api/feed")
    def api_feed(request: Request) -> dict[str, Any]:
        """The latest flights received by this node, its streams and the feed service's figures."""
        need(request, "feed")
        return feed_data()

    # -- JSON API (same sessions, roles and CSRF) ----------------------------------------------------

    @app.get("/api/me")
    def api_me(request: Request) -> dict[str, Any]:
        s = session(request)
        if s is None:
            raise _Deny(401, "sign in first")
        return {"person": s.person.to_dict(), "visit": s.visit.to_dict() if s.visit else None, "csrf": s.csrf}

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

    return app


def attest(backend: Backend, body: object) -> dict[str, Any]:
    """The JK-R17 answer for ``{"label": {...}, "readers": [...]}`` (used by the console API and the CLI)."""
    from accord.node.policy import label_from_dict

    if not isinstance(body, dict) or not isinstance(body.get("readers"), list) or not body["readers"]:
        raise InputError("give a label and a non-empty list of readers", field="readers")
    readers = [str(r) for r in body["readers"]][:1000]
    label = label_from_dict(body.get("label"))
    at = backend.today()
    result = attest_readers(label, backend.party, at, readers, backend.register.by_id(), agreements=backend.agreements)
    with backend.journal_tx() as conn:
        backend.journal(conn, "access", label.id, {"attestation": result.to_dict()})
    return result.to_dict()


def member_from_form(d: dict[str, str], party: str) -> Member:
    """A member from the console's form (or the CLI's options, same names)."""
    pid = d.get("id", "").strip()
    nationality = (d.get("nationality") or party).strip().upper()
    person = Person(
        id=pid,
        nationality=nationality,
        clearance=(d.get("clearance") or None),
        need_to_know=_topics(d.get("need_to_know", "")),
        clearance_until=_day(d.get("clearance_until", "")),
    )
    employment = Employment(d.get("employment") or "official")
    roles = iter_roles(
        [r for r in d.get("roles", "").replace(",", " ").split() if r]
        + [r.value for r in Role if d.get(f"role-{r.value}")]
    )
    return Member(
        person=person,
        name=d.get("name", "").strip() or pid,
        employment=employment,
        employer=d.get("employer") or None,
        facility=d.get("facility") or None,
        facility_cleared_until=_day(d.get("facility_cleared_until", "")),
        briefed_on=_day(d.get("briefed_on", "")),
        roles=roles,
    )


def _topics(text: str) -> frozenset[str]:
    return frozenset(t.strip().upper() for t in text.replace(",", " ").split() if t.strip())


def _day(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{text!r} is not a date YYYY-MM-DD", field="date") from None


def _printable(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\n\r\t" for c in text)


def _timeline(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Geometry of the lifecycle timeline (SVG): one lane per agreement, a dot per event."""
    days = [p["on"] for r in rows for p in r["points"]]
    if not days:
        return {"lanes": [], "width": 900, "height": 40, "ticks": []}
    lo, hi = dt.date(min(days).year, 1, 1), dt.date(max(days).year + 1, 1, 1)
    span = max((hi - lo).days, 1)
    width, left, lane_h = 900, 190, 34

    def x(d: dt.date) -> float:
        return round(left + (width - left - 20) * (d - lo).days / span, 1)

    lanes = []
    for i, r in enumerate(rows):
        y = 24 + i * lane_h
        lanes.append(
            {
                "id": r["ag"].id,
                "y": y,
                "x0": x(r["points"][0]["on"]) if r["points"] else left,
                "x1": width - 20,
                "dots": [{"x": x(p["on"]), "kind": p["kind"], "on": p["on"], "state": p["state"]} for p in r["points"]],
            }
        )
    ticks = [{"x": x(dt.date(y, 1, 1)), "year": y} for y in range(lo.year + 1, hi.year + 1, 2)]
    return {"lanes": lanes, "width": width, "height": 40 + lane_h * len(rows), "ticks": ticks}


def _graph(
    parties: tuple[str, ...], cells: dict[tuple[str, str], Any], wcells: dict[tuple[str, str], Any]
) -> dict[str, Any]:
    """Positions of the sharing graph (SVG): parties on a circle, an arrow per allowed release."""
    import math

    n = max(len(parties), 1)
    cx, cy, radius = 220, 180, 130
    pos = {
        p: (
            round(cx + radius * math.cos(2 * math.pi * i / n - math.pi / 2), 1),
            round(cy + radius * math.sin(2 * math.pi * i / n - math.pi / 2), 1),
        )
        for i, p in enumerate(parties)
    }
    edges = []
    for (a, b), c in cells.items():
        w = wcells.get((a, b))
        if not c.allowed and not (w is not None and w.allowed):
            continue
        (x1, y1), (x2, y2) = pos[a], pos[b]
        dx, dy = x2 - x1, y2 - y1
        d = math.hypot(dx, dy) or 1
        ox, oy = -dy / d * 6, dx / d * 6  # offset so a->b and b->a do not overlap
        sx, sy = x1 + dx / d * 28 + ox, y1 + dy / d * 28 + oy
        ex, ey = x2 - dx / d * 30 + ox, y2 - dy / d * 30 + oy
        if w is None or (w.allowed, w.route, w.level) == (c.allowed, c.route, c.level):
            change = ""
        elif w.allowed != c.allowed:
            change = "lost" if c.allowed else "gained"
        else:
            change = "rerouted"
        edges.append(
            {
                "a": a,
                "b": b,
                "x1": round(sx, 1),
                "y1": round(sy, 1),
                "x2": round(ex, 1),
                "y2": round(ey, 1),
                "route": " → ".join(c.route if c.allowed else w.route if w else ()),
                "level": c.level or (w.level if w else ""),
                "change": change,
            }
        )
    return {"nodes": [{"p": p, "x": xy[0], "y": xy[1]} for p, xy in pos.items()], "edges": edges}
