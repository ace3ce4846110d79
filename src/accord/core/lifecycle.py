"""An agreement's lifecycle and its state on a day.

Entry into force, term and automatic renewal, and dated events (notice of termination, its suspension
or withdrawal, suspension of the agreement, termination, amendment). Nothing here reads a clock: the
day is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from accord.core.terms import Terms


class EventType(StrEnum):
    """Dated lifecycle events."""

    SIGNING_ABORTED = "signing-aborted"
    NOTICE_OF_TERMINATION = "notice-of-termination"
    NOTICE_SUSPENDED = "notice-suspended"
    NOTICE_WITHDRAWN = "notice-withdrawn"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    TERMINATED = "terminated"
    AMENDED = "amended"
    RENEWED = "renewed"


class Status(StrEnum):
    """The state of an agreement on a day."""

    NOT_IN_FORCE = "not-in-force"
    IN_FORCE = "in-force"
    NOTICE_PENDING = "notice-pending"
    NOTICE_SUSPENDED = "notice-suspended"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


#: States in which new releases may be made under the agreement.
EXCHANGE_STATES = frozenset({Status.IN_FORCE, Status.NOTICE_PENDING, Status.NOTICE_SUSPENDED})


@dataclass(frozen=True, slots=True)
class Event:
    """A dated lifecycle event.

    Attributes:
        on: the date the event took effect.
        type: what happened.
        note: what the documents say (a diplomatic note, a press release...).
        by: the party that acted, if one did.
        effective: for a notice of termination, the date termination takes effect, when the
            document states it; otherwise it is computed from the term and notice period.
        terms: for an amendment, the new terms from that date.
        sourced: True when the event is documented in a primary or secondary source.
    """

    on: date
    type: EventType
    note: str = ""
    by: str | None = None
    effective: date | None = None
    terms: Terms | None = None
    sourced: bool = True


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Signature, entry into force, term and the dated events.

    Attributes:
        signed: date of signature, or None for a draft never signed.
        in_force: date of entry into force, or None.
        term_years: length of a term, or None for an indefinite agreement.
        auto_renewal: whether each term renews automatically unless notice is given.
        notice_days: the notice period for termination, in days.
        events: dated events, in date order.
    """

    signed: date | None
    in_force: date | None
    term_years: int | None
    auto_renewal: bool
    notice_days: int | None
    events: tuple[Event, ...] = ()

    def anniversary(self, years: int) -> date:
        """The ``years``-th anniversary of entry into force (28 February for 29 February)."""
        assert self.in_force is not None
        start = self.in_force
        try:
            return start.replace(year=start.year + years)
        except ValueError:
            return start.replace(year=start.year + years, day=28)

    def expiry_after_notice(self, notice: date) -> date:
        """When a notice of termination given on ``notice`` takes effect.

        With a renewing term, at the end of the first term that still leaves the full notice
        period (Japan-ROK GSOMIA Art. 21.3: 90 days before the anniversary); without a term,
        when the notice period has run.
        """
        days = timedelta(days=self.notice_days or 0)
        if self.term_years and self.in_force is not None:
            k = self.term_years
            while self.anniversary(k) - notice < days:
                k += self.term_years
            return self.anniversary(k)
        return notice + days

    def term_end(self, on: date) -> date | None:
        """The end of the term running on ``on`` (None for an indefinite agreement)."""
        if not self.term_years or self.in_force is None:
            return None
        k = self.term_years
        while self.anniversary(k) <= on:
            k += self.term_years
        return self.anniversary(k)


@dataclass(frozen=True, slots=True)
class State:
    """The state of an agreement on a given day, with a sentence a security officer can sign."""

    status: Status
    message: str
    since: date | None = None
    until: date | None = None

    @property
    def exchange_allowed(self) -> bool:
        """Whether new releases may be made under the agreement on that day."""
        return self.status in EXCHANGE_STATES


def change_days(life: Lifecycle) -> tuple[date, ...]:
    """Every day the state may change (entry into force, events, expiries), sorted."""
    days: set[date] = set()
    if life.in_force is not None:
        days.add(life.in_force)
    for ev in life.events:
        days.add(ev.on)
        if ev.type is EventType.NOTICE_OF_TERMINATION:
            if ev.effective is not None:
                days.add(ev.effective)
            elif life.in_force is not None:
                days.add(life.expiry_after_notice(ev.on))
    if life.term_years and not life.auto_renewal and life.in_force is not None:
        for k in range(1, 2 + sum(1 for e in life.events if e.type is EventType.RENEWED)):
            days.add(life.anniversary(life.term_years * k))
    return tuple(sorted(days))


def _not_in_force_or_expired(life: Lifecycle, on: date) -> State | None:
    """The state before entry into force, or after a fixed term (not renewed in time) ended; else None."""
    if life.in_force is None:
        if life.signed is None:
            aborted = [e for e in life.events if e.type is EventType.SIGNING_ABORTED and e.on <= on]
            if aborted:
                return State(
                    Status.NOT_IN_FORCE, f"never signed: signing aborted on {aborted[-1].on}", since=aborted[-1].on
                )
            return State(Status.NOT_IN_FORCE, "never signed")
        return State(Status.NOT_IN_FORCE, f"signed {life.signed}, never entered into force")
    if on < life.in_force:
        if life.signed is not None and life.signed <= on:
            message = f"signed {life.signed}, not in force until {life.in_force}"
        else:
            message = f"not yet in force (enters into force on {life.in_force})"
        aborted = [e for e in life.events if e.type is EventType.SIGNING_ABORTED and e.on <= on]
        if aborted:
            message = f"signing was aborted on {aborted[-1].on}; {message}"
        return State(Status.NOT_IN_FORCE, message)
    if life.term_years and not life.auto_renewal:
        # A fixed term ends unless a renewal, signed before it ends, extends it by one more term.
        terms = 1
        end = life.anniversary(life.term_years)
        for ev in life.events:
            if ev.type is EventType.RENEWED and ev.on < end:
                terms += 1
                end = life.anniversary(life.term_years * terms)
        if on >= end:
            return State(Status.TERMINATED, f"expired on {end} at the end of its term", since=end)
    return None


def state_at(life: Lifecycle, on: date) -> State:
    """The state on ``on``: entry into force, term and renewal, and the dated events up to that day."""
    early = _not_in_force_or_expired(life, on)
    if early is not None:
        return early
    notice: Event | None = None
    expiry: date | None = None
    notice_suspension: Event | None = None
    suspension: Event | None = None
    for ev in life.events:
        if ev.on > on:
            break
        if expiry is not None and notice_suspension is None and ev.on >= expiry:
            break  # the pending notice took effect before this event
        if ev.type is EventType.TERMINATED:
            return State(
                Status.TERMINATED, f"terminated on {ev.on}" + (f" ({ev.note})" if ev.note else ""), since=ev.on
            )
        if ev.type is EventType.NOTICE_OF_TERMINATION:
            notice, notice_suspension = ev, None
            expiry = ev.effective or life.expiry_after_notice(ev.on)
        elif ev.type is EventType.NOTICE_SUSPENDED and notice is not None:
            notice_suspension = ev
        elif ev.type is EventType.NOTICE_WITHDRAWN:
            notice, expiry, notice_suspension = None, None, None
        elif ev.type is EventType.SUSPENDED:
            suspension = ev
        elif ev.type is EventType.RESUMED:
            suspension = None
    if notice is not None and expiry is not None and notice_suspension is None and on >= expiry:
        by = f" by {notice.by}" if notice.by else ""
        return State(
            Status.TERMINATED,
            f"terminated on {expiry} under the notice of termination given{by} on {notice.on}",
            since=expiry,
        )
    if suspension is not None:
        return State(Status.SUSPENDED, f"suspended since {suspension.on}", since=suspension.on)
    if notice is not None and notice_suspension is not None:
        return State(
            Status.NOTICE_SUSPENDED,
            f"in force; the notice of termination of {notice.on} was suspended on {notice_suspension.on}",
            since=notice_suspension.on,
        )
    if notice is not None:
        return State(
            Status.NOTICE_PENDING,
            f"in force until {expiry} (notice of termination given on {notice.on})",
            since=notice.on,
            until=expiry,
        )
    term_end = life.term_end(on)
    renew = ""
    if term_end is not None:
        renew = f"; current term ends {term_end}" + (", renewing automatically" if life.auto_renewal else "")
    return State(Status.IN_FORCE, f"in force since {life.in_force}{renew}", since=life.in_force, until=term_end)
