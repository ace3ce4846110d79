"""What an agreement is and covers: its kind, legal status, cited articles and amendable terms (scope, equivalence)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from accord.core.schemes import Level


class Kind(StrEnum):
    """Bilateral agreement, or multilateral arrangement (optionally relaying through a hub)."""

    BILATERAL = "bilateral"
    MULTILATERAL = "multilateral"


class LegalStatus(StrEnum):
    """Whether the agreement binds its parties in law."""

    LEGALLY_BINDING = "legally-binding"
    NOT_LEGALLY_BINDING = "not-legally-binding"


#: Concerns an agreement cites articles for (``citations`` in the document).
CONCERNS = (
    "parties",
    "scope",
    "equivalence",
    "third_party",
    "relay",
    "protection",
    "lifecycle",
    "survival",
    "marking",
    "in_force",
    "release",
    "definition",
    "return",
    "compromise",
    "reclassification",
    "reproduction",
    "translation",
    "purpose",
)


@dataclass(frozen=True, slots=True)
class Citation:
    """Where in the agreement a rule comes from."""

    article: str
    rule: str | None = None


NO_CITATION = Citation(article="(no article cited)")


@dataclass(frozen=True, slots=True)
class EquivalenceRow:
    """One row of an equivalence table: the levels of each party treated as equivalent.

    Attributes:
        name: the English equivalent the treaty gives (``SECRET``).
        levels: party -> level key in that party's scheme.
    """

    name: str
    levels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Terms:
    """The amendable terms of an agreement: what it covers."""

    #: Topics in scope, or None when the agreement covers all classified military information.
    topics: frozenset[str] | None
    equivalence: tuple[EquivalenceRow, ...]
    _rows: dict[tuple[str, str], EquivalenceRow] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        rows: dict[tuple[str, str], EquivalenceRow] = {}
        for row in self.equivalence:
            for party, key in row.levels.items():
                rows[(party, key)] = row
        object.__setattr__(self, "_rows", rows)

    def row_for(self, level: Level) -> EquivalenceRow | None:
        """The equivalence row holding ``level``, or None when the table does not cover it."""
        return self._rows.get((level.party, level.key))

    def covers_topics(self, topics: frozenset[str]) -> bool:
        """True when every topic is within scope (an item with no topic is never within a topic scope)."""
        if self.topics is None:
            return True
        return bool(topics) and topics <= self.topics
