"""The shared PostgreSQL fixture starts a real server."""

from __future__ import annotations

from sqlalchemy import create_engine, text


def test_postgres_fixture_serves_a_real_server(postgres_db_url: str) -> None:
    engine = create_engine(postgres_db_url)
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
    engine.dispose()
    assert str(version).startswith("15")
