"""CLI commands over agreement documents: ``accord agreements list|show|check|apply-event``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

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
    read_file,
)
from accord.core.agreements import Agreement, AgreementSet
from accord.formats.agreement_yaml import load_agreements

agreements_app = typer.Typer(help="List, show and check agreement documents.", no_args_is_help=True)


# ---------------------------------------------------------------- agreements


@agreements_app.command("list")
@handles_errors
def agreements_list(
    agreements: Path | None = AgreementsOpt,
    at: str | None = AtOpt,
    events: Path | None = typer.Option(
        None, "--events", help="Event store of signed lifecycle documents to apply (needs --roster or --keys)."
    ),
    roster: Path | None = typer.Option(None, "--roster", help="Pinned trust roster directory."),
    keys: Path | None = typer.Option(None, "--keys", help="Ed25519 party keys file."),
    as_json: bool = JsonOpt,
) -> None:
    """List the agreements and their state on a day."""
    aset = with_events(agreements_from(agreements), events, roster, keys)
    day = parse_day(at)
    rows: list[dict[str, Any]] = []
    for ag in aset:
        st = ag.state_at(day)
        rows.append(
            {
                "id": ag.id,
                "title": ag.title,
                "kind": ag.kind.value,
                "parties": list(ag.parties),
                "hub": ag.hub,
                "status": st.status.value,
                "state": st.message,
                "exchange_allowed": st.exchange_allowed,
            }
        )
    if as_json:
        print_json({"at": day.isoformat(), "agreements": rows})
        return
    table = Table(title=f"Agreements on {day}")
    for col in ("id", "title", "parties", "status", "state"):
        table.add_column(col)
    for r in rows:
        style = "green" if r["exchange_allowed"] else "red"
        parties = ", ".join(r["parties"]) + (f" (hub {r['hub']})" if r["hub"] else "")
        table.add_row(r["id"], r["title"], parties, f"[{style}]{r['status']}[/{style}]", r["state"])
    console.print(table)


def _agreement_dict(ag: Agreement, day: date) -> dict[str, Any]:
    st = ag.state_at(day)
    terms = ag.terms_at(day)
    return {
        "id": ag.id,
        "title": ag.title,
        "kind": ag.kind.value,
        "parties": list(ag.parties),
        "hub": ag.hub,
        "legal_status": ag.legal_status.value,
        "onward_release_requires_consent": ag.onward_release_requires_consent,
        "protection_basis": list(ag.protection_basis),
        "scope": "all" if terms.topics is None else sorted(terms.topics),
        "equivalence": [
            {"name": r.name, "levels": {p: _marking(ag, p, k) for p, k in r.levels.items()}} for r in terms.equivalence
        ],
        "citations": {k: {"article": c.article, "rule": c.rule} for k, c in ag.citations.items()},
        "lifecycle": {
            "signed": _iso(ag.lifecycle.signed),
            "in_force": _iso(ag.lifecycle.in_force),
            "term_years": ag.lifecycle.term_years,
            "auto_renewal": ag.lifecycle.auto_renewal,
            "notice_days": ag.lifecycle.notice_days,
            "events": [
                {
                    "date": e.on.isoformat(),
                    "type": e.type.value,
                    "by": e.by,
                    "effective": _iso(e.effective),
                    "note": e.note,
                }
                for e in ag.lifecycle.events
            ],
        },
        "state": {
            "at": day.isoformat(),
            "status": st.status.value,
            "message": st.message,
            "exchange_allowed": st.exchange_allowed,
        },
        "provenance": dict(ag.provenance),
        "source": ag.source,
    }


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _marking(ag: Agreement, party: str, key: str) -> str:
    scheme = ag.schemes.get(party) if ag.schemes is not None else None
    level = scheme.by_key(key) if scheme is not None else None
    return level.marking if level is not None else key


@agreements_app.command("show")
@handles_errors
def agreements_show(
    agreement_id: str = typer.Argument(..., help="Agreement id."),
    agreements: Path | None = AgreementsOpt,
    at: str | None = AtOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show one agreement: parties, scope, equivalence, lifecycle, state on a day, provenance."""
    aset = agreements_from(agreements)
    ag = aset.get(agreement_id)
    if ag is None:
        fail(f"no agreement {agreement_id!r}; known: {', '.join(a.id for a in aset)}")
        return
    d = _agreement_dict(ag, parse_day(at))
    if as_json:
        print_json(d)
        return
    console.print(f"[bold]{ag.title}[/bold] ({ag.id}) — {ag.kind.value}, {ag.legal_status.value}")
    console.print(f"parties: {', '.join(ag.parties)}" + (f"; hub: {ag.hub}" if ag.hub else ""))
    console.print(f"scope: {d['scope'] if d['scope'] == 'all' else ', '.join(d['scope'])}")
    console.print(f"onward release needs originator consent: {ag.onward_release_requires_consent}")
    if ag.protection_basis:
        console.print(f"protected under: {', '.join(ag.protection_basis)}")
    eq = Table(title="Equivalence (levels not listed are not covered)")
    eq.add_column("row")
    for p in ag.parties:
        eq.add_column(p)
    for row in d["equivalence"]:
        eq.add_row(row["name"], *(row["levels"].get(p, "—") for p in ag.parties))
    console.print(eq)
    life = Table(title="Lifecycle")
    for col in ("date", "event", "by", "note"):
        life.add_column(col)
    lc = ag.lifecycle
    if lc.signed:
        life.add_row(str(lc.signed), "signed", "", "")
    if lc.in_force:
        term = f"term {lc.term_years} y" if lc.term_years else "indefinite"
        renew = ", renews automatically" if lc.auto_renewal else ""
        notice = f", {lc.notice_days} days' notice" if lc.notice_days else ""
        life.add_row(str(lc.in_force), "in force", "", f"{term}{renew}{notice}")
    for e in lc.events:
        eff = f" (effective {e.effective})" if e.effective else ""
        life.add_row(str(e.on), e.type.value + eff, e.by or "", e.note)
    console.print(life)
    console.print(f"state on {d['state']['at']}: [bold]{d['state']['status']}[/bold] — {d['state']['message']}")
    if ag.provenance:
        prov = Table(title="Provenance (sourced / assumed)")
        prov.add_column("field")
        prov.add_column("provenance")
        for k, v in ag.provenance.items():
            prov.add_row(k, v)
        console.print(prov)


@agreements_app.command("check")
def agreements_check(
    paths: list[Path] = typer.Argument(None, help="Agreement files or directories (default: the bundled agreements)."),
) -> None:
    """Validate agreement documents; exit 2 with file, field and problem on the first error."""
    from accord.errors import AccordError

    targets: list[Path | None] = list(paths) if paths else [None]
    total = 0
    for p in targets:
        try:
            aset = load_agreements(p)
        except AccordError as exc:
            fail(exc.diagnostics())
            return
        total += len(aset)
        for ag in aset:
            console.print(f"[green]ok[/green] {ag.id}: {ag.title} ({ag.source})")
    console.print(f"{total} agreement(s) valid")
    if len(targets) == 1:  # the world's national policies, checked against the agreements (formats/world.py)
        nations = ", ".join(aset.schemes.parties)
        console.print(f"{len(aset.schemes)} national policies (SPIF): {nations}", soft_wrap=True)


# ---------------------------------------------------------------- lifecycle documents

RosterOpt = typer.Option(None, "--roster", help="Pinned trust roster directory: the parties' signing keys.")
KeysOpt = typer.Option(None, "--keys", help="Ed25519 party keys file {PARTY: [hex public key]} (instead of --roster).")
EventsOpt = typer.Option(
    None,
    "--events",
    help="Event store: a directory of signed lifecycle documents "
    "applied on top of the agreements (needs --roster or --keys).",
)


def _key_source(roster: Path | None, keys: Path | None) -> Any:
    from accord.formats.lifecycle_doc import Ed25519Keys
    from accord.sealed.verifiers import RosterKeys

    if (roster is None) == (keys is None):
        return fail("give the signers' keys: --roster DIR or --keys FILE (one of them)")
    return RosterKeys.load(roster) if roster is not None else Ed25519Keys.load(keys)  # type: ignore[arg-type]


def with_events(aset: AgreementSet, events: Path | None, roster: Path | None, keys: Path | None) -> AgreementSet:
    """The agreements with the verified documents of an event store applied (``--events``)."""
    if events is None:
        return aset
    from accord.formats.lifecycle_doc import load_store

    return load_store(events, aset, _key_source(roster, keys))


@agreements_app.command("apply-event")
@handles_errors
def agreements_apply_event(
    document: Path = typer.Argument(..., help="A signed lifecycle document (YAML/JSON, docs/agreements.md)."),
    roster: Path | None = RosterOpt,
    keys: Path | None = KeysOpt,
    events: Path | None = EventsOpt,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Verify and show the flows it opens and closes; record nothing."
    ),
    at: str | None = typer.Option(
        None, "--at", help="Day to compare the sharing matrix on (default: the day the document takes effect)."
    ),
    agreements: Path | None = AgreementsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Verify a signed notice, suspension, withdrawal, termination, renewal or amendment; show which flows
    it opens and closes (sharing matrix before and after); record it in the event store unless --dry-run."""
    from accord.formats.lifecycle_doc import apply_documents, effective_day, load_document

    source = _key_source(roster, keys)
    base = agreements_from(agreements)
    if events is not None and events.is_dir():
        from accord.formats.lifecycle_doc import load_store

        base = load_store(events, base, source)
    doc = load_document(document, base, source)
    after_set = apply_documents(base, [doc])
    day = parse_day(at) if at is not None else effective_day(doc, base)
    ag_before, ag_after = base.get(doc.agreement), after_set.get(doc.agreement)
    assert ag_before is not None and ag_after is not None
    from accord.core.flows import flow_changes

    changes = [c.to_dict() for c in flow_changes(base, after_set, day)]
    recorded: str | None = None
    if not dry_run:
        if events is None:
            fail("--events DIR is needed to record the document (or use --dry-run)")
        assert events is not None
        from accord.formats.lifecycle_doc import record

        recorded = str(record(read_file(document), doc, events))
    out = {
        "agreement": doc.agreement,
        "event": {
            "type": doc.event.type.value,
            "date": doc.event.on.isoformat(),
            "by": doc.event.by,
            "effective": _iso(doc.event.effective),
        },
        "signers": list(doc.signers),
        "digest": doc.digest,
        "compared_on": day.isoformat(),
        "state_before": ag_before.state_at(day).message,
        "state_after": ag_after.state_at(day).message,
        "flows": changes,
        "dry_run": dry_run,
        "recorded": recorded,
    }
    if as_json:
        print_json(out)
        return
    console.print(
        f"[green]verified[/green] {doc.event.type.value} of {doc.agreement} dated {doc.event.on}, "
        f"signed by {', '.join(doc.signers)}"
    )
    console.print(f"on {day}: before — {out['state_before']}; after — {out['state_after']}")
    if not changes:
        console.print("no flow opens or closes on that day")
    for c in changes:
        style = {"opens": "green", "closes": "red"}.get(c["change"], "yellow")
        route = " → ".join(c["after"]["route"]) if c["after"]["allowed"] else ", ".join(c["after"]["denials"])
        console.print(
            f"  [{style}]{c['change']}[/{style}] {c['holder']} → {c['recipient']} {c['level']} "
            f"({c['topic']}): {' → '.join(c['before']['route']) or 'refused'} ⇒ {route}"
        )
    console.print(f"recorded in {recorded}" if recorded else "[dim]dry run: nothing recorded[/dim]")


def register(app: typer.Typer) -> None:
    """Attach ``accord agreements`` to the root app."""
    app.add_typer(agreements_app, name="agreements")
