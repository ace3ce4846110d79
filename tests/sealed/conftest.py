"""Fixtures for the sealed-item tests: three parties and a pinned roster."""

from __future__ import annotations

import pytest

from accord.sealed.keys import PartyKeys, Roster


@pytest.fixture(scope="session")
def parties() -> dict[str, PartyKeys]:
    return {p: PartyKeys.generate(p) for p in ("KOR", "JPN", "USA")}


@pytest.fixture
def roster(parties: dict[str, PartyKeys]) -> Roster:
    r = Roster()
    for k in parties.values():
        r.pin(Roster.first_entry(k))
    return r
