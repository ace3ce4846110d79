"""SQLAlchemy Core schema and engine set-up of the audit log (SQLite by default, PostgreSQL by URL).

The same code runs on both: only the engine URL differs. SQLite runs in WAL mode with
``synchronous=FULL`` so that a committed transaction is on disk before the log acknowledges it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)

# INTEGER PRIMARY KEY is SQLite's rowid alias (no separate index); BIGINT elsewhere.
_Index = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

leaves = Table(
    "audit_leaves",
    metadata,
    Column("idx", _Index, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("event", LargeBinary, nullable=False),  # canonical JSON, UTF-8: the Merkle leaf
    Column("kind", String(40), nullable=False),
    Column("item", String(256), nullable=True, index=True),
)

checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("size", _Index, primary_key=True, autoincrement=False),
    Column("note", LargeBinary, nullable=False),  # signed C2SP checkpoint
    Column("created_ms", BigInteger, nullable=False),
)

meta = Table(
    "audit_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

witness_state = Table(
    "audit_witness_state",
    metadata,
    Column("origin", String(255), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("note", LargeBinary, nullable=False),  # the last checkpoint seen and cosigned
    Column("updated_ms", BigInteger, nullable=False),
)

equivocations = Table(
    "audit_equivocations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("note_a", LargeBinary, nullable=False),
    Column("note_b", LargeBinary, nullable=False),
    Column("detected_ms", BigInteger, nullable=False),
)


def to_url(url_or_path: str | Path) -> str:
    """A SQLAlchemy URL; a plain path means an SQLite file."""
    s = str(url_or_path)
    if "://" in s:
        return s
    return f"sqlite:///{Path(s).resolve()}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")  # durable before acknowledged
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def make_engine(url_or_path: str | Path | Engine) -> Engine:
    """Create (or pass through) an engine, with SQLite durability pragmas, and create the tables."""
    if isinstance(url_or_path, Engine):
        engine = url_or_path
    else:
        url = to_url(url_or_path)
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
    metadata.create_all(engine)
    return engine
