"""Shared fixtures. ``postgres_url`` / ``postgres_db_url``: see tests/support/postgres.py."""

from support.postgres import postgres_db_url, postgres_url

__all__ = ["postgres_db_url", "postgres_url"]
