"""Helpers shared by the CLI modules: dates, agreement and consent loading, error reporting."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from accord.core.agreements import AgreementSet
from accord.core.consent import Consent
from accord.errors import AccordError, IntegrityError, ReleaseRefused, TrustError
from accord.formats.agreement_yaml import load_agreements
from accord.formats.documents import load_consents

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])

AgreementsOpt = typer.Option(None, "--agreements", help="Directory (or file) of agreement YAML documents; "
                             "default: the agreements bundled with Accord.")
AtOpt = typer.Option(None, "--at", help="Day of the decision, YYYY-MM-DD (default: today).")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")


def parse_day(value: str | None) -> date:
    """The ``--at`` day; today when omitted (the CLI is the edge where the clock is read)."""
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        return fail(f"--at: {value!r} is not a date YYYY-MM-DD")  # type: ignore[no-any-return]


def agreements_from(path: Path | None) -> AgreementSet:
    """Load agreements (exit 2 with the error on a bad document)."""
    return load_agreements(path)


def consents_from(paths: list[Path] | None) -> list[Consent]:
    """Every consent in the ``--consent`` files (each holds one consent or a list)."""
    return [c for p in paths or [] for c in load_consents(p)]


def fail(message: str, code: int = 2) -> Any:
    """Print ``error: message`` on stderr and exit (2: bad input)."""
    err_console.print(f"[bold red]error:[/bold red] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def handles_errors(fn: F) -> F:
    """Turn Accord's errors into a clear message and exit code 2."""
    return _handling(fn, checks=False)


def handles_refusals(fn: F) -> F:
    """As :func:`handles_errors`, but a refused release (``refused: …``) and a failed check (signature,
    integrity, untrusted key) exit 1; bad input still exits 2."""
    return _handling(fn, checks=True)


def _handling(fn: F, *, checks: bool) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AccordError as exc:
            if checks and isinstance(exc, ReleaseRefused):
                fail(f"refused: {exc}", 1)
            if checks and isinstance(exc, (IntegrityError, TrustError)):
                fail(str(exc), 1)
            fail(exc.diagnostics())
        except OSError as exc:
            fail(f"{exc.filename or ''}: {exc.strerror}")
        return None

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout (``--json``)."""
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def read_file(path: Path) -> bytes:
    """Read a file or exit 2 with a clear message."""
    try:
        return path.read_bytes()
    except OSError as exc:
        return fail(f"{path}: {exc.strerror}")  # type: ignore[no-any-return]
