"""CLI command ``accord matrix`` and the hypothetical agreement edits (``--drop-event``, ``--add-event``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from accord.cli._common import (
    AgreementsOpt,
    AtOpt,
    JsonOpt,
    agreements_from,
    console,
    fail,
    handles_errors,
    parse_day,
    print_json,
    topic_arg,
)
from accord.cli.agreements_cmds import EventsOpt, KeysOpt, RosterOpt, with_events
from accord.core.agreements import AgreementSet, Event, EventType
from accord.core.matrix import Matrix, sharing_matrix

DropEventOpt = typer.Option(
    None, "--drop-event", help="Hypothetical: remove an event, ID:DATE (e.g. jpn-kor-gsomia:2019-11-22)."
)
AddEventOpt = typer.Option(
    None,
    "--add-event",
    help="Hypothetical: add an event, ID:DATE:TYPE[:EFFECTIVE] (e.g. jpn-kor-gsomia:2027-08-01:notice-of-termination).",
)


def _parse_event_spec(spec: str, *, add: bool) -> tuple[str, date, Event | None]:
    from accord.formats._dates import parse_day as strict_day

    parts = spec.split(":")
    need = 3 if add else 2
    if len(parts) < need or len(parts) > need + 1:
        form = "ID:DATE:TYPE[:EFFECTIVE]" if add else "ID:DATE"
        fail(f"{spec!r}: expected {form}")
    try:
        on = strict_day(parts[1])
    except ValueError as exc:
        fail(f"{spec!r}: {exc}")
    if not add:
        return parts[0], on, None
    try:
        etype = EventType(parts[2])
    except ValueError:
        fail(f"{spec!r}: event type must be one of {', '.join(t.value for t in EventType)}")
    effective = None
    if len(parts) == 4:
        try:
            effective = strict_day(parts[3])
        except ValueError as exc:
            fail(f"{spec!r}: {exc}")
    return parts[0], on, Event(on=on, type=etype, note="hypothetical", effective=effective, sourced=False)


def hypothetical(aset: AgreementSet, drop: list[str] | None, add: list[str] | None) -> AgreementSet:
    """Apply ``--drop-event``/``--add-event`` specs."""
    drops = [_parse_event_spec(s, add=False)[:2] for s in drop or []]
    adds = []
    for s in add or []:
        aid, _, ev = _parse_event_spec(s, add=True)
        assert ev is not None
        adds.append((aid, ev))
    try:
        return aset.what_if(drop=drops, add=adds)
    except KeyError as exc:
        return fail(str(exc.args[0]))  # type: ignore[no-any-return]


def print_matrix(m: Matrix, title: str | None = None) -> None:
    """One table per topic: rows are holders, columns recipients."""
    for topic in m.topics:
        table = Table(title=f"{title or 'Sharing matrix'} on {m.at} — topic {topic}", show_lines=True)
        table.add_column("from \\ to")
        for p in m.parties:
            table.add_column(p)
        for a in m.parties:
            row = []
            for b in m.parties:
                if a == b:
                    row.append("—")
                    continue
                c = m.cell(a, b, topic)
                if c.allowed:
                    via = " via " + c.route[1] if len(c.route) > 2 else " direct"
                    row.append(
                        f"[green]up to {c.level} → {c.marking}[/green]\n{via.strip()}: "
                        f"{', '.join(c.decision.agreements)}"
                    )
                else:
                    codes = sorted({r.code.value for r in c.decision.denials})
                    row.append(f"[red]no[/red]\n{', '.join(codes)}")
            table.add_row(a, *row)
        console.print(table)


@handles_errors
def matrix_cmd(
    at: str | None = AtOpt,
    topic: list[str] = typer.Option(None, "--topic", help="Topic(s); default: every scoped topic and OTHER-CMI."),
    drop_event: list[str] = DropEventOpt,
    add_event: list[str] = AddEventOpt,
    events: Path | None = EventsOpt,
    roster: Path | None = RosterOpt,
    keys: Path | None = KeysOpt,
    agreements: Path | None = AgreementsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The sharing matrix for a day: who may share what with whom, by which route, under which agreements."""
    aset = hypothetical(with_events(agreements_from(agreements), events, roster, keys), drop_event, add_event)
    m = sharing_matrix(aset, parse_day(at), topics=[t.upper() for t in topic] if topic else None)
    for t in topic or []:  # strict: ASCII before upper-casing (`--topic dprk-miſſile` is refused, not shown)
        topic_arg(t)
    if as_json:
        print_json(m.to_dict())
    else:
        print_matrix(m, "Hypothetical sharing matrix" if (drop_event or add_event) else None)


def register(app: typer.Typer) -> None:
    """Attach ``accord matrix`` to the root app."""
    app.command("matrix")(matrix_cmd)
