"""CLI commands over the core: agreements, decide, access, matrix, demo."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the core commands to the root app."""

    @app.command()
    def demo() -> None:
        """Print the sharing matrix and the decisions of the article's timeline."""
        typer.echo("accord demo")
