"""CLI over the world: ``accord verify``, ``accord spif …`` and ``accord world generate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from accord.cli._common import (
    AgreementsOpt,
    JsonOpt,
    agreements_from,
    console,
    fail,
    handles_errors,
    parse_day,
    party_arg,
    print_json,
    read_file,
)
from accord.core.agreements import AgreementSet
from accord.core.verify import Report, verify
from accord.formats.spif import parse_spif, render_banner, validate_label
from accord.formats.stanag4774 import load_label
from accord.formats.world import export_spifs, write_world

spif_app = typer.Typer(help="National security policies as Open XML SPIF files.", no_args_is_help=True)
world_app = typer.Typer(
    help="Worlds of nations and agreements (synthetic ones for tests and benchmarks).", no_args_is_help=True
)

SyntheticOpt = typer.Option(
    None, "--synthetic", help="Verify a generated world instead: NATIONS:BILATERALS:MULTILATERALS (e.g. 40:360:40)."
)
SeedOpt = typer.Option(0, "--seed", help="Seed of the generated world.")


def _synthetic(spec: str, seed: int) -> AgreementSet:
    from accord.core.synth import synth_world

    parts = spec.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        fail(f"--synthetic: {spec!r} is not NATIONS:BILATERALS:MULTILATERALS")
    n, m, k = (int(p) for p in parts)
    if n > 1352:
        fail(f"--synthetic: at most 1352 nations, not {n}")
    try:
        return synth_world(n, m, k, seed=seed).agreements
    except ValueError as exc:
        return fail(f"--synthetic: {exc}")  # type: ignore[no-any-return]


def _report_dict(r: Report, limit: int | None) -> dict[str, Any]:
    flows = r.flows if limit is None else r.flows[:limit]
    return {
        "ok": r.ok,
        "parties": list(r.parties),
        "topic_classes": [list(c) for c in r.topic_classes],
        "pairs": r.pairs,
        "days": r.days,
        "decisions": r.decisions,
        "allowed": r.allowed,
        "flows": [
            {
                "holder": f.holder,
                "recipient": f.recipient,
                "topics": f.topics,
                "from": f.start.isoformat(),
                "until": f.end.isoformat() if f.end else None,
                "level": f.level,
                "marking": f.marking,
                "route": list(f.route),
                "agreements": list(f.agreements),
            }
            for f in flows
        ],
        "flows_total": len(r.flows),
        "violations": [
            {
                "holder": v.holder,
                "recipient": v.recipient,
                "topics": v.topics,
                "level": v.level,
                "at": v.at.isoformat(),
                "route": list(v.route),
                "problem": v.problem,
            }
            for v in r.violations
        ],
        "warnings": list(r.warnings),
    }


@handles_errors
def verify_cmd(
    agreements: Path | None = AgreementsOpt,
    synthetic: str | None = SyntheticOpt,
    seed: int = SeedOpt,
    limit: int | None = typer.Option(None, "--limit", help="Print at most this many flows (all by default)."),
    onward: bool = typer.Option(
        False,
        "--onward",
        help="Also check releases by holders other than the originator, without and with its consent "
        "(cubic in the parties: for worlds of a few dozen nations).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Check every flow of a world: for every ordered pair, level, topic class and interval between
    lifecycle dates, nothing allowed reaches a party outside an agreement in force.
    Exit 0 when every invariant holds, 1 when one breaks, 2 on bad input."""
    aset = _synthetic(synthetic, seed) if synthetic else agreements_from(agreements)
    report = verify(aset, onward=onward)
    if as_json:
        print_json(_report_dict(report, limit))
        raise typer.Exit(0 if report.ok else 1)
    table = Table(title="Allowed flows (originator releasing; highest level per interval)")
    for col in ("from", "to", "topics", "since", "until", "level → marking", "route", "agreements"):
        table.add_column(col)
    shown = report.flows if limit is None else report.flows[:limit]
    for f in shown:
        table.add_row(
            f.holder,
            f.recipient,
            f.topics,
            str(f.start),
            str(f.end or "—"),
            f"{f.level} → {f.marking}",
            " → ".join(f.route),
            ", ".join(f.agreements),
        )
    console.print(table)
    if len(shown) < len(report.flows):
        console.print(f"({len(report.flows) - len(shown)} more flows not shown; --limit)")
    console.print(
        f"{len(report.parties)} parties, {report.pairs} ordered pairs, {len(report.topic_classes)} topic "
        f"classes, {report.days} pair-days, {report.decisions} decisions ({report.allowed} allowed)"
    )
    for w in report.warnings[:20]:
        console.print(f"[yellow]warning:[/yellow] {w}", soft_wrap=True)
    if len(report.warnings) > 20:
        console.print(f"[yellow]… {len(report.warnings) - 20} more warnings[/yellow]")
    if report.ok:
        console.print("[bold green]ok[/bold green]: every allowed flow rests on agreements in force")
        return
    for v in report.violations[:50]:
        console.print(
            f"[bold red]VIOLATION[/bold red] {v.holder} → {v.recipient} {v.level} ({v.topics}) on {v.at}, "
            f"route {' → '.join(v.route)}: {v.problem}",
            soft_wrap=True,
        )
    console.print(f"[bold red]{len(report.violations)} violation(s)[/bold red]")
    raise typer.Exit(1)


@spif_app.command("export")
@handles_errors
def spif_export(
    out: Path = typer.Option(..., "--out", help="Directory to write into."),
    agreements: Path | None = AgreementsOpt,
    at: str | None = typer.Option(
        None, "--at", help="Export the equivalence tables in effect on this day (default: as signed)."
    ),
) -> None:
    """Write each nation's SPIF (spif/) and, per agreement, its equivalence as SPIF equivalent policies
    (equivalence/<agreement>/<nation>.xml)."""
    aset = agreements_from(agreements)
    day = parse_day(at) if at else None
    try:
        files = export_spifs(aset, out, at=day)
    except OSError as exc:
        fail(f"{exc.filename or out}: {exc.strerror}")
        return
    console.print(
        f"wrote {len(files)} SPIF file(s) under {out} ({len(aset.schemes)} nations, {len(aset)} agreements)",
        soft_wrap=True,
    )


@spif_app.command("show")
@handles_errors
def spif_show(
    party: str = typer.Argument(..., help="Nation (alpha-3)."),
    agreements: Path | None = AgreementsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show a nation's policy: levels (highest first) with LACVs, English equivalents, aliases; categories."""
    code = party_arg(party, "PARTY")
    aset = agreements_from(agreements)
    scheme = aset.schemes.get(code)
    if scheme is None:
        fail(f"no SPIF for {party!r}; loaded: {', '.join(aset.schemes.parties)}")
        return
    if as_json:
        print_json(
            {
                "party": scheme.party,
                "name": scheme.name,
                "policy_id": scheme.policy_id,
                "basis": scheme.basis,
                "source": scheme.source,
                "levels": [
                    {
                        "key": lv.key,
                        "marking": lv.marking,
                        "rank": lv.rank,
                        "lacv": lv.lacv,
                        "english": lv.english,
                        "other_markings": list(lv.other_markings),
                        "aliases": list(lv.aliases),
                    }
                    for lv in scheme.levels
                ],
                "categories": [
                    {"name": c.name, "type": c.kind, "values": [v for v, _ in c.values]} for c in scheme.categories
                ],
            }
        )
        return
    table = Table(title=f"{scheme.party}: {scheme.name} (policy {scheme.policy_id})")
    for col in ("key", "marking", "hierarchy", "lacv", "English", "other markings / aliases"):
        table.add_column(col)
    for lv in scheme.levels:
        table.add_row(
            lv.key, lv.marking, str(lv.rank), str(lv.lacv), lv.english, ", ".join((*lv.other_markings, *lv.aliases))
        )
    console.print(table)
    for c in scheme.categories:
        vals = ", ".join(v for v, _ in c.values) or "(open)"
        console.print(f"category {c.name!r} {c.kind}: {vals}")
    console.print(f"source: {scheme.source}; basis: {scheme.basis or '—'}")


@spif_app.command("check")
@handles_errors
def spif_check(files: list[Path] = typer.Argument(..., help="SPIF files.")) -> None:
    """Parse SPIF files strictly; exit 2 with file, field and problem on the first error."""
    for f in files:
        sp = parse_spif(read_file(f), source=str(f))
        console.print(
            f"[green]ok[/green] {sp.scheme.party}: {len(sp.scheme.levels)} classification(s), "
            f"{len(sp.equivalences)} equivalence(s) ({f})"
        )


@spif_app.command("label")
@handles_errors
def spif_label(
    label: Path = typer.Option(..., "--label", help="Label file: Accord JSON or STANAG 4774 XML."),
    agreements: Path | None = AgreementsOpt,
) -> None:
    """Validate a label against its policy's SPIF and print its banner rendered from the SPIF.
    Exit 0 conforming, 1 not conforming, 2 bad input."""
    aset = agreements_from(agreements)
    lab = load_label(read_file(label), source=str(label))
    problems = validate_label(lab, aset.schemes)
    console.print(render_banner(lab, aset.schemes))
    for p in problems:
        console.print(f"[red]✗[/red] {p}", soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    console.print("[green]conforms to its policy's SPIF[/green]")


@world_app.command("generate")
@handles_errors
def world_generate(
    out: Path = typer.Option(..., "--out", help="Directory to write the world into."),
    nations: int = typer.Option(10, "--nations"),
    bilaterals: int = typer.Option(30, "--bilaterals"),
    multilaterals: int = typer.Option(5, "--multilaterals"),
    seed: int = SeedOpt,
) -> None:
    """Write a synthetic world as files (spif/*.xml, agreements/*.yaml) that --agreements loads."""
    aset = _synthetic(f"{nations}:{bilaterals}:{multilaterals}", seed)
    try:
        files = write_world(aset, out)
    except OSError as exc:
        fail(f"{exc.filename or out}: {exc.strerror}")
        return
    console.print(
        f"wrote {len(files)} file(s) under {out}: {len(aset.schemes)} nations, {len(aset)} agreements", soft_wrap=True
    )


def register(app: typer.Typer) -> None:
    """Attach the world commands to the root app."""
    app.command("verify")(verify_cmd)
    app.add_typer(spif_app, name="spif")
    app.add_typer(world_app, name="world")
