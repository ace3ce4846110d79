"""A real PostgreSQL 15 server for tests, started once per session.

Fixtures:

- ``postgres_url`` (session): starts ``postgres`` from ``initdb``/``pg_ctl`` on PATH in a temporary
  data directory, listening only on a unix socket in that directory (no TCP port), and yields a
  SQLAlchemy URL ``postgresql+psycopg://postgres@/postgres?host=<socket dir>&port=<port>``. When
  the test process runs as root, the server runs as user ``postgres`` (``runuser``). The server is
  stopped and the directory removed at the end of the session. ``fsync`` is off: it is a test
  server. Skips (with the reason) only when the binaries, ``runuser`` or psycopg are missing;
  any other failure to start is an error, not a skip.
- ``postgres_db_url`` (function): a fresh, empty database on that server for one test, dropped
  afterwards. Use it when tests must not see each other's tables.

Use: ``def test_x(postgres_url: str) -> None: engine = sqlalchemy.create_engine(postgres_url)``.
Imported into ``tests/conftest.py`` so every test module can request them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _missing() -> str | None:
    for tool in ("initdb", "pg_ctl", "postgres"):
        if shutil.which(tool) is None:
            return f"PostgreSQL binary {tool!r} not on PATH"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root and 'runuser' is not available to drop to user postgres"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg (psycopg[binary]>=3) is not installed"
    return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL server started for this test session."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    base = Path(tempfile.mkdtemp(prefix="accord-pg-"))
    data, sock = base / "data", base / "sock"
    data.mkdir()
    sock.mkdir()
    os.chmod(base, 0o755)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
        os.chmod(data, 0o700)
    port = _free_port()
    log = base / "server.log"
    if os.geteuid() == 0:
        log.touch()
        shutil.chown(log, "postgres", "postgres")
    started = False
    try:
        subprocess.run(
            _as_postgres(["initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
            check=True,
            capture_output=True,
        )
        opts = f"-k {sock} -c listen_addresses='' -p {port} -F"
        subprocess.run(
            _as_postgres(["pg_ctl", "-D", str(data), "-o", opts, "-l", str(log), "-w", "-t", "60", "start"]),
            check=True,
            capture_output=True,
        )
        started = True
        yield f"postgresql+psycopg://postgres@/postgres?host={sock}&port={port}"
    except subprocess.CalledProcessError as e:
        detail = (e.stderr or b"").decode(errors="replace")
        if log.exists():
            detail += log.read_text(errors="replace")
        raise RuntimeError(f"could not start PostgreSQL for tests: {detail}") from e
    finally:
        if started:
            subprocess.run(
                _as_postgres(["pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop"]),
                check=False,
                capture_output=True,
            )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_db_url(postgres_url: str) -> Iterator[str]:
    """A fresh database on the session server for one test (dropped afterwards)."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(postgres_url)
    host, port = u.query["host"], u.query["port"]
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=str(host), port=str(port), user="postgres", dbname="postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        yield u.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(host=str(host), port=str(port), user="postgres", dbname="postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
