"""Run the ``accord`` CLI in-process, as the tests of each command group do."""

from __future__ import annotations

from typer.testing import CliRunner

from accord.cli import get_app

_runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    """``accord ARGS…``: exit code, stdout, stderr."""
    r = _runner.invoke(get_app(), list(args))
    return r.exit_code, r.stdout, r.stderr
