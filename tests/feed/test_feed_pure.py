"""Pure parts of the feed: message model (M-R1, M-R2), launch-impact window, simulator physics, scope by
agreement (M-R4, M-R5), session crypto, and the frame parser against hostile input (hypothesis)."""

from __future__ import annotations

import contextlib
import itertools
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.agreements import AgreementSet, Event, EventType
from accord.core.decision import decide
from accord.errors import AccordError
from accord.feed import crypto as fc
from accord.feed import frame as ff
from accord.feed.model import (
    Code,
    EventWindows,
    FeedRefused,
    Kind,
    WarningMessage,
    decode_message,
    encode_message,
    parse_message,
)
from accord.feed.scope import feed_scope, hub_of
from accord.feed.sim import Profile, flight, predict_impact, schedule
from tests.conftest import make_label

T = 1_790_000_000_000_000


def track(**extra: object) -> dict[str, object]:
    return {
        "event": "E1",
        "kind": "track",
        "time": T,
        "lat": 39.0,
        "lon": 126.0,
        "alt_m": 5e4,
        "vel_e": 1e3,
        "vel_n": 0.0,
        "vel_u": 5e2,
        **extra,
    }


# -- M-R1 / M-R2: what crosses ------------------------------------------------------------------


def test_the_three_elements_of_warning_data_parse() -> None:
    assert parse_message({"event": "E1", "kind": "launch", "time": T, "lat": 39.0, "lon": 125.7}).kind is Kind.LAUNCH
    assert parse_message(track()).vel == (1e3, 0.0, 5e2)
    assert parse_message({"event": "E1", "kind": "impact", "time": T, "lat": 40.0, "lon": 135.0}).kind is Kind.IMPACT


@pytest.mark.parametrize(
    "field",
    [
        "sensor_id",
        "SensorType",
        "radar",
        "radar_lat",
        "platform_name",
        "asset",
        "detection_site",
        "ship",
        "satellite_id",
        "tel_position",
        "pre_launch_score",
        "indicators",
        "fuel_state",
    ],
)
def test_sensor_and_pre_launch_fields_are_refused(field: str) -> None:
    with pytest.raises(FeedRefused) as exc:
        parse_message(track(**{field: 1}))
    assert exc.value.code == Code.FORBIDDEN_FIELD and exc.value.rule == "M-R2"


def test_a_forbidden_field_nested_anywhere_is_refused() -> None:
    with pytest.raises(FeedRefused) as exc:
        parse_message(track(extra={"source": [{"sensor": "x"}]}))
    assert exc.value.code == Code.FORBIDDEN_FIELD and exc.value.field == "extra.source[0].sensor"


@pytest.mark.parametrize("kind", ["pre-launch", "indicator", "fueling", "Preparation"])
def test_pre_launch_kinds_are_refused(kind: str) -> None:
    with pytest.raises(FeedRefused) as exc:
        parse_message({"event": "E1", "kind": kind, "time": T, "lat": 39.0, "lon": 125.0})
    assert exc.value.code == Code.PRE_LAUNCH


@pytest.mark.parametrize(
    "msg",
    [
        {"event": "E1", "kind": "launch", "time": T, "lat": 39.0, "lon": 125.0, "warhead": "?"},  # not warning data
        {"event": "E1", "kind": "report", "time": T, "lat": 39.0, "lon": 125.0},
        {"event": "E1", "kind": "launch", "time": T, "lat": 39.0, "lon": 125.0, "alt_m": 0},  # track field
    ],
)
def test_anything_outside_the_three_elements_is_refused(msg: dict[str, object]) -> None:
    with pytest.raises(FeedRefused) as exc:
        parse_message(msg)
    assert exc.value.code == Code.NOT_WARNING_DATA and exc.value.rule == "M-R1"


@pytest.mark.parametrize(
    "msg",
    [
        track(lat=91.0),
        track(lon=float("nan")),
        track(time=-1),
        track(time=True),
        track(event=""),
        track(event="x" * 33),
        track(event="a b"),
        track(vel_u="fast"),
        "not an object",
    ],
)
def test_malformed_messages_are_refused(msg: object) -> None:
    with pytest.raises(FeedRefused) as exc:
        parse_message(msg)
    assert exc.value.code == Code.MALFORMED


def test_binary_form_round_trips() -> None:
    m = WarningMessage("E-1.a_b", Kind.TRACK, T, 39.5, 127.25, 123456.5, (1.5, -2.5, 3.25), T + 7)
    assert decode_message(encode_message(m)) == m
    with pytest.raises(FeedRefused):
        decode_message(encode_message(m)[:-1])


# -- the launch-impact window (M-R2) ----------------------------------------------------------------


def msg(kind: Kind, t: int, event: str = "E1") -> WarningMessage:
    return WarningMessage(event, kind, t, 39.0, 126.0)


def test_window_accepts_a_flight_from_launch_to_impact() -> None:
    w = EventWindows()
    for m in flight(Profile(), T, event="F1", interval_s=5.0):
        w.check(m, m.issued_us)


def test_window_refuses_before_launch_without_launch_and_after_impact() -> None:
    w = EventWindows()
    with pytest.raises(FeedRefused, match="no launch was published"):
        w.check(msg(Kind.TRACK, T), T)
    with pytest.raises(FeedRefused) as exc:
        w.check(msg(Kind.LAUNCH, T + 10_000_000), T)  # an estimate issued before the launch time
    assert exc.value.code == Code.PRE_LAUNCH
    w.check(msg(Kind.LAUNCH, T), T + 1_000_000)
    with pytest.raises(FeedRefused) as exc:
        w.check(msg(Kind.TRACK, T - 1), T + 2_000_000)  # a track point before the launch
    assert exc.value.code == Code.PRE_LAUNCH
    w.check(msg(Kind.IMPACT, T + 300_000_000), T + 3_000_000)
    w.check(msg(Kind.TRACK, T + 200_000_000), T + 200_000_000)
    with pytest.raises(FeedRefused) as exc:
        w.check(msg(Kind.TRACK, T + 400_000_000), T + 400_000_000)  # after impact
    assert exc.value.code == Code.OUTSIDE_WINDOW
    with pytest.raises(FeedRefused):
        w.check(msg(Kind.TRACK, T + 10_000_000), T)  # in the future


# -- simulator physics ------------------------------------------------------------------------------


def test_simulated_flight_has_boost_midcourse_reentry_and_converging_impact_prediction() -> None:
    ms = list(flight(Profile(), 0, event="F", interval_s=2.0))
    tracks = [m for m in ms if m.kind is Kind.TRACK]
    impacts = [m for m in ms if m.kind is Kind.IMPACT]
    assert ms[0].kind is Kind.LAUNCH and tracks and impacts
    speeds = [(m.vel[0] ** 2 + m.vel[1] ** 2 + m.vel[2] ** 2) ** 0.5 for m in tracks]
    apogee = max(m.alt_m for m in tracks)
    assert speeds[10] > speeds[0] and 50_000 < apogee < 1_500_000  # boost accelerates, then a high apogee
    assert tracks[-1].vel[2] < 0 and tracks[-1].alt_m < apogee / 4  # re-entry, descending
    true_impact = tracks[-1].time_us
    errors = [abs(m.time_us - true_impact) for m in impacts]
    assert errors[-1] < errors[0] and errors[-1] < 5_000_000  # the prediction converges


def test_predict_impact_vacuum_solution() -> None:
    t, e, n = predict_impact(0.0, 100.0, 0.0, 98.0665)
    assert t == pytest.approx(20.0) and e == pytest.approx(2000.0) and n == 0.0


def test_schedule_rate() -> None:
    ms = schedule(1000, 2.0, T, interval_s=0.1)
    assert 1500 < len(ms) < 2600
    assert all(a.issued_us <= b.issued_us for a, b in itertools.pairwise(ms))


# -- scope by agreement (M-R4, M-R5) ----------------------------------------------------------------


def test_scope_follows_the_2023_mechanism(aset: AgreementSet) -> None:
    assert hub_of(aset) == "USA"
    before, after = date(2023, 12, 18), date(2023, 12, 19)
    for o, r in (("KOR", "JPN"), ("JPN", "KOR"), ("KOR", "USA"), ("USA", "JPN")):
        assert not feed_scope(aset, o, r, before).allowed
        assert feed_scope(aset, o, r, after).allowed
    sc = feed_scope(aset, "KOR", "JPN", after)
    assert sc.route == ("KOR", "USA", "JPN") and sc.agreement == "kor-jpn-usa-missile-warning"  # M-R4


def test_scope_ends_with_tisa_or_a_protecting_bilateral(aset: AgreementSet) -> None:
    d = date(2027, 1, 1)
    no_tisa = aset.what_if(add=[("kor-jpn-usa-tisa", Event(on=d, type=EventType.TERMINATED))])
    sc = feed_scope(no_tisa, "KOR", "JPN", d)
    assert not sc.allowed and "M-R5" in sc.why
    no_jpn = aset.what_if(add=[("jpn-usa-gsomia", Event(on=d, type=EventType.TERMINATED))])
    assert not feed_scope(no_jpn, "KOR", "JPN", d).allowed
    assert feed_scope(no_jpn, "KOR", "USA", d).allowed
    assert not feed_scope(no_jpn, "USA", "JPN", d).allowed and "T-R3" in feed_scope(no_jpn, "USA", "JPN", d).why


def test_no_mechanism_loaded_means_no_feed(aset: AgreementSet) -> None:
    without = AgreementSet([a for a in aset if a.id != "kor-jpn-usa-missile-warning"])
    assert not feed_scope(without, "KOR", "JPN", date(2024, 1, 14)).allowed
    assert hub_of(without) is None


def test_the_mechanism_does_not_change_decisions_on_other_topics(aset: AgreementSet) -> None:
    """M-R5: the mechanism speaks for warning data only; a DPRK-MISSILE document still goes under TISA."""
    d = decide(make_label(), "KOR", "JPN", date(2015, 6, 1), agreements=aset)
    assert d.allowed and "kor-jpn-usa-missile-warning" not in d.agreements
    assert all(r.agreement != "kor-jpn-usa-missile-warning" for r in d.reasons)


# -- session crypto ---------------------------------------------------------------------------------


def _keys() -> tuple[Ed25519PrivateKey, Ed25519PrivateKey, X25519PrivateKey]:
    return Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate(), X25519PrivateKey.generate()


def test_handshake_session_and_batch_round_trip() -> None:
    kor, jpn, x = _keys()
    offer = fc.open_offer(fc.make_offer("JPN", x, jpn, T), jpn.public_key(), "JPN")
    session, hs = fc.make_session("KOR-JPN", 1, offer, kor)
    opened = fc.open_session(hs, "KOR-JPN", kor.public_key(), offer, x)
    assert opened.key == session.key
    rec = session.seal(5, b"warning")
    assert opened.open(rec, 5) == b"warning"
    chain = fc.BatchChain()
    chain.add(4, b"hs")
    chain.add(5, rec)
    b = fc.parse_batch(fc.sign_batch("KOR-JPN", chain, kor))
    fc.verify_batch("KOR-JPN", b, chain, kor.public_key())


def test_handshake_attacks_are_refused() -> None:
    kor, jpn, x = _keys()
    mallory = Ed25519PrivateKey.generate()
    raw = fc.make_offer("JPN", x, jpn, T)
    with pytest.raises(fc.FeedCryptoError):  # an offer not signed by the recipient (the hub substituting a key)
        fc.open_offer(fc.make_offer("JPN", X25519PrivateKey.generate(), mallory, T), jpn.public_key(), "JPN")
    with pytest.raises(fc.FeedCryptoError):  # an offer of another recipient
        fc.open_offer(raw, jpn.public_key(), "KOR")
    offer = fc.open_offer(raw, jpn.public_key(), "JPN")
    _, forged = fc.make_session("KOR-JPN", 1, offer, mallory)
    with pytest.raises(fc.FeedCryptoError):  # a session not signed by the originator
        fc.open_session(forged, "KOR-JPN", kor.public_key(), offer, x)
    session, hs = fc.make_session("KOR-JPN", 1, offer, kor)
    with pytest.raises(fc.FeedCryptoError):  # replayed into another stream
        fc.open_session(hs, "USA-JPN", kor.public_key(), offer, x)
    rec = bytearray(session.seal(7, b"warning"))
    with pytest.raises(fc.FeedCryptoError):  # moved to another sequence number
        session.open(bytes(rec), 8)
    rec[-1] ^= 1
    with pytest.raises(fc.FeedCryptoError):  # tampered
        session.open(bytes(rec), 7)


def test_batch_signature_covers_exactly_the_records() -> None:
    kor, _, _ = _keys()
    chain = fc.BatchChain()
    for i in range(1, 4):
        chain.add(i, bytes([i]))
    b = fc.parse_batch(fc.sign_batch("KOR-JPN", chain, kor))
    other = fc.BatchChain()
    for i in range(1, 4):
        other.add(i, bytes([i + (i == 2)]))
    with pytest.raises(fc.FeedCryptoError):
        fc.verify_batch("KOR-JPN", b, other, kor.public_key())
    with pytest.raises(fc.FeedCryptoError):
        fc.verify_batch("KOR-JPN", b, chain, Ed25519PrivateKey.generate().public_key())


# -- the frame parser against hostile input ---------------------------------------------------------

_SAFE = (ff.FrameError, FeedRefused, fc.FeedCryptoError)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_frame_reader_never_crashes_and_stays_bounded(chunks: list[bytes]) -> None:
    reader = ff.FrameReader()
    try:
        for c in chunks:
            for ftype, body in reader.feed(c):
                assert ftype in ff.FRAME_TYPES and len(body) <= ff.MAX_FRAME
    except ff.FrameError:
        return
    assert len(reader._buf) <= ff.MAX_FRAME + 5


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.binary(max_size=64))
def test_hostile_lengths_are_refused_before_buffering(length: int, tail: bytes) -> None:
    reader = ff.FrameReader()
    if length == 0 or length > ff.MAX_FRAME + 1:
        with pytest.raises(ff.FrameError):
            reader.feed(length.to_bytes(4, "big") + tail)
    else:
        with contextlib.suppress(ff.FrameError):
            reader.feed(length.to_bytes(4, "big") + tail)
    assert len(reader._buf) <= ff.MAX_FRAME + 5


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(sorted(ff.FRAME_TYPES)), st.binary(max_size=200)), max_size=8),
    st.integers(1, 50),
)
def test_valid_frames_survive_any_fragmentation(frames: list[tuple[int, bytes]], cut: int) -> None:
    wire = b"".join(ff.frame(t, b) for t, b in frames)
    reader = ff.FrameReader()
    got = []
    for i in range(0, len(wire), cut):
        got += reader.feed(wire[i : i + cut])
    assert got == frames


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_record_and_body_parsers_refuse_cleanly(data: bytes) -> None:
    for parse in (
        ff.parse_record,
        ff.parse_ack,
        lambda d: ff.parse_json(d, {"stream", "from", "offer"}),
        decode_message,
        fc.parse_batch,
        fc.parse_session_header,
        fc.data_epoch,
    ):
        try:
            parse(data)
        except _SAFE:
            pass
        except AccordError as e:  # any other typed error would be a bug
            raise AssertionError(f"{parse}: {e!r}") from e


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=12),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
        max_size=8,
    )
)
def test_message_parser_refuses_cleanly(obj: dict[str, object]) -> None:
    with contextlib.suppress(FeedRefused):
        parse_message(obj)


# -- segments: the batch unit a relay checks, hashes, stores and forwards as a whole ---------------------


def _segment(stream: str, first: int, n: int, *, rtypes: dict[int, int] | None = None) -> bytes:
    recs = []
    for q in range(first, first + n):
        rt = (rtypes or {}).get(q, ff.DATA)
        payload = b"\0\0\0\1" + bytes(20) if rt == ff.DATA else bytes(fc._BSIG.size)
        recs.append(ff.prefixed(ff.record(stream, q, rt, payload)))
    return b"".join(recs)


def test_segment_scan_finds_range_and_signed_records() -> None:
    body = _segment("KOR-JPN", 7, 5, rtypes={9: ff.BSIG})
    seg = ff.scan_segment(body)
    assert (seg.stream, seg.first, seg.last) == ("KOR-JPN", 7, 11)
    assert [(q, t) for q, t, _, _ in seg.specials] == [(9, ff.BSIG)]
    q, _, a, e = seg.specials[0]
    assert ff.parse_record(body[a:e]).seq == q
    assert [q for q, _ in ff.segment_records(body)] == [7, 8, 9, 10, 11]
    off = ff.segment_offset(body, 7, 10)
    assert ff.scan_segment(body[off:]).first == 10


def test_the_chain_of_a_segment_is_the_chain_of_its_records() -> None:
    """A relay hashes a segment in one call: the same digest the originator signed record by record."""
    body = _segment("KOR-JPN", 1, 6)
    one, per = fc.BatchChain(), fc.BatchChain()
    one.add_span(1, 6, body)
    for q, raw in ff.segment_records(body):
        per.add(q, raw)
    assert (one.first, one.last, one.digest()) == (per.first, per.last, per.digest())


@pytest.mark.parametrize(
    "attack",
    [
        "other-stream-inside",
        "sequence-gap",
        "sequence-repeat",
        "unknown-type",
        "truncated-record",
        "short-data-record",
        "length-past-the-end",
        "sequence-zero",
    ],
)
def test_hostile_segments_are_refused(attack: str) -> None:
    """A hub or partner that splices, reorders, truncates or disguises records inside one segment."""
    good = [ff.prefixed(ff.record("KOR-JPN", q, ff.DATA, b"\0\0\0\1" + bytes(20))) for q in (5, 6, 7)]
    if attack == "other-stream-inside":
        good[1] = ff.prefixed(ff.record("KOR-USA", 6, ff.DATA, b"\0\0\0\1" + bytes(20)))
    elif attack == "sequence-gap":
        good[2] = ff.prefixed(ff.record("KOR-JPN", 9, ff.DATA, b"\0\0\0\1" + bytes(20)))
    elif attack == "sequence-repeat":
        good[2] = good[1]
    elif attack == "unknown-type":
        good[1] = ff.prefixed(ff.record("KOR-JPN", 6, 9, b"\0\0\0\1" + bytes(20)))
    elif attack == "truncated-record":
        good[2] = good[2][:-3]
    elif attack == "short-data-record":
        good[1] = ff.prefixed(ff.record("KOR-JPN", 6, ff.DATA, b"\0\0\0\1"))
    elif attack == "length-past-the-end":
        good[2] = (len(good[2])).to_bytes(4, "big") + good[2][4:]
    elif attack == "sequence-zero":
        good = [ff.prefixed(ff.record("KOR-JPN", 0, ff.DATA, b"\0\0\0\1" + bytes(20)))]
    with pytest.raises(ff.FrameError):
        ff.scan_segment(b"".join(good))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_segment_scanner_refuses_cleanly(data: bytes) -> None:
    try:
        seg = ff.scan_segment(data)
    except ff.FrameError:
        return
    # whatever it accepts is exactly a run of consecutive records of one stream
    recs = ff.segment_records(seg.body)
    assert [q for q, _ in recs] == list(range(seg.first, seg.last + 1))
    assert all(ff.parse_record(raw).stream == seg.stream for _, raw in recs)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2**40), st.integers(1, 30), st.integers(0, 29))
def test_valid_segments_scan_and_split_anywhere(first: int, n: int, cut: int) -> None:
    body = _segment("JPN-KOR", first, n)
    seg = ff.scan_segment(body)
    assert (seg.first, seg.last) == (first, first + n - 1)
    at = first + min(cut, n - 1)
    tail = ff.scan_segment(body[ff.segment_offset(body, first, at) :])
    assert (tail.first, tail.last) == (at, first + n - 1)


def test_seal_part_is_the_prefixed_seal() -> None:
    s = fc.Session("KOR-JPN", 3, bytes(range(32)))
    plain = b"\1\2" + bytes(40)
    assert s.seal_part(9, plain) == ff.prefixed(s.seal(9, plain))
    assert s.open(s.seal_part(9, plain)[4:], 9) == plain


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=120),
        st.builds(lambda b, i: b[:i] + b"\0" + b[i + 1 :], st.binary(min_size=60, max_size=90), st.integers(0, 89)),
    )
)
def test_the_publishing_hot_path_checks_exactly_what_decode_checks(data: bytes) -> None:
    """check_binary (no message built) refuses what decode_message refuses and agrees on what it accepts."""
    from accord.feed.model import check_binary

    try:
        m = decode_message(data)
    except FeedRefused:
        with pytest.raises(FeedRefused):
            check_binary(data)
        return
    assert check_binary(data) == (m.kind, m.event, m.time_us, m.issued_us)


# -- the batched client paths (issue 11) ---------------------------------------------------------


def _bin(**kw: object) -> bytes:
    base: dict[str, object] = {
        "event": "kor-R1",
        "kind": Kind.TRACK,
        "time_us": T,
        "lat": 39.0,
        "lon": 126.0,
        "alt_m": 5e4,
        "vel": (1e3, 0.0, 5e2),
        "issued_us": T,
    }
    return encode_message(WarningMessage(**{**base, **kw}))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        {"lat": 90.5},
        {"lat": float("nan")},
        {"lon": -180.01},
        {"lon": float("inf")},
        {"alt_m": -1_500.0},
        {"alt_m": 6e6},
        {"vel": (2.1e4, 0.0, 0.0)},
        {"vel": (0.0, float("-inf"), 0.0)},
        {"vel": (0.0, 0.0, float("nan"))},
        {"time_us": -1},
        {"issued_us": -5},
        {"time_us": 2**62},
    ],
)
def test_a_binary_message_outside_the_json_ranges_is_refused_by_publisher_and_reader(bad: dict[str, object]) -> None:
    """The binary path (PUB/PUBS, the publishing node's check_binary, a reader's decode) refuses what the
    JSON path refuses: the same ranges, NaN and infinities, negative or huge times (MALFORMED)."""
    from accord.feed.model import check_binary

    data = _bin(**bad)
    for check in (check_binary, decode_message):
        with pytest.raises(FeedRefused) as exc:
            check(data)
        assert exc.value.code == Code.MALFORMED


def test_a_binary_message_at_the_range_bounds_is_accepted() -> None:
    from accord.feed.model import check_binary

    for ok in ({"lat": 90.0, "lon": -180.0}, {"alt_m": -1_000.0, "vel": (-2e4, 2e4, 0.0)}, {"issued_us": 0}):
        m = decode_message(_bin(**ok))
        assert check_binary(_bin(**ok)) == (m.kind, m.event, m.time_us, m.issued_us)


def test_a_bad_event_id_is_refused_every_time_not_only_the_first() -> None:
    """Event ids found well-formed are remembered; a bad one is never remembered as good."""
    from accord.feed.model import check_binary

    for _ in range(3):
        with pytest.raises(FeedRefused):
            check_binary(_bin(event="kor bad id"))
        with pytest.raises(FeedRefused):
            decode_message(_bin(event="-kor-dash-first"))
    assert check_binary(_bin(event="kor-ok.1"))[1] == "kor-ok.1"


def test_encode_pubs_carries_each_message_in_its_binary_form_with_consecutive_ids_across_frames() -> None:
    """fire_many / publish_many's encoder: every part is exactly encode_message's bytes, frames stay within
    MAX_FRAME and are cut with the next id, ids wrap at 2**32."""
    import struct

    from accord.feed.client import encode_pubs

    msgs = [
        WarningMessage(f"kor-{'E' * (i % 29)}{i % 7}", Kind.TRACK, T + i, 39.0, 126.0 + i * 1e-6, 5e4, (1.0, 2.0, 3.0))
        for i in range(2500)
    ]
    first = 2**32 - 3
    frames, count = encode_pubs(first, msgs, 1 | 0x80)
    assert count == len(msgs) and len(frames) > 1
    reader = ff.FrameReader()
    parsed = reader.feed(b"".join(frames))
    assert len(parsed) == len(frames)
    expect_id = first
    got: list[bytes] = []
    for ftype, body in parsed:
        assert ftype == ff.PUBS and len(body) <= ff.MAX_FRAME
        pid, flags = struct.unpack_from(">IB", body)
        assert pid == expect_id and flags == 0x81
        pos, n = 5, 0
        while pos < len(body):
            (length,) = struct.unpack_from(">H", body, pos)
            got.append(body[pos + 2 : pos + 2 + length])
            pos += 2 + length
            n += 1
        expect_id = (expect_id + n) & 0xFFFFFFFF
    assert got == [encode_message(m) for m in msgs]
    assert expect_id == (first + len(msgs)) & 0xFFFFFFFF


def test_seal_parts_is_seal_part_for_each_record_and_opens() -> None:
    import os

    s = fc.Session("KOR-JPN", 3, os.urandom(32))
    plains = [_bin(time_us=T + i) for i in range(20)]
    parts = s.seal_parts(41, plains)
    assert parts == [s.seal_part(41 + i, p) for i, p in enumerate(plains)]
    assert [s.open(p[4:], 41 + i) for i, p in enumerate(parts)] == plains


def test_a_feed_log_of_the_earlier_layout_opens_reads_and_appends(tmp_path: Path) -> None:
    """New logs keep segments in a rowid table; a log created with the earlier layout (WITHOUT ROWID) is
    read and extended as it is, nothing lost or duplicated."""
    import sqlite3

    from accord.feed.store import FeedStore, SegRow

    def seg(first: int, last: int) -> bytes:
        return b"".join(ff.prefixed(ff.record("KOR-JPN", q, ff.DATA, b"\0" * 24)) for q in range(first, last + 1))

    old = tmp_path / "old" / "feed.db"
    old.parent.mkdir()
    db = sqlite3.connect(old)
    db.execute(
        "CREATE TABLE segs (stream TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, "
        "body BLOB NOT NULL, PRIMARY KEY (stream, first)) WITHOUT ROWID"
    )
    db.execute("INSERT INTO segs VALUES ('KOR-JPN', 1, 3, ?)", (seg(1, 3),))
    db.commit()
    db.close()
    for path in (old, tmp_path / "new" / "feed.db"):
        store = FeedStore(path)
        try:
            start = store.head("KOR-JPN") + 1
            store.append([SegRow("KOR-JPN", start, start + 4, seg(start, start + 4), [])])
            assert store.head("KOR-JPN") == start + 4
            assert [q for q, _ in store.read("KOR-JPN", 1, 100)] == list(range(1, start + 5))
            ddl = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'segs'").fetchone()[0]
        finally:
            store.close()
        if path == old:
            assert start == 4 and "WITHOUT ROWID" in ddl
        else:
            assert start == 1 and "WITHOUT ROWID" not in ddl
