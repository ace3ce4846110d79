"""CLI commands over the core: decide, access, custody, demo (agreements and matrix: sibling modules)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import typer

from accord.cli import agreements_cmds, matrix_cmds
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
)
from accord.cli.agreements_cmds import EventsOpt, KeysOpt, RosterOpt, with_events
from accord.cli.matrix_cmds import AddEventOpt, DropEventOpt, hypothetical, print_matrix
from accord.core.access import access
from accord.core.agreements import AgreementSet
from accord.core.decision import Decision, decide
from accord.core.labels import Caveat, Label
from accord.core.matrix import sharing_matrix
from accord.formats.agreement_yaml import load_agreements
from accord.formats.custody_doc import load_custody
from accord.formats.documents import load_person
from accord.formats.stanag4774 import load_label


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
    logistics = _demo_label("KOR", "군사Ⅲ급비밀", {"LOGISTICS"}, {"JPN", "USA"}, "kor-demo-3")
    console.rule("[bold]Accord demo: the article's timeline[/bold]")
    _tell([(*row, aset) for row in _timeline(missile, logistics)])
    console.rule("[bold]Hypothetical: the 2019 notice never suspended[/bold]")
    what_if = aset.what_if(drop=[("jpn-kor-gsomia", date(2019, 11, 22))])
    print_decision(decide(missile, "KOR", "JPN", date(2019, 12, 1), agreements=what_if))
    console.rule("[bold]Custody (issue 10)[/bold]")
    _tell(_custody_story(aset, what_if, logistics))
    console.rule("[bold]Sharing matrix today[/bold]")
    print_matrix(sharing_matrix(aset, date.today()))


def _tell(story: list[tuple[str, Label, str, str, date, AgreementSet]]) -> None:
    for title, label, holder, recipient, day, agreements in story:
        console.rule(title, style="dim")
        print_decision(decide(label, holder, recipient, day, agreements=agreements))


def _timeline(missile: Label, logistics: Label) -> list[tuple[str, Label, str, str, date]]:
    grade1 = _demo_label("KOR", "군사Ⅰ급비밀", {"DPRK-NUCLEAR"}, {"JPN", "USA"}, "kor-demo-2")
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
    return story


def _custody_story(
    aset: AgreementSet, what_if: AgreementSet, logistics: Label
) -> list[tuple[str, Label, str, str, date, AgreementSet]]:
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
    return custody_story


def register(app: typer.Typer) -> None:
    """Attach the core commands to the root app (the agreements and matrix groups live in sibling modules)."""
    agreements_cmds.register(app)
    app.command("decide")(decide_cmd)
    app.command("access")(access_cmd)
    app.command("custody")(custody_cmd)
    matrix_cmds.register(app)
    app.command("demo")(demo)
