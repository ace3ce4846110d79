"""The node's errors: Accord's one hierarchy (:mod:`accord.errors`), named as the node uses them.

Each maps to one HTTP status and an RFC 9457 problem type (``status``, ``kind``, ``extensions()``).
``Refused`` is :class:`accord.errors.ReleaseRefused` (the agreements refuse a release).
"""

from __future__ import annotations

from accord.errors import AccordError, Busy, Conflict, NotFound, PeerRefused, ReleaseRefused

NodeError = AccordError
Refused = ReleaseRefused

__all__ = ["Busy", "Conflict", "NodeError", "NotFound", "PeerRefused", "Refused"]
