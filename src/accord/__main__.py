"""``python -m accord``: the CLI."""

from accord.cli import main

main()
