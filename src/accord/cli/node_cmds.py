"""``accord node ...``: set up, run and operate a nation's gateway node (issue 4)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")

node_app = typer.Typer(
    help="A nation's gateway node: exchange sealed items with partners over mutual TLS.", no_args_is_help=True
)
consent_app = typer.Typer(
    help="Consent requests and standing consents (the originator's approval).", no_args_is_help=True
)
node_app.add_typer(consent_app, name="consent")

DirOpt = Annotated[Path, typer.Option("--dir", help="the node directory")]
DbOpt = Annotated[str | None, typer.Option("--db", help="database URL (default: the node's own)")]


def register(app: typer.Typer) -> None:
    """Attach ``accord node`` to the root app."""
    app.add_typer(node_app, name="node")


def _run(fn: Callable[[], T]) -> T:
    """Run a command body: AccordError -> exit 2 (bad input) or 1 (refused, integrity)."""
    from accord.errors import AccordError, Busy, Conflict, InputError, NotFound, Refusal

    try:
        return fn()
    except (Refusal, NotFound, Conflict, Busy) as e:
        typer.echo(f"error: {e}", err=True)
        decision = e.extensions().get("decision")
        if decision:
            for r in decision.get("reasons", []):
                if r["code"] in _DENIAL_CODES:
                    typer.echo(
                        f"  {r['code']} [{r.get('agreement') or '-'} {r.get('rule') or ''}] {r['message']}",
                        err=True,
                    )
        raise typer.Exit(1 if e.status in (403, 409) else 2) from None
    except InputError as e:
        typer.echo(f"error: {e.diagnostics()}", err=True)
        raise typer.Exit(2) from None
    except AccordError as e:
        typer.echo(f"error: {e.diagnostics()}", err=True)
        raise typer.Exit(1) from None


_DENIAL_CODES = {
    "NO_AGREEMENTS",
    "UNKNOWN_PARTY",
    "UNKNOWN_LEVEL",
    "SAME_PARTY",
    "ORIGINATOR_ONLY",
    "NOT_RELEASABLE",
    "NO_EQUIVALENT",
    "NO_CHANNEL",
    "NOT_IN_FORCE",
    "TERMINATED",
    "SUSPENDED",
    "OUT_OF_SCOPE",
    "LEVEL_NOT_COVERED",
    "NO_PROTECTION_BASIS",
    "CONSENT_REQUIRED",
    "FROZEN",
    "OTHER_PURPOSE",
    "NOT_HELD",
    "CUSTODY_ENDED",
}


def _print(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _date(text: str | None) -> dt.date | None:
    from accord.errors import InputError

    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"not an ISO date: {text!r}", field="at") from None


@node_app.command("init")
def init(
    party: Annotated[str, typer.Option(help="this nation's alpha-3 code, e.g. KOR")],
    directory: DirOpt,
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="listen port")] = 8443,
    url: Annotated[str | None, typer.Option(help="URL partners use (default https://host:port)")] = None,
    db: DbOpt = None,
    what_if: Annotated[bool, typer.Option("--what-if", help="accept decision dates other than today")] = False,
) -> None:
    """Create the configuration, TLS identity, receipt key and database of a node."""

    def body() -> None:
        from accord.errors import InputError
        from accord.node.cluster import init_node
        from accord.node.config import NODE_FILE, check_party
        from accord.node.files import check_db_url

        check_party(party, source="--party")
        if db:
            check_db_url(db)  # before anything is created (init_node also removes what it made on failure)
        if (directory / NODE_FILE).exists():
            raise InputError("a node is already configured here", source=str(directory))
        init_node(directory, party, port=port, db=db, what_if=what_if, host=host, url=url or "")
        typer.echo(f"node {party} initialised in {directory}; give partners {directory / 'entry.yaml'}")
        typer.echo(f"entry fingerprint (give it out of band): {_entry_fingerprint(directory)}")

    _run(body)


@node_app.command("add-peer")
def add_peer(
    directory: DirOpt,
    entry: Annotated[Path | None, typer.Option(help="a partner's entry.yaml")] = None,
    roster: Annotated[Path | None, typer.Option(help="a roster file listing several partners")] = None,
    fingerprint: Annotated[
        list[str] | None,
        typer.Option(
            help="the partner's entry fingerprint, checked out of band (printed by its `accord node init` and "
            "`accord node fingerprint`); one per partner pinned"
        ),
    ] = None,
) -> None:
    """Pin a partner (party, URL, TLS certificate, receipt key) in this node's roster.

    Every entry must match a ``--fingerprint`` given out of band, and its party must be the party its
    certificate and sealed roster entry name.
    """

    def body() -> None:
        from accord.errors import InputError
        from accord.formats._yaml import load_yaml
        from accord.node.config import NodeConfig, Peer, Roster

        cfg = NodeConfig.load(directory)
        current = Roster.load(directory)
        new: list[Peer] = []
        if entry is not None:
            new.append(Peer.from_dict(load_yaml(entry.read_bytes(), source=str(entry)), source=str(entry)))
        if roster is not None:
            new.extend(Roster.parse(roster.read_text(), source=str(roster)).peers.values())
        if not new:
            raise InputError("give --entry or --roster")
        from accord.node.sealing import pin_entry

        given = {f.strip().lower().removeprefix("sha256:") for f in fingerprint or []}
        for p in new:  # every check before anything is pinned
            if p.party == cfg.party:
                continue
            p.check_party_binding(source=f"{p.party} entry")
            if p.entry_fingerprint not in given:
                raise InputError(
                    f"{p.party}: pinning needs --fingerprint (the entry's fingerprint, checked out of band with "
                    f"{p.party}'s operators); this entry's is {p.entry_fingerprint}"
                    if not given
                    else f"{p.party}: the entry's fingerprint {p.entry_fingerprint} is none of those given"
                )
        for p in new:
            if p.party == cfg.party:
                continue
            fp = pin_entry(directory, p.sealed_entry, source=f"{p.party} entry")
            current.peers[p.party] = p
            typer.echo(f"pinned {p.party} at {p.url}: certificate sha256 {p.fingerprint[:16]}…, keys {fp[:16]}…")
        current.save(directory)

    from accord.node.files import private_umask

    with private_umask():  # the roster and trust files it writes are private whatever the umask
        _run(body)


def _entry_fingerprint(directory: Path) -> str:
    from accord.node.config import NodeConfig, Peer, self_entry

    return Peer.from_dict(self_entry(NodeConfig.load(directory)), source="entry").entry_fingerprint


@node_app.command("fingerprint")
def fingerprint_cmd(directory: DirOpt) -> None:
    """Print this node's entry fingerprint, for partners to check out of band before `add-peer`."""
    _run(lambda: typer.echo(_entry_fingerprint(directory)))


@node_app.command("run")
def run(
    directory: DirOpt,
    db: DbOpt = None,
    workers: Annotated[int | None, typer.Option(help="delivery threads (default 8)")] = None,
    log_level: Annotated[str, typer.Option(help="log level")] = "info",
    port: Annotated[int | None, typer.Option(help="override the configured port (extra processes)")] = None,
    audit: Annotated[bool, typer.Option(help="write the audit log (one process per nation)")] = True,
) -> None:
    """Serve the node (FastAPI on uvicorn, mutual TLS) and deliver its outbox until interrupted."""
    import logging

    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    from accord.console import mount_console
    from accord.node.app import serve

    _run(
        lambda: serve(
            directory,
            db=db,
            log_level=log_level,
            port=port,
            audit=audit,
            mounts=[mount_console],
            **({} if workers is None else {"workers": workers}),
        )
    )


@node_app.command("submit")
def submit(
    directory: DirOpt,
    label: Annotated[Path, typer.Option(help="the item's label (JSON)")],
    to: Annotated[str, typer.Option(help="recipient party")],
    infile: Annotated[Path, typer.Option("--in", help="the item")],
    at: Annotated[str | None, typer.Option(help="decision date (what-if nodes only)")] = None,
    hub_approval: Annotated[
        bool, typer.Option(help="--no-hub-approval: each hub holds the item until this node's officer approves (T-R5)")
    ] = True,
    db: DbOpt = None,
) -> None:
    """Decide, seal and queue a release; the running node delivers it. Exit 1 when refused."""

    def body() -> None:
        from accord.errors import InputError
        from accord.node.wiring import load_service

        try:
            doc = json.loads(label.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read label: {e}", source=str(label)) from None
        svc = load_service(directory, db=db)
        out = svc.submit(doc, infile.read_bytes(), to, _date(at), hub_approval=hub_approval)
        typer.echo(f"{out.item_id}: queued for {to} via {' → '.join(out.decision['route'])}")

    _run(body)


@node_app.command("forward")
def forward(
    directory: DirOpt,
    item: Annotated[str, typer.Option(help="item id")],
    to: Annotated[str, typer.Option(help="recipient party")],
    at: Annotated[str | None, typer.Option(help="decision date (what-if nodes only)")] = None,
    db: DbOpt = None,
    purpose: Annotated[str | None, typer.Option(help="the purpose of this release (JK-R7)")] = None,
) -> None:
    """Release a held item onward (the third-party rule applies). Exit 1 when refused."""

    def body() -> None:
        from accord.node.wiring import load_service

        out = load_service(directory, db=db).forward(item, to, _date(at), purpose)
        typer.echo(f"{item}: {out.status}")

    _run(body)


@node_app.command("status")
def status(
    directory: DirOpt, item: Annotated[str | None, typer.Option(help="item id")] = None, db: DbOpt = None
) -> None:
    """Custody of an item: label, marking, outbox, inbox, receipts. Without --item: the node's alarms
    (audit events quarantined or waiting for the log)."""

    def body() -> None:
        from accord.node.wiring import load_service

        svc = load_service(directory, db=db, audit=False)
        if item is not None:
            _print(svc.item_or_relay_status(item).to_dict())
        else:
            _print({"party": svc.party, "audit": svc.audit_health()})

    _run(body)


@node_app.command("outbox")
def outbox(directory: DirOpt, db: DbOpt = None) -> None:
    """The outbox: every message, its state and attempts."""

    def body() -> None:
        from accord.node.wiring import load_service

        _print([m.to_dict() for m in load_service(directory, db=db).outbox_messages()])

    _run(body)


@consent_app.command("list")
def consent_list(directory: DirOpt, state: Annotated[str | None, typer.Option()] = "pending", db: DbOpt = None) -> None:
    """Consent requests (default: pending)."""

    def body() -> None:
        from accord.node.wiring import load_service

        for r in load_service(directory, db=db).consent_requests(state):
            typer.echo(
                f"{r.request_id}  [{r.role}] {r.holder} → {r.recipient}  item {r.item_id}"
                f"  {r.state}  (as of {r.at_date})"
            )

    _run(body)


@consent_app.command("approve")
def consent_approve(
    directory: DirOpt,
    request: Annotated[str, typer.Argument()],
    officer: Annotated[str, typer.Option(help="the security officer deciding")],
    reason: Annotated[str, typer.Option()] = "",
    db: DbOpt = None,
) -> None:
    """Approve a holder's request to release one of this nation's items onward."""

    def body() -> None:
        from accord.node.wiring import load_service

        _print(load_service(directory, db=db).decide_consent(request, True, officer, reason).to_dict())

    _run(body)


@consent_app.command("deny")
def consent_deny(
    directory: DirOpt,
    request: Annotated[str, typer.Argument()],
    officer: Annotated[str, typer.Option(help="the security officer deciding")],
    reason: Annotated[str, typer.Option()] = "",
    db: DbOpt = None,
) -> None:
    """Deny a holder's request."""

    def body() -> None:
        from accord.node.wiring import load_service

        _print(load_service(directory, db=db).decide_consent(request, False, officer, reason).to_dict())

    _run(body)


@consent_app.command("grant")
def consent_grant(
    directory: DirOpt,
    holder: Annotated[str, typer.Option(help="the party allowed to release (e.g. the hub)")],
    to: Annotated[str, typer.Option(help="the party it may release to")],
    topic: Annotated[list[str], typer.Option(help="topic covered (repeat)")],
    officer: Annotated[str, typer.Option(help="the security officer granting")],
    granted: Annotated[str, typer.Option(help="first day")] = dt.date.today().isoformat(),
    until: Annotated[str, typer.Option(help="last day")] = (dt.date.today() + dt.timedelta(days=365)).isoformat(),
    db: DbOpt = None,
) -> None:
    """Grant a standing consent for topics (e.g. DPRK-MISSILE relayed by USA to JPN)."""

    def body() -> None:
        from accord.node.wiring import load_service

        g, u = _date(granted), _date(until)
        if g is None or u is None:
            raise typer.Exit(2)
        _print(load_service(directory, db=db).grant_standing(holder, to, topic, g, u, officer).to_dict())

    _run(body)


@node_app.command("demo")
def demo() -> None:
    """Three nodes (KOR, JPN, USA) on loopback play the article's story end to end, then stop."""
    from accord.node.demo import main

    raise typer.Exit(main())
