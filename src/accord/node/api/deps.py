"""Who is calling: the pinned TLS client certificate mapped to this nation's systems or a partner."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from accord.node.api.problems import PROBLEM, problem_body, title
from accord.node.errors import PeerRefused
from accord.node.service import Caller, NodeService


def problem(status: int, kind: str, title: str, detail: str, **ext: Any) -> JSONResponse:
    return JSONResponse(problem_body(status, kind, title, detail, **ext), status_code=status, media_type=PROBLEM)


def _titles(status: int) -> str:
    return title(status)


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
