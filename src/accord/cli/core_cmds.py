"""CLI commands over the core: agreements, decide, access, matrix, demo."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from accord.cli._common import (
    AgreementsOpt,
    AtOpt,
    JsonOpt,
    agreements_from,
    consents_from,
    console,
    fail,
    handles_errors,
    parse_day,
    party_arg,
    print_json,
    read_file,
    topic_arg,
)
from accord.core.access import access
from accord.core.agreements import Agreement, AgreementSet, Event, EventType
from accord.core.decision import Decision, decide
from accord.core.labels import Caveat, Label
from accord.core.matrix import Matrix, sharing_matrix
from accord.formats.agreement_yaml import load_agreements
from accord.formats.custody_doc import load_custody
from accord.formats.documents import load_person
from accord.formats.stanag4774 import load_label

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
    from accord.formats.lifecycle_doc import Ed25519Keys, RosterKeys

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


# ---------------------------------------------------------------- decide


def print_decision(d: Decision) -> None:
    """Human-readable decision."""
    verdict = "[bold green]ALLOWED[/bold green]" if d.allowed else "[bold red]DENIED[/bold red]"
    console.print(f"{verdict} {d.holder} → {d.recipient} on {d.at}: {d.label.banner}")
    if d.route:
        console.print("route: " + " → ".join(f"{p} ({d.markings.get(p, 'unopened')})" for p in d.route))
    for h in d.hops:
        console.print(
            f"  hop {h.frm} → {h.to}: {h.agreement}, {h.mode}"
            + (f", marked {h.marking}" if h.marking else ", sealed, no marking")
        )
    if d.agreements:
        console.print("agreements: " + ", ".join(d.agreements))
    if d.consents_used:
        console.print("consents used: " + ", ".join(d.consents_used))
    if d.awaiting_consent:
        needs = ", ".join(f"{n.holder}→{n.recipient}" for n in d.consents_required)
        console.print(f"[yellow]awaiting {d.label.originator}'s consent for: {needs}[/yellow]")
    for r in d.reasons:
        mark = "[red]✗[/red]" if r.denies else "[green]✓[/green]"
        cite = ", ".join(x for x in (r.agreement, r.article, r.rule) if x)
        console.print(f"  {mark} [bold]{r.code.value}[/bold]" + (f" [dim]({cite})[/dim]" if cite else ""))
        console.print(f"      {r.message}", soft_wrap=True)


DropEventOpt = typer.Option(
    None, "--drop-event", help="Hypothetical: remove an event, ID:DATE (e.g. jpn-kor-gsomia:2019-11-22)."
)
AddEventOpt = typer.Option(
    None,
    "--add-event",
    help="Hypothetical: add an event, ID:DATE:TYPE[:EFFECTIVE] (e.g. jpn-kor-gsomia:2027-08-01:notice-of-termination).",
)
CustodyOpt = typer.Option(
    None,
    "--custody",
    help="The holder's custody record of the item (YAML/JSON, docs/custody.md); default: presumed from the agreements.",
)


@handles_errors
def decide_cmd(
    label: Path = typer.Option(..., "--label", help="Label file: Accord JSON or STANAG 4774 XML."),
    holder: str = typer.Option(..., "--from", help="Releasing party (alpha-3)."),
    recipient: str = typer.Option(..., "--to", help="Receiving party (alpha-3)."),
    at: str | None = AtOpt,
    consent: list[Path] = typer.Option(None, "--consent", help="Consent document(s) of the originator."),
    custody: Path | None = CustodyOpt,
    drop_event: list[str] = DropEventOpt,
    add_event: list[str] = AddEventOpt,
    events: Path | None = EventsOpt,
    roster: Path | None = RosterOpt,
    keys: Path | None = KeysOpt,
    agreements: Path | None = AgreementsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Decide a release. Exit 0 allowed, 1 denied, 2 bad input."""
    # Strict before anything is read: ASCII, then upper-cased (`--to uſa` never reaches USA), and the day.
    holder, recipient, _ = party_arg(holder, "--from"), party_arg(recipient, "--to"), parse_day(at)
    lab = load_label(read_file(label), source=str(label))
    aset = hypothetical(with_events(agreements_from(agreements), events, roster, keys), drop_event, add_event)
    record = load_custody(custody) if custody is not None else None
    d = decide(
        lab, holder.upper(), recipient.upper(), parse_day(at), consents_from(consent), agreements=aset, custody=record
    )
    if as_json:
        out = d.to_dict()
        if drop_event or add_event:
            out["hypothetical"] = {"drop": list(drop_event or []), "add": list(add_event or [])}
        print_json(out)
    else:
        if drop_event or add_event:
            console.print(
                "[yellow]hypothetical agreements:[/yellow] "
                + ", ".join([*(f"without {e}" for e in drop_event or []), *(f"with {e}" for e in add_event or [])])
            )
        print_decision(d)
    raise typer.Exit(0 if d.allowed else 1)


@handles_errors
def access_cmd(
    person: Path = typer.Option(..., "--person", help="Person document (YAML/JSON)."),
    label: Path = typer.Option(..., "--label", help="Label file: Accord JSON or STANAG 4774 XML."),
    holder: str = typer.Option(..., "--holder", help="The nation holding the item (alpha-3)."),
    at: str | None = AtOpt,
    custody: Path | None = CustodyOpt,
    purpose: str | None = typer.Option(
        None,
        "--purpose",
        help="The purpose of the access (JK-R7): must match "
        "the purpose the item was provided for, when its custody record says one.",
    ),
    agreements: Path | None = AgreementsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Decide whether a person may access an item. Exit 0 allowed, 1 denied, 2 bad input."""
    holder, _ = party_arg(holder, "--holder"), parse_day(at)  # strict: ASCII before upper-casing
    lab = load_label(read_file(label), source=str(label))
    who = load_person(person)
    record = load_custody(custody) if custody is not None else None
    d = access(
        who, lab, holder.upper(), parse_day(at), agreements=agreements_from(agreements), custody=record, purpose=purpose
    )
    if as_json:
        print_json(d.to_dict())
    else:
        verdict = "[bold green]ACCESS[/bold green]" if d.allowed else "[bold red]NO ACCESS[/bold red]"
        console.print(f"{verdict} {who.id} ({who.nationality}) to {lab.banner} held by {d.holder}")
        for r in d.reasons:
            console.print(f"  {'✗' if r.denies else '✓'} {r.code.value} [{r.rule or ''}] {r.message}")
    raise typer.Exit(0 if d.allowed else 1)


# ---------------------------------------------------------------- custody


@handles_errors
def custody_cmd(
    label: Path = typer.Option(..., "--label", help="Label file: Accord JSON or STANAG 4774 XML."),
    holder: str = typer.Option(..., "--holder", help="The nation holding the item (alpha-3)."),
    at: str | None = AtOpt,
    custody: Path | None = CustodyOpt,
    drop_event: list[str] = DropEventOpt,
    add_event: list[str] = AddEventOpt,
    agreements: Path | None = AgreementsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Does a nation hold an item lawfully, under which agreement, and can it return it? Exit 0 yes, 1 no."""
    from accord.core.custody import lawful_custody

    who = party_arg(holder, "--holder")  # strict: ASCII before upper-casing
    day = parse_day(at)
    lab = load_label(read_file(label), source=str(label))
    aset = hypothetical(agreements_from(agreements), drop_event, add_event)
    record = load_custody(custody) if custody is not None else None
    if who == lab.originator:
        fail(f"{who} is the originator of the item: it needs no custody")
    if aset.schemes.level(lab.originator, lab.classification) is None or who not in aset.schemes:
        d = decide(lab, who, lab.originator, day, agreements=aset, custody=record)
        fail(d.denials[0].message if d.denials else "unknown party or level")
    held = lawful_custody(lab, who, day, agreements=aset, record=record)
    back = decide(lab, who, lab.originator, day, agreements=aset, custody=record)
    out = {
        "holder": who,
        "originator": lab.originator,
        "item": lab.id,
        "at": day.isoformat(),
        "lawful": held.ok,
        "agreement": held.agreement.id if held.agreement is not None else None,
        "presumed": record is None,
        "custody": held.custody.to_dict() if held.custody is not None else None,
        "reasons": [r.to_dict() for r in held.reasons],
        "return": back.to_dict(),
    }
    if as_json:
        print_json(out)
    else:
        verdict = "[bold green]HELD LAWFULLY[/bold green]" if held.ok else "[bold red]NOT HELD LAWFULLY[/bold red]"
        console.print(f"{verdict} by {who} on {day}: {lab.banner}")
        for r in held.reasons:
            console.print(f"  {'✗' if r.denies else '✓'} {r.code.value} [{r.rule}] {r.message}", soft_wrap=True)
        if held.ok:
            how = " → ".join(back.route) if back.allowed else "refused"
            console.print(f"return to {lab.originator}: {how}")
    raise typer.Exit(0 if held.ok else 1)


# ---------------------------------------------------------------- matrix


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


# ---------------------------------------------------------------- demo


def _demo_label(originator: str, marking: str, topics: set[str], rel: set[str], item: str) -> Label:
    return Label(
        originator=originator,
        classification=marking,
        topics=frozenset(topics),
        releasable_to=frozenset(rel),
        created=datetime(2014, 1, 1, tzinfo=UTC),
        id=item,
    )


def demo() -> None:
    """Print the sharing matrix and the decisions of the article's timeline (2012-2023)."""
    aset = load_agreements()
    missile = _demo_label("KOR", "군사Ⅱ급비밀", {"DPRK-MISSILE"}, {"JPN", "USA"}, "kor-demo-1")
    grade1 = _demo_label("KOR", "군사Ⅰ급비밀", {"DPRK-NUCLEAR"}, {"JPN", "USA"}, "kor-demo-2")
    logistics = _demo_label("KOR", "군사Ⅲ급비밀", {"LOGISTICS"}, {"JPN", "USA"}, "kor-demo-3")
    story: list[tuple[str, Label, str, str, date]] = [
        ("2012: the Japan–ROK GSOMIA signing is aborted; no channel exists", missile, "KOR", "JPN", date(2012, 7, 2)),
        (
            "2015: Korea shares missile data with Japan through the US (TISA, T-R4/T-R5)",
            missile,
            "KOR",
            "JPN",
            date(2015, 3, 1),
        ),
        (
            "2015: TISA covers only North Korean nuclear and missile topics (T-R1)",
            logistics,
            "KOR",
            "JPN",
            date(2015, 3, 1),
        ),
        ("2017: directly under the GSOMIA (JK-R2: SECRET ↔ 極秘)", missile, "KOR", "JPN", date(2017, 1, 5)),
        ("2017: Top Secret is excluded from the GSOMIA and TISA (JK-R2)", grade1, "KOR", "JPN", date(2017, 1, 5)),
        (
            "2017: Japan passes Korea's item on to the US without consent (JK-R6)",
            missile,
            "JPN",
            "USA",
            date(2017, 1, 6),
        ),
        (
            "2019-09: notice of termination given; still in force until 2019-11-23",
            missile,
            "KOR",
            "JPN",
            date(2019, 9, 1),
        ),
        (
            "2019-11-23: the notice was suspended the day before; exchange continues",
            missile,
            "KOR",
            "JPN",
            date(2019, 11, 23),
        ),
        ("2023-03-21: the notice is withdrawn; renewing again", missile, "KOR", "JPN", date(2023, 6, 1)),
    ]
    console.rule("[bold]Accord demo: the article's timeline[/bold]")
    for title, label, holder, recipient, day in story:
        console.rule(title, style="dim")
        print_decision(decide(label, holder, recipient, day, agreements=aset))
    console.rule("[bold]Hypothetical: the 2019 notice never suspended[/bold]")
    what_if = aset.what_if(drop=[("jpn-kor-gsomia", date(2019, 11, 22))])
    print_decision(decide(missile, "KOR", "JPN", date(2019, 12, 1), agreements=what_if))
    console.rule("[bold]Custody (issue 10)[/bold]")
    jp_only = _demo_label("KOR", "군사Ⅱ급비밀", {"DPRK-MISSILE"}, {"JPN"}, "kor-demo-4")
    us_orcon = Label(
        originator="USA",
        classification="SECRET",
        topics=frozenset({"DPRK-MISSILE"}),
        releasable_to=frozenset({"KOR", "JPN"}),
        caveats=frozenset({Caveat.ORIGINATOR_CONTROL}),
        created=datetime(2014, 1, 1, tzinfo=UTC),
        id="usa-demo-1",
    )
    custody_story: list[tuple[str, Label, str, str, date, AgreementSet]] = [
        (
            "2015: a KOR item REL TO JPN only crosses the US hub sealed, unread (relay-blind)",
            jp_only,
            "KOR",
            "JPN",
            date(2015, 6, 1),
            aset,
        ),
        (
            "2017: Japan cannot route a US ORCON item to Korea through the US: that is the originator's decision",
            us_orcon,
            "JPN",
            "KOR",
            date(2017, 6, 1),
            aset,
        ),
        (
            "What-if 2020: the GSOMIA has ended, yet Japan returns Korea's item (JK-R13, JK-R31)",
            logistics,
            "JPN",
            "KOR",
            date(2020, 2, 1),
            what_if,
        ),
    ]
    for title, label, holder, recipient, day, agreements in custody_story:
        console.rule(title, style="dim")
        print_decision(decide(label, holder, recipient, day, agreements=agreements))
    console.rule("[bold]Sharing matrix today[/bold]")
    print_matrix(sharing_matrix(aset, date.today()))


def register(app: typer.Typer) -> None:
    """Attach the core commands to the root app."""
    app.add_typer(agreements_app, name="agreements")
    app.command("decide")(decide_cmd)
    app.command("access")(access_cmd)
    app.command("custody")(custody_cmd)
    app.command("matrix")(matrix_cmd)
    app.command("demo")(demo)
