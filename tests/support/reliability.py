"""The tally behind ``make reliability`` and ``docs/reliability.md``.

Any test may record what it tried: ``record(case, attempts=…, refused=…, accepted=…, lost=…, duplicated=…)``.
In ``make test`` the tally is only kept in memory. ``make reliability`` runs the bounded suite with this module
as a pytest plugin (``-p tests.support.reliability``) and ``ACCORD_RELIABILITY_OUT`` set: at the end of the
session the tally is written there as JSON, and ``python -m tests.support.reliability RESULTS OUT.md`` turns it
into the table of ``docs/reliability.md``.

Columns: *attempts* (inputs tried), *refused* (one clear error: the InputError family or, for cryptography,
IntegrityError), *accepted* (valid input that was processed), *crashed* (anything else: a traceback; must be 0),
*lost* and *duplicated* (for delivery cases: items never delivered or delivered twice; ``n/a`` for a parser).

Node cases (hostile peers, kill -9 of sender/hub/recipient/PostgreSQL, schemathesis, disk full, slow and
half-open clients, sustained load) are listed in :data:`PLANNED` until a test records them: a test of the
node part of issue 9 calls ``record("node: …", attempts=…, lost=…, duplicated=…)`` with a case name that starts
with the planned one (details may follow) and its row replaces the planned one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass
class Row:
    group: str
    attempts: int = 0
    refused: int = 0
    accepted: int = 0
    crashed: int = 0
    lost: int | None = None
    duplicated: int | None = None


_TALLY: dict[str, Row] = {}
_RECORDS = [0]  # how many times record() was called (to see whether a test recorded its own rows)

#: Node-side cases of issue 9, to be measured by the node's reliability tests (case name -> group).
PLANNED: dict[str, str] = {
    "node: hostile peer — receipt with an extra key (audit stall)": "hostile peer",
    "node: hostile peer — forged originator (signer is not the label's originator)": "hostile peer",
    "node: hostile peer — id collision / squatting": "hostile peer",
    "node: hostile peer — consent request with a forged label": "hostile peer",
    "node: hostile peer — retired signing key": "hostile peer",
    "node: 4 × 400 MiB bodies before admission": "hostile peer",
    "node: half-open TCP connections / header size and count limits": "slow and half-open clients",
    "node: schemathesis against the API (5xx)": "API fuzzing",
    "node: kill -9 of PostgreSQL": "crash",  # tests/reliability; sender/hub/recipient: test_limits_reliability
    "node: disk full": "crash",
    "fuzz: sealed container / API bodies / receipts (owned by the node rebuild)": "parser fuzzing",
}


def record(
    case: str,
    *,
    group: str = "input",
    attempts: int = 1,
    refused: int = 0,
    accepted: int = 0,
    crashed: int = 0,
    lost: int | None = None,
    duplicated: int | None = None,
) -> None:
    """Add to the tally of ``case``."""
    _RECORDS[0] += 1
    row = _TALLY.setdefault(case, Row(group))
    row.attempts += attempts
    row.refused += refused
    row.accepted += accepted
    row.crashed += crashed
    if lost is not None:
        row.lost = (row.lost or 0) + lost
    if duplicated is not None:
        row.duplicated = (row.duplicated or 0) + duplicated


def tally() -> dict[str, Row]:
    """The tally so far (for tests of this module)."""
    return _TALLY


# ---------------------------------------------------------------- pytest plugin (make reliability)


_BEFORE: dict[str, int] = {}


def pytest_runtest_setup(item: Any) -> None:
    _BEFORE[item.nodeid] = _RECORDS[0]


def pytest_runtest_makereport(item: Any, call: Any) -> None:
    """A test marked ``reliability`` that records nothing itself (an attack test named after the attack) is
    one attempt of the case named after its function: refused when it passed, crashed when it failed."""
    if call.when != "call" or item.get_closest_marker("reliability") is None:
        return
    if _RECORDS[0] != _BEFORE.get(item.nodeid, _RECORDS[0]):
        return
    name = getattr(item, "originalname", None) or item.name.split("[")[0]
    passed = call.excinfo is None
    positive = any(w in name for w in ("still", "accepts", "stay"))  # the control: valid input goes through
    record(
        f"attack: {name.removeprefix('test_').replace('_', ' ')}",
        refused=int(passed and not positive),
        accepted=int(passed and positive),
        crashed=int(not passed),
    )


_MACHINE: dict[str, Any] = {}


def pytest_sessionstart(session: Any) -> None:
    _MACHINE["start"] = time.time()
    _MACHINE["load_start"] = os.getloadavg()[0]


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    out = os.environ.get("ACCORD_RELIABILITY_OUT")
    if not out:
        return
    machine = {
        "cores": os.cpu_count(),
        "load_start": round(_MACHINE.get("load_start", 0.0), 1),
        "load_end": round(os.getloadavg()[0], 1),
        "minutes": round((time.time() - _MACHINE.get("start", time.time())) / 60, 1),
    }
    Path(out).write_text(
        json.dumps(
            {
                "exitstatus": int(exitstatus),
                "machine": machine,
                "rows": {case: asdict(row) for case, row in sorted(_TALLY.items())},
            },
            indent=2,
        )
    )


# ---------------------------------------------------------------- the report


def _cell(v: int | None) -> str:
    return "n/a" if v is None else str(v)


def _machine_line(m: dict[str, Any] | None) -> list[str]:
    if not m:
        return []
    return [
        "",
        f"Run: {m['minutes']} min on {m['cores']} cores shared with other work (1-min load average "
        f"{m['load_start']} at the start, {m['load_end']} at the end).",
    ]


def render(results: dict[str, Any]) -> str:
    rows: dict[str, dict[str, Any]] = results["rows"]
    status = results.get("exitstatus")
    lines = [
        "# Reliability figures",
        "",
        "Written by `make reliability` (bounded suite: `tests/fuzz` with more examples, and every test marked",
        "`reliability`). Do not edit by hand. *refused* = one clear `error: WHERE: WHAT` (InputError family, or",
        "IntegrityError for cryptography); *crashed* = anything else (a traceback) and must be 0; *lost* and",
        "*duplicated* apply to delivery cases (`n/a` for a parser).",
        "",
        f"Suite result: {'passed' if status == 0 else f'FAILED (exit {status})'}",
        *_machine_line(results.get("machine")),
        "",
        "| case | group | attempts | refused | accepted | crashed | lost | duplicated |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case, r in sorted(rows.items(), key=lambda kv: (kv[1]["group"], kv[0])):
        lines.append(
            f"| {case} | {r['group']} | {r['attempts']} | {r['refused']} | {r['accepted']} | "
            f"{r['crashed']} | {_cell(r['lost'])} | {_cell(r['duplicated'])} |"
        )
    planned = [(c, g) for c, g in PLANNED.items() if not any(r.startswith(c) for r in rows)]
    if planned:
        lines += [
            "",
            "## Not yet measured (node part of issue 9)",
            "",
            "Rows a node reliability test will fill by calling `tests.support.reliability.record(case, …)`",
            "with this case name:",
            "",
            "| case | group | attempts | refused | accepted | crashed | lost | duplicated |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [f"| {c} | {g} | — | — | — | — | — | — |" for c, g in planned]
    totals = {k: sum(r[k] for r in rows.values()) for k in ("attempts", "refused", "accepted", "crashed")}
    lines += [
        "",
        f"Totals: {totals['attempts']} attempts, {totals['refused']} refused, {totals['accepted']} "
        f"accepted, {totals['crashed']} crashed.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.support.reliability RESULTS.json OUT.md", file=sys.stderr)
        return 2
    results = json.loads(Path(argv[0]).read_text())
    Path(argv[1]).write_text(render(results))
    crashed = sum(r["crashed"] for r in results["rows"].values())
    print(f"wrote {argv[1]}: {len(results['rows'])} cases, {crashed} crashed")
    return 0 if results.get("exitstatus") == 0 and crashed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
