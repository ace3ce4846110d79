"""What a release asks the sealed format to do: the plan, made elsewhere, that sealing obeys.

The sealed format makes no decision. :mod:`accord.release` decides (once per hop, with
:func:`accord.core.decision.decide`) and hands over a :class:`ReleasePlan` (seal) or a
:class:`RewrapPlan` (a hub's re-wrap). A plan is bound to what it was decided for: the SHA-384 of the
label XML (a release plan) or the digest of the item's signed statement (a re-wrap plan). The container
refuses a plan that does not match the label it is about to sign or the item it is about to amend, so a
plan cannot be replayed onto other data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from accord.errors import InputError
from accord.sealed.model import Relay
from accord.sealed.suites import DEFAULT_SUITE, get_suite, suite_satisfies

MODES = ("direct", "relay-rewrap", "relay-blind")


def label_digest(label_xml: bytes) -> str:
    """The SHA-384 (hex) a plan carries for the label XML it was decided for."""
    return hashlib.sha384(b"accord-release-plan/v1 label\x00" + label_xml).hexdigest()


@dataclass(frozen=True)
class Hop:
    """A party the data key is wrapped for (the next hop), and why (the decision for the final recipient).

    ``mode``: ``direct`` (the party is the final recipient, no hub), ``relay-rewrap`` (a hub that will
    re-wrap for the final recipient on the originator's signed request) or ``relay-blind`` (the final
    recipient, reached through hubs that forward without reading).
    """

    party: str
    route: tuple[str, ...] = ()
    agreements: tuple[str, ...] = ()
    mode: str = "direct"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"unknown hop mode {self.mode!r} (one of {', '.join(MODES)})", field="plan.mode")


# Former name of a Hop (the container's first API).
RecipientPlan = Hop


@dataclass(frozen=True)
class ReleasePlan:
    """Everything sealing needs beyond the bytes and the keys: route, hops, recipients, suite.

    ``decisions`` are the :class:`accord.core.decision.Decision` objects the plan was made from (typed
    ``object`` so that the sealed format does not depend on the decision engine); empty for a plan made
    by :meth:`without_decision`.
    """

    label_digest: str
    holder: str
    at: date
    hops: tuple[Hop, ...]
    relays: tuple[Relay, ...] = ()
    suite: str = DEFAULT_SUITE
    min_suite: str | None = None
    decisions: tuple[object, ...] = ()

    @property
    def recipients(self) -> tuple[str, ...]:
        """The parties the data key is wrapped for."""
        return tuple(h.party for h in self.hops)

    @staticmethod
    def without_decision(
        label_xml: bytes,
        *,
        holder: str,
        recipients: Sequence[str | Hop],
        at: date,
        suite: str | None = None,
        relays: Sequence[Relay] = (),
    ) -> ReleasePlan:
        """A plan no decision engine was asked about (format tests, benchmarks, test vectors).

        The name says it: a product path plans with :func:`accord.release.plan_release`.
        """
        hops = tuple(r if isinstance(r, Hop) else Hop(r) for r in recipients)
        return ReleasePlan(label_digest(label_xml), holder, at, hops, tuple(relays), suite or DEFAULT_SUITE)

    def check(self, label_xml: bytes, signer: str) -> None:
        """Refuse to seal ``label_xml`` for ``signer`` under this plan unless it was made for them."""
        if label_digest(label_xml) != self.label_digest:
            raise InputError("the release plan was made for another label", field="plan.label")
        if self.holder != signer:
            raise InputError(f"the holder ({self.holder}) must sign; signer is {signer}", field="holder")
        if not self.hops:
            raise InputError("no recipient: an item must be sealed for at least one nation", field="recipients")
        if len(set(self.recipients)) != len(self.hops):
            raise InputError("duplicate recipient", field="recipients")
        get_suite(self.suite)
        if not suite_satisfies(self.suite, self.min_suite):
            raise InputError(
                f"suite {self.suite} is weaker than the minimum {self.min_suite} set by the agreements", field="suite"
            )


@dataclass(frozen=True)
class RewrapPlan:
    """A hub's re-wrap of one item for ``to``: bound to the item's signed statement (its digest, hex).

    ``basis`` is ``originator-request`` (the originator's signed statement asks for this relay, T-R5) or
    ``decision`` (the hub's own release, allowed by the decision engine); ``decision`` is the Decision.
    """

    statement: str
    hub: str
    to: str
    at: date
    basis: str
    route: tuple[str, ...] = ()
    agreements: tuple[str, ...] = ()
    decision: object = None

    def check(self, statement_digest: str, hub: str) -> None:
        """Refuse to apply this plan to another item or by another hub."""
        if statement_digest != self.statement:
            raise InputError("the re-wrap plan was made for another item", field="plan.statement")
        if hub != self.hub:
            raise InputError(f"the re-wrap plan is {self.hub}'s; this hub is {hub}", field="plan.hub")
