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

:class:`PostgresServer` is the server itself, for a test that needs one of its own (the reliability suite kills
it with ``kill -9`` and starts it again: :meth:`PostgresServer.kill9`, :meth:`PostgresServer.start`).

Use: ``def test_x(postgres_url: str) -> None: engine = sqlalchemy.create_engine(postgres_url)``.
Imported into ``tests/conftest.py`` so every test module can request them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
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


def missing() -> str | None:
    """Why a PostgreSQL server cannot be started here (None: it can)."""
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


_missing = missing  # the name the fixtures used before


class PostgresServer:
    """A throwaway PostgreSQL server in a temporary directory (unix socket only, ``fsync`` off).

    ``fsync=off`` loses nothing on a *process* crash (``kill -9``): a commit's WAL is written to the kernel
    before the client hears of it; only a machine crash would lose it, which these tests do not simulate.
    """

    def __init__(self, *, prefix: str = "accord-pg-") -> None:
        self.base = Path(tempfile.mkdtemp(prefix=prefix))
        self.data, self.sock = self.base / "data", self.base / "sock"
        self.log = self.base / "server.log"
        self.port = _free_port()
        self.running = False
        self.data.mkdir()
        self.sock.mkdir()
        os.chmod(self.base, 0o755)
        if os.geteuid() == 0:
            self.log.touch()
            for p in (self.data, self.sock, self.log):
                shutil.chown(p, "postgres", "postgres")
            os.chmod(self.data, 0o700)
        self._run(["initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database."""
        return f"postgresql+psycopg://postgres@/postgres?host={self.sock}&port={self.port}"

    def db_url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@/{name}?host={self.sock}&port={self.port}"

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(_as_postgres(argv), check=check, capture_output=True, timeout=120)
        except subprocess.CalledProcessError as e:
            detail = (e.stderr or b"").decode(errors="replace")
            if self.log.exists():
                detail += self.log.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"PostgreSQL ({' '.join(argv[:2])}) failed: {detail}") from e

    def start(self) -> None:
        """Start the server (after a ``kill -9`` too: it then runs crash recovery from its WAL first)."""
        opts = f"-k {self.sock} -c listen_addresses='' -p {self.port} -F"
        self._run(["pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.log), "-w", "-t", "60", "start"])
        self.running = True

    def pids(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, WAL writer...)."""
        pidfile = self.data / "postmaster.pid"
        try:
            master = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True, check=False)
        return [master, *(int(p) for p in out.stdout.split())]

    def kill9(self) -> int:
        """``kill -9`` the postmaster and all its processes at once (a crash: no shutdown checkpoint); waits until
        they are dead. Returns how many processes were killed.

        The dead postmaster may stay a zombie for a while (here PID 1 reaps orphans lazily), and the lock files
        it took (data directory, socket) hold a PID that still answers ``kill(pid, 0)`` as a live server: the
        lock files of a dead postmaster are removed, as PostgreSQL itself does once that PID is gone."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.01)
        if pids and not _alive(pids[0]):
            (self.data / "postmaster.pid").unlink(missing_ok=True)
            (self.sock / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)
        self.running = False
        return len(pids)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host=str(self.sock), port=str(self.port), user="postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.db_url(name)

    def stop(self) -> None:
        if self.running or self.pids():
            self._run(["pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"], check=False)
        self.running = False

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL server started for this test session."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    server = PostgresServer()
    try:
        server.start()
        yield server.url
    finally:
        server.remove()


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
