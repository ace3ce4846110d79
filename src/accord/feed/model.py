"""Missile-warning messages: what may cross (M-R1), what never does (M-R2), and their binary form.

Only three kinds of warning data exist (M-R1):

- ``launch``: the estimated launch point and time of an event;
- ``track``: one point of the flight trajectory (time, position, velocity);
- ``impact``: the predicted impact point and time.

Everything else is refused at the publishing node (M-R2): pre-launch indicators or warning signs,
and the type, identity or position of the detection and tracking assets. A field the model does not
know is refused too (allow-list, never a block-list alone), and so is a message outside the
launch-impact window of its event (:class:`EventWindows`). Pure: no clock (``now_us`` is an argument).
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from accord.errors import InputError

#: Topic of the feed in agreement scopes (``kor-jpn-usa-missile-warning``).
FEED_TOPIC = "DPRK-MISSILE-WARNING"

_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
#: Key fragments that betray sensor or pre-launch information (M-R2); matched case-insensitively
#: against every key, at any depth.
_FORBIDDEN = re.compile(
    r"sensor|radar|satellite|platform|asset|detector|detection|site|station|ship|vessel|aegis|"
    r"emitter|source_pos|observer|prelaunch|pre_launch|pre-launch|indicator|warning_sign|"
    r"fuel|transporter|tel_|erector|imagery",
    re.IGNORECASE,
)
#: Kinds that are pre-launch by nature (M-R2).
_PRE_LAUNCH_KINDS = {
    "pre-launch",
    "prelaunch",
    "pre_launch",
    "indicator",
    "indicators",
    "warning-sign",
    "preparation",
    "fueling",
}
#: Largest accepted skew of a message's time ahead of the publisher's clock.
MAX_FUTURE_SKEW_US = 2_000_000
#: How long after the predicted impact an event still accepts messages (late track points).
IMPACT_GRACE_US = 30_000_000
#: Longest flight accepted between launch and predicted impact (an ICBM lofted flight is ~73 min).
MAX_FLIGHT_US = 120 * 60 * 1_000_000


class Kind(IntEnum):
    """The three elements of warning data (M-R1)."""

    LAUNCH = 1
    TRACK = 2
    IMPACT = 3


_KIND_NAMES = {"launch": Kind.LAUNCH, "track": Kind.TRACK, "impact": Kind.IMPACT}
_FIELDS = {
    Kind.LAUNCH: {"event", "kind", "time", "lat", "lon", "issued"},
    Kind.TRACK: {"event", "kind", "time", "lat", "lon", "alt_m", "vel_e", "vel_n", "vel_u", "issued"},
    Kind.IMPACT: {"event", "kind", "time", "lat", "lon", "issued"},
}


class Code:
    """Stable refusal codes of the feed."""

    FORBIDDEN_FIELD = "FORBIDDEN_FIELD"
    PRE_LAUNCH = "PRE_LAUNCH"
    NOT_WARNING_DATA = "NOT_WARNING_DATA"
    OUTSIDE_WINDOW = "OUTSIDE_WINDOW"
    MALFORMED = "MALFORMED"
    NOT_IN_SCOPE = "NOT_IN_SCOPE"


class FeedRefused(InputError):
    """A message that may not cross, with the rule that refuses it."""

    def __init__(self, code: str, message: str, *, rule: str | None = None, field: str | None = None) -> None:
        super().__init__(message, source="feed message", field=field)
        self.code = code
        self.rule = rule


@dataclass(frozen=True, slots=True)
class WarningMessage:
    """One element of warning data.

    Attributes:
        event: the launch event id (publisher-chosen, ``[A-Za-z0-9._-]``, at most 32 characters).
        kind: launch, track or impact.
        time_us: microseconds since the Unix epoch (UTC): launch time, track time or impact time.
        lat, lon: WGS-84 degrees: launch point, track position or impact point.
        alt_m: altitude in metres (track points; 0 otherwise).
        vel: velocity east, north, up in m/s (track points; zeros otherwise).
        issued_us: when the publisher issued the message (stamped by the publishing node).
    """

    event: str
    kind: Kind
    time_us: int
    lat: float
    lon: float
    alt_m: float = 0.0
    vel: tuple[float, float, float] = (0.0, 0.0, 0.0)
    issued_us: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form accepted by :func:`parse_message` (times in integer microseconds)."""
        d: dict[str, Any] = {
            "event": self.event,
            "kind": self.kind.name.lower(),
            "time": self.time_us,
            "lat": self.lat,
            "lon": self.lon,
            "issued": self.issued_us,
        }
        if self.kind is Kind.TRACK:
            d.update(alt_m=self.alt_m, vel_e=self.vel[0], vel_n=self.vel[1], vel_u=self.vel[2])
        return d


def _forbidden_keys(obj: Any, path: str = "") -> str | None:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            key = str(k)
            where = f"{path}.{key}" if path else key
            if _FORBIDDEN.search(key):
                return where
            found = _forbidden_keys(v, where)
            if found:
                return found
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            found = _forbidden_keys(v, f"{path}[{i}]")
            if found:
                return found
    return None


def _num(d: Mapping[str, Any], key: str, lo: float, hi: float) -> float:
    v = d.get(key, 0.0)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
        raise FeedRefused(Code.MALFORMED, f"{key} must be a number in [{lo}, {hi}], got {v!r}", field=key)
    return float(v)


def _int(d: Mapping[str, Any], key: str) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**62:
        raise FeedRefused(Code.MALFORMED, f"{key} must be a time in microseconds since the epoch", field=key)
    return v


def parse_message(obj: Any) -> WarningMessage:
    """Check a message given as a mapping (JSON) and build it.

    Raises:
        FeedRefused: FORBIDDEN_FIELD (M-R2: sensor or pre-launch information), PRE_LAUNCH (M-R2),
            NOT_WARNING_DATA (M-R1: a field or kind outside the warning data), MALFORMED.
    """
    if not isinstance(obj, Mapping):
        raise FeedRefused(Code.MALFORMED, "a warning message is a JSON object")
    bad = _forbidden_keys(obj)
    if bad is not None:
        raise FeedRefused(
            Code.FORBIDDEN_FIELD,
            f"{bad}: sensor type, identity or position and pre-launch "
            "indicators never cross; strip the field before publishing",
            rule="M-R2",
            field=bad,
        )
    kind_name = obj.get("kind")
    if isinstance(kind_name, str) and kind_name.lower() in _PRE_LAUNCH_KINDS:
        raise FeedRefused(
            Code.PRE_LAUNCH,
            f"{kind_name!r} is pre-launch data: only data from just after launch until impact crosses",
            rule="M-R2",
            field="kind",
        )
    kind = _KIND_NAMES.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        raise FeedRefused(
            Code.NOT_WARNING_DATA,
            f"kind {kind_name!r} is not warning data (launch, track or impact)",
            rule="M-R1",
            field="kind",
        )
    unknown = sorted(str(k) for k in obj if k not in _FIELDS[kind])
    if unknown:
        raise FeedRefused(
            Code.NOT_WARNING_DATA,
            f"field(s) {', '.join(unknown)} are not part of a {kind_name} "
            f"message (allowed: {', '.join(sorted(_FIELDS[kind]))})",
            rule="M-R1",
            field=unknown[0],
        )
    event = obj.get("event")
    if not isinstance(event, str) or not _EVENT_ID.fullmatch(event):
        raise FeedRefused(Code.MALFORMED, "event must be an id of 1-32 letters, digits, '.', '_' or '-'", field="event")
    vel = (0.0, 0.0, 0.0)
    alt = 0.0
    if kind is Kind.TRACK:
        alt = _num(obj, "alt_m", -1_000.0, 5_000_000.0)
        vel = (
            _num(obj, "vel_e", -20_000.0, 20_000.0),
            _num(obj, "vel_n", -20_000.0, 20_000.0),
            _num(obj, "vel_u", -20_000.0, 20_000.0),
        )
    issued = obj.get("issued", 0)
    return WarningMessage(
        event=event,
        kind=kind,
        time_us=_int(obj, "time"),
        lat=_num(obj, "lat", -90.0, 90.0),
        lon=_num(obj, "lon", -180.0, 180.0),
        alt_m=alt,
        vel=vel,
        issued_us=_int({"issued": issued}, "issued"),
    )


# -- binary form (the plaintext inside the AEAD) ---------------------------------------------------

_FIXED = struct.Struct("<BBqq6d")
MESSAGE_VERSION = 1
MAX_MESSAGE = _FIXED.size + 1 + 32


def encode_message(m: WarningMessage) -> bytes:
    """``version u8 | kind u8 | issued_us i64 | time_us i64 | lat lon alt vel_e vel_n vel_u f64 | len u8 | event``."""
    ev = m.event.encode("ascii")
    return (
        _FIXED.pack(MESSAGE_VERSION, m.kind, m.issued_us, m.time_us, m.lat, m.lon, m.alt_m, *m.vel)
        + bytes((len(ev),))
        + ev
    )


_KINDS = {k.value: k for k in Kind}
_MAX_TIME = 2**62
_EVENTS: dict[bytes, str] = {}  # event ids already found well-formed (bounded): one dict look-up per message


def _event_id(ev: bytes) -> str:
    """The event id of a binary message, checked (ASCII, ``[A-Za-z0-9][A-Za-z0-9._-]{0,31}``)."""
    event = _EVENTS.get(ev)
    if event is None:
        try:
            event = ev.decode("ascii")
        except UnicodeDecodeError:
            raise FeedRefused(Code.MALFORMED, "event id is not ASCII") from None
        if not _EVENT_ID.fullmatch(event):
            raise FeedRefused(Code.MALFORMED, "message has a bad event id")
        if len(_EVENTS) >= 4096:
            _EVENTS.clear()
        _EVENTS[ev] = event
    return event


def _check_fixed(data: bytes) -> tuple[int, int, int, float, float, float, float, float, float]:
    """The fixed part of a binary message, checked: size, version, kind, event length, and every number in
    the range :func:`parse_message` accepts from JSON (chained comparisons: NaN and infinities fail)."""
    if len(data) < _FIXED.size + 2 or len(data) > MAX_MESSAGE:
        raise FeedRefused(Code.MALFORMED, "message has the wrong size")
    ver, kind, issued, t, lat, lon, alt, ve, vn, vu = _FIXED.unpack_from(data)
    if ver != MESSAGE_VERSION or kind not in _KINDS or data[_FIXED.size] != len(data) - _FIXED.size - 1:
        raise FeedRefused(Code.MALFORMED, "message has a bad version, kind or event length")
    if not (
        -90.0 <= lat <= 90.0
        and -180.0 <= lon <= 180.0
        and -1_000.0 <= alt <= 5_000_000.0
        and -20_000.0 <= ve <= 20_000.0
        and -20_000.0 <= vn <= 20_000.0
        and -20_000.0 <= vu <= 20_000.0
        and 0 <= t < _MAX_TIME
        and 0 <= issued < _MAX_TIME
    ):
        raise FeedRefused(Code.MALFORMED, "message has a number out of range or not finite, or a bad time")
    return kind, issued, t, lat, lon, alt, ve, vn, vu


def check_binary(data: bytes) -> tuple[Kind, str, int, int]:
    """The checks of :func:`decode_message` without building the message: ``(kind, event, time_us,
    issued_us)`` of a well-formed binary message (the publishing node's per-message hot path)."""
    kind, issued, t = _check_fixed(data)[:3]  # one set of ranges for both paths
    ev = data[_FIXED.size + 1 :]
    event = _EVENTS.get(ev)
    if event is None:
        event = _event_id(ev)
    return _KINDS[kind], event, t, issued


def decode_message(data: bytes) -> WarningMessage:
    """Inverse of :func:`encode_message`; raises :class:`FeedRefused` (MALFORMED) on anything else: the
    same form and ranges as :func:`parse_message` (a reader never accepts what a publisher would refuse)."""
    kind, issued, t, lat, lon, alt, ve, vn, vu = _check_fixed(data)
    event = _event_id(data[_FIXED.size + 1 :])
    return WarningMessage(event, _KINDS[kind], t, lat, lon, alt, (ve, vn, vu), issued)


# -- the launch-impact window (M-R2) --------------------------------------------------------------


@dataclass(slots=True)
class _Window:
    launch_us: int
    impact_us: int | None = None


class EventWindows:
    """Per-event launch-impact windows seen by a publisher (M-R2): a pure state machine.

    An event opens with its ``launch`` message, issued no earlier than the launch time. Track points
    and impact predictions must lie between launch and (predicted) impact; once ``now`` is past the
    predicted impact (plus :data:`IMPACT_GRACE_US`) the event is closed.
    """

    def __init__(self, max_events: int = 10_000) -> None:
        self._events: dict[str, _Window] = {}
        self._max = max_events

    def check(self, m: WarningMessage, now_us: int) -> None:
        """Raise :class:`FeedRefused` unless ``m`` lies in its event's window at ``now_us``; else record it."""
        self.check_fields(m.event, m.kind, m.time_us, now_us)

    def check_fields(self, event: str, kind: Kind, time_us: int, now_us: int) -> None:
        """:meth:`check` on the fields it needs (the publishing node's hot path builds no message)."""
        if time_us > now_us + MAX_FUTURE_SKEW_US and kind is Kind.TRACK:
            raise FeedRefused(
                Code.OUTSIDE_WINDOW, f"{kind.name.lower()} time is in the future", rule="M-R2", field="time"
            )
        w = self._events.get(event)
        if kind is Kind.LAUNCH:
            if now_us < time_us:
                raise FeedRefused(
                    Code.PRE_LAUNCH,
                    f"event {event}: a launch estimate issued before the launch time is a pre-launch indicator",
                    rule="M-R2",
                    field="time",
                )
            if w is not None and w.impact_us is not None and now_us > w.impact_us + IMPACT_GRACE_US:
                raise FeedRefused(Code.OUTSIDE_WINDOW, f"event {event} ended at its impact", rule="M-R2")
            if w is None:
                if len(self._events) >= self._max:
                    self._expire(now_us)
                self._events[event] = _Window(time_us)
            else:
                w.launch_us = time_us  # a refined estimate of the launch time
            return
        if w is None:
            raise FeedRefused(
                Code.OUTSIDE_WINDOW,
                f"event {event}: no launch was published, so the message is not after a launch",
                rule="M-R2",
                field="event",
            )
        if now_us < w.launch_us or time_us < w.launch_us:
            raise FeedRefused(Code.PRE_LAUNCH, f"event {event}: time is before the launch", rule="M-R2", field="time")
        if w.impact_us is not None and now_us > w.impact_us + IMPACT_GRACE_US:
            raise FeedRefused(Code.OUTSIDE_WINDOW, f"event {event}: impact has passed", rule="M-R2")
        if kind is Kind.IMPACT:
            if time_us - w.launch_us > MAX_FLIGHT_US:
                raise FeedRefused(
                    Code.OUTSIDE_WINDOW,
                    f"event {event}: predicted impact too long after the launch",
                    rule="M-R2",
                    field="time",
                )
            w.impact_us = time_us
        elif w.impact_us is not None and time_us > w.impact_us + IMPACT_GRACE_US:
            raise FeedRefused(
                Code.OUTSIDE_WINDOW, f"event {event}: track point after the impact", rule="M-R2", field="time"
            )

    def window(self, event: str) -> tuple[int, int | None] | None:
        """``(launch_us, impact_us)`` of an open event (to persist it), or None."""
        w = self._events.get(event)
        return (w.launch_us, w.impact_us) if w is not None else None

    def restore(self, event: str, launch_us: int, impact_us: int | None) -> None:
        """Reopen an event after a restart of the publisher (its window survives the restart)."""
        self._events[event] = _Window(launch_us, impact_us)

    def _expire(self, now_us: int) -> None:
        for k in [
            k
            for k, w in self._events.items()
            if (w.impact_us or w.launch_us + MAX_FLIGHT_US) + IMPACT_GRACE_US < now_us
        ]:
            del self._events[k]
        if len(self._events) >= self._max:
            raise FeedRefused(Code.OUTSIDE_WINDOW, "too many open events", rule="M-R2")
