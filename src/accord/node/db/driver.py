"""Hot statements below SQLAlchemy's per-execute overhead (issue 8, wave 5).

A :class:`DriverSql` is an SQLAlchemy Core statement compiled ONCE per dialect -- by SQLAlchemy's own compiler,
so the SQL text, the parameter order, the PostgreSQL casts (``%(x)s::TIMESTAMP WITH TIME ZONE``) and every
column type's bind and result processing are exactly what ``Connection.execute`` would use -- and executed on
the DB-API connection of the caller's open transaction (SQLite: sqlite3, qmark; PostgreSQL: psycopg 3,
pyformat). Same code path on both; what it skips is SQLAlchemy's per-call work (cache key, execution context,
result object, events), ~20 us of CPU per statement where the driver itself costs ~4 us.

Stored forms do not move: a ``DateTime(timezone=True)`` value goes through the dialect's own bind processor
(SQLite: the same ``YYYY-MM-DD HH:MM:SS.ffffff`` text SQLAlchemy writes; PostgreSQL: psycopg's adaptation), and
rows read back go through the same result processors (SQLite: a naive ``datetime`` as SQLAlchemy returns it).
``tests/node/test_release_statements.py`` and ``test_items_driver.py`` compare rows written and read both ways
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeEngine

_Proc = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positional: bool  # qmark / format: a tuple in ``order``; pyformat / named: a dict
    order: tuple[str, ...]  # every bind name, in the SQL's order (positional) or any order (named)
    defaults: Mapping[str, Any]  # binds with a value of their own (literals in the statement)
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # bind processors (name, processor), only where one exists
    columns: tuple[str, ...]  # result column names (a SELECT or RETURNING)
    results: tuple[_Proc, ...]  # result processors per column (None: the driver's value as is)
    at: tuple[tuple[int, Callable[[Any], Any]], ...] = ()  # positional: the bind processors by position in order
    plain: bool = True  # no result processor at all: a driver row is the row


class DriverSql:
    """One statement, compiled once per dialect, run on the transaction's DB-API connection.

    ``keys``: for an INSERT/UPDATE whose values are given at execution (``insert(t)``), the column names it
    sets (SQLAlchemy's ``column_keys``). Parameters are passed by name, as to ``Connection.execute``.
    """

    __slots__ = ("_by_dialect", "keys", "stmt")

    def __init__(self, stmt: Executable, keys: Sequence[str] | None = None) -> None:
        self.stmt = stmt
        self.keys = list(keys) if keys is not None else None
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        c = self._by_dialect.get(dialect.name)
        if c is None:
            c = self._by_dialect[dialect.name] = self._compile(dialect)
        return c

    def _compile(self, dialect: Dialect) -> _Compiled:
        comp: Any = self.stmt.compile(dialect=dialect, column_keys=self.keys)  # type: ignore[attr-defined]
        positional = bool(comp.positional)
        names = tuple(comp.positiontup) if positional else tuple(comp.binds)
        defaults: dict[str, Any] = {}
        binds: list[tuple[str, Callable[[Any], Any]]] = []
        for name in dict.fromkeys(names):
            bp = comp.binds[name]
            if not bp.required:
                defaults[name] = bp.effective_value
            proc = bp.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                binds.append((name, proc))
        columns: list[str] = []
        results: list[_Proc] = []
        for col in getattr(comp, "_result_columns", None) or ():
            columns.append(str(col.keyname))
            results.append(col.type.dialect_impl(dialect).result_processor(dialect, None))
        procs = dict(binds)
        at = tuple((i, procs[n]) for i, n in enumerate(names) if n in procs) if positional else ()
        plain = all(p is None for p in results)
        return _Compiled(
            comp.string, positional, names, defaults, tuple(binds), tuple(columns), tuple(results), at, plain
        )

    def _args(self, c: _Compiled, params: Mapping[str, Any] | None) -> Any:
        # Run once per statement: no copy of the parameters unless the statement has literals of its own (issue 8).
        values: Mapping[str, Any] = params or {}
        if c.defaults:
            values = {**c.defaults, **values}
        if c.positional:
            args = [values[n] for n in c.order]
            for i, proc in c.at:
                args[i] = proc(args[i])
            return tuple(args)
        named = {n: values[n] for n in c.order}
        for name, proc in c.binds:
            named[name] = proc(named[name])
        return named

    @staticmethod
    def _raw(conn: Connection) -> Any:
        raw = conn.connection.driver_connection
        assert raw is not None
        return raw

    @staticmethod
    def _wrapped(dialect: Dialect, c: _Compiled, e: Exception, raw: Any) -> Exception:
        """A DB-API error as SQLAlchemy raises it (``DBAPIError`` subclasses: the storage-fault handler's 507/503,
        ``IntegrityError``...), its parameters hidden (no payload in an error)."""
        base = dialect.loaded_dbapi.Error
        if not isinstance(e, base):
            return e
        gone = bool(dialect.is_disconnect(e, raw, None))
        return DBAPIError.instance(
            c.sql, None, e, base, hide_parameters=True, connection_invalidated=gone, dialect=dialect
        )

    def _row(self, c: _Compiled, row: Sequence[Any]) -> tuple[Any, ...]:
        if c.plain and len(row) == len(c.results):
            return tuple(row)
        return tuple(v if p is None or v is None else p(v) for p, v in zip(c.results, row, strict=True))

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None) -> int:
        """Run it; returns the driver's rowcount."""
        c = self.compiled(conn.dialect)
        raw = self._raw(conn)
        cur = raw.cursor()
        try:
            cur.execute(c.sql, self._args(c, params))
            return int(cur.rowcount)
        except Exception as e:
            raise self._wrapped(conn.dialect, c, e, raw) from e
        finally:
            cur.close()

    def executemany(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per parameter set (one DB-API ``executemany``)."""
        if not params:
            return
        c = self.compiled(conn.dialect)
        raw = self._raw(conn)
        cur = raw.cursor()
        try:
            cur.executemany(c.sql, [self._args(c, p) for p in params])
        except Exception as e:
            raise self._wrapped(conn.dialect, c, e, raw) from e
        finally:
            cur.close()

    def all(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Every result row (a SELECT, or a DML statement with RETURNING), processed as SQLAlchemy would."""
        c = self.compiled(conn.dialect)
        raw = self._raw(conn)
        cur = raw.cursor()
        try:
            cur.execute(c.sql, self._args(c, params))
            return [self._row(c, r) for r in cur.fetchall()]
        except Exception as e:
            raise self._wrapped(conn.dialect, c, e, raw) from e
        finally:
            cur.close()

    def read(
        self, engine: Engine, params: Mapping[str, Any] | None = None, *, plain: Any = None
    ) -> list[dict[str, Any]]:
        """A read outside any transaction of the caller's: every result row as a dict, without SQLAlchemy's
        ``Connection`` (no BEGIN/ROLLBACK of its own on SQLite, whose connections run in autocommit mode here:
        the SELECT is its own read transaction). ``plain``: a DB-API connection of the caller's in autocommit
        mode, kept between reads (SQLite: :meth:`accord.node.db.engine.Database.read_conn`, issue 8, wave 6);
        otherwise a pooled one (on PostgreSQL the statement's implicit transaction is rolled back when the
        pool takes the connection back)."""
        c = self.compiled(engine.dialect)
        if plain is not None:
            return self._read_on(engine.dialect, c, plain, params)
        raw = engine.raw_connection()
        try:
            return self._read_on(engine.dialect, c, raw.driver_connection, params)
        finally:
            raw.close()

    def _read_on(
        self, dialect: Dialect, c: _Compiled, raw: Any, params: Mapping[str, Any] | None
    ) -> list[dict[str, Any]]:
        cur = raw.cursor()
        try:
            cur.execute(c.sql, self._args(c, params))
            return [dict(zip(c.columns, self._row(c, r), strict=True)) for r in cur.fetchall()]
        except Exception as e:
            raise self._wrapped(dialect, c, e, raw) from e
        finally:
            cur.close()

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> tuple[Any, ...] | None:
        rows = self.all(conn, params)
        return rows[0] if rows else None

    def mappings(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every result row as a dict of column name to value."""
        cols = self.compiled(conn.dialect).columns
        return [dict(zip(cols, r, strict=True)) for r in self.all(conn, params)]

    def scalar(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row (None: no row)."""
        row = self.first(conn, params)
        return None if row is None else row[0]


_STORED: dict[tuple[str, int], tuple[TypeEngine[Any], _Proc, _Proc]] = {}  # the type kept: its id stays its own


def stored_value(dialect: Dialect, type_: TypeEngine[Any], value: Any) -> Any:
    """``value`` as a read of the row it was written to returns it: through the type's bind processor, then
    its result processor (SQLite ``DateTime``: a naive datetime, the offset dropped as SQLAlchemy stores it).
    For a row kept in memory that must equal what a later read gives (the audit leaf, issue 8). The
    processors are looked up once per dialect and type."""
    key = (dialect.name, id(type_))
    procs = _STORED.get(key)
    if procs is None:
        impl = type_.dialect_impl(dialect)
        procs = _STORED[key] = (type_, impl.bind_processor(dialect), impl.result_processor(dialect, None))
    _, bind, result = procs
    stored = bind(value) if bind is not None else value
    return result(stored) if result is not None else stored
