"""Errors of the node service; each maps to one HTTP status and an RFC 9457 problem type."""

from __future__ import annotations

from typing import Any

from accord.errors import AccordError


class NodeError(AccordError):
    """Base of the node's own errors. ``status`` is the HTTP status, ``kind`` the problem type slug."""

    status = 400
    kind = "bad-request"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.extensions = extensions


class Refused(NodeError):
    """The agreements do not allow it (carries the decision, with its reasons)."""

    status = 403
    kind = "release-refused"


class PeerRefused(NodeError):
    """The calling peer is not a party to an agreement in force with this node, or not allowed here."""

    status = 403
    kind = "peer-refused"


class NotFound(NodeError):
    status = 404
    kind = "not-found"


class Conflict(NodeError):
    """The request contradicts what is already stored (e.g. a replay with other content)."""

    status = 409
    kind = "conflict"


class Busy(NodeError):
    """A concurrent request is storing the same thing; the sender retries (and then gets a replay)."""

    status = 503
    kind = "retry"
