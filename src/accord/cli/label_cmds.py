"""CLI for labels: ``accord label validate``, ``accord label bind``, ``accord label verify-binding``.

Exit codes: 0 ok; 1 a failed check (signature, digest, untrusted or wrong signer); 2 bad input.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from accord.cli._common import AtOpt, console, handles_errors, handles_refusals, parse_day, print_json, read_file
from accord.core.labels import Label
from accord.core.schemes import resolve_level
from accord.errors import LabelError

label_app = typer.Typer(help="Read, check and bind STANAG 4774 labels (and 4778 bindings).", no_args_is_help=True)


def _describe(label: Label) -> dict[str, Any]:
    from accord.formats.label_json import label_to_dict

    return label_to_dict(label)


@label_app.command("validate")
@handles_errors
def validate(
    file: Path = typer.Argument(
        ..., help="A label: STANAG 4774 XML (originator or alternative), a 4778 BindingInformation, or Accord JSON."
    ),
    at: str | None = typer.Option(
        None,
        "--at",
        help="Also show the label in force on this day (YYYY-MM-DD): succession applied, groups as nations.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Read a label file strictly and show what Accord understands of it. Exit 0 valid, 2 refused."""
    from accord.formats.stanag4774 import LabelDocument, read_label_documents, sniff_xml

    data = read_file(file)
    if sniff_xml(data):
        docs = read_label_documents(data, source=str(file))
    else:
        from accord.formats.label_json import label_from_json

        docs = [LabelDocument("originator", label_from_json(data, source=str(file)))]
    day = parse_day(at) if at is not None else None
    rows = []
    for d in docs:
        row: dict[str, Any] = {
            "kind": d.kind,
            "label_id": d.label_id,
            "banner": d.label.banner,
            "label": _describe(d.label),
        }
        if day is not None:
            eff = d.label.effective_at(day)
            row["in_force"] = {"at": day.isoformat(), "banner": eff.banner, "label": _describe(eff)}
        rows.append(row)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        console.print(
            f"[bold green]valid[/bold green] {row['kind']} label"
            + (f" {row['label_id']}" if row["label_id"] else "")
            + f": {row['banner']}",
            soft_wrap=True,
        )
        lab = row["label"]
        console.print(f"  item {lab['id'] or '-'}; created {lab['created']}; review {lab['review'] or '(at creation)'}")
        succ = lab.get("succession")
        while succ:
            console.print(
                f"  from {succ['start']}: {succ['label']['classification']}"
                + (f" (window to {succ['end']})" if succ["end"] != succ["start"] else "")
            )
            succ = succ["label"].get("succession")
        if "in_force" in row:
            console.print(f"  in force on {row['in_force']['at']}: {row['in_force']['banner']}", soft_wrap=True)


def _alternative(label: Label, spec: str) -> Label:
    from accord.formats.stanag4774 import alternative_label

    party, sep, marking = spec.partition("=")
    if not sep or not party or not marking:
        raise LabelError(f"expected PARTY=MARKING, got {spec!r}", field="--alternative")
    level = resolve_level(party, marking)
    if level is None:
        raise LabelError(f"{marking!r} is not a classification of {party}'s scheme", field="--alternative")
    return alternative_label(label, party, level.marking, datetime.now(UTC).replace(microsecond=0))


@label_app.command("bind")
@handles_refusals
def bind_cmd(
    label: Path = typer.Option(..., "--label", help="The originator's label (any form `accord decide` reads)."),
    data: Path = typer.Option(..., "--data", help="The data object to bind (its SHA-384 digest is bound)."),
    keys_dir: Path = typer.Option(..., "--keys", help="The originator's key directory (party-keys.json)."),
    out: Path = typer.Option(..., "--out", help="Where to write the BindingInformation XML."),
    alternative: list[str] = typer.Option(
        [],
        "--alternative",
        help="PARTY=MARKING: add that receiving nation's alternativeConfidentialityLabel (repeatable).",
    ),
) -> None:
    """Write a signed STANAG 4778 BindingInformation: the label (and alternatives) bound to the data's digest."""
    from accord.formats.stanag4774 import load_label
    from accord.formats.stanag4778 import bind
    from accord.sealed.keys import PartyKeys, atomic_output

    lab = load_label(read_file(label), source=str(label))
    alts = [_alternative(lab, spec) for spec in alternative]
    keys = PartyKeys.load(keys_dir)
    doc = bind(lab, read_file(data), alternatives=alts, keys=keys)
    with atomic_output(out, 0o644) as f:
        f.write(doc)
    console.print(f"bound {lab.banner} to {data} in {out} (signed by {keys.party})", soft_wrap=True)


@label_app.command("verify-binding")
@handles_refusals
def verify_binding_cmd(
    binding: Path = typer.Argument(..., help="A BindingInformation XML written by `accord label bind`."),
    data: Path = typer.Option(..., "--data", help="The data object it should bind."),
    roster: Path = typer.Option(Path("roster"), "--roster", help="Trust roster directory (PARTY.N.json entries)."),
    at: str | None = AtOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Verify a binding: the originator's signature (roster), and that it binds this data. Exit 0 ok, 1 failed."""
    from accord.formats.stanag4778 import verify_binding
    from accord.sealed.verifiers import RosterKeys

    v = verify_binding(read_file(binding), read_file(data), RosterKeys.load(roster), source=str(binding))
    day = parse_day(at)
    eff = v.label.effective_at(day)
    if as_json:
        print_json(
            {
                "verified": True,
                "signer": v.signer,
                "keyid": v.keyid,
                "data": v.data_uri,
                "label": _describe(v.label),
                "in_force": {"at": day.isoformat(), "label": _describe(eff)},
                "alternatives": [_describe(a) for a in v.alternatives],
            }
        )
        return
    console.print(f"[bold green]verified[/bold green] signed by {v.signer} ({v.keyid}); data {v.data_uri}")
    console.print(f"  label: {v.label.banner}", soft_wrap=True)
    if eff != v.label:
        console.print(f"  in force on {day}: {eff.banner}", soft_wrap=True)
    for a in v.alternatives:
        console.print(f"  alternative: {a.banner}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Attach ``accord label …`` to the root app."""
    app.add_typer(label_app, name="label")
