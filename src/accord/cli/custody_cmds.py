"""``accord node custody ...``: the life of an item at a node (issue 10; JK-R5, R7, R12, R23, R24, R26).

The commands change the node's database (durable when they return); the running node's delivery worker sends
the signed notices and reports they queue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from accord.cli.node_cmds import DbOpt, DirOpt, _date, _print, _run, node_app
from accord.errors import InputError

custody_app = typer.Typer(
    help="The life of an item: reclassify, freeze, purpose, compromise, derived items, notices, alarms.",
    no_args_is_help=True,
)

ItemOpt = Annotated[str, typer.Option("--item", help="item id")]
AtOpt = Annotated[str | None, typer.Option("--at", help="date (what-if nodes only)")]
NoteOpt = Annotated[str, typer.Option("--note", help="a note for the record")]
ContentOpt = Annotated[Path | None, typer.Option("--content", help="the derived content to release (a file)")]
ToOpt = Annotated[str | None, typer.Option("--to", help="release the derived item at once to this party")]
PurposeOpt = Annotated[str | None, typer.Option("--purpose", help="the purpose of the release (JK-R7)")]


def register(app: typer.Typer) -> None:
    """Attach ``accord node custody`` (``app`` is the root app, already holding ``accord node``)."""
    del app
    node_app.add_typer(custody_app, name="custody")


def _svc(directory: Path, db: str | None) -> Any:
    from accord.node.wiring import load_service

    return load_service(directory, db=db)


def _summary(out: dict[str, Any]) -> None:
    parties = ", ".join(f"{p['party']} {p['state']}" for p in out.get("parties", [])) or "no holder"
    typer.echo(f"{out['item']}: {out['kind']} {out['digest'][:16]}… queued: {parties}")


@custody_app.command("reclassify")
def reclassify(
    directory: DirOpt,
    item: ItemOpt,
    to: Annotated[str, typer.Option("--to", help="new classification")],
    note: NoteOpt = "",
    at: AtOpt = None,
    db: DbOpt = None,
) -> None:
    """As originator: reclassify an item; every holder gets a signed notice and acknowledges it (JK-R12)."""
    _run(
        lambda: _summary(
            _svc(directory, db).issue_notice(item, "reclassification", classification=to, note=note, at=_date(at))
        )
    )


@custody_app.command("freeze")
def freeze(directory: DirOpt, item: ItemOpt, note: NoteOpt = "", at: AtOpt = None, db: DbOpt = None) -> None:
    """As originator: freeze further release of an item and its derivatives at every holder (JK-R26)."""
    _run(lambda: _summary(_svc(directory, db).issue_notice(item, "freeze", note=note, at=_date(at))))


@custody_app.command("unfreeze")
def unfreeze(directory: DirOpt, item: ItemOpt, note: NoteOpt = "", at: AtOpt = None, db: DbOpt = None) -> None:
    """As originator: lift a freeze (JK-R26)."""
    _run(lambda: _summary(_svc(directory, db).issue_notice(item, "unfreeze", note=note, at=_date(at))))


@custody_app.command("purpose")
def purpose(
    directory: DirOpt,
    item: ItemOpt,
    purpose: Annotated[str, typer.Option("--purpose", help="the purpose")],
    at: AtOpt = None,
    db: DbOpt = None,
) -> None:
    """As originator: state the purpose an item is provided for; another use needs approval (JK-R7)."""
    _run(lambda: _summary(_svc(directory, db).issue_notice(item, "purpose", purpose=purpose, at=_date(at))))


@custody_app.command("compromise")
def compromise(
    directory: DirOpt,
    item: ItemOpt,
    stage: Annotated[str, typer.Option("--stage", help="SUSPECTED, NOTIFIED, INVESTIGATING, REPORTED")],
    note: NoteOpt = "",
    at: AtOpt = None,
    db: DbOpt = None,
) -> None:
    """As holder: record the next stage of a loss or compromise; the originator is told at once (JK-R26)."""

    def body() -> None:
        out = _svc(directory, db).report_compromise(item, stage, note, _date(at))
        typer.echo(f"{item}: {out['stage']} (reported to the originator, {out['digest'][:16]}…)")

    _run(body)


@custody_app.command("derive")
def derive(
    directory: DirOpt,
    source: Annotated[list[str], typer.Option("--source", help="a held source item (repeat for several)")],
    kind: Annotated[str, typer.Option("--kind", help="reproduction, translation or extract")],
    new_id: Annotated[str | None, typer.Option("--id", help="the derived item's id")] = None,
    language: Annotated[str | None, typer.Option("--language", help="a translation's language")] = None,
    content: ContentOpt = None,
    to: ToOpt = None,
    purpose: PurposeOpt = None,
    at: AtOpt = None,
    db: DbOpt = None,
) -> None:
    """As holder: record a derived item (originator and markings kept, high-water mark; JK-R5, R23, R24);
    with --content FILE --to PARTY, seal the file under the derived label and release it (JK-R6)."""

    def body() -> None:
        if (content is None) != (to is None):
            raise InputError("give --content and --to together", field="--to")
        data = _read_content(content) if content is not None else b""
        svc = _svc(directory, db)
        out = svc.derive_item(list(source), kind, new_id, language, _date(at))
        if to is not None:
            out["release"] = svc.release_derived(out["item"], data, to, _date(at), purpose)
        _print(out)

    _run(body)


@custody_app.command("release-derived")
def release_derived(
    directory: DirOpt,
    item: ItemOpt,
    content: Annotated[Path, typer.Option("--content", help="the derived item's content (a file)")],
    to: Annotated[str, typer.Option("--to", help="the recipient: the originator, or where its sources may go")],
    purpose: PurposeOpt = None,
    at: AtOpt = None,
    db: DbOpt = None,
) -> None:
    """As holder: seal a derived item's content, sign it and release it under this hop's decision (JK-R5, R6)."""
    _run(lambda: _print(_svc(directory, db).release_derived(item, _read_content(content), to, _date(at), purpose)))


def _read_content(path: Path) -> bytes:
    """The derived content from ``path``, bounded like an API payload."""
    from accord.node.api.models import MAX_PAYLOAD

    try:
        if path.stat().st_size > MAX_PAYLOAD:
            raise InputError(f"{path}: larger than {MAX_PAYLOAD} bytes", field="--content")
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}", field="--content") from None


@custody_app.command("notices")
def notices(directory: DirOpt, item: ItemOpt, db: DbOpt = None) -> None:
    """Custody notices about an item; for the originator, per holder: sent or acknowledged."""
    _run(lambda: _print(_svc(directory, db).item_notices(item)))


@custody_app.command("alarms")
def alarms(directory: DirOpt, db: DbOpt = None) -> None:
    """Losses or compromises of this nation's items reported by holders (JK-R26)."""
    _run(lambda: _print(_svc(directory, db).custody_alarms()))
