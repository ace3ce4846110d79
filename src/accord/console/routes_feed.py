"""The console's feed page: the latest flights received and one banner per originator (M-R4)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from accord.console.banners import banner_for
from accord.console.web import Web


def register(app: FastAPI, web: Web) -> None:
    """Add these pages to ``app``."""
    backend = web.backend
    page, need = web.page, web.need

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
