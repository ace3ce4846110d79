"""PostgreSQL for the node tests: the shared fixture from tests/support/postgres.py (issue 5's engineer)."""

from __future__ import annotations

import pytest


@pytest.fixture
def node_pg_url(request: pytest.FixtureRequest) -> str:
    """A fresh PostgreSQL database (``postgres_db_url``), as a SQLAlchemy URL."""
    try:
        url: str = request.getfixturevalue("postgres_db_url")
    except pytest.FixtureLookupError:
        pytest.skip("the postgres_db_url fixture (tests/support/postgres.py) is not available")
    return url
