"""Shared fixtures: the bundled agreements, a label factory, and PostgreSQL.

``postgres_url`` / ``postgres_db_url``: a real PostgreSQL 15 for tests, see tests/support/postgres.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from accord.core.agreements import AgreementSet
from accord.core.labels import Label
from accord.formats.agreement_yaml import load_agreements
from tests.support.postgres import postgres_db_url, postgres_url

__all__ = ["postgres_db_url", "postgres_url"]

LabelFactory = Callable[..., Label]


@pytest.fixture(scope="session")
def aset() -> AgreementSet:
    return load_agreements()


def make_label(
    originator: str = "KOR",
    classification: str = "군사Ⅱ급비밀",
    topics: tuple[str, ...] = ("DPRK-MISSILE",),
    rel: tuple[str, ...] = ("JPN", "USA"),
    caveats: tuple[str, ...] = (),
    item: str | None = "item-1",
) -> Label:
    return Label(
        originator=originator,
        classification=classification,
        topics=frozenset(topics),
        releasable_to=frozenset(rel),
        caveats=frozenset(caveats),  # type: ignore[arg-type]
        created=datetime(2014, 1, 1, tzinfo=UTC),
        id=item,
    )


@pytest.fixture
def label() -> LabelFactory:
    return make_label
