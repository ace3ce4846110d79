"""PostgreSQL for the node tests: the shared fixture from tests/support/postgres.py (issue 5's engineer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.node import db as st


@pytest.fixture
def node_pg_url(request: pytest.FixtureRequest) -> str:
    """A fresh PostgreSQL database (``postgres_db_url``), as a SQLAlchemy URL."""
    try:
        url: str = request.getfixturevalue("postgres_db_url")
    except pytest.FixtureLookupError:
        pytest.skip("the postgres_db_url fixture (tests/support/postgres.py) is not available")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[st.Store]:
    """A fresh node store on SQLite, then on PostgreSQL (tests that must give the same rows on both)."""
    url = f"sqlite:///{tmp_path / 'node.db'}" if request.param == "sqlite" else request.getfixturevalue("node_pg_url")
    s = st.Store(url)
    yield s
    s.dispose()
