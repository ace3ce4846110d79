"""Run the benchmarks: ``python -m bench [--only NAME]``."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.common import Result

HERE = Path(__file__).resolve().parent


def _modules() -> list[str]:
    found = pkgutil.iter_modules([str(HERE)])
    return sorted(m.name[len("bench_") :] for m in found if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--only", help="run one benchmark module (e.g. decide)")
    args = parser.parse_args(argv)
    names = _modules()
    if args.only:
        if args.only not in names:
            print(f"no benchmark named {args.only!r}; have: {', '.join(names)}", file=sys.stderr)
            return 2
        names = [args.only]
    console = Console()
    results: list[Result] = []
    failed: list[str] = []
    for name in names:
        console.print(f"[bold]bench {name}[/bold] …")
        try:
            mod = importlib.import_module(f"bench.bench_{name}")
            results.extend(mod.run())
        except Exception as e:  # one broken module must not hide the others' figures
            failed.append(name)
            console.print(f"[red]error: bench {name}: {type(e).__name__}: {e}[/red]")
    table = Table(title="Accord benchmarks")
    for col in ("name", "unit", "ours", "peer", "peer value", "ratio (>1 better)", "note"):
        table.add_column(col)
    for r in results:
        table.add_row(
            r.name,
            r.unit,
            f"{r.ours:,.2f}",
            r.peer,
            "" if r.peer_value is None else f"{r.peer_value:,.2f}",
            "" if r.ratio is None else f"{r.ratio:.2f}",
            r.note,
        )
    console.print(table)
    out = HERE / "results.json"
    existing: list[dict[str, object]] = []
    if args.only and out.exists():
        # Keep the other modules' figures when one module is re-run.
        prefix = f"{args.only}."
        existing = [r for r in json.loads(out.read_text()) if not str(r.get("name", "")).startswith(prefix)]
    out.write_text(json.dumps(existing + [r.to_dict() for r in results], indent=2, ensure_ascii=False) + "\n")
    console.print(f"wrote {out}")
    if failed:
        console.print(f"[red]error: bench: {len(failed)} module(s) failed: {', '.join(failed)}[/red]")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
