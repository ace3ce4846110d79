"""Leaves prepared for the audit log, and its two hot statements in the driver's own paramstyle (:mod:`.log`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from accord.audit.events import encode_event
from accord.audit.merkle import leaf_hash
from accord.errors import InputError


def placeholders(engine: Engine, n: int) -> str:
    style = engine.dialect.paramstyle
    if style == "qmark":
        return ", ".join("?" * n)
    if style in ("format", "pyformat"):
        return ", ".join(["%s"] * n)
    if style == "numeric":
        return ", ".join(f":{i}" for i in range(1, n + 1))
    # pragma: no cover - no supported driver uses named placeholders
    raise InputError(f"unsupported DB-API paramstyle {style!r}", source="audit log")


def driver_insert_sql(engine: Engine) -> str:
    """``INSERT INTO audit_leaves`` with 5 positional placeholders in the driver's paramstyle."""
    # Only fixed placeholder text is interpolated; values are bound by the driver.
    return f"INSERT INTO audit_leaves (idx, leaf_hash, event, kind, item) VALUES ({placeholders(engine, 5)})"  # noqa: S608


def driver_checkpoint_sql(engine: Engine) -> str:
    """``INSERT INTO audit_checkpoints`` with 3 positional placeholders in the driver's paramstyle."""
    return f"INSERT INTO audit_checkpoints (size, note, created_ms) VALUES ({placeholders(engine, 3)})"  # noqa: S608


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """An event already validated and encoded by :func:`prepare_event` (leaf bytes and hash).

    Callers may prepare events in their own threads, off the log's writer; build these only
    with :func:`prepare_event` (``verify`` re-checks every leaf's canonical form anyway).
    """

    leaf: bytes
    leaf_hash: bytes
    kind: str
    item: str


def prepare_event(event: Mapping[str, Any]) -> PreparedEvent:
    """Validate and encode an event (see :func:`accord.audit.events.encode_event`)."""
    leaf = encode_event(event)
    return PreparedEvent(leaf, leaf_hash(leaf), str(event["type"]), str(event["item"]))
