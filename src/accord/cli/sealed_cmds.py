"""CLI for sealed items: ``accord keys …``, ``accord seal``, ``accord open``, ``accord inspect``, ``accord rewrap``.

Exit codes: 0 ok; 1 refused (a decision denied a recipient) or a failed check (signature, integrity,
untrusted key); 2 bad input; 3 (``inspect`` without ``--roster``) the signature was NOT verified: what is shown
is unauthenticated, even if the payload matches its own (unverified) manifest.

``open`` never replaces its input, a device or anything that is not a regular file; an existing file or symlink
only with ``--force``. The plaintext goes to an unnamed private file in the destination directory (O_TMPFILE,
0600) linked into place only after every check passed, so a ``kill -9`` leaves nothing behind; where the file
system has no O_TMPFILE, a locked ``.NAME.*.accord-open.part`` temp file is used and stale ones (unlocked, ours)
are removed by the next ``open``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from accord import release
from accord.cli._common import (
    AgreementsOpt,
    AtOpt,
    agreements_from,
    consents_from,
    console,
    err_console,
    fail,
    handles_refusals,
    parse_day,
    print_json,
    read_file,
)
from accord.formats.stanag4774 import load_label
from accord.sealed import container
from accord.sealed.keys import KEYS_FILE, PartyKeys, Roster, RosterEntry
from accord.sealed.suites import CLASSICAL, HYBRID

SUITE_NAMES = {"hybrid": HYBRID, "classical": CLASSICAL}
PROGRESS_MIN = 8 * 1024 * 1024

keys_app = typer.Typer(help="Create, rotate and revoke a nation's keys; manage the trust roster.", no_args_is_help=True)

KeysOpt = typer.Option(..., "--keys", help="Directory holding this nation's party-keys.json (mode 0600).")
RosterOpt = typer.Option(Path("roster"), "--roster", help="Trust roster directory (PARTY.N.json entries).")


@contextmanager
def _progress(path: Path, what: str) -> Iterator[Callable[[int], None] | None]:
    """A Rich progress bar on stderr for long work (``path`` over 8 MiB); None otherwise."""
    total = path.stat().st_size if path.exists() else 0
    if total < PROGRESS_MIN:
        yield None
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as prog:
        task = prog.add_task(what, total=total)
        yield lambda n: prog.advance(task, n)


# ---------------------------------------------------------------- keys


@keys_app.command("init")
@handles_refusals
def keys_init(
    party: str = typer.Option(..., "--party", help="ISO 3166 alpha-3 code of the nation, e.g. KOR."),
    directory: Path | None = typer.Option(None, "--dir", help="Where to write the keys (default: keys/PARTY)."),
    roster: Path | None = typer.Option(None, "--roster", help="Also write the public entry into this roster."),
) -> None:
    """Create a nation's signing and encryption keys (0600) and its self-signed public roster entry (v1)."""
    d = directory or Path("keys") / party
    if (d / KEYS_FILE).exists():
        fail(f"{d / KEYS_FILE} already exists; use `accord keys rotate` to make new keys")
    keys = PartyKeys.generate(party)
    path = keys.save(d)
    entry = Roster.first_entry(keys)
    (d / f"{party}.1.json").write_bytes(entry.raw)
    if roster is not None:
        r = Roster.load(roster) if roster.is_dir() else Roster()
        r.add(entry)
        r.save(roster)
    console.print(f"wrote {path} (0600) and {d / f'{party}.1.json'}")
    console.print(f"signing key {keys.sign_key_id}; roster entry fingerprint {entry.fingerprint()}")
    console.print("partners pin this entry after checking the fingerprint out of band.")


@keys_app.command("rotate")
@handles_refusals
def keys_rotate(keys_dir: Path = KeysOpt, roster: Path = RosterOpt) -> None:
    """Add a new key generation (old keys kept for reading) and a roster entry signed by old and new keys."""
    keys = PartyKeys.load(keys_dir)
    r = Roster.load(roster)
    new = keys.rotate()
    entry = r.rotate(new)
    new.save(keys_dir)
    r.save(roster)
    (keys_dir / f"{new.party}.{entry.version}.json").write_bytes(entry.raw)
    console.print(f"{new.party} v{entry.version}: signing key {new.sign_key_id}; fingerprint {entry.fingerprint()}")


@keys_app.command("revoke")
@handles_refusals
def keys_revoke(
    keyid: str = typer.Argument(..., help="The key id to revoke (a retired key: rotate first if it is active)."),
    keys_dir: Path = KeysOpt,
    roster: Path = RosterOpt,
    at: str | None = typer.Option(None, "--at", help="When it was compromised (UTC ISO 8601); default: now."),
) -> None:
    """Declare a key compromised: a roster entry, signed by the active key, in which the key (and its
    generation) is revoked. From then on it verifies nothing; partners apply it with `accord keys add`."""
    from datetime import UTC, datetime

    keys = PartyKeys.load(keys_dir)
    r = Roster.load(roster)
    when = at or datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    entry = r.revoke(keys, keyid.strip().lower(), at=when)
    r.save(roster)
    (keys_dir / f"{keys.party}.{entry.version}.json").write_bytes(entry.raw)
    console.print(
        f"{keys.party} v{entry.version}: key {keyid} revoked at {when}; give {keys.party}.{entry.version}.json "
        "to every partner (accord keys add)"
    )


@keys_app.command("add")
@handles_refusals
def keys_add(
    entry_file: Path = typer.Argument(..., help="A partner's roster entry PARTY.N.json."),
    roster: Path = RosterOpt,
    fingerprint: str | None = typer.Option(
        None, "--fingerprint", help="Required to pin a new party (v1): the fingerprint checked out of band."
    ),
) -> None:
    """Pin a partner's first entry (with its fingerprint) or accept its next, rotation-signed, version."""
    entry = RosterEntry.parse(read_file(entry_file), source=str(entry_file))
    r = Roster.load(roster) if roster.is_dir() else Roster()
    if entry.party not in r.chains and fingerprint != entry.fingerprint():
        fail(f"pinning {entry.party} needs --fingerprint {entry.fingerprint()} checked out of band", 1)
    r.add(entry)
    r.save(roster)
    console.print(f"{entry.party} v{entry.version} accepted into {roster}")


@keys_app.command("show")
@handles_refusals
def keys_show(roster: Path = RosterOpt) -> None:
    """List the roster: parties, versions, active key ids and pin fingerprints."""
    r = Roster.load(roster)
    table = Table(title=f"Trust roster {roster}")
    for col in ("party", "version", "signing key", "keys held", "retired / revoked", "v1 fingerprint"):
        table.add_column(col)
    for p in r.parties:
        e = r.latest(p)
        states = f"{sum(k.status == 'retired' for k in e.keys)} / {sum(k.status == 'revoked' for k in e.keys)}"
        table.add_row(
            p, str(e.version), e.active_sign.keyid, str(len(e.keys)), states, r.chains[p][0].fingerprint()[:32]
        )
    console.print(table)


# ---------------------------------------------------------------- seal / open / inspect / rewrap


def seal(
    label: Path = typer.Option(..., "--label", help="Label file: STANAG 4774 XML or Accord JSON."),
    to: list[str] = typer.Option(..., "--to", help="Recipient nation (repeat for several)."),
    in_file: Path = typer.Option(..., "--in", help="Plaintext file."),
    out_file: Path = typer.Option(..., "--out", help="Sealed item to write (.tdf)."),
    keys_dir: Path = KeysOpt,
    roster: Path = RosterOpt,
    holder: str | None = typer.Option(None, "--from", help="Releasing nation (default: the keys' nation)."),
    at: str | None = AtOpt,
    agreements: Path | None = AgreementsOpt,
    consent: list[Path] = typer.Option([], "--consent", help="Consent document(s) of the originator."),
    suite: str = typer.Option("hybrid", "--suite", help="hybrid (ML-KEM-1024+P-384) or classical (P-384)."),
    relay: str = typer.Option("blind", "--relay", help="Through a hub: blind (end to end) or rewrap (hub reads)."),
) -> None:
    """Seal a file for the recipients the agreements allow (each is decided; a denial refuses)."""
    if suite not in SUITE_NAMES:
        fail(f"--suite must be one of {', '.join(SUITE_NAMES)}")
    lab = load_label(read_file(label), source=str(label))
    keys = PartyKeys.load(keys_dir)
    r = Roster.load(roster)
    with _progress(in_file, "sealing") as prog:
        info = release.seal_file(
            in_file,
            out_file,
            lab,
            recipients=to,
            signer=keys,
            roster=r,
            agreements=agreements_from(agreements),
            at=parse_day(at),
            holder=holder,
            consents=consents_from(consent),
            suite=SUITE_NAMES[suite],
            relay=relay,
            progress=prog,
        )
    console.print(f"sealed {info.size} bytes in {info.segments} segment(s) for {', '.join(to)} → {out_file}")
    console.print(f"{lab.banner}")


EXIT_UNVERIFIED = 3
PART_SUFFIX = ".accord-open.part"


def _check_output(in_file: Path, out_file: Path, *, force: bool) -> None:
    """Refuse an output that is the input, a device/directory/FIFO/socket, or (without --force) an existing file
    or symlink."""
    try:
        st_out = out_file.lstat()
    except FileNotFoundError:
        if not out_file.parent.is_dir():
            fail(f"--out: no directory {out_file.parent}")
        return
    with contextlib.suppress(OSError):
        if os.path.samefile(in_file, out_file):
            fail("--out: is the input (--in); the sealed item is never replaced by its plaintext")
    if stat.S_ISLNK(st_out.st_mode):
        with contextlib.suppress(OSError):
            target = out_file.stat()
            if not stat.S_ISREG(target.st_mode):
                fail(f"--out: {out_file} is a symlink to something that is not a regular file")
        if not force:
            fail(f"--out: {out_file} exists (a symlink); use --force to replace it")
        return
    if not stat.S_ISREG(st_out.st_mode):
        fail(f"--out: {out_file} is not a regular file (device, directory, FIFO or socket); never replaced")
    if not force:
        fail(f"--out: {out_file} exists; use --force to replace it")


def _clean_stale_parts(out_file: Path) -> None:
    """Remove temp files a killed ``open`` of the same target left behind (ours, and no longer locked)."""
    for p in out_file.parent.glob(f".{out_file.name}.*{PART_SUFFIX}"):
        try:
            fd = os.open(p, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            if os.fstat(fd).st_uid != os.getuid():
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # another open is writing it right now
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        finally:
            os.close(fd)


@contextmanager
def _private_output(out_file: Path) -> Iterator[IO[bytes]]:
    """A private (0600) file in the destination directory, put in place as ``out_file`` only if the block
    succeeds. Unnamed (O_TMPFILE) where possible: an interrupted open leaves nothing behind."""
    directory = out_file.parent
    _clean_stale_parts(out_file)
    tmpfile = getattr(os, "O_TMPFILE", 0)
    fd = -1
    named: str | None = None
    if tmpfile:
        try:
            fd = os.open(directory, tmpfile | os.O_WRONLY, 0o600)
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
                raise
            fd = -1
    if fd < 0:
        fd, named = tempfile.mkstemp(dir=directory, prefix=f".{out_file.name}.", suffix=PART_SUFFIX)
        fcntl.flock(fd, fcntl.LOCK_EX)  # alive: a later open does not take it for stale
    os.fchmod(fd, 0o600)
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            yield f
            f.flush()
            os.fsync(fd)
        if named is None:
            named = str(directory / f".{out_file.name}.{secrets.token_hex(8)}{PART_SUFFIX}")
            # give the verified plaintext a name (linkat with AT_SYMLINK_FOLLOW), then move it into place
            root = os.open("/", os.O_RDONLY)
            try:
                os.link(f"proc/self/fd/{fd}", named, src_dir_fd=root, follow_symlinks=True)
            finally:
                os.close(root)
        os.replace(named, out_file)
        named = None
    finally:
        os.close(fd)
        if named is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(named)


def open_(
    in_file: Path = typer.Option(..., "--in", help="Sealed item."),
    out_file: Path = typer.Option(..., "--out", help="Where to write the plaintext (only after every check)."),
    keys_dir: Path = KeysOpt,
    roster: Path = RosterOpt,
    force: bool = typer.Option(False, "--force", help="Replace an existing file or symlink (never the input)."),
) -> None:
    """Verify and decrypt a sealed item; nothing is written unless every check passes."""
    if not in_file.is_file():
        fail(f"--in: {in_file} is not a file")
    _check_output(in_file, out_file, force=force)
    keys = PartyKeys.load(keys_dir)
    r = Roster.load(roster)
    with (
        _progress(in_file, "opening") as prog,
        in_file.open("rb") as src,
        _private_output(out_file) as dst,
    ):
        opened = container.open_stream(src, dst, keys=keys, roster=r, progress=prog)
    console.print(f"{opened.banner}")
    console.print(f"signed by {opened.signer}; {opened.manifest.size} bytes → {out_file}")


def inspect(
    in_file: Path = typer.Argument(..., help="Sealed item."),
    roster: Path | None = typer.Option(None, "--roster", help="Trust roster to check signatures against."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show the banner, labels, recipients, suite and integrity status without decrypting."""
    r = Roster.load(roster) if roster is not None else None
    with _progress(in_file, "checking") as prog:
        ins = container.inspect_file(in_file, roster=r, progress=prog)
    m = ins.manifest
    doc = {
        "banner": ins.banner,
        "originator_label": ins.label_xml.decode("utf-8", "replace"),
        "alternative_labels": [
            {"party": a.party, "xml": a.xml.decode("utf-8", "replace")} for a in ins.alternative_labels
        ],
        "holder": m.holder,
        "signer": m.signer,
        "signer_key": m.signer_keyid,
        "at": m.at,
        "suite": m.suite,
        "suite_description": ins.suite_description,
        "recipients": [
            {
                "party": g.party,
                "key": g.keyid,
                "granted_by": g.granted_by,
                "route": list(g.route),
                "agreements": list(g.agreements),
            }
            for g in ins.recipients
        ],
        "relays": [{"to": x.to, "via": list(x.via)} for x in ins.relays],
        "size": m.size,
        "segments": m.segments,
        "segment_size": m.segment_size,
        "signature": ins.signature,
        "payload": ins.payload,
        "problems": list(ins.problems),
    }
    if as_json:
        print_json(doc)
    else:
        console.print(f"[bold]{ins.banner}[/bold]")
        console.print(f"released by {m.holder} on {m.at}; suite {ins.suite_description}")
        for g in ins.recipients:
            via = " → ".join(g.route) if g.route else g.party
            console.print(f"  recipient {g.party} (key {g.keyid[:12]}…, granted by {g.granted_by}; {via})")
        for x in ins.relays:
            console.print(f"  re-wrap requested: {x.to} via {', '.join(x.via)}")
        for a in ins.alternative_labels:
            console.print(f"  alternative label by {a.party}")
        console.print(f"{m.size} bytes in {m.segments} segment(s)")
        style = "green" if ins.ok and r is not None else "red"
        console.print(f"[{style}]signature: {ins.signature}; payload: {ins.payload}[/{style}]")
        for p in ins.problems:
            console.print(f"  [red]{p}[/red]")
    if (r is not None and not ins.ok) or ins.payload == "corrupt":
        raise typer.Exit(1)
    if r is None:
        # Without a roster nothing above is authenticated: a forged item looks just like a genuine one.
        err_console.print(
            "signature NOT verified (no --roster): the labels and recipients shown are unauthenticated", style="red"
        )
        raise typer.Exit(EXIT_UNVERIFIED)


def rewrap(
    in_file: Path = typer.Option(..., "--in", help="Sealed item received by this hub."),
    out_file: Path = typer.Option(..., "--out", help="Re-wrapped item to write."),
    to: str = typer.Option(..., "--to", help="Next nation."),
    keys_dir: Path = KeysOpt,
    roster: Path = RosterOpt,
    at: str | None = AtOpt,
    agreements: Path | None = AgreementsOpt,
    consent: list[Path] = typer.Option([], "--consent", help="Consent document(s) of the originator."),
) -> None:
    """At a hub: re-wrap an item for the next nation (the originator's signature stays valid)."""
    release.rewrap_file(
        in_file,
        out_file,
        keys=PartyKeys.load(keys_dir),
        roster=Roster.load(roster),
        to=to,
        agreements=agreements_from(agreements),
        at=parse_day(at),
        consents=consents_from(consent),
    )
    console.print(f"re-wrapped for {to} → {out_file}")


def register(app: typer.Typer) -> None:
    """Add the sealed-item commands to the root app."""
    app.add_typer(keys_app, name="keys")
    app.command("seal")(handles_refusals(seal))
    app.command("open")(handles_refusals(open_))
    app.command("inspect")(handles_refusals(inspect))
    app.command("rewrap")(handles_refusals(rewrap))
