"""``accord audit``: verify, prove, export, witness, keygen, append, and ``note verify``.

Exit codes: 0 ok; 1 a check failed (tampering, equivocation, no known key verified the note);
2 bad input (malformed note, key, file or event) with ``error: ...`` on stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer

from accord.cli._common import console, err_console, fail, handles_errors, read_file

F = TypeVar("F", bound=Callable[..., Any])

#: Largest key, verifier-key or events file read.
_MAX_KEY_FILE = 64 * 1024
_MAX_EVENTS_FILE = 64 * 1024 * 1024


def _database_errors(fn: F) -> F:
    """A damaged, truncated or locked database is one ``error: DB: …`` line (exit 2), never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import SQLAlchemyError

        from accord.audit.store import database_problem

        try:
            return fn(*args, **kwargs)
        except SQLAlchemyError as exc:
            where = kwargs.get("db") or kwargs.get("source") or kwargs.get("partner") or "database"
            fail(f"{where}: cannot use the database: {database_problem(exc)}")
        return None

    return wrapper  # type: ignore[return-value]


def _text_file(path: Path, what: str) -> str:
    """A small UTF-8 text file (a key), or exit 2 naming it."""
    try:
        return read_file(path, _MAX_KEY_FILE).decode("utf-8")
    except UnicodeDecodeError:
        return fail(f"{path}: {what} is not UTF-8 text")  # type: ignore[no-any-return]


audit_app = typer.Typer(
    name="audit", help="Tamper-evident audit log: verify, prove, export, witness.", no_args_is_help=True
)
note_app = typer.Typer(name="note", help="C2SP signed notes and checkpoints.", no_args_is_help=True)
audit_app.add_typer(note_app)

VkeyOpt = typer.Option(
    ..., "--vkey", help="Trusted verifier key (name+keyid+base64), or a file of them (one a line). Repeatable."
)


def _vkeys(values: list[str]) -> list[Any]:
    from accord.audit.note import parse_vkey

    out = []
    for v in values:
        p = Path(v)
        lines = _text_file(p, "verifier key file").split() if "+" not in v and p.is_file() else [v]
        out += [parse_vkey(line) for line in lines if line.strip()]
    if not out:
        fail("--vkey: no verifier key given")
    return out


def _is_export(source: str) -> bool:
    p = Path(source)
    if "://" in source or not p.is_file():
        return False
    with p.open("rb") as f:
        return f.read(1) == b"{"


ForceOpt = typer.Option(False, "--force", help="Replace an existing output file.")


def _check_output(out: Path, *, force: bool, inputs: tuple[str, ...]) -> None:
    """An output is never an input, never a device, directory or symlink, and never replaced without --force."""
    for i in inputs:
        if "://" not in i and Path(i).exists() and out.exists() and out.resolve() == Path(i).resolve():
            fail(f"{out}: is the input {i}; refusing to overwrite it")
    if out.is_symlink():
        fail(f"{out}: is a symbolic link; refusing to write through it")
    if out.exists():
        if not out.is_file():
            fail(f"{out}: exists and is not a regular file; refusing to write to it")
        if not force:
            fail(f"{out}: exists; use --force to replace it")


def _write_atomically(out: Path, write: Callable[[Path], Any]) -> Any:
    """Write to a temporary file beside ``out``, then rename it into place: never a partial output."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent if str(out.parent) else ".")
    os.close(fd)
    try:
        result = write(Path(tmp))
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result


def _existing(db: str, *, readonly: bool = True, witness: bool = False) -> Any:
    """An engine on an existing audit database (never creates one, never changes one it does not
    recognise); :class:`InputError` naming it otherwise."""
    from accord.audit import store

    tables = (store.witness_state,) if witness else tuple(store.metadata.sorted_tables)
    return store.open_existing(db, readonly=readonly, tables=tables)


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def _open_database(db: str) -> tuple[Any, str]:
    """An engine on an existing audit database and the log origin it records (exit 2 if none)."""
    from sqlalchemy import select

    from accord.audit import store

    engine = _existing(db)
    with engine.connect() as conn:
        origin = conn.execute(select(store.meta.c.value).where(store.meta.c.key == "origin")).scalar()
    if not origin:
        fail(f"{db}: not an Accord audit database (no log origin)")
    return engine, str(origin)


def _report_problems(problems: list[str]) -> None:
    err_console.print("[bold red]audit log verification FAILED[/bold red]")
    for p in problems:
        err_console.print(f"  - {p}", markup=False, soft_wrap=True)


@audit_app.command("keygen")
@handles_errors
def keygen(
    name: str = typer.Argument(..., help="Key name, e.g. the log origin accord.kor.example/audit."),
    out: Path = typer.Option(..., "--out", help="Where to write the secret key (created 0600; never overwritten)."),
    cosigner: bool = typer.Option(False, "--cosigner", help="A witness cosignature key (type 0x04)."),
) -> None:
    """Generate a note signing key; prints the verifier key to give to partners."""
    from accord.audit.note import CosignatureSigner, NoteSigner

    signer = CosignatureSigner.generate(name) if cosigner else NoteSigner.generate(name)
    try:
        _write_secret(out, signer.skey)
    except FileExistsError:
        fail(f"{out}: exists; refusing to overwrite a key")
    console.print(signer.vkey, markup=False)


def _load_signer(path: Path, *, cosigner: bool = False) -> Any:
    from accord.audit.note import CosignatureSigner, NoteSigner

    text = _text_file(path, "key file").strip()
    return CosignatureSigner.from_skey(text) if cosigner else NoteSigner.from_skey(text)


@audit_app.command("append")
@handles_errors
@_database_errors
def append(
    db: str = typer.Option(..., "--db", help="Audit database: SQLite path or SQLAlchemy URL."),
    key: Path = typer.Option(..., "--key", help="The log's secret signer key file."),
    events: Path = typer.Argument(..., help="A JSON event, a JSON list of events, or '-' for stdin."),
) -> None:
    """Append events (durably, with a signed checkpoint); prints their indices."""
    from accord.audit.log import AuditLog
    from accord.formats._json import load_json

    signer = _load_signer(key)
    raw = sys.stdin.buffer.read(_MAX_EVENTS_FILE + 1) if str(events) == "-" else read_file(events, _MAX_EVENTS_FILE)
    obj = load_json(raw, source="stdin" if str(events) == "-" else str(events), max_bytes=_MAX_EVENTS_FILE)
    items = obj if isinstance(obj, list) else [obj]
    with AuditLog(db, origin=signer.name, signer=signer) as log:
        idx = log.append_many(items)
    console.print(" ".join(map(str, idx)))


@audit_app.command("verify")
@handles_errors
@_database_errors
def verify(
    source: str = typer.Argument(..., help="A node's audit database (SQLite path or URL) or an exported log."),
    vkey: list[str] = VkeyOpt,
    known: list[Path] = typer.Option(
        [],
        "--known",
        help="A signed checkpoint seen elsewhere (witness, receipt) that the log must still contain. Repeatable.",
    ),
) -> None:
    """Recompute the whole log and check every checkpoint against the trusted key(s).

    On a node's database, also compare the log with the node's journal: every journal event must be in the log
    or quarantined (listed); a missing one (older than a minute) fails with exit 1.
    """
    from accord.audit.errors import AuditIntegrityError
    from accord.audit.log import verify_database, verify_export

    verifiers = _vkeys(vkey)
    known_notes = [p.read_bytes() for p in known]
    journal: dict[str, Any] | None = None
    try:
        if _is_export(source):
            rep = verify_export(source, trusted=verifiers, known_checkpoints=known_notes)
        else:
            if "://" not in source and not Path(source).exists():
                fail(f"{source}: no such database or export file")
            engine = _existing(source)
            try:
                rep = verify_database(engine, trusted=verifiers, known_checkpoints=known_notes)
                from accord.node.audit import compare_journal

                journal = compare_journal(engine)  # a node database: its journal against its log (issue 9)
            finally:
                engine.dispose()
    except AuditIntegrityError as e:
        _report_problems(e.problems)
        raise typer.Exit(1) from None
    console.print(
        f"ok: {rep.size} events, root {rep.root.hex()}, {rep.checkpoints_verified} checkpoints verified, "
        f"covered up to {rep.last_checkpoint}",
        soft_wrap=True,
    )
    if journal is not None:
        _report_journal(journal)


def _report_journal(j: dict[str, Any]) -> None:
    """The node journal compared with the log: quarantined events listed, missing ones fail (exit 1)."""
    for q in j["quarantined"]:
        console.print(
            f"quarantined: journal event {q['journal']} ({q['type']}): {q['problem']}", markup=False, soft_wrap=True
        )
    extra = f", {len(j['quarantined'])} quarantined" + (f", {len(j['pending'])} pending" if j["pending"] else "")
    if j["missing"]:
        shown = ", ".join(str(i) for i in j["missing"][:20]) + (" …" if len(j["missing"]) > 20 else "")
        err_console.print(
            f"journal: {len(j['missing'])} of {j['events']} events missing from the log (journal ids {shown}){extra}",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    console.print(f"journal: every event in the log ({j['events']} journal events{extra})", soft_wrap=True)


@audit_app.command("prove")
@handles_errors
@_database_errors
def prove(
    item: str = typer.Argument(..., help="Item id whose events to prove."),
    db: str = typer.Option(..., "--db", help="Audit database: SQLite path or SQLAlchemy URL."),
    vkey: list[str] = typer.Option([], "--vkey", help="Check the evidence against these keys before printing."),
) -> None:
    """Print receipt evidence (checkpoint + inclusion proof) for every event about ITEM, as JSON lines."""
    from accord.audit.log import AuditLog
    from accord.audit.receipt import verify_receipt_evidence

    engine, origin = _open_database(db)
    verifiers = _vkeys(vkey) if vkey else []
    with AuditLog(engine, origin=origin) as log:
        found = log.find(item)
        if not found:
            err_console.print(f"no event about {item!r} in the log")
            raise typer.Exit(1)
        for idx in found:
            ev = log.receipt_evidence(idx)
            if verifiers:
                verify_receipt_evidence(ev, verifiers, origin=origin)
            console.print(ev.to_json(), markup=False, soft_wrap=True)


@audit_app.command("checkpoint")
@handles_errors
@_database_errors
def checkpoint(
    db: str = typer.Option(..., "--db", help="Audit database: SQLite path or SQLAlchemy URL."),
) -> None:
    """Print the log's latest signed checkpoint (what witnesses fetch and receipts carry)."""
    from sqlalchemy import select

    from accord.audit import store

    engine = _existing(db)
    with engine.connect() as conn:
        note = conn.execute(
            select(store.checkpoints.c.note).order_by(store.checkpoints.c.size.desc()).limit(1)
        ).scalar()
    engine.dispose()
    if note is None:
        fail(f"{db}: no checkpoint yet")
    else:
        sys.stdout.write(bytes(note).decode("utf-8"))


@audit_app.command("export")
@handles_errors
@_database_errors
def export(
    db: str = typer.Option(..., "--db", help="Audit database: SQLite path or SQLAlchemy URL."),
    out: Path = typer.Option(..., "--out", help="Export file (JSON lines); never replaced without --force."),
    force: bool = ForceOpt,
) -> None:
    """Export the log (events and signed checkpoints) to a file that partners can verify offline."""
    from accord.audit.log import AuditLog

    _check_output(out, force=force, inputs=(db,))
    engine, origin = _open_database(db)
    with AuditLog(engine, origin=origin) as log:
        n = _write_atomically(out, log.export)
    console.print(f"exported {n} events to {out}")


@audit_app.command("witness")
@handles_errors
@_database_errors
def witness(
    partner: str = typer.Argument(..., help="The partner's log: an exported log file, or a database path/URL."),
    origin: str = typer.Option(..., "--origin", help="The partner log's origin."),
    vkey: list[str] = VkeyOpt,
    db: str = typer.Option(..., "--db", help="This node's database (witness state and evidence)."),
    key: Path = typer.Option(..., "--key", help="This witness's cosigner key file (keygen --cosigner)."),
    out: Path | None = typer.Option(
        None, "--out", help="Write the cosigned checkpoint here (never replaced without --force)."
    ),
    force: bool = ForceOpt,
) -> None:
    """Fetch the partner's checkpoint, check consistency with the last one seen, and cosign it.

    Exit 1 on equivocation (both signed checkpoints are printed as evidence).
    """
    from accord.audit.errors import EquivocationError
    from accord.audit.log import AuditLog
    from accord.audit.witness import CheckpointFetcher, ExportFetcher, LogFetcher, Partner, Witness

    if out is not None:
        _check_output(out, force=force, inputs=(partner, db))
    cos = _load_signer(key, cosigner=True)
    fetcher: CheckpointFetcher
    plog: AuditLog | None = None
    if _is_export(partner):
        fetcher = ExportFetcher(partner)
    else:
        plog = AuditLog(_existing(partner), origin=origin)
        fetcher = LogFetcher(plog)
    if "://" not in db and Path(db).exists():
        _existing(db, witness=True).dispose()  # this node's database: an audit database, if it exists
    try:
        w = Witness(db, cosigner=cos)
        res = w.witness(Partner(origin, _vkeys(vkey), fetcher))
    except EquivocationError as e:
        err_console.print(f"[bold red]EQUIVOCATION[/bold red] by {e.origin}: {e.reason}")
        sys.stdout.write("--- checkpoint A ---\n" + e.note_a.decode() + "--- checkpoint B ---\n" + e.note_b.decode())
        raise typer.Exit(1) from None
    finally:
        if plog is not None:
            plog.close()
    console.print(f"{res.status}: {origin} at size {res.size}")
    if res.cosigned is not None:
        if out is not None:
            cosigned = res.cosigned
            _write_atomically(out, lambda p: p.write_bytes(cosigned))
        else:
            sys.stdout.write(res.cosigned.decode())


@note_app.command("verify")
def note_verify(
    file: Path = typer.Argument(..., help="A signed note or checkpoint ('-' for stdin)."),
    vkey: list[str] = VkeyOpt,
) -> None:
    """Verify a signed note: exit 0 if a known key verifies it, 1 if none does, 2 if malformed."""
    from accord.audit.errors import MalformedNoteError, UnverifiedNoteError
    from accord.audit.note import open_note
    from accord.errors import AccordError

    try:
        msg = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as e:
        fail(f"{file}: {e.strerror}")
    try:
        verifiers = _vkeys(vkey)
        note = open_note(msg, verifiers)
    except MalformedNoteError as e:
        fail(e.diagnostics())
    except UnverifiedNoteError:
        err_console.print("not verified: no known key verified this note")
        raise typer.Exit(1) from None
    except (AccordError, OSError) as e:
        fail(str(e))
    for s in note.sigs:
        console.print(f"verified: {s.name}+{s.key_id:08x}", markup=False)


def register(app: typer.Typer) -> None:
    """Attach ``accord audit`` to the root app."""
    app.add_typer(audit_app)
