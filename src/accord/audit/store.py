"""SQLAlchemy Core schema and engine set-up of the audit log (SQLite by default, PostgreSQL by URL).

The same code runs on both: only the engine URL differs. SQLite runs in WAL mode with
``synchronous=FULL`` so that a committed transaction is on disk before the log acknowledges it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

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
    inspect,
)
from sqlalchemy.exc import SQLAlchemyError

from accord.errors import InputError

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


SQLITE_MAGIC = b"SQLite format 3\x00"


def _sqlite_readonly_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA query_only=1")
    cur.close()


def open_existing(
    url_or_path: str | Path, *, readonly: bool = True, tables: tuple[Table, ...] = (leaves, checkpoints, meta)
) -> Engine:
    """An engine on an audit database that must already exist; nothing is ever created.

    For a path: the file must exist, be a regular file and start with the SQLite header; with
    ``readonly`` it is opened ``mode=ro`` (a read-only command never writes). For a URL (PostgreSQL):
    no table is created. Either way the ``tables`` must be there.

    Raises:
        InputError: no such file, not an SQLite database, unreadable or damaged, or not an audit database.
    """
    s = str(url_or_path)
    if "://" in s:
        engine = create_engine(s)
    else:
        p = Path(s)
        if not p.exists():
            raise InputError("no such database", source=s)
        if not p.is_file():
            raise InputError("not a database file", source=s)
        try:
            with p.open("rb") as f:
                head = f.read(len(SQLITE_MAGIC))
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", source=s) from None
        if head != SQLITE_MAGIC:
            raise InputError("not an SQLite database", source=s)
        resolved = str(p.resolve())
        if readonly:
            engine = create_engine(f"sqlite:///file:{quote(resolved)}?mode=ro&uri=true")
            event.listen(engine, "connect", _sqlite_readonly_pragmas)
        else:
            engine = create_engine(f"sqlite:///{resolved}")
            event.listen(engine, "connect", _sqlite_pragmas)
    try:
        names = set(inspect(engine).get_table_names())
    except SQLAlchemyError as exc:
        engine.dispose()
        raise InputError(f"cannot read the database: {database_problem(exc)}", source=s) from None
    missing = [t.name for t in tables if t.name not in names]
    if missing:
        engine.dispose()
        raise InputError(f"not an Accord audit database (no table {missing[0]})", source=s)
    return engine


def database_problem(exc: BaseException) -> str:
    """One line saying what the database driver reported (never the SQL statement or its parameters)."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else type(exc).__name__
    return " ".join(text.split()) or type(exc).__name__
