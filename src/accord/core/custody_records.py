"""Custody records: what a holder records about each item it holds (JK-R11, JK-R19), and their states.

Re-exported by :mod:`accord.core.custody`, the public module.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Any, NamedTuple

from accord.core.agreements import Agreement
from accord.core.reasons import Reason
from accord.core.schemes import Level
from accord.errors import InputError


class CustodyError(InputError):
    """A custody record or a change of custody is invalid (a transition not allowed, a foreign notice)."""


class CustodyState(StrEnum):
    """The state of an item at one holder."""

    HELD = "HELD"
    RELEASED = "RELEASED"  # held, and released onward at least once
    RETURNED = "RETURNED"  # given back to the originator (JK-R13): no longer held
    DESTROYED = "DESTROYED"  # destroyed under Art. 13 (JK-R13, JK-R22): no longer held
    COMPROMISED = "COMPROMISED"  # a loss or compromise, even a possible one, is under way (JK-R26)
    FROZEN = "FROZEN"  # the originator froze further release (JK-R26)


#: States in which the holder still holds the item (and may return it to the originator).
HOLDING = frozenset({CustodyState.HELD, CustodyState.RELEASED, CustodyState.COMPROMISED, CustodyState.FROZEN})
#: States in which the holder may release the item onward (the third-party rule permitting).
RELEASING = frozenset({CustodyState.HELD, CustodyState.RELEASED})

_TRANSITIONS: dict[CustodyState, frozenset[CustodyState]] = {
    CustodyState.HELD: frozenset(
        {
            CustodyState.RELEASED,
            CustodyState.RETURNED,
            CustodyState.DESTROYED,
            CustodyState.COMPROMISED,
            CustodyState.FROZEN,
        }
    ),
    CustodyState.RELEASED: frozenset(
        {
            CustodyState.RELEASED,
            CustodyState.RETURNED,
            CustodyState.DESTROYED,
            CustodyState.COMPROMISED,
            CustodyState.FROZEN,
        }
    ),
    # the investigation closes (back to HELD), or the originator freezes the item
    CustodyState.COMPROMISED: frozenset(
        {CustodyState.HELD, CustodyState.FROZEN, CustodyState.RETURNED, CustodyState.DESTROYED}
    ),
    # only the originator lifts a freeze (back to HELD)
    CustodyState.FROZEN: frozenset(
        {CustodyState.HELD, CustodyState.COMPROMISED, CustodyState.RETURNED, CustodyState.DESTROYED}
    ),
    CustodyState.RETURNED: frozenset(),
    CustodyState.DESTROYED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Custody:
    """One holder's record of one item (immutable; a change of state gives a new record).

    Attributes:
        item: the item id (the label's id).
        originator: the nation whose information it is.
        holder: the nation holding it.
        agreement: the id of the agreement it holds the item under (None for the originator's own item).
        received_from: who released it to the holder (the originator, or a holder with consent).
        received_on: the day it was received.
        marking: the original (originator's) marking.
        alternative: the holder's equivalent marking (JK-R4), the STANAG 4774 alternative label.
        state: see :class:`CustodyState`.
        copies: reproductions made (JK-R23).
        derived: ids of items derived from it (copies, translations, extracts).
        sources: for a derived item, the ids of the items it was made from (lineage).
        purpose: the purpose it was provided for (JK-R7), if stated.
    """

    item: str | None
    originator: str
    holder: str
    agreement: str | None
    received_from: str | None = None
    received_on: date | None = None
    marking: str | None = None
    alternative: str | None = None
    state: CustodyState = CustodyState.HELD
    copies: int = 0
    derived: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    purpose: str | None = None

    @property
    def holding(self) -> bool:
        """Whether the holder still holds the item."""
        return self.state in HOLDING

    def next_states(self) -> frozenset[CustodyState]:
        """The states this record may change to (:meth:`to`)."""
        return _TRANSITIONS[self.state]

    def to(self, state: CustodyState) -> Custody:
        """The record after a change of state; raises :class:`CustodyError` for a change not allowed."""
        if state not in _TRANSITIONS[self.state]:
            raise CustodyError(f"an item {self.state.value} cannot become {state.value}", field="state")
        return replace(self, state=state)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``docs/custody.md``)."""
        return {
            "item": self.item,
            "originator": self.originator,
            "holder": self.holder,
            "agreement": self.agreement,
            "received_from": self.received_from,
            "received_on": None if self.received_on is None else self.received_on.isoformat(),
            "marking": self.marking,
            "alternative": self.alternative,
            "state": self.state.value,
            "copies": self.copies,
            "derived": list(self.derived),
            "sources": list(self.sources),
            "purpose": self.purpose,
        }


class Holding(NamedTuple):
    """Whether, and how, a holder holds an item lawfully on a day.

    Attributes:
        ok: it holds it lawfully (and still holds it).
        level: its level in the holder's scheme.
        agreement: the agreement it holds the item under.
        reasons: the ground (``CUSTODY``, ``SURVIVAL``) or the denial (``NOT_HELD``, ``NEVER_RELEASED``,
            ``CUSTODY_ENDED``).
        custody: the record (given, or presumed from the agreements when none was given).
    """

    ok: bool
    level: Level | None
    agreement: Agreement | None
    reasons: tuple[Reason, ...]
    custody: Custody | None
