"""The feed service in one process (three FeedNodes on loopback TLS): refusals with audit events, scope by
agreement on the day (nothing flows before activation; a subscriber cut off when its agreement ends,
what-if), a slow subscriber never stalls the others."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from accord.audit.log import AuditLog
from accord.core.agreements import AgreementSet, Event, EventType
from accord.feed.audit import origin
from accord.feed.client import FeedClient, FeedError
from accord.feed.frame import DATA
from accord.feed.identity import NodeIdentity
from accord.feed.model import Code, FeedRefused
from accord.feed.node import FeedNode
from accord.formats.agreement_yaml import load_agreements
from tests.feed.support import flight_messages, now_us

pytestmark = pytest.mark.integration

DAY = date(2026, 6, 1)


class Days:
    def __init__(self, day: date) -> None:
        self.day = day

    def __call__(self) -> date:
        return self.day


@contextlib.asynccontextmanager
async def three(
    nodes: dict[str, Path],
    today: Callable[[], date],
    agreements: dict[str, AgreementSet] | None = None,
    **hub_opts: Any,
) -> AsyncIterator[dict[str, FeedNode]]:
    base = load_agreements()
    ag = agreements or {}
    usa = FeedNode(NodeIdentity.load(nodes["USA"]), ag.get("USA", base), today=today, **hub_opts)
    await usa.start()
    out = {"USA": usa}
    for p in ("KOR", "JPN"):
        out[p] = FeedNode(NodeIdentity.load(nodes[p]), ag.get(p, base), today=today, hub_addr=("127.0.0.1", usa.port))
        await out[p].start()
    try:
        for _ in range(200):
            if out["JPN"].store.head("KOR-JPN") >= 1 and out["KOR"].store.head("KOR-USA") >= 1:
                break
            await asyncio.sleep(0.02)
        yield out
    finally:
        for n in out.values():
            await n.stop()


def _audit_events(node_dir: Path, party: str) -> list[dict[str, Any]]:
    log = AuditLog(node_dir / "feed" / "feed-audit.db", origin=origin(party))
    try:
        return [json.loads(log.event(i)) for i in range(log.size)]
    finally:
        log.close()


async def _drain(node: FeedNode, stream: str, count: int, timeout: float = 10) -> list[Any]:
    got: list[Any] = []

    async def go() -> None:
        async with FeedClient(node.ident.dir, port=node.port) as c, contextlib.aclosing(c.deliveries([stream])) as it:
            async for d in it:
                got.append(d)
                if len(got) >= count:
                    return

    await asyncio.wait_for(go(), timeout)
    return got


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sensor_id", "AN/TPY-2 #3"),
        ("radar_position", [36.1, 128.3]),
        ("platform", "DDG-177"),
        ("source", {"sensor_type": "SBX"}),
    ],
)
def test_sensor_fields_are_refused_at_the_publishing_node_and_audited(
    nodes: dict[str, Path], field: str, value: Any
) -> None:
    async def go() -> None:
        async with three(nodes, Days(DAY)) as n:
            launch = flight_messages("E-S", 1)
            async with FeedClient(nodes["KOR"], port=n["KOR"].port) as c:
                await c.publish(launch[0])
                heads = {s: n["KOR"].store.head(s) for s in ("KOR-JPN", "KOR-USA")}
                bad = {**launch[1], field: value}
                with pytest.raises(FeedRefused) as exc:
                    await c.publish(bad)
                assert exc.value.code == Code.FORBIDDEN_FIELD and exc.value.rule == "M-R2"
                assert field in exc.value.message
                await asyncio.sleep(0.05)
                for s, h in heads.items():  # no message entered any stream (batch signatures only)
                    assert all(raw[15] != DATA for _, raw in n["KOR"].store.read(s, h + 1))
            assert n["KOR"].audit is not None
            n["KOR"].audit.flush()

    asyncio.run(go())
    refusals = [e for e in _audit_events(nodes["KOR"], "KOR") if e["type"] == "decision"]
    assert refusals and refusals[-1]["decision"]["code"] == Code.FORBIDDEN_FIELD
    assert refusals[-1]["decision"]["rule"] == "M-R2" and refusals[-1]["item"] == "feed:E-S"
    assert str(value) not in json.dumps(refusals)  # the refused value itself never reaches the log


def test_pre_launch_and_out_of_window_messages_are_refused(nodes: dict[str, Path]) -> None:
    t = now_us()

    async def go() -> list[str]:
        codes = []
        async with three(nodes, Days(DAY)) as n, FeedClient(nodes["KOR"], port=n["KOR"].port) as c:
            for msg in (
                {"event": "P1", "kind": "pre-launch", "time": t, "lat": 39.0, "lon": 125.0},  # indicator
                {"event": "P1", "kind": "launch", "time": t + 60_000_000, "lat": 39.0, "lon": 125.0},  # before launch
                {"event": "P2", "kind": "track", "time": t, "lat": 39.0, "lon": 125.0},  # no launch published
                {"event": "P3", "kind": "launch", "time": t, "lat": 39.0, "lon": 125.0, "fuel_state": "full"},
                {"event": "P4", "kind": "launch", "time": t, "lat": 39.0, "lon": 125.0, "warhead": "x"},
            ):
                with pytest.raises(FeedRefused) as exc:
                    await c.publish(msg)
                codes.append(exc.value.code)
        return codes

    assert asyncio.run(go()) == [
        Code.PRE_LAUNCH,
        Code.PRE_LAUNCH,
        Code.OUTSIDE_WINDOW,
        Code.FORBIDDEN_FIELD,
        Code.NOT_WARNING_DATA,
    ]


def test_nothing_flows_on_a_day_no_agreement_allows_it(nodes: dict[str, Path]) -> None:
    """18 Dec 2023, the day before activation (M-R6: the ICBM of that day was not shared in real time)."""

    async def go() -> None:
        async with three(nodes, Days(date(2023, 12, 18))) as n:
            assert n["JPN"].store.head("KOR-JPN") == 0 and n["USA"].store.head("KOR-USA") == 0
            async with FeedClient(nodes["KOR"], port=n["KOR"].port) as c:
                with pytest.raises(FeedRefused) as exc:
                    await c.publish(flight_messages("D0", 0)[0])
            assert exc.value.code == Code.NOT_IN_SCOPE and "not in force on 2023-12-18" in exc.value.message
            assert n["KOR"].store.streams() == []

    asyncio.run(go())


def test_subscriber_is_cut_off_on_the_day_its_agreement_ends_what_if(nodes: dict[str, Path]) -> None:
    """What-if: the Japan-US GSOMIA terminated on DAY+1. The hub knows; KOR (not yet told) still publishes.
    JPN gets everything of DAY, is cut off on DAY+1 (audited at the hub) and may not subscribe again;
    the hub itself still receives KOR's stream."""
    ends = date(2026, 6, 2)
    base = load_agreements()
    ended = base.what_if(add=[("jpn-usa-gsomia", Event(on=ends, type=EventType.TERMINATED, note="what-if"))])
    days = Days(DAY)

    async def go() -> None:
        async with (
            three(nodes, days, {"USA": ended, "JPN": ended}) as n,
            FeedClient(nodes["KOR"], port=n["KOR"].port) as kor,
        ):
            first = flight_messages("C1", 20)
            for m in first:
                await kor.publish(m)
            got = await _drain(n["JPN"], "KOR-JPN", len(first))
            assert len(got) == len(first)
            await asyncio.sleep(0.2)  # the last batch signature of DAY reaches JPN and is committed
            days.day = ends
            before = n["JPN"].store.head("KOR-JPN")
            later = flight_messages("C2", 20)
            for m in later:
                assert "KOR-JPN" in await kor.publish(m)
            await asyncio.sleep(0.3)
            assert n["JPN"].store.head("KOR-JPN") == before  # nothing more reached JPN
            assert n["USA"].counters["cut_off"] >= 1
            assert n["USA"].store.head("KOR-USA") >= len(first) + len(later)  # the hub still gets its own stream
            sc = n["USA"].scope("KOR-JPN")
            assert not sc.allowed and "Japan–US GSOMIA" in sc.why
            # a new subscription from JPN is refused by the hub (JPN's node keeps retrying, still refused)
            assert n["USA"].audit is not None
            n["USA"].audit.flush()

    asyncio.run(go())
    events = _audit_events(nodes["USA"], "USA")
    assert any(e["type"] == "decision" and e["decision"]["code"] == "CUT_OFF" for e in events)
    assert any(e["type"] == "delivery" and e["item"].startswith("feed:KOR-JPN:") for e in events)


def test_every_batch_is_signed_and_audited_at_each_node(nodes: dict[str, Path]) -> None:
    async def go() -> None:
        async with three(nodes, Days(DAY)) as n, FeedClient(nodes["KOR"], port=n["KOR"].port) as kor:
            msgs = flight_messages("B1", 300)
            await kor.publish_many(msgs)
            got = await _drain(n["JPN"], "KOR-JPN", len(msgs))
            assert len(got) == len(msgs)
            await asyncio.sleep(0.1)
            for p in ("KOR", "USA", "JPN"):
                a = n[p].audit
                assert a is not None
                a.flush()

    asyncio.run(go())
    kinds = {"KOR": "release", "USA": "delivery", "JPN": "receipt"}
    covered: dict[str, set[int]] = {}
    for p, kind in kinds.items():
        evs = [e for e in _audit_events(nodes[p], p) if e["type"] == kind and e["item"].startswith("feed:KOR-JPN:")]
        assert evs, p
        seqs: set[int] = set()
        for e in evs:
            seqs.update(range(e["batch"]["first"], e["batch"]["last"] + 1))
            assert e["batch"]["signer"] == "KOR" and e["digest"].startswith("sha256:")
        covered[p] = seqs
    # every record KOR published on KOR-JPN is under a signature that the hub and JPN recorded
    assert covered["KOR"] <= covered["USA"] | {0} and covered["USA"] == covered["JPN"]


def test_a_slow_subscriber_never_stalls_the_others(nodes: dict[str, Path]) -> None:
    """A local reader at the hub that stops reading does not delay JPN; its lag is visible."""

    async def go() -> None:
        async with (
            three(nodes, Days(DAY), high_water=32 << 10, sndbuf=32 << 10) as n,
            FeedClient(nodes["KOR"], port=n["KOR"].port) as kor,
        ):
            # a slow reader of KOR-USA at the hub: subscribes and never reads
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", n["USA"].port))
            sock.setblocking(False)
            _r, w = await asyncio.open_connection(
                sock=sock, ssl=n["USA"].ident.client_ssl("USA"), server_hostname="127.0.0.1", limit=1 << 16
            )
            from accord.feed.frame import SUB, json_frame

            w.write(json_frame(SUB, {"stream": "KOR-USA", "from": 1}))
            await w.drain()
            msgs = flight_messages("S1", 6000) + flight_messages(
                "S2", 6000
            )  # more than the slow reader's TLS and socket buffers absorb (~0.6 MB)
            for i in range(0, len(msgs), 500):
                await kor.publish_many(msgs[i : i + 500])
            got = await _drain(n["JPN"], "KOR-JPN", len(msgs), timeout=30)
            assert len(got) == len(msgs)
            st = n["USA"].status()
            slow = [s for s in st["subscribers"] if s["to"] == "USA" and s["stream"] == "KOR-USA"]
            assert slow and slow[0]["lag"] > 0 and not slow[0]["live"]
            w.close()

    asyncio.run(go())


def test_unknown_subscription_is_refused(nodes: dict[str, Path]) -> None:
    """JPN may not ask the hub for KOR-USA (it is not the recipient): refused, nothing sent."""

    async def go() -> None:
        async with three(nodes, Days(DAY)) as n:
            jpn = n["JPN"].ident
            r, w = await asyncio.open_connection("127.0.0.1", n["USA"].port, ssl=jpn.client_ssl("USA"))
            from accord.feed.frame import ERR, REC, RECS, SUB, FrameReader, json_frame, parse_json

            w.write(json_frame(SUB, {"stream": "KOR-USA", "from": 1}))
            await w.drain()
            frames: list[tuple[int, bytes]] = []
            reader = FrameReader()
            with contextlib.suppress(TimeoutError):
                while not any(t == ERR for t, _ in frames):
                    frames += reader.feed(await asyncio.wait_for(r.read(65536), 2))
            errs = [parse_json(b, None) for t, b in frames if t == ERR]
            assert errs and errs[0]["code"] == Code.NOT_IN_SCOPE and errs[0]["stream"] == "KOR-USA"
            assert not any(t == REC and b[:7] == b"KOR-USA" for t, b in frames)
            assert not any(t == RECS and b[4:11] == b"KOR-USA" for t, b in frames)
            w.close()

    asyncio.run(go())


def test_feed_error_when_the_node_refuses(nodes: dict[str, Path]) -> None:
    async def go() -> None:
        async with three(nodes, Days(DAY)) as n, FeedClient(nodes["KOR"], port=n["KOR"].port) as c:
            with pytest.raises(FeedError, match="NOT_IN_SCOPE"):
                async for _ in c.deliveries(["JPN-USA"]):
                    pass

    asyncio.run(go())


def test_a_tampered_record_is_quarantined_and_alarmed_the_reader_goes_on(nodes: dict[str, Path]) -> None:
    """A DATA record altered in JPN's log (a compromised relay or disk): the reader skips it with an alarm,
    flags the batch signature that no longer matches, and delivers every other message."""
    import sqlite3

    async def go() -> None:
        async with three(nodes, Days(DAY)) as n, FeedClient(nodes["KOR"], port=n["KOR"].port) as kor:
            msgs = flight_messages("T1", 30)
            await kor.publish_many(msgs)
            assert len(await _drain(n["JPN"], "KOR-JPN", len(msgs))) == len(msgs)
            await asyncio.sleep(0.2)  # JPN's writer thread has committed what it relayed to the reader
            db = sqlite3.connect(nodes["JPN"] / "feed" / "feed.db")
            # the 11th DATA record of KOR-JPN, inside whichever segment row holds it
            from accord.feed import frame as ff

            rows = db.execute("SELECT first, body FROM segs WHERE stream='KOR-JPN' ORDER BY first").fetchall()
            data = [(first, q, raw) for first, body in rows for q, raw in ff.segment_records(body) if raw[15] == DATA]
            first, seq, raw = data[10]
            body = bytearray(next(b for f, b in rows if f == first))
            body[ff.segment_offset(body, first, seq) + 4 + len(raw) - 1] ^= 0xFF  # the record's last byte (its tag)
            db.execute("UPDATE segs SET body=? WHERE stream='KOR-JPN' AND first=?", (bytes(body), first))
            db.commit()
            db.close()
            got = []
            async with FeedClient(nodes["JPN"], port=n["JPN"].port) as c:
                async for d in c.deliveries(["KOR-JPN"], follow=False):
                    got.append(d)
            assert len(got) == len(msgs) - 1 and seq not in [d.seq for d in got]
            assert any(s == "KOR-JPN" and q == seq and "quarantined" in w for s, q, w in c.alarms)
            assert any("does not cover" in w or "does not match" in w for _, _, w in c.alarms)

    asyncio.run(go())


def test_a_hub_forging_a_batch_inside_a_segment_is_refused_and_nothing_is_kept(nodes: dict[str, Path]) -> None:
    """The hub (or anyone in its place) appends records to KOR-JPN and signs the batch itself: JPN checks the
    batch signature against KOR's pinned key, refuses the whole segment and keeps none of it."""
    from accord.feed import crypto as fc
    from accord.feed import frame as ff

    async def go() -> None:
        async with three(nodes, Days(DAY)) as n, FeedClient(nodes["KOR"], port=n["KOR"].port) as kor:
            msgs = flight_messages("kor-F1", 10)
            await kor.publish_many(msgs)
            await _drain(n["JPN"], "KOR-JPN", len(msgs))
            await asyncio.sleep(0.1)  # a batch signature of KOR has reached JPN
            jpn = n["JPN"]
            head = jpn._accepted["KOR-JPN"]
            forged = [ff.record("KOR-JPN", head + 1, ff.DATA, b"\0\0\0\1" + bytes(40))]
            chain = fc.BatchChain()
            chain.add(head + 1, forged[0])
            payload = fc.sign_batch("KOR-JPN", chain, n["USA"].ident.sign_key)  # not KOR's key
            forged.append(ff.record("KOR-JPN", head + 2, ff.BSIG, payload))
            seg = ff.scan_segment(b"".join(ff.prefixed(r) for r in forged))
            with pytest.raises(fc.FeedCryptoError, match="signature does not verify"):
                jpn._on_segment("USA", False, seg)
            assert jpn._accepted["KOR-JPN"] == head and not jpn._relayed
            # and a segment of KOR-JPN from anyone but the hub is refused at JPN
            with pytest.raises(ff.FrameError, match="not the source"):
                jpn._on_segment("KOR", False, seg)

    asyncio.run(go())


def test_a_publish_batch_refuses_each_bad_message_with_its_own_id(nodes: dict[str, Path]) -> None:
    """PUBS carries many messages: each is checked on its own (M-R2 window), a refusal names its id, the others go."""
    from accord.feed.model import Kind, WarningMessage

    async def go() -> None:
        async with three(nodes, Days(DAY)) as n, FeedClient(nodes["KOR"], port=n["KOR"].port) as kor:
            t = now_us()
            ids = []
            for m in (
                WarningMessage("kor-B1", Kind.LAUNCH, t - 1_000_000, 39.0, 125.7),
                WarningMessage("kor-B9", Kind.TRACK, t - 1000, 39.1, 126.0, 5e4, (1.0, 1.0, 1.0)),  # no launch
                WarningMessage("kor-B1", Kind.TRACK, t - 1000, 39.1, 126.0, 5e4, (1.0, 1.0, 1.0)),
            ):
                kor.fire(m)
                ids.append(kor._next_id)
            got = await _drain(n["JPN"], "KOR-JPN", 2)
            assert [d.message.event for d in got] == ["kor-B1", "kor-B1"]
            for _ in range(100):
                if kor.refusals:
                    break
                await asyncio.sleep(0.02)
            assert [(r["id"], r["code"]) for r in kor.refusals] == [(ids[1], Code.OUTSIDE_WINDOW)]

    asyncio.run(go())


def test_a_peer_may_not_publish_batches(nodes: dict[str, Path]) -> None:
    """Only a local client publishes: a partner sending PUBS to the hub is disconnected with PROTOCOL."""
    import struct

    from accord.feed import frame as ff

    async def go() -> None:
        async with three(nodes, Days(DAY)) as n:
            jpn = n["JPN"].ident
            r, w = await asyncio.open_connection("127.0.0.1", n["USA"].port, ssl=jpn.client_ssl("USA"))
            w.write(ff.frame(ff.PUBS, struct.pack(">IB", 1, 1) + b"\0\1x"))
            await w.drain()
            frames: list[tuple[int, bytes]] = []
            reader = ff.FrameReader()
            with contextlib.suppress(TimeoutError, ConnectionError):
                while not any(t == ff.ERR for t, _ in frames):
                    frames += reader.feed(await asyncio.wait_for(r.read(65536), 2))
            errs = [ff.parse_json(b, None) for t, b in frames if t == ff.ERR]
            assert any(e["code"] == "PROTOCOL" and "local client" in e["message"] for e in errs)
            assert n["USA"].counters["published"] == 0
            w.close()

    asyncio.run(go())


def test_a_cut_off_subscriber_is_readmitted_without_reconnecting_when_the_agreement_is_back(
    nodes: dict[str, Path],
) -> None:
    """What-if: the Japan-US GSOMIA is terminated on DAY+1, then the what-if day moves back to DAY. JPN, cut off
    on DAY+1 and still connected, is re-admitted by the hub (audited) and gets, from where it stopped, what KOR
    published meanwhile: no loss, no duplicate, same connection."""
    ends = date(2026, 6, 2)
    base = load_agreements()
    ended = base.what_if(add=[("jpn-usa-gsomia", Event(on=ends, type=EventType.TERMINATED, note="what-if"))])
    days = Days(DAY)

    async def go() -> None:
        async with (
            three(nodes, days, {"USA": ended, "JPN": ended}) as n,
            FeedClient(nodes["KOR"], port=n["KOR"].port) as kor,
        ):
            first = flight_messages("kor-RA1", 10)
            await kor.publish_many(first)
            assert len(await _drain(n["JPN"], "KOR-JPN", len(first))) == len(first)
            uplink = n["JPN"].peers["USA"]
            days.day = ends
            later = flight_messages("kor-RA2", 10)
            await kor.publish_many(later)
            await asyncio.sleep(0.5)
            held = n["JPN"].store.head("KOR-JPN")
            assert n["USA"].counters["cut_off"] >= 1 and held < n["USA"].store.head("KOR-JPN")
            days.day = DAY  # the agreement is back in force (what-if)
            for _ in range(200):
                if n["JPN"].store.head("KOR-JPN") == n["USA"].store.head("KOR-JPN"):
                    break
                await asyncio.sleep(0.02)
            assert n["JPN"].store.head("KOR-JPN") == n["USA"].store.head("KOR-JPN") > held
            assert n["JPN"].peers["USA"] is uplink  # no reconnection
            got = await _drain(n["JPN"], "KOR-JPN", len(first) + len(later))
            assert [d.message.event for d in got] == ["kor-RA1"] * len(first) + ["kor-RA2"] * len(later)
            assert [d.seq for d in got] == sorted({d.seq for d in got})
            assert n["USA"].audit is not None
            n["USA"].audit.flush()

    asyncio.run(go())
    events = [e for e in _audit_events(nodes["USA"], "USA") if e["type"] == "decision"]
    codes = [e["decision"]["code"] for e in events]
    assert "CUT_OFF" in codes and "READMITTED" in codes and codes.index("CUT_OFF") < codes.index("READMITTED")
    assert next(e for e in events if e["decision"]["code"] == "READMITTED")["decision"]["allowed"] is True


def test_a_subscription_refused_for_scope_is_admitted_when_the_agreement_enters_into_force(
    nodes: dict[str, Path],
) -> None:
    """JPN's node starts (what-if) before the 2023 mechanism: its subscription to KOR-JPN is refused at the hub.
    When the day reaches the mechanism's entry into force, the still-connected JPN is admitted."""
    days = Days(date(2023, 12, 1))

    async def go() -> None:
        async with three(nodes, days) as n:
            await asyncio.sleep(0.3)
            assert ("JPN", "KOR-JPN") in {(c.party, s) for c, s in n["USA"]._suspended}
            assert n["JPN"].store.head("KOR-JPN") == 0
            uplink = n["JPN"].peers["USA"]
            days.day = DAY
            for _ in range(200):
                if n["JPN"].store.head("KOR-JPN") >= 1:
                    break
                await asyncio.sleep(0.02)
            assert n["JPN"].store.head("KOR-JPN") >= 1 and n["JPN"].peers["USA"] is uplink
            async with FeedClient(nodes["KOR"], port=n["KOR"].port) as kor:
                msgs = flight_messages("kor-RA3", 5)
                await kor.publish_many(msgs)
            assert len(await _drain(n["JPN"], "KOR-JPN", len(msgs))) == len(msgs)

    asyncio.run(go())


def test_offer_key_rotation_old_key_opens_old_sessions_until_its_bound(nodes: dict[str, Path]) -> None:
    """JPN rotates its X25519 key while running: KOR opens a new epoch sealed to the new key; a reader still
    opens the earlier epoch with the retired key, until its bound; past it, those records are unreadable."""
    import json as _json

    from accord.feed import crypto as fc
    from accord.feed import frame as ff
    from accord.feed import offerkeys

    async def go() -> None:
        async with three(nodes, Days(DAY)) as n, FeedClient(nodes["KOR"], port=n["KOR"].port) as kor:
            a = flight_messages("kor-K1", 5)
            await kor.publish_many(a)
            assert len(await _drain(n["JPN"], "KOR-JPN", len(a))) == len(a)
            old_offer = n["JPN"].offer_raw
            offerkeys.rotate(nodes["JPN"] / "feed", old_offer, keep_days=1)
            for _ in range(200):
                if n["JPN"].offer_raw != old_offer and n["KOR"].offers["JPN"].raw == n["JPN"].offer_raw:
                    break
                await asyncio.sleep(0.02)
            assert n["KOR"].offers["JPN"].raw == n["JPN"].offer_raw != old_offer
            b = flight_messages("kor-K2", 5)
            await kor.publish_many(b)
            got = await _drain(n["JPN"], "KOR-JPN", len(a) + len(b))
            assert [d.message.event for d in got] == ["kor-K1"] * len(a) + ["kor-K2"] * len(b)
            sealed_to = {
                fc.parse_session_header(raw[ff.REC_HEADER :])["offer"]
                for _, raw in n["JPN"].store.read("KOR-JPN", 1, 10_000)
                if raw[ff.REC_HEADER - 1] == ff.HS
            }
            assert len(sealed_to) == 2  # one epoch per key
            # past the bound the retired key is gone: the old epoch no longer opens, the new one does
            for meta in (nodes["JPN"] / "feed" / offerkeys.RETIRED_DIR).glob("*.json"):
                obj = _json.loads(meta.read_text())
                meta.write_text(_json.dumps({**obj, "not_after": "2000-01-01T00:00:00+00:00"}))
            async with FeedClient(nodes["JPN"], port=n["JPN"].port) as c:
                late = [d async for d in c.deliveries(["KOR-JPN"], follow=False)]
            assert [d.message.event for d in late] == ["kor-K2"] * len(b)
            assert any("not held (or expired)" in w for _, _, w in c.alarms)

    asyncio.run(go())


def test_a_retired_key_whose_offer_is_not_ours_is_ignored(nodes: dict[str, Path], tmp_path: Path) -> None:
    """A key dropped into feed/offer-keys with an offer not signed by this node (or not matching the key)."""
    import json as _json

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from accord.feed import crypto as fc
    from accord.feed import offerkeys

    state = tmp_path / "feed"
    state.mkdir()
    jpn = NodeIdentity.load(nodes["JPN"])
    key = offerkeys.new_key(state / offerkeys.OFFER_KEY)
    mine = fc.make_offer("JPN", key, jpn.sign_key, now_us())
    offerkeys.rotate(state, mine, keep_days=1)
    assert len(offerkeys.retired_keys(state, "JPN", jpn.sign_key.public_key())) == 1
    meta = next((state / offerkeys.RETIRED_DIR).glob("*.json"))
    forged = fc.make_offer("JPN", key, Ed25519PrivateKey.generate(), now_us())
    meta.write_text(_json.dumps({**_json.loads(meta.read_text()), "offer": forged.decode()}))
    assert offerkeys.retired_keys(state, "JPN", jpn.sign_key.public_key()) == []


def test_publish_many_sends_binary_messages_in_pubs_and_answers_each_refusal_in_place(nodes: dict[str, Path]) -> None:
    """The batched publish path keeps every check of the publishing node (M-R2 launch-impact window, pre-launch
    launch estimate, M-R1 form): a refused message is answered in its place, audited, and never enters a stream;
    the others are accepted with their sequence numbers and reach JPN in order."""
    from accord.feed.model import Kind, WarningMessage

    async def go() -> None:
        async with three(nodes, Days(DAY)) as n, FeedClient(nodes["KOR"], port=n["KOR"].port) as kor:
            pubs: list[int] = []
            real = n["KOR"]._on_publish_many

            def counting(conn: Any, body: bytes) -> None:
                pubs.append(len(body))
                real(conn, body)

            n["KOR"]._on_publish_many = counting  # type: ignore[method-assign]
            t = now_us()
            msgs = [
                WarningMessage("kor-PM1", Kind.LAUNCH, t - 2_000_000, 39.0, 125.7),
                WarningMessage("kor-PM9", Kind.TRACK, t - 1000, 39.1, 126.0, 5e4, (1.0, 1.0, 1.0)),  # no launch
                WarningMessage("kor-PM1", Kind.TRACK, t - 1000, 39.1, 126.0, 5e4, (1.0, 1.0, 1.0)),
                WarningMessage("kor-PM2", Kind.LAUNCH, t + 60_000_000, 39.0, 125.7),  # a launch not yet happened
                WarningMessage("kor-PM1", Kind.TRACK, t - 500, 95.0, 126.0, 5e4, (1.0, 1.0, 1.0)),  # latitude 95
                WarningMessage("kor-PM1", Kind.IMPACT, t + 300_000_000, 39.5, 133.0),
            ]
            out = await kor.publish_many(msgs)
            assert pubs, "binary messages went in PUBS frames"
            refused = {i: r for i, r in enumerate(out) if isinstance(r, FeedRefused)}
            assert {i: (r.code, r.rule) for i, r in refused.items()} == {
                1: (Code.OUTSIDE_WINDOW, "M-R2"),
                3: (Code.PRE_LAUNCH, "M-R2"),
                4: (Code.MALFORMED, None),
            }
            ok = [r for r in out if not isinstance(r, FeedRefused)]
            assert all(set(r) == {"KOR-JPN", "KOR-USA"} for r in ok)
            assert [r["KOR-JPN"] for r in ok] == sorted(r["KOR-JPN"] for r in ok)
            got = await _drain(n["JPN"], "KOR-JPN", 3)
            assert [(d.message.event, d.message.kind) for d in got] == [
                ("kor-PM1", Kind.LAUNCH),
                ("kor-PM1", Kind.TRACK),
                ("kor-PM1", Kind.IMPACT),
            ]
            assert [d.seq for d in got] == [r["KOR-JPN"] for r in ok]
            assert n["KOR"].counters["refused"] == 3
            assert n["KOR"].audit is not None
            n["KOR"].audit.flush()

    asyncio.run(go())
    decisions = [e for e in _audit_events(nodes["KOR"], "KOR") if e["type"] == "decision"]
    assert sorted(e["decision"]["code"] for e in decisions) == sorted(
        [Code.OUTSIDE_WINDOW, Code.PRE_LAUNCH, Code.MALFORMED]
    )
    assert "95.0" not in json.dumps(decisions)  # a digest of the refused message, never its content


def test_fire_many_and_batches_resume_after_the_mark_with_no_loss_or_duplicate(
    nodes: dict[str, Path], tmp_path: Path
) -> None:
    """fire_many publishes in PUBS (a refusal names its id); batches() hands over whole segments, decrypted and
    verified, in order, with the high-water mark: a reader that stops after some batches resumes after the last
    one it took, and together they hold every message once (the same as deliveries())."""
    from accord.feed.client import DeliveryBatch
    from accord.feed.model import Kind, WarningMessage

    hwm = tmp_path / "jpn-batches.hwm"

    async def go() -> None:
        async with three(nodes, Days(DAY)) as n, FeedClient(nodes["KOR"], port=n["KOR"].port) as kor:
            t = now_us()
            msgs = [WarningMessage("kor-FM1", Kind.LAUNCH, t - 3_000_000, 39.0, 125.7)]
            msgs += [
                WarningMessage("kor-FM1", Kind.TRACK, t - 2_000_000 + i, 39.1, 126.0 + i * 1e-5, 5e4, (1.0, 2.0, 3.0))
                for i in range(1500)
            ]
            bad = WarningMessage("kor-FM7", Kind.TRACK, t - 1000, 39.1, 126.0, 5e4, (1.0, 1.0, 1.0))  # no launch
            first = kor.fire_many(msgs[:700])
            first_bad = kor.fire_many([bad])
            assert first_bad == (first + 700) & 0xFFFFFFFF
            kor.fire_many(msgs[700:])
            taken: list[DeliveryBatch] = []

            async def take_some() -> None:
                async with (
                    FeedClient(nodes["JPN"], port=n["JPN"].port, hwm_file=hwm) as c,
                    contextlib.aclosing(c.batches(["KOR-JPN"])) as it,
                ):
                    async for b in it:
                        assert isinstance(b, DeliveryBatch) and len(b) == len(b.seqs) > 0
                        taken.append(b)
                        if sum(map(len, taken)) >= 400:
                            return

            await asyncio.wait_for(take_some(), 10)
            assert 400 <= sum(map(len, taken)) < len(msgs)
            rest: list[DeliveryBatch] = []
            async with FeedClient(nodes["JPN"], port=n["JPN"].port, hwm_file=hwm) as c:
                for _ in range(50):
                    rest += [b async for b in c.batches(["KOR-JPN"], follow=False)]
                    if sum(map(len, taken + rest)) >= len(msgs):
                        break
                    await asyncio.sleep(0.1)
            seqs = [q for b in taken + rest for q in b.seqs]
            assert len(seqs) == len(set(seqs)) == len(msgs) and seqs == sorted(seqs)
            got = [m for b in taken + rest for m in b.messages]
            assert [(m.event, m.kind, m.time_us) for m in got] == [(m.event, m.kind, m.time_us) for m in msgs]
            assert all(m.issued_us > 0 for m in got)  # stamped by the publishing node
            assert [(r["id"], r["code"]) for r in kor.refusals] == [(first_bad, Code.OUTSIDE_WINDOW)]
            # the same records through deliveries(): same sequence numbers and messages
            async with FeedClient(nodes["JPN"], port=n["JPN"].port) as c:
                each = [d async for d in c.deliveries(["KOR-JPN"], from_seq={"KOR-JPN": 1}, follow=False)]
            assert [d.seq for d in each] == seqs and [d.message for d in each] == got
            assert [d.seq for b in taken for d in b] == [q for b in taken for q in b.seqs]

    asyncio.run(go())
