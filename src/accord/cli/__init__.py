"""The ``accord`` command line (Typer + Rich). Sub-commands live in sibling modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="accord",
    help="Release classified military information only as the agreements in force allow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from accord.cli import core_cmds

    core_cmds.register(app)
    from accord.cli import sealed_cmds

    sealed_cmds.register(app)


def main() -> None:
    """Entry point of the ``accord`` console script."""
    _register()
    app()
