"""The node's errors: Accord's one hierarchy (:mod:`accord.errors`), named as the node uses them.

Each maps to one HTTP status and an RFC 9457 problem type (``status``, ``kind``, ``extensions()``).
``Refused`` is :class:`accord.errors.ReleaseRefused` (the agreements refuse a release).
"""

from __future__ import annotations

from accord.errors import AccordError, Busy, Conflict, NotFound, PeerRefused, ReleaseRefused

NodeError = AccordError
Refused = ReleaseRefused

__all__ = ["Busy", "Conflict", "ForgedOrigin", "IdRefused", "NodeError", "NotFound", "PeerRefused", "Refused"]


class ForgedOrigin(PeerRefused):
    """An item's statement is signed by a party other than its label's originator, with no consent of the
    originator for that holder's release (issue 9): refused, never stored or forwarded."""

    kind = "forged-origin"


class IdRefused(PeerRefused):
    """A partner's id lies in another party's namespace or collides with an id this node already holds
    under another originator (issue 9: ids are namespaced by the party that created them)."""

    kind = "id-refused"
