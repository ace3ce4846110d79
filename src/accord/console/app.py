"""The operator console: a FastAPI sub-application served by each node (server-rendered, air-gapped).

Sign-in with local accounts (argon2id), server-side sessions (HttpOnly, Secure, SameSite=Strict cookie;
only the token's digest is stored), CSRF tokens on every state change (form field or ``X-CSRF-Token``
header), roles checked on every page and API call. No external resource: templates, CSS and the small
script are served by the node itself, with a Content-Security-Policy of ``'self'``.

The pages are in route modules (``routes_session``, ``routes_items``, ``routes_policy``, ``routes_audit``,
``routes_people``, ``routes_feed``), each given the request plumbing of :class:`accord.console.web.Web`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from accord.console import routes_audit, routes_feed, routes_items, routes_people, routes_policy, routes_session
from accord.console.backend import Backend
from accord.console.forms import attest, member_from_form
from accord.console.web import HERE, PAGES, Web

__all__ = ["PAGES", "attest", "create_console", "member_from_form"]


def create_console(backend: Backend, *, secure_cookies: bool = True) -> FastAPI:
    """The console application for one node (mount it at ``/console`` in the node app, or serve it alone)."""
    app = FastAPI(title=f"Accord console ({backend.party})", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    web = Web(backend, secure_cookies=secure_cookies)
    web.install(app)
    for routes in (routes_session, routes_items, routes_policy, routes_audit, routes_people, routes_feed):
        routes.register(app, web)
    return app
