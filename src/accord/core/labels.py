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

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import NamedTuple

from accord.core.groups import ORGANISATION_POLICIES, group_members, is_group
from accord.core.parties import is_alpha3, is_text, is_topic
from accord.core.schemes import Level, resolve_level
from accord.errors import LabelError


def _aware(value: object) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None


#: Longest chain of successors accepted (a label is refused beyond it, never truncated).
MAX_SUCCESSION = 8

#: Tag names Accord interprets itself (case-folded); a PolicyCategory may not reuse them.
_INTERPRETED = frozenset({"topic", "releasable to", "only", "dissemination control"})

#: The category types of STANAG 4774 (ADatP-4774 Table 7).
CATEGORY_TYPES = ("RESTRICTIVE", "PERMISSIVE", "INFORMATIVE")


class PolicyCategory(NamedTuple):
    """A category of an organisation's policy that Accord reads and keeps but does not interpret
    (NATO's ``Context``, ``Additional Sensitivity``). Allowed only in labels under an organisation
    policy, about which every decision is a denial (see :attr:`Label.level`)."""

    tag: str
    type: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Succession:
    """STANAG 4774 ``SuccessionHandling``: ``label`` governs the item from the succession time on.

    ``start`` and ``end`` bound the succession instant: equal for a time with a zone; 28 hours apart
    for a ``SuccessionDateTime`` written without a zone (XML Schema: an untimezoned value lies
    anywhere from -14:00 to +14:00), during which both labels govern (fail closed).
    """

    start: datetime
    end: datetime
    label: Label

    def __post_init__(self) -> None:
        if not (_aware(self.start) and _aware(self.end)) or self.end < self.start:
            raise LabelError("succession time must be timezone-aware (start <= end)", field="SuccessionDateTime")
        if not isinstance(self.label, Label):
            raise LabelError("successor must be a label", field="SuccessorConfidentialityLabel")


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
        only: STANAG 4774 ``Only`` values beyond the originator alone (NATO's use: the item may
            reach only these nations or groups; combined with ``releasable_to`` as permissive tags are).
        categories: an organisation policy's categories kept as read (see :class:`PolicyCategory`).
        successor: the label's ``SuccessionHandling``, applied by :meth:`effective_at`.

    ``originator`` may also be an organisation policy (``NATO``); ``releasable_to`` and ``only``
    may name groups (``NATO``, ``EU``: :mod:`accord.core.groups`). :meth:`effective_at` turns both
    into plain nations for a decision day.
    """

    originator: str
    classification: str
    topics: frozenset[str]
    releasable_to: frozenset[str]
    created: datetime
    caveats: frozenset[Caveat] = frozenset()
    review: datetime | None = None
    id: str | None = None
    only: frozenset[str] = frozenset()
    categories: tuple[PolicyCategory, ...] = ()
    successor: Succession | None = None
    _level: Level | None = field(init=False, repr=False, compare=False, hash=False, default=None)
    _plain: bool = field(init=False, repr=False, compare=False, hash=False, default=True)

    def __post_init__(self) -> None:
        national = is_alpha3(self.originator)
        if not national and str(self.originator) not in ORGANISATION_POLICIES:  # str(): a non-string is refused too
            raise LabelError(
                f"originator {self.originator!r} is not an ISO 3166 alpha-3 code (nor an organisation "
                f"policy: {', '.join(sorted(ORGANISATION_POLICIES))})",
                field="originator",
            )
        if not is_text(self.classification):
            raise LabelError("classification is missing", field="classification")
        for name in ("topics", "releasable_to", "caveats", "only"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, (set, frozenset, list, tuple)):
                raise LabelError(f"must be a set, got {type(value).__name__}", field=name)
            object.__setattr__(self, name, frozenset(value))
        for topic in self.topics:
            if not is_topic(topic):
                raise LabelError(f"topic {topic!r} is not an upper-case token (A-Z 0-9 . _ / -)", field="topics")
        for name in ("releasable_to", "only"):
            for code in getattr(self, name):
                if not is_alpha3(code) and not is_group(code):
                    raise LabelError(f"{code!r} is not an ISO 3166 alpha-3 code nor a group Accord knows", field=name)
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
        self._check_categories(national)
        self._check_successor()
        controls = any(c.type != "INFORMATIVE" for c in self.categories)
        # A label carrying access-control categories Accord does not interpret has no level Accord
        # can decide on: every decision about it is a denial (fail closed).
        object.__setattr__(self, "_level", None if controls else resolve_level(self.originator, self.classification))
        object.__setattr__(
            self, "_plain", self.successor is None and not self.only and all(is_alpha3(c) for c in self.releasable_to)
        )

    def _check_categories(self, national: bool) -> None:
        if not isinstance(self.categories, tuple):
            raise LabelError("must be a tuple of categories", field="categories")
        if self.categories and national:
            raise LabelError("a national policy's label has no uninterpreted categories", field="categories")
        tags: set[str] = set()
        for cat in self.categories:
            if cat.type not in CATEGORY_TYPES or not is_text(cat.tag) or not all(is_text(v) for v in cat.values):
                raise LabelError(f"malformed category {cat!r}", field="categories")
            tag = " ".join(cat.tag.split()).casefold()
            if tag in _INTERPRETED or tag in tags:
                raise LabelError(f"category {cat.tag!r} is interpreted by Accord or repeated", field="categories")
            tags.add(tag)
        if self.only and Caveat.ORIGINATOR_ONLY in self.caveats:
            raise LabelError("both 'originator only' and an Only list: refusing rather than choosing", field="only")

    def _check_successor(self) -> None:
        depth, prev, cur = 0, None, self.successor
        while cur is not None:
            depth += 1
            if not isinstance(cur, Succession):
                raise LabelError("successor must be a Succession", field="SuccessionHandling")
            if depth > MAX_SUCCESSION:
                raise LabelError(
                    f"more than {MAX_SUCCESSION} successive labels: succession cannot be applied",
                    field="SuccessionHandling",
                )
            if cur.label.originator != self.originator:
                raise LabelError(
                    f"the successor is under policy {cur.label.originator}, not {self.originator}: a "
                    "label cannot change its policy by succession",
                    field="SuccessionHandling",
                )
            if cur.label.id != self.id:
                raise LabelError("the successor labels another item", field="SuccessionHandling")
            if prev is not None and cur.start < prev.end:
                raise LabelError(
                    f"successors out of order ({cur.start.isoformat()} before {prev.end.isoformat()}): "
                    "succession cannot be applied",
                    field="SuccessionHandling",
                )
            prev, cur = cur, cur.label.successor

    # -- the label in force on a day --------------------------------------------------------------

    def effective_at(self, day: date) -> Label:
        """The label that governs the item on ``day`` (UTC), as plain nations.

        - ``SuccessionHandling`` (ADatP-4774 §4.3): a successor governs from its succession time, a
          chain in order. On a day the succession falls *within* (not at midnight UTC), both the
          label and its successor govern: the result is their dominant label (ADatP-4774.1 §4.4:
          the higher level, the union of topics and caveats, the intersection of releasability).
          Both also govern from a ``ReviewDateTime`` earlier than the succession time (one reading
          of §4.3 lets the successor apply once the review date has passed): fail closed either way.
        - Groups in ``releasable_to`` and ``only`` become their member nations on both the label's
          creation day and ``day`` (:mod:`accord.core.groups`); ``only`` is folded into
          ``releasable_to`` (both are permissive: a recipient must match each).

        Pure and cheap for a plain label (returned as is).
        """
        if self._plain:
            return self
        return self._in_force(day)._nations(day)

    def _in_force(self, day: date) -> Label:
        start = datetime.combine(day, time(0), UTC)
        end = start + timedelta(days=1) if day < date.max else datetime.max.replace(tzinfo=UTC)
        cur: Label = self
        while cur.successor is not None:
            nxt = cur.successor
            if nxt.end <= start:  # the successor already governs at the start of the day
                cur = nxt.label
                continue
            # Both govern from the earlier of the succession time and a review date before it: read with
            # ADatP-4774 §4.3 either way (successor from SuccessionDateTime, or once ReviewDateTime passed).
            begin = nxt.start if cur.review is None else min(nxt.start, cur.review)
            if begin < end:  # the succession may fall within (or before the end of) the day: both govern
                return _dominant(cur._nations(day), nxt.label._in_force(day)._nations(day))
            break
        return dataclasses.replace(cur, successor=None) if cur.successor is not None else cur

    def _nations(self, day: date) -> Label:
        if self.successor is None and not self.only and all(is_alpha3(c) for c in self.releasable_to):
            return self
        try:
            created = self.created.astimezone(UTC).date()
        except OverflowError:  # a creation time at the edge of the calendar
            created = self.created.date()
        days = (created, day)

        def nations(values: frozenset[str]) -> frozenset[str]:
            out: set[str] = set()
            for v in values:
                out |= {v} if is_alpha3(v) else group_members(v, *days)
            return frozenset(out)

        rel = nations(self.releasable_to)
        if self.only:
            only = nations(self.only)
            rel = rel & only if self.releasable_to else only
        return dataclasses.replace(self, releasable_to=rel, only=frozenset(), successor=None)

    @property
    def uninterpreted(self) -> bool:
        """True when the label carries access-control categories Accord keeps but does not interpret
        (an organisation policy's): no decision may rest on its level (fail closed)."""
        return any(c.type != "INFORMATIVE" for c in self.categories)

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
        parts.extend(" ".join(c.values) for c in self.categories if c.type == "RESTRICTIVE")
        if Caveat.ORIGINATOR_ONLY in self.caveats:
            parts.append(f"{self.originator} ONLY")
        else:
            if self.releasable_to:
                parts.append("REL TO " + ", ".join(sorted(self.releasable_to)))
            if self.only:
                parts.append(", ".join(sorted(self.only)) + " ONLY")
        if Caveat.ORIGINATOR_CONTROL in self.caveats:
            parts.append("ORCON")
        return " // ".join(parts)


def _dominant(a: Label, b: Label) -> Label:
    """The dominant label of two labels of one item under one policy (ADatP-4774.1 §4.4): the higher
    level, restrictive categories united, permissive ones intersected. When the two levels cannot be
    compared (unknown to the bundled schemes), the result names no level, so the decision denies it."""
    if a.level is not None and b.level is not None:
        classification = a.classification if a.level.rank >= b.level.rank else b.classification
    elif a.level is None and b.level is None and a.classification == b.classification:
        classification = a.classification
    else:  # levels that cannot be compared here: a classification no scheme names (UNKNOWN_LEVEL)
        classification = f"{a.classification} | {b.classification}"
    cats = tuple(dict.fromkeys((*a.categories, *b.categories)))
    return dataclasses.replace(
        a,
        classification=classification,
        topics=a.topics | b.topics,
        releasable_to=a.releasable_to & b.releasable_to,
        caveats=a.caveats | b.caveats,
        categories=cats,
        only=frozenset(),
        successor=None,
    )
