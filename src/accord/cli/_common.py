"""Helpers shared by the CLI modules: dates, agreement and consent loading, error reporting."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from accord.core.agreements import AgreementSet
from accord.core.consent import Consent
from accord.core.parties import parse_party, parse_topic
from accord.errors import AccordError, InputError, IntegrityError, ReleaseRefused, TrustError
from accord.formats._dates import parse_day as strict_day
from accord.formats._read import read_bounded
from accord.formats.agreement_yaml import load_agreements
from accord.formats.documents import load_consents

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])

AgreementsOpt = typer.Option(
    None,
    "--agreements",
    help="Directory (or file) of agreement YAML documents; default: the agreements bundled with Accord.",
)
AtOpt = typer.Option(None, "--at", help="Day of the decision, YYYY-MM-DD (default: today).")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")


def parse_day(value: str | None, option: str = "--at") -> date:
    """The ``--at`` day; today when omitted (the CLI is the edge where the clock is read).

    Strict: ``YYYY-MM-DD`` exactly, a real day, within :data:`accord.formats._dates.EARLIEST` ..
    :data:`~accord.formats._dates.LATEST` (``--at 9999-12-31`` is an error, not an overflow later).
    """
    if value is None:
        return date.today()
    try:
        return strict_day(value)
    except ValueError as exc:
        return fail(f"{option}: {exc}")  # type: ignore[no-any-return]


def party_arg(value: str, option: str) -> str:
    """A party given on the command line (``--to usa``), checked strictly: ASCII before upper-casing, then
    exactly three letters A-Z (``--to uſa`` with U+017F never reaches the USA); exit 2 otherwise."""
    try:
        return parse_party(value, where=option)
    except InputError as exc:
        return fail(f"{option}: {exc.message}")  # type: ignore[no-any-return]


def topic_arg(value: str, option: str = "--topic") -> str:
    """A topic given on the command line, upper-cased after a strict ASCII check; exit 2 otherwise."""
    try:
        return parse_topic(value, where=option)
    except InputError as exc:
        return fail(f"{option}: {exc.message}")  # type: ignore[no-any-return]


def agreements_from(path: Path | None) -> AgreementSet:
    """Load agreements (exit 2 with the error on a bad document)."""
    return load_agreements(path)


def consents_from(paths: list[Path] | None) -> list[Consent]:
    """Every consent in the ``--consent`` files (each holds one consent or a list)."""
    return [c for p in paths or [] for c in load_consents(p)]


def one_line(message: str) -> str:
    """``message`` on one line: line breaks and other control characters become ``; `` or a space."""
    lines = [" ".join(part.split()) for part in message.splitlines()]
    return "; ".join(line for line in lines if line) or "(no message)"


def fail(message: str, code: int = 2) -> Any:
    """Print ``error: message`` on ONE line on stderr and exit (2: bad input; 1: denied or tampered).

    The message is printed as text, never as Rich markup (a hostile ``[link=…]`` in a file name or field
    stays text).
    """
    err_console.print(Text.assemble(("error:", "bold red"), " ", one_line(message)), soft_wrap=True)
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
            fail(f"{exc.filename or 'file'}: {exc.strerror or exc}")
        return None

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout (``--json``)."""
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2))


#: Largest input file a command reads whole (labels, events): far above any real one.
MAX_INPUT_BYTES = 64 * 1024 * 1024


def read_file(path: Path, max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """Read a file (at most ``max_bytes``) or exit 2 with a clear message."""
    try:
        return read_bounded(path, max_bytes=max_bytes)
    except InputError as exc:
        return fail(exc.diagnostics())  # type: ignore[no-any-return]


def run_app(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; nothing but one ``error: …`` line ever reaches a user.

    - a usage error (missing option, bad choice) is ``error: COMMAND: WHAT``, exit 2, not a framed box;
    - any exception that escaped the commands' own handling is ``error: internal: …``, exit 2, with no
      traceback and no exception message (it could carry input), unless ``ACCORD_DEBUG=1`` is set, which
      prints the traceback too.
    """
    from typer.exceptions import Abort, TyperException

    try:
        rv = app(args=args, prog_name="accord", standalone_mode=False)
    except TyperException as exc:  # Typer's (vendored Click's) usage errors
        if type(exc).__name__ == "NoArgsIsHelpError":  # `accord audit` alone: the help, as before
            exc.show()  # type: ignore[attr-defined]
            return exc.exit_code
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "accord"
        hint = f" (see {where} --help)" if exc.exit_code == 2 else ""
        _print_error(f"{where}: {exc.format_message()}{hint}")
        return exc.exit_code
    except Abort:
        _print_error("aborted")
        return 130
    except Exception as exc:
        if os.environ.get("ACCORD_DEBUG") == "1":
            traceback.print_exc()
        command = " ".join(a for a in (args if args is not None else sys.argv[1:])[:3] if not a.startswith("-"))
        _print_error(
            f"internal: unexpected {type(exc).__name__} in `accord {command}` (a bug, please report "
            "it; set ACCORD_DEBUG=1 for the traceback)"
        )
        return 2
    return rv if isinstance(rv, int) else 0


def _print_error(message: str) -> None:
    err_console.print(Text.assemble(("error:", "bold red"), " ", one_line(message)), soft_wrap=True)
