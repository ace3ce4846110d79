"""Security labels (STANAG 4774 originator confidentiality labels, as values).

A :class:`Label` is what the originator attached to an item: the originating nation (the
STANAG 4774 PolicyIdentifier), its national classification, the topics (a RESTRICTIVE category:
need-to-know requires all of them), the nations it may be released to (a PERMISSIVE category,
"Releasable To"), dissemination caveats, and creation and review times.

Construction validates the *form* of every field (codes, non-empty markings, aware datetimes).
Whether the originator and its marking are *known* is a policy question answered by
:func:`accord.core.decision.decide`, which denies what it cannot resolve (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from accord.core.parties import is_alpha3, is_text, is_topic
from accord.core.schemes import Level, resolve_level
from accord.errors import LabelError


def _aware(value: object) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None


class Caveat(StrEnum):
    """Dissemination caveats beyond releasability."""

    #: "Originator's nation only" (as NOFORN is for the US): never released to another nation.
    ORIGINATOR_ONLY = "ORIGINATOR-ONLY"
    #: "Originator control" (ORCON): onward release needs the originator's consent for this very
    #: item; a consent for a class of items by topic does not suffice.
    ORIGINATOR_CONTROL = "ORCON"


@dataclass(frozen=True, slots=True)
class Label:
    """The originator's security label of one item.

    Attributes:
        originator: alpha-3 code of the originating nation (STANAG 4774 PolicyIdentifier).
        classification: the national marking as written by the originator (or a documented alias).
        topics: subject topics, e.g. ``DPRK-MISSILE``; a person needs all of them (need-to-know).
        releasable_to: alpha-3 codes of the nations the originator allows the item to reach.
        caveats: dissemination caveats.
        created: when the label was created (timezone-aware).
        review: when the label is due for review (timezone-aware), if set.
        id: identifier of the labelled item, if known (consents may name an item).
    """

    originator: str
    classification: str
    topics: frozenset[str]
    releasable_to: frozenset[str]
    created: datetime
    caveats: frozenset[Caveat] = frozenset()
    review: datetime | None = None
    id: str | None = None
    _level: Level | None = field(init=False, repr=False, compare=False, hash=False, default=None)

    def __post_init__(self) -> None:
        if not is_alpha3(self.originator):
            raise LabelError(f"originator {self.originator!r} is not an ISO 3166 alpha-3 code",
                             field="originator")
        if not is_text(self.classification):
            raise LabelError("classification is missing", field="classification")
        for name in ("topics", "releasable_to", "caveats"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, (set, frozenset, list, tuple)):
                raise LabelError(f"must be a set, got {type(value).__name__}", field=name)
            object.__setattr__(self, name, frozenset(value))
        for topic in self.topics:
            if not is_topic(topic):
                raise LabelError(f"topic {topic!r} is not an upper-case token (A-Z 0-9 . _ / -)",
                                 field="topics")
        for code in self.releasable_to:
            if not is_alpha3(code):
                raise LabelError(f"{code!r} is not an ISO 3166 alpha-3 code", field="releasable_to")
        try:
            object.__setattr__(self, "caveats", frozenset(Caveat(c) for c in self.caveats))
        except ValueError as exc:
            allowed = ", ".join(c.value for c in Caveat)
            raise LabelError(f"unknown caveat ({exc}); known: {allowed}", field="caveats") from None
        for name in ("created", "review"):
            value = getattr(self, name)
            if value is None and name == "review":
                continue
            if not _aware(value):
                raise LabelError("must be a timezone-aware date and time", field=name)
        if self.id is not None:  # one id grammar everywhere (core/ids.py, issue 9)
            from accord.core.ids import id_problem, is_id

            if not is_id(self.id):
                raise LabelError(id_problem(self.id), field="id")
        if self.id is not None and not is_text(self.id):
            raise LabelError("item id must be a non-empty string", field="id")
        object.__setattr__(self, "_level", resolve_level(self.originator, self.classification))

    @property
    def level(self) -> Level | None:
        """The originator-scheme level named by the classification, or None when unknown."""
        return self._level

    @property
    def marking(self) -> str:
        """The canonical national marking (the classification as given when the level is unknown)."""
        return self._level.marking if self._level is not None else self.classification

    @property
    def banner(self) -> str:
        """A one-line banner: ``KOR 군사Ⅱ급비밀 // DPRK-MISSILE // REL TO JPN, USA``."""
        parts = [f"{self.originator} {self.marking}"]
        if self.topics:
            parts.append(" ".join(sorted(self.topics)))
        if Caveat.ORIGINATOR_ONLY in self.caveats:
            parts.append(f"{self.originator} ONLY")
        elif self.releasable_to:
            parts.append("REL TO " + ", ".join(sorted(self.releasable_to)))
        if Caveat.ORIGINATOR_CONTROL in self.caveats:
            parts.append("ORCON")
        return " // ".join(parts)
