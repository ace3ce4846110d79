"""The operator console of a node, and the people path through which content is read.

- :func:`mount_console`: the console mounted in the node's app at ``/console`` (reachable there only with
  the node's own client certificate; browsers use ``accord console serve``, which serves it alone).
- :func:`person_read` (defined in :mod:`accord.node.persons`): a read by a registered person for a stated
  purpose, decided by ``access`` and journaled, allowed or refused (JK-R7, JK-R15); the node's
  ``GET /v1/items/{id}/payload`` and the console both read through it (``accord.people.reading``).
- The node never imports the console: whoever serves the node mounts it (``accord node run``).
"""

from __future__ import annotations

import weakref
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from accord.console.backend import Backend, NodeBackend
from accord.node.persons import person_read  # the people path, kept importable from here

if TYPE_CHECKING:
    from fastapi import FastAPI

    from accord.node.service import NodeService

__all__ = ["Backend", "NodeBackend", "backend_for", "mount_console", "person_read"]

_backends: weakref.WeakKeyDictionary[Any, NodeBackend] = weakref.WeakKeyDictionary()


def backend_for(service: NodeService) -> NodeBackend:
    """The (one) console backend of a node service."""
    b = _backends.get(service)
    if b is None:
        b = _backends[service] = NodeBackend(service)
    return b


def mount_console(app: FastAPI, service: NodeService, *, path: str = "/console") -> None:
    """Mount the console in the node's app; only callers presenting the node's own certificate reach it."""
    from accord.console.app import create_console

    inner = create_console(backend_for(service))

    def is_local(fp: object) -> bool:
        if not isinstance(fp, str):
            return False
        try:
            return service.identify(fp).local
        except Exception:  # an unknown certificate (the handshake should have refused it already)
            return False

    async def local_only(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            fp = scope.get("extensions", {}).get("tls", {}).get("client_cert_sha256")
            if not is_local(fp):
                body = b'{"title":"Forbidden","status":403,"detail":"the console is for this nation\'s own systems"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 403,
                        "headers": [(b"content-type", b"application/problem+json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await inner(scope, receive, send)

    app.mount(path, local_only)
