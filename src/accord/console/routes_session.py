"""The console's sign-in and sign-out (argon2id accounts, lockout, server-side sessions, JK-R18 visitors)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from accord.console.web import COOKIE, LOCKOUT, LOGIN_CSRF, MAX_FAILURES, PAGES, SESSION_TTL, Deny, Web
from accord.core.people import Visit


def register(app: FastAPI, web: Web) -> None:
    """Add these pages to ``app``."""
    _sign_in(app, web)
    _session(app, web)


def _sign_in(app: FastAPI, web: Web) -> None:
    """``/login``: the form and the sign-in (lockout after failures, visitors only during a visit)."""
    backend, reg = web.backend, web.reg
    page, redirect = web.page, web.redirect
    failures: dict[str, list[dt.datetime]] = {}  # user name -> recent failed sign-ins (this process)

    def locked(pid: str) -> bool:
        now = dt.datetime.now(dt.UTC)
        recent = [t for t in failures.get(pid, []) if now - t < LOCKOUT]
        failures[pid] = recent
        return len(recent) >= MAX_FAILURES

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, error: str = "") -> Response:
        token = secrets.token_urlsafe(32)
        resp = page(request, "login.html", None, login_csrf=token, error=error[:200])
        _cookie(web, resp, LOGIN_CSRF, token, request, max_age=3600)
        return resp

    @app.post("/login")
    async def login(request: Request) -> Response:
        data = {k: str(v) for k, v in (await request.form()).items() if isinstance(v, str)}
        cookie = request.cookies.get(LOGIN_CSRF, "")
        if not cookie or not secrets.compare_digest(cookie, data.get("csrf", "")):
            raise Deny(403, "missing or wrong CSRF token: reload the sign-in page")
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
        _cookie(web, resp, COOKIE, token, request, max_age=int(SESSION_TTL.total_seconds()))
        resp.delete_cookie(LOGIN_CSRF, path=web.base(request) or "/")
        return resp


def _cookie(web: Web, resp: Response, name: str, value: str, request: Request, max_age: int | None = None) -> None:
    """An HttpOnly, SameSite=Strict cookie (Secure when the console was created with ``secure_cookies``)."""
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        secure=web.secure_cookies,
        samesite="strict",
        path=web.base(request) or "/",
    )


def _session(app: FastAPI, web: Web) -> None:
    """Sign-out, the landing page, and who is signed in (``/api/me``)."""
    reg = web.reg
    session, form, redirect = web.session, web.form, web.redirect

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        s = session(request)
        if s is not None:
            await form(request, s)
            reg.close_session(request.cookies.get(COOKIE, ""))
        resp = redirect(request, "/login")
        resp.delete_cookie(COOKIE, path=web.base(request) or "/")
        return resp

    @app.get("/")
    def home(request: Request) -> Response:
        s = session(request)
        if s is None:
            return redirect(request, "/login")
        return redirect(request, "/items" if PAGES["items"] & s.person.roles else "/agreements")

    @app.get("/api/me")
    def api_me(request: Request) -> dict[str, Any]:
        s = session(request)
        if s is None:
            raise Deny(401, "sign in first")
        return {"person": s.person.to_dict(), "visit": s.visit.to_dict() if s.visit else None, "csrf": s.csrf}
