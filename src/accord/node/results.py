"""Typed results at the node's service boundary, shared by the service, its HTTP API and the SDK client.

The API answers with :meth:`to_dict` of these (the JSON members are the field names).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Submitted:
    """A release of this nation's item, decided, sealed and queued durably (or already queued) for ``next_hop``."""

    item_id: str
    status: str  # "queued" | "already-queued"
    next_hop: str
    digest: str
    decision: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Forwarded:
    """A held item released onward: ``relayed``, or ``held`` until the originator consents."""

    item_id: str
    status: str  # "relayed" | "held"
    decision: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
