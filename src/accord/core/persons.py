"""Persons who may be given access to classified information held by their nation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from accord.core.parties import is_alpha3, is_text, is_topic
from accord.errors import InputError


@dataclass(frozen=True, slots=True)
class Person:
    """A person with a personnel security clearance (PSC) and need-to-know.

    Attributes:
        id: identifier of the person.
        nationality: alpha-3 code of the nation that cleared the person.
        clearance: the PSC level, as a marking of the nationality's scheme.
        need_to_know: topics the person's official duties require.
        clearance_until: last day the clearance is valid, if it expires.
        rank: rank or appointment (recorded, never sufficient: JK-R14).
    """

    id: str
    nationality: str
    clearance: str | None
    need_to_know: frozenset[str]
    clearance_until: date | None = None
    rank: str | None = None

    def __post_init__(self) -> None:
        if not is_text(self.id):
            raise InputError("person id is missing", field="id")
        if not is_alpha3(self.nationality):
            raise InputError(f"{self.nationality!r} is not an ISO 3166 alpha-3 code", field="nationality")
        object.__setattr__(self, "need_to_know", frozenset(self.need_to_know))
        for topic in self.need_to_know:
            if not is_topic(topic):
                raise InputError(f"topic {topic!r} is not an upper-case token", field="need_to_know")
