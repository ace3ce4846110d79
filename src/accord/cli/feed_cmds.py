"""``accord feed``: the real-time missile-warning feed (serve, publish, subscribe, simulate, status)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
import time
from collections import deque
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer

from accord.cli._common import AgreementsOpt, agreements_from, err_console, fail, handles_errors

feed_app = typer.Typer(
    help="Real-time missile-warning feed through the hub (M-R1..M-R5; docs/feed.md).", no_args_is_help=True
)

DirOpt = typer.Option(..., "--dir", help="The node directory (`accord node init`).")
PortOpt = typer.Option(None, "--port", help="The node's feed port (default: its gateway port + 1).")


def _feed_port(directory: Path, port: int | None) -> int:
    if port is not None:
        return port
    from accord.feed.identity import NodeIdentity

    return NodeIdentity.load(directory).port + 1


def _day_source(at: str | None, day_file: Path | None) -> Any:
    if at is not None and day_file is not None:
        fail("--at and --day-file: give one of them")
    if at is not None:
        try:
            fixed = date.fromisoformat(at)
        except ValueError:
            fail(f"--at: {at!r} is not a date YYYY-MM-DD")
        return lambda: fixed
    if day_file is not None:
        state: dict[str, Any] = {"t": 0.0, "day": None}

        def from_file() -> date:
            now = time.monotonic()
            if now - state["t"] > 0.2 or state["day"] is None:
                state["t"] = now
                with contextlib.suppress(OSError, ValueError):
                    state["day"] = date.fromisoformat(day_file.read_text().strip())
                if state["day"] is None:
                    state["day"] = datetime.now(UTC).date()
            return state["day"]  # type: ignore[no-any-return]

        return from_file
    return None


def _use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


@feed_app.command("serve")
@handles_errors
def serve(
    directory: Path = DirOpt,
    port: int | None = PortOpt,
    hub: str | None = typer.Option(
        None,
        "--hub",
        help="HOST:PORT of the hub's feed listener (spokes; default: the hub's roster address, port + 1).",
    ),
    agreements: Path | None = AgreementsOpt,
    at: str | None = typer.Option(None, "--at", help="What-if: take the agreements on this day."),
    day_file: Path | None = typer.Option(
        None, "--day-file", help="What-if: read the day from this file (re-read as it changes)."
    ),
    sync: str = typer.Option("normal", "--sync", help="normal (survives kill -9) or full (power loss)."),
) -> None:
    """Run the feed service of a node until SIGTERM or Ctrl-C."""
    from accord.feed.identity import NodeIdentity
    from accord.feed.node import FeedNode

    if sync not in ("normal", "full"):
        fail(f"--sync: {sync!r} is not normal or full")
    ident = NodeIdentity.load(directory)
    hub_addr = None
    if hub is not None:
        host, _, p = hub.rpartition(":")
        if not host or not p.isdigit() or not 0 < int(p) < 65536:
            fail(f"--hub: {hub!r} is not HOST:PORT")
        hub_addr = (host, int(p))
    aset = agreements_from(agreements)
    today = _day_source(at, day_file)
    kwargs: dict[str, Any] = {"today": today} if today is not None else {}
    node = FeedNode(
        ident, aset, port=_feed_port(directory, port), host=ident.host, hub_addr=hub_addr, sync=sync, **kwargs
    )
    _use_uvloop()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await node.start()
        gc.collect()
        gc.freeze()  # what start-up allocated is never scanned again: shorter collector pauses on the hot path
        typer.echo(f"feed {node.party} listening on {node.host}:{node.port} (hub {node.hub})", err=True)
        status = node.state_dir / "status.json"
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            tmp = status.with_suffix(".tmp")
            tmp.write_text(json.dumps(node.status(), indent=2))
            os.replace(tmp, status)
        await node.stop()

    asyncio.run(run())


@feed_app.command("rotate-key")
@handles_errors
def rotate_key(
    directory: Path = DirOpt,
    keep: float = typer.Option(
        7.0, "--keep", help="Days the retired key still opens sessions sealed to it (then it is deleted)."
    ),
) -> None:
    """Rotate this node's X25519 feed key (the key originators seal session keys to). A running node offers
    the new key upstream within a second; every originator opens a new epoch sealed to it."""
    from accord.feed.conn import STATE_DIR
    from accord.feed.offerkeys import rotate
    from accord.feed.store import open_readonly

    state = directory / STATE_DIR
    if not (state / "feed.db").exists():
        fail(f"{directory}: no feed service has run here (nothing to rotate)")
    db = open_readonly(state / "feed.db")
    try:
        row = db.execute("SELECT v FROM kv WHERE k = 'my-offer'").fetchone()
    finally:
        db.close()
    if row is None:
        fail(f"{directory}: the feed has no offer yet")
    until = rotate(state, bytes(row[0]), keep_days=keep)
    typer.echo(
        f"new feed key in {state / 'offer-key.pem'}; the retired key opens old sessions until {until:%Y-%m-%d %H:%M}Z"
    )


@feed_app.command("key-cert")
@handles_errors
def key_cert(
    directory: Path = DirOpt,
    out: Path | None = typer.Option(None, "--out", help="Write the certificate here (default: stdout)."),
) -> None:
    """This node's feed signing key certified by the party's sealed identity (give it to partners)."""
    from accord.feed.identity import NodeIdentity
    from accord.feed.keycert import make_cert, verify_cert
    from accord.node.sealing import TRUST_DIR

    ident = NodeIdentity.load(directory)
    cert = make_cert(directory, ident.party, ident.sign_key)
    verify_cert(cert, directory / TRUST_DIR, pinned=ident.sign_key.public_key())
    if out is None:
        typer.echo(cert.decode())
    else:
        out.write_bytes(cert)
        typer.echo(f"wrote {out}", err=True)


@feed_app.command("verify-signer")
@handles_errors
def verify_signer(
    directory: Path = DirOpt,
    cert: Path = typer.Argument(..., help="A partner's feed key certificate (`accord feed key-cert`)."),
) -> None:
    """Check that a party's feed signing key is certified by its sealed identity in this node's trust
    roster and is the key this node pins for it (the one its batch signatures verify against)."""
    import hashlib

    from accord.feed.identity import NodeIdentity
    from accord.feed.keycert import verify_cert
    from accord.node.sealing import TRUST_DIR

    ident = NodeIdentity.load(directory)
    data = cert.read_bytes()
    try:
        obj = json.loads(data)
    except ValueError:
        obj = None
    party = obj.get("party") if isinstance(obj, dict) else None
    pinned = ident.verify_key(party) if isinstance(party, str) else None
    if pinned is None:
        fail(f"{cert}: the certificate names no party pinned in {directory}/roster.yaml")
    kc = verify_cert(data, directory / TRUST_DIR, pinned=pinned)
    typer.echo(
        f"{kc.party}: feed key sha256:{hashlib.sha256(kc.key_raw).hexdigest()[:16]} certified by its signing key "
        f"{kc.signer} on {kc.created}; it is the key pinned in roster.yaml"
    )


@feed_app.command("status")
@handles_errors
def status(directory: Path = DirOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """Heads, peers and subscriber lag of a running feed service (written every second)."""
    path = directory / "feed" / "status.json"
    if not path.exists():
        fail(f"{path}: no feed service has run here")
    st = json.loads(path.read_text())
    if as_json:
        typer.echo(json.dumps(st, indent=2))
        return
    from rich.table import Table

    from accord.cli._common import console

    console.print(
        f"{st['party']} (hub {st['hub']}), day {st['day']}: published {st['published']}, "
        f"refused {st['refused']}, relayed {st['relayed']}, received {st['received']}, "
        f"batches {st['batches']}, cut off {st['cut_off']}; peers {', '.join(st['peers']) or '-'}"
    )
    t = Table("stream", "head", "subscriber", "sent", "acked", "lag")
    for s in st["subscribers"]:
        t.add_row(
            s["stream"], str(st["heads"].get(s["stream"], 0)), s["to"], str(s["sent"]), str(s["acked"]), str(s["lag"])
        )
    console.print(t)


def _read_messages(source: Path | None) -> list[tuple[int, Any]]:
    text = sys.stdin.read() if source is None or str(source) == "-" else source.read_text()
    out: list[tuple[int, Any]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append((n, json.loads(line)))
        except ValueError as e:
            fail(f"{source or 'stdin'}:{n}: not JSON ({e})")
    return out


@feed_app.command("publish")
@handles_errors
def publish(
    directory: Path = DirOpt,
    port: int | None = PortOpt,
    source: Path | None = typer.Argument(None, help="JSON lines of warning messages (default: stdin)."),
) -> None:
    """Publish warning messages through one's own node: each is checked there (M-R1, M-R2, window, scope).

    A refused message is reported (`error: LINE: ...`) and the others still go; exit 2 if any was refused.
    """
    from accord.feed.client import FeedClient
    from accord.feed.model import FeedRefused

    msgs = _read_messages(source)
    _use_uvloop()

    async def run() -> int:
        async with FeedClient(directory, port=_feed_port(directory, port)) as c:
            results = await c.publish_many([m for _, m in msgs])
        bad = 0
        for (n, _), r in zip(msgs, results, strict=True):
            if isinstance(r, FeedRefused):
                bad += 1
                rule = f" [{r.rule}]" if r.rule else ""
                err_console.print(
                    f"[bold red]error:[/bold red] {source or 'stdin'}:{n}: {r.code}: {r.message}{rule}",
                    markup=True,
                    soft_wrap=True,
                )
        typer.echo(f"published {len(msgs) - bad}, refused {bad}")
        return bad

    if asyncio.run(run()):
        raise typer.Exit(2)


@feed_app.command("simulate")
@handles_errors
def simulate(
    rate: float = typer.Option(20.0, "--rate", help="Messages per second (all flights together)."),
    duration: float = typer.Option(10.0, "--duration", help="Seconds of simulated flight."),
    interval: float = typer.Option(0.5, "--interval", help="Seconds between track points of a flight."),
    seed: int = typer.Option(1, "--seed"),
    publish_to: Path | None = typer.Option(
        None, "--publish", help="Publish live, paced in real time, through this node directory instead of printing."
    ),
    port: int | None = PortOpt,
) -> None:
    """Simulate launches and ballistic tracks (boost, midcourse, re-entry, predicted impact).

    Prints JSON lines (times in microseconds since the epoch, from now on), or publishes them live.
    """
    from accord.feed.sim import schedule

    if rate <= 0 or duration <= 0 or interval <= 0:
        fail("--rate, --duration and --interval must be positive")
    start = time.time_ns() // 1000
    msgs = schedule(rate, duration, start, seed=seed, interval_s=interval)
    if publish_to is None:
        for m in msgs:
            typer.echo(json.dumps(m.to_dict()))
        return
    from accord.feed.client import FeedClient
    from accord.feed.model import FeedRefused

    _use_uvloop()

    async def run() -> None:
        async with FeedClient(publish_to, port=_feed_port(publish_to, port)) as c:
            t0 = time.monotonic()
            futs = []
            for m in msgs:
                delay = (m.issued_us - start) / 1e6 - (time.monotonic() - t0)
                if delay > 0:
                    await asyncio.sleep(delay)
                futs.append(c.send_nowait(m))
            refused = 0
            for f in futs:
                r = await f
                if not r.get("ok"):
                    refused += 1
                    if refused <= 5:
                        err_console.print(f"refused: {FeedRefused(str(r.get('code')), str(r.get('message')))}")
            typer.echo(f"published {len(futs) - refused}, refused {refused}")

    asyncio.run(run())


@feed_app.command("subscribe")
@handles_errors
def subscribe(
    directory: Path = DirOpt,
    port: int | None = PortOpt,
    hwm: Path | None = typer.Option(None, "--hwm", help="Durable high-water mark file: resume after it."),
    as_json: bool = typer.Option(False, "--json", help="Print each message as a JSON line."),
    once: bool = typer.Option(False, "--once", help="Stop once caught up."),
) -> None:
    """Read the warning streams addressed to this nation: a live view of tracks and lag (or JSON lines)."""
    from accord.feed.client import FeedClient, FeedError

    _use_uvloop()

    async def run() -> None:
        async with FeedClient(directory, port=_feed_port(directory, port), hwm_file=hwm) as c:
            if as_json:
                async for d in c.deliveries(follow=not once):
                    typer.echo(
                        json.dumps(
                            {"stream": d.stream, "seq": d.seq, "latency_us": d.latency_us, **d.message.to_dict()}
                        )
                    )
                return
            await _live_view(c, once)

    try:
        asyncio.run(run())
    except FeedError as e:
        fail(str(e), 1)
    except KeyboardInterrupt:
        pass


async def _live_view(c: Any, once: bool) -> None:
    from rich.live import Live
    from rich.table import Table

    from accord.feed.model import Kind

    tracks: dict[str, dict[str, Any]] = {}
    lat: deque[int] = deque(maxlen=5000)
    counts: dict[str, int] = {}
    status_file = c.dir / "feed" / "status.json"

    def lag(stream: str, seq: int) -> str:
        """Records the node holds that this view has not shown yet (from the node's status, once a second)."""
        with contextlib.suppress(OSError, ValueError):
            head = int(json.loads(status_file.read_text()).get("heads", {}).get(stream, seq))
            return f" lag {max(0, head - seq)}"
        return ""

    def render() -> Table:
        ordered = sorted(lat)
        p50 = ordered[len(ordered) // 2] / 1000 if ordered else 0.0
        p99 = ordered[int(len(ordered) * 0.99)] / 1000 if ordered else 0.0
        t = Table(
            title=f"{c.party}: missile warning — latency p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
            + ", ".join(f"{s} #{n}{lag(s, n)}" for s, n in sorted(counts.items()))
        )
        for col in ("event", "from", "launch (UTC)", "position", "alt km", "speed m/s", "impact point", "impact in s"):
            t.add_column(col)
        now = time.time()
        for ev, tr in sorted(tracks.items())[-20:]:
            imp = tr.get("impact")
            t.add_row(
                ev,
                tr["from"],
                tr.get("launch", "-"),
                tr.get("pos", "-"),
                tr.get("alt", "-"),
                tr.get("speed", "-"),
                f"{imp[0]:.2f}, {imp[1]:.2f}" if imp else "-",
                f"{imp[2] / 1e6 - now:.0f}" if imp else "-",
            )
        return t

    last = 0.0
    with Live(render(), refresh_per_second=4) as live:
        async for d in c.deliveries(follow=not once):
            m = d.message
            counts[d.stream] = d.seq
            lat.append(d.latency_us)
            tr = tracks.setdefault(m.event, {"from": d.stream[:3]})
            if m.kind is Kind.LAUNCH:
                tr["launch"] = datetime.fromtimestamp(m.time_us / 1e6, UTC).strftime("%H:%M:%S")
            elif m.kind is Kind.TRACK:
                tr["pos"] = f"{m.lat:.2f}, {m.lon:.2f}"
                tr["alt"] = f"{m.alt_m / 1000:.1f}"
                tr["speed"] = f"{(m.vel[0] ** 2 + m.vel[1] ** 2 + m.vel[2] ** 2) ** 0.5:.0f}"
            else:
                tr["impact"] = (m.lat, m.lon, m.time_us)
            if time.monotonic() - last > 0.25:  # redraw at most 4 times a second, whatever the rate
                last = time.monotonic()
                live.update(render())
        live.update(render())


def register(app: typer.Typer) -> None:
    """Attach ``accord feed`` to the root app."""
    app.add_typer(feed_app, name="feed")
