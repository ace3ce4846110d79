"""The console's plumbing: who may open which page, templates, sessions, CSRF, redirects and errors.

:class:`Web` is what every route module of the console is given (the backend, the register, the
template environment and the request helpers); :meth:`Web.install` adds the security headers and the
error pages.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from accord.console.backend import Backend
from accord.console.banners import banner_for
from accord.core.labels import Label
from accord.core.people import Role
from accord.errors import AccordError
from accord.people.register import SessionInfo

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


class Deny(Exception):
    """A request the console refuses: 401 (sign in first), 403, 413 (an HTML page or a JSON error)."""

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


class Web:
    """The request helpers of one console application (one backend)."""

    def __init__(self, backend: Backend, *, secure_cookies: bool = True) -> None:
        self.backend = backend
        self.reg = backend.register
        self.env = _env()
        self.secure_cookies = secure_cookies

    def base(self, request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def page(
        self, request: Request, template: str, s: SessionInfo | None, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        roles = s.person.roles if s else frozenset()
        nav = [(k, t) for k, t in NAV if PAGES[k] & roles]
        html = self.env.get_template(template).render(
            base=self.base(request),
            me=s.person if s else None,
            visit=s.visit if s else None,
            csrf=s.csrf if s else "",
            party=self.backend.party,
            nav=nav,
            today=self.backend.today(),
            **ctx,
        )
        return HTMLResponse(html, status_code=status)

    def session(self, request: Request) -> SessionInfo | None:
        token = request.cookies.get(COOKIE)
        return self.reg.session(token) if token else None

    def need(self, request: Request, key: str) -> SessionInfo:
        s = self.session(request)
        if s is None:
            raise Deny(401, "sign in first")
        if not (PAGES[key] & s.person.roles):
            raise Deny(403, f"your roles ({', '.join(sorted(s.person.roles)) or 'none'}) do not allow this page")
        return s

    async def form(self, request: Request, s: SessionInfo) -> dict[str, str]:
        """The posted form, after the CSRF check (a field ``csrf`` or header ``X-CSRF-Token``)."""
        if int(request.headers.get("content-length") or 0) > MAX_FORM:
            raise Deny(413, "form too large")
        data = {k: str(v) for k, v in (await request.form()).items() if isinstance(v, str)}
        sent = data.pop("csrf", "") or request.headers.get("x-csrf-token", "")
        if not sent or not secrets.compare_digest(sent, s.csrf):
            raise Deny(403, "missing or wrong CSRF token: reload the page and try again")
        return data

    def check_csrf_header(self, request: Request, s: SessionInfo) -> None:
        sent = request.headers.get("x-csrf-token", "")
        if not sent or not secrets.compare_digest(sent, s.csrf):
            raise Deny(403, "missing or wrong X-CSRF-Token header")

    def redirect(self, request: Request, path: str, note: str = "") -> RedirectResponse:
        return RedirectResponse(
            f"{self.base(request)}{path}" + (f"?note={quote(note)}" if note else ""), status_code=303
        )

    def label(self, d: dict[str, Any]) -> Label | None:
        from accord.node.policy import label_from_dict

        try:
            return label_from_dict(d)
        except AccordError:
            return None

    def banner(self, d: dict[str, Any]) -> Any:
        lab = self.label(d)
        return banner_for(lab, self.backend.agreements, holder=self.backend.party) if lab is not None else None

    def install(self, app: FastAPI) -> None:
        """Security headers on every response; refusals and Accord errors as pages (or JSON under /api/)."""
        base, page, session = self.base, self.page, self.session

        @app.middleware("http")
        async def headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
            resp: Response = await call_next(request)
            resp.headers["Content-Security-Policy"] = CSP
            resp.headers["X-Content-Type-Options"] = "nosniff"
            resp.headers["Referrer-Policy"] = "no-referrer"
            resp.headers["X-Frame-Options"] = "DENY"
            resp.headers.setdefault("Cache-Control", "no-store")
            return resp

        @app.exception_handler(Deny)
        async def _deny(request: Request, e: Deny) -> Response:
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
