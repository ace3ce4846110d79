"""The files of a node directory are private, whatever the umask, and checked when the node loads (issue 9).

- Everything the node writes is created under umask 077 (:func:`private_umask`): 0600 files, 0700
  directories -- ``node.yaml``, ``roster.yaml``, ``trust/``, ``keys/``, the keys, ``node.db`` and its
  ``-wal``/``-shm`` (SQLite gives those the mode of the database file, which is created 0600 first).
- At load (:func:`check_directory`) a node refuses, with one ``error: WHERE: WHAT`` line: a ``node.yaml``,
  ``roster.yaml``, ``trust/`` (or a file in it) or node directory that other users may write (a local user
  could pin a certificate), and a private key (``tls-key.pem``, ``receipt-key.pem``, ``audit-note.key``,
  ``keys/*``) that the group or other users may read.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from accord.errors import InputError

PRIVATE_UMASK = 0o077
CONFIG_FILES = ("node.yaml", "roster.yaml")
TRUST_DIRS = ("trust",)
KEY_FILES = ("tls-key.pem", "receipt-key.pem", "audit-note.key")
KEY_DIRS = ("keys",)


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Create files 0600 and directories 0700 within the block (the process umask is restored after)."""
    old = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(old)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for another database or an in-memory/URI one)."""
    if not url.startswith("sqlite:///"):
        return None
    rest = url[len("sqlite:///") :]
    if not rest or rest.startswith(":memory:") or rest.startswith("file:"):
        return None
    return Path(rest.split("?", 1)[0])


def create_private_db(url: str) -> None:
    """Create a SQLite database file 0600 before SQLite does (its -wal and -shm then get the same mode)."""
    path = sqlite_path(url)
    if path is None or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _refuse_writable(path: Path, what: str) -> None:
    m = _mode(path)
    if m & stat.S_IWOTH or (m & stat.S_IWGRP and not path.is_dir()):
        raise InputError(f"{what} is writable by other users (mode {m:04o}); chmod go-w it", source=str(path))


def _refuse_readable(path: Path) -> None:
    m = _mode(path)
    if m & 0o077:
        raise InputError(f"private key readable by other users (mode {m:04o}); chmod 600 it", source=str(path))


def check_directory(directory: Path) -> None:
    """Refuse a node directory whose configuration or trust is writable, or whose keys are readable, by others."""
    if directory.is_dir() and _mode(directory) & stat.S_IWOTH:
        m = _mode(directory)
        raise InputError(f"node directory is writable by other users (mode {m:04o})", source=str(directory))
    for name in CONFIG_FILES:
        p = directory / name
        if p.exists():
            _refuse_writable(p, "configuration")
    for name in TRUST_DIRS:
        d = directory / name
        if d.is_dir():
            _refuse_writable(d, "trust directory")
            for p in d.iterdir():
                _refuse_writable(p, "trust file")
    for name in KEY_FILES:
        p = directory / name
        if p.exists():
            _refuse_readable(p)
    for name in KEY_DIRS:
        d = directory / name
        if d.is_dir():
            for p in d.iterdir():
                if p.is_file():
                    _refuse_readable(p)


def check_db_url(url: str, *, source: str = "--db") -> str:
    """Only SQLite and PostgreSQL (psycopg 3) databases: anything else is refused before anything is made."""
    if not (url.startswith("sqlite:") or url.startswith("postgresql")):
        scheme = url.split(":", 1)[0] if ":" in url else url
        use = "use sqlite:///PATH or postgresql+psycopg://..."
        raise InputError(f"unsupported database {scheme!r}: {use}", source=source)
    return url
