"""``accord people ...`` (the register of cleared individuals, JK-R10) and ``accord console serve``.

Every change is journaled in the node's database (and reaches its audit log). Passwords are never taken
from the command line: ``--password-stdin`` reads one line from standard input, otherwise a hidden prompt.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from accord.console.backend import NodeBackend

T = TypeVar("T")

people_app = typer.Typer(
    help="The node's register of cleared individuals (JK-R10), accounts and visits.", no_args_is_help=True
)
console_app = typer.Typer(help="The operator console in the browser.", no_args_is_help=True)

DirOpt = Annotated[Path, typer.Option("--dir", help="the node directory")]
ByOpt = Annotated[str | None, typer.Option("--by", help="who makes the change (audited; default: cli:<login>)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def register(app: typer.Typer) -> None:
    """Attach ``accord people`` and ``accord console``."""
    app.add_typer(people_app, name="people")
    app.add_typer(console_app, name="console")


def _run(fn: Callable[[], T]) -> T:
    from accord.errors import AccordError

    try:
        return fn()
    except AccordError as e:  # a refusal or a conflict is an answer (exit 1); bad input exits 2
        typer.echo(f"error: {e.diagnostics()}", err=True)
        raise typer.Exit(1 if e.status in (403, 409) else 2) from None
    except OSError as e:
        typer.echo(f"error: {e.filename or ''}: {e.strerror}", err=True)
        raise typer.Exit(2) from None


def _backend(directory: Path) -> NodeBackend:
    from accord.console.backend import NodeBackend
    from accord.node.wiring import load_service

    return NodeBackend(load_service(directory), directory)


def _by(by: str | None) -> str:
    if by:
        return by
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "cli"


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Again", hide_input=True) != first:
        from accord.errors import InputError

        raise InputError("the two passwords differ", field="password")
    return str(first)


def _day(value: str | None, option: str) -> dt.date | None:
    from accord.errors import InputError

    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{value!r} is not a date YYYY-MM-DD", field=option) from None


@people_app.command("add")
def add(
    person_id: Annotated[str, typer.Argument(help="identifier (also the console user name)")],
    directory: DirOpt = Path("."),
    name: Annotated[str, typer.Option("--name", help="display name")] = "",
    nationality: Annotated[str | None, typer.Option("--nationality", help="alpha-3 (default: the node's)")] = None,
    clearance: Annotated[str | None, typer.Option("--clearance", help="PSC level (national marking or key)")] = None,
    clearance_until: Annotated[str | None, typer.Option("--clearance-until", help="YYYY-MM-DD")] = None,
    ntk: Annotated[list[str] | None, typer.Option("--ntk", help="need-to-know topic (repeatable)")] = None,
    role: Annotated[list[str] | None, typer.Option("--role", help="operator | security-officer | auditor")] = None,
    contractor: Annotated[bool, typer.Option("--contractor", help="a contractor's employee (JK-R25)")] = False,
    employer: Annotated[str | None, typer.Option("--employer")] = None,
    facility: Annotated[str | None, typer.Option("--facility")] = None,
    facility_cleared_until: Annotated[str | None, typer.Option("--facility-cleared-until")] = None,
    briefed_on: Annotated[str | None, typer.Option("--briefed-on", help="day of the security briefing")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
    no_account: Annotated[bool, typer.Option("--no-account", help="register without a console account")] = False,
    by: ByOpt = None,
) -> None:
    """Register a person (with a console account unless --no-account)."""

    def go() -> None:
        from accord.console.app import member_from_form

        b = _backend(directory)
        form = {
            "id": person_id,
            "name": name or person_id,
            "nationality": nationality or b.party,
            "clearance": clearance or "",
            "clearance_until": clearance_until or "",
            "need_to_know": " ".join(ntk or []),
            "roles": " ".join(role or []),
            "employment": "contractor" if contractor else "official",
            "employer": employer or "",
            "facility": facility or "",
            "facility_cleared_until": facility_cleared_until or "",
            "briefed_on": briefed_on or "",
        }
        m = member_from_form(form, b.party)
        pw = None if no_account else _password(password_stdin)
        m = b.register.add(m, by=_by(by), password=pw)
        typer.echo(f"registered {m.id} ({m.person.nationality}, {m.person.clearance or 'no clearance'})")

    _run(go)


@people_app.command("list")
def list_(directory: DirOpt = Path("."), as_json: JsonOpt = False) -> None:
    """The register."""

    def go() -> None:
        members = _backend(directory).register.members()
        if as_json:
            typer.echo(json.dumps([m.to_dict() for m in members], indent=2, ensure_ascii=False))
            return
        from rich.console import Console
        from rich.table import Table

        t = Table("id", "name", "nation", "kind", "clearance", "until", "need-to-know", "roles", "state")
        for m in members:
            p = m.person
            t.add_row(
                m.id,
                m.name,
                p.nationality,
                m.employment.value + (f" ({m.employer})" if m.employer else ""),
                p.clearance or "-",
                str(p.clearance_until or ""),
                " ".join(sorted(p.need_to_know)),
                " ".join(sorted(m.roles)),
                "disabled" if m.disabled else "active",
            )
        Console().print(t)

    _run(go)


@people_app.command("set-clearance")
def set_clearance(
    person_id: str,
    clearance: Annotated[str, typer.Argument(help="the PSC level, or 'none' to withdraw it")],
    directory: DirOpt = Path("."),
    until: Annotated[str | None, typer.Option("--until", help="expiry YYYY-MM-DD")] = None,
    by: ByOpt = None,
) -> None:
    """Grant, change or withdraw a person's clearance."""

    def go() -> None:
        m = _backend(directory).register.set_clearance(
            person_id, None if clearance.lower() == "none" else clearance, _day(until, "until"), by=_by(by)
        )
        typer.echo(
            f"{m.id}: {m.person.clearance or 'no clearance'}"
            + (f" until {m.person.clearance_until}" if m.person.clearance_until else "")
        )

    _run(go)


@people_app.command("set-ntk")
def set_ntk(
    person_id: str,
    topics: Annotated[list[str], typer.Argument(help="topics (none: clear them)")],
    directory: DirOpt = Path("."),
    by: ByOpt = None,
) -> None:
    """Replace a person's need-to-know topics."""

    def go() -> None:
        ts = frozenset(t.upper() for t in topics if t.lower() != "none")
        m = _backend(directory).register.set_need_to_know(person_id, ts, by=_by(by))
        typer.echo(f"{m.id}: need-to-know {' '.join(sorted(m.person.need_to_know)) or '(none)'}")

    _run(go)


@people_app.command("set-roles")
def set_roles(
    person_id: str,
    roles: Annotated[list[str], typer.Argument(help="roles (none: no console)")],
    directory: DirOpt = Path("."),
    by: ByOpt = None,
) -> None:
    """Replace a person's console roles."""

    def go() -> None:
        from accord.people.register import iter_roles

        m = _backend(directory).register.set_roles(person_id, iter_roles([r for r in roles if r != "none"]), by=_by(by))
        typer.echo(f"{m.id}: roles {' '.join(sorted(m.roles)) or '(none)'}")

    _run(go)


@people_app.command("set-contractor")
def set_contractor(
    person_id: str,
    directory: DirOpt = Path("."),
    facility_cleared_until: Annotated[str | None, typer.Option("--facility-cleared-until")] = None,
    briefed_on: Annotated[str | None, typer.Option("--briefed-on")] = None,
    by: ByOpt = None,
) -> None:
    """Record a contractor facility's clearance and the person's briefing (JK-R25)."""

    def go() -> None:
        _backend(directory).register.set_contractor(
            person_id,
            facility_cleared_until=_day(facility_cleared_until, "facility-cleared-until"),
            briefed_on=_day(briefed_on, "briefed-on"),
            by=_by(by),
        )
        typer.echo(f"{person_id}: updated")

    _run(go)


@people_app.command("disable")
def disable(
    person_id: str,
    directory: DirOpt = Path("."),
    reason: Annotated[str, typer.Option("--reason")] = "",
    by: ByOpt = None,
) -> None:
    """Withdraw a person's access (the record stays; sessions end)."""
    _run(lambda: _backend(directory).register.disable(person_id, by=_by(by), reason=reason))
    typer.echo(f"{person_id}: disabled")


@people_app.command("enable")
def enable(person_id: str, directory: DirOpt = Path("."), by: ByOpt = None) -> None:
    """Restore a person's access."""
    _run(lambda: _backend(directory).register.enable(person_id, by=_by(by)))
    typer.echo(f"{person_id}: enabled")


@people_app.command("passwd")
def passwd(
    person_id: str,
    directory: DirOpt = Path("."),
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    by: ByOpt = None,
) -> None:
    """Set a person's console password (argon2id)."""
    _run(lambda: _backend(directory).register.set_password(person_id, _password(password_stdin), by=_by(by)))
    typer.echo(f"{person_id}: password set")


@people_app.command("visit")
def visit(
    visit_id: Annotated[str, typer.Argument(help="reference of the visit authorization")],
    person: Annotated[str, typer.Option("--person", help="the visitor (registered, foreign national)")],
    highest: Annotated[str, typer.Option("--highest", help="highest level furnished (host's marking)")],
    topic: Annotated[list[str], typer.Option("--topic", help="topic of the visit (repeatable)")],
    start: Annotated[str, typer.Option("--start")],
    end: Annotated[str, typer.Option("--end")],
    purpose: Annotated[str, typer.Option("--purpose", help="official purpose")],
    directory: DirOpt = Path("."),
    by: ByOpt = None,
) -> None:
    """Record a visit the host authorized (JK-R18): the visitor's sessions are capped at --highest."""

    def go() -> None:
        from accord.core.people import Visit
        from accord.errors import InputError

        b = _backend(directory)
        s, e = _day(start, "start"), _day(end, "end")
        if s is None or e is None:
            raise InputError("a visit has a start and an end day", field="start")
        v = Visit(
            id=visit_id,
            person=person,
            host=b.party,
            highest=highest,
            topics=frozenset(t.upper() for t in topic),
            start=s,
            end=e,
            purpose=purpose,
            approved_by=_by(by),
        )
        b.register.add_visit(v, by=_by(by))
        typer.echo(f"visit {v.id}: {v.person} up to {v.highest}, {v.start}..{v.end}")

    _run(go)


@people_app.command("read")
def read(
    item_id: str,
    person: Annotated[str, typer.Option("--person", help="who reads")],
    purpose: Annotated[str, typer.Option("--purpose", help="why (JK-R7)")],
    directory: DirOpt = Path("."),
    out: Annotated[Path | None, typer.Option("--out", help="write the content here (0600)")] = None,
) -> None:
    """Read an item's content as a person (decided by clearance and need-to-know; always audited)."""

    def go() -> None:
        from accord.people.reading import ReadRefused, read_item

        b = _backend(directory)
        try:
            d, data = read_item(b, person, item_id, purpose)
        except ReadRefused as e:
            for r in e.decision.denials:
                typer.echo(f"refused: {r.code} [{r.rule or '-'}] {r.message}", err=True)
            raise typer.Exit(1) from None
        if out is None:
            typer.echo(f"allowed ({', '.join(r.code for r in d.reasons)}); {len(data)} bytes; give --out to save")
            return
        import os

        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        typer.echo(f"allowed; {len(data)} bytes written to {out}")

    _run(go)


@people_app.command("attest")
def attest_cmd(
    label_file: Annotated[Path, typer.Option("--label", help="the label (accord label JSON)")],
    reader: Annotated[list[str], typer.Option("--reader", help="an intended reader (repeatable)")],
    directory: DirOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """JK-R17: are the intended readers here cleared for this label today? Exit 1 if any is not."""

    def go() -> dict[str, Any]:
        from accord.console.app import attest

        label = json.loads(label_file.read_text(encoding="utf-8"))
        return attest(_backend(directory), {"label": label, "readers": reader})

    try:
        result = _run(go)
    except json.JSONDecodeError as e:
        typer.echo(f"error: {label_file}: not JSON ({e.msg} at line {e.lineno})", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        for r in result["readers"]:
            why = "; ".join(x["message"] for x in r["reasons"])
            typer.echo(f"{r['person']}: {'cleared' if r['cleared'] else 'NOT cleared'} — {why}")
    if not result["all_cleared"]:
        raise typer.Exit(1)


@console_app.command("serve")
def serve(
    directory: DirOpt = Path("."),
    host: Annotated[str, typer.Option("--host", help="listen address (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8444,
    tls: Annotated[bool, typer.Option("--tls/--no-tls", help="serve over TLS with the node's certificate")] = True,
) -> None:
    """Serve the console for browsers (no client certificate needed; sign-in with a local account)."""

    def go() -> None:
        import uvicorn
        from fastapi import FastAPI
        from fastapi.responses import RedirectResponse

        from accord.console.app import create_console

        if not tls and host not in ("127.0.0.1", "localhost", "::1"):
            from accord.errors import InputError

            raise InputError("without TLS the console listens on loopback only", field="host")
        b = _backend(directory)
        root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        root.mount("/console", create_console(b, secure_cookies=True))

        @root.get("/")
        def _home() -> RedirectResponse:
            return RedirectResponse("/console/", status_code=303)

        cfg = b.service.cfg
        ssl = {"ssl_certfile": str(cfg.cert_file), "ssl_keyfile": str(cfg.key_file)} if tls else {}
        typer.echo(f"console of {b.party} at {'https' if tls else 'http'}://{host}:{port}/console/", err=True)
        uvicorn.run(root, host=host, port=port, log_level="warning", access_log=False, **ssl)  # type: ignore[arg-type]

    _run(go)
