"""The ``accord`` command line (Typer + Rich). Sub-commands live in sibling modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="accord",
    help="Release classified military information only as the agreements in force allow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_registered = False


def _register() -> None:
    global _registered  # noqa: PLW0603 - registration happens once per process
    if _registered:
        return
    _registered = True
    from accord.cli import core_cmds

    core_cmds.register(app)
    from accord.cli import audit_cmds

    audit_cmds.register(app)
    from accord.cli import sealed_cmds

    sealed_cmds.register(app)
    from accord.cli import node_cmds

    node_cmds.register(app)
    from accord.cli import label_cmds

    label_cmds.register(app)
    from accord.cli import world_cmds

    world_cmds.register(app)
    from accord.cli import people_cmds

    people_cmds.register(app)
    __import__("accord.cli.feed_cmds", fromlist=["register"]).register(app)  # accord feed (issue 11)
    __import__("accord.cli.custody_cmds", fromlist=["register"]).register(app)  # accord node custody (issue 10)


def get_app() -> typer.Typer:
    """The root app with every sub-command registered (for tests and embedding)."""
    _register()
    return app


def main() -> None:
    """Entry point of the ``accord`` console script: bad input is one ``error: …`` line, never a traceback."""
    import sys

    from accord.cli._common import run_app

    sys.exit(run_app(get_app()))
