"""``python -m accord.node DIR [--db URL] [--workers N]``: serve a node (what ``accord node run`` does).

An entry point, like the CLI: it composes the node with the console (``mount_console``), which the
node's own modules never import (tests/test_layering.py exempts ``__main__`` modules for that reason).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from accord.console import mount_console
from accord.node.app import serve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m accord.node")
    p.add_argument("dir", type=Path)
    p.add_argument("--db")
    p.add_argument("--workers", type=int, default=None, help="delivery threads (default: the node's)")
    p.add_argument("--port", type=int)
    p.add_argument("--no-audit", action="store_true", help="another process of this nation writes the audit log")
    p.add_argument("--log-level", default="warning")
    a = p.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, a.log_level.upper()),
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    serve(
        a.dir,
        db=a.db,
        **({} if a.workers is None else {"workers": a.workers}),
        log_level=a.log_level,
        port=a.port,
        audit=not a.no_audit,
        mounts=[mount_console],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
