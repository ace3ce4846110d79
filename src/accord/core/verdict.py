"""The decision's types: :class:`Decision`, its :class:`Hop` and :class:`ConsentNeed`, and :class:`ReleaseDenied`.

Re-exported by :mod:`accord.core.decision`, the public module.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from types import MappingProxyType
from typing import Any, NamedTuple

from accord.core.labels import Label
from accord.core.reasons import Reason
from accord.errors import ReleaseRefused

#: Hop modes (``Decision.hops``).
DIRECT = "direct"
RELAY_REWRAP = "relay-rewrap"
RELAY_BLIND = "relay-blind"
Mode = str

#: At most this many hubs in a row on a route (a route with more is not searched).
MAX_HUBS = 4


class Hop(NamedTuple):
    """One hop of a route: ``frm`` hands the item to ``to`` under ``agreement``.

    ``marking`` is ``to``'s national marking of the item, None for a hub that forwards it unopened.
    ``mode``: ``direct`` (holder straight to recipient), ``relay-rewrap`` (through a hub within the
    releasability, which reads, marks and re-wraps it) or ``relay-blind`` (through a hub outside it, which
    forwards the sealed item unopened). A hop into a hub has that hub's mode, a hop out of the last hub
    the last hub's mode.
    """

    frm: str
    to: str
    agreement: str
    marking: str | None
    mode: Mode

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "from": self.frm,
            "to": self.to,
            "agreement": self.agreement,
            "marking": self.marking,
            "mode": self.mode,
        }


class ConsentNeed(NamedTuple):
    """A hop that needs the originator's consent: ``holder`` releasing to ``recipient``."""

    originator: str
    holder: str
    recipient: str
    item_only: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "originator": self.originator,
            "holder": self.holder,
            "recipient": self.recipient,
            "item_only": self.item_only,
        }


_NO_MARKINGS: Mapping[str, str] = MappingProxyType({})


class Decision(NamedTuple):
    """The outcome of :func:`decide`, with its reasons (immutable; markings is a read-only mapping).

    Attributes:
        allowed: whether the release may be made.
        label: the label decided on.
        holder, recipient: the releasing and receiving parties.
        at: the day of the decision.
        route: the parties from holder to recipient; for a denial, the route that only lacks
            consents (see :attr:`consents_required`), else empty.
        agreements: ids of the agreements the route rests on.
        markings: party -> equivalent national marking, for every party on the route that reads the item
            (a hub relaying blind has none).
        consents_required: hops that need the originator's consent (met or not).
        consents_used: references of the consents relied on ("originator-request" for a relay
            approved by the originator's own request, T-R5).
        reasons: the grounds, denials first.
        hops: the route hop by hop, with agreement, marking and mode (:class:`Hop`).
    """

    allowed: bool
    label: Label
    holder: str
    recipient: str
    at: date
    route: tuple[str, ...] = ()
    agreements: tuple[str, ...] = ()
    markings: Mapping[str, str] = _NO_MARKINGS
    consents_required: tuple[ConsentNeed, ...] = ()
    consents_used: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()
    hops: tuple[Hop, ...] = ()

    @property
    def marking(self) -> str | None:
        """The recipient's national marking of the item (None when denied before a route was found)."""
        return self.markings.get(self.recipient)

    @property
    def awaiting_consent(self) -> bool:
        """True when some route lacks only the originator's consent (or its own decision, for a route
        through it): :attr:`route` and :attr:`consents_required` name it; other routes may have failed."""
        return not self.allowed and bool(self.route)

    @property
    def denials(self) -> tuple[Reason, ...]:
        """The reasons that refuse."""
        return tuple(r for r in self.reasons if r.denies)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``accord decide --json``)."""
        return {
            "allowed": self.allowed,
            "holder": self.holder,
            "recipient": self.recipient,
            "originator": self.label.originator,
            "at": self.at.isoformat(),
            "route": list(self.route),
            "marking": self.marking,
            "markings": dict(self.markings),
            "hops": [h.to_dict() for h in self.hops],
            "agreements": list(self.agreements),
            "consents_required": [c.to_dict() for c in self.consents_required],
            "consents_used": list(self.consents_used),
            "awaiting_consent": self.awaiting_consent,
            "reasons": [r.to_dict() for r in self.reasons],
        }


class ReleaseDenied(ReleaseRefused):
    """Raised by :func:`enforce` when a decision refuses; carries the decision.

    The same error as a sealed item's refused recipient (:class:`accord.errors.ReleaseRefused`), so that
    one ``except ReleaseRefused`` catches both; only the message names the holder too.
    """

    decision: Decision

    def __init__(self, decision: Decision) -> None:
        first = decision.denials[0].message if decision.denials else "denied"
        super().__init__(
            decision.recipient, decision, f"release {decision.holder}→{decision.recipient} refused: {first}"
        )


# ---------------------------------------------------------------------------------------------
# Hop evaluation (cached: agreements, levels and days are immutable values)
