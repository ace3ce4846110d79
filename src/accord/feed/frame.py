"""The feed's wire format: length-prefixed frames over a TLS stream, and stream records (``docs/feed.md``).

Frame: ``length u32 BE | type u8 | body`` where ``length`` counts the type byte and the body and is at
most :data:`MAX_FRAME` + 1. A record (the unit a stream carries, relayed verbatim by the hub) is::

    stream 7 ASCII (``KOR-JPN``) | seq u64 BE | rtype u8 | payload

Pure and hostile-input safe: every parse error is a :class:`FrameError`, sizes are bounded before
anything is buffered.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accord.errors import InputError

MAX_FRAME = 64 * 1024
_LEN = struct.Struct(">I")
_REC = struct.Struct(">7sQB")
REC_HEADER = _REC.size
_STREAM = re.compile(r"[A-Z]{3}-[A-Z]{3}")

# frame types
SUB = 1  # JSON {"stream", "from", "offer"?}: send me this stream from seq "from"
REC = 2  # a stream record
ACK = 3  # stream 7 | seq u64: durable up to seq (lag figure)
ERR = 4  # JSON {"code", "message", "stream"?}
PUB = 5  # u32 id | encoded warning message (a local publisher to its own node)
PUBOK = 6  # u32 id | 0 | (stream 7, seq u64)*  (accepted) or  u32 id | 1 | JSON {"code", "message", "rule"}
PING = 7  # empty
RECS = 8  # a segment: consecutive records of one stream, each ``len u32 | record`` (see :func:`scan_segment`)
PUBS = 9  # u32 first id | flags u8 | (len u16 | binary message)*  (a local publisher, many messages at once)
FRAME_TYPES = frozenset({SUB, REC, ACK, ERR, PUB, PUBOK, PING, RECS, PUBS})

# record types
HS = 1  # session handshake (canonical JSON, signed by the originator)
DATA = 2  # epoch u32 | AES-256-GCM ciphertext of one warning message
BSIG = 3  # first u64 | last u64 | sha256 chain 32 | Ed25519 signature 64
REC_TYPES = frozenset({HS, DATA, BSIG})


class FrameError(InputError):
    """A frame or record that does not parse: the connection is closed, nothing else happens."""

    def __init__(self, message: str) -> None:
        super().__init__(message, source="feed frame")


_VALID: set[str] = set()


def check_stream(stream: str) -> str:
    """A stream id ``ORIGINATOR-RECIPIENT`` (two alpha-3 codes, different)."""
    if stream in _VALID:
        return stream
    if not _STREAM.fullmatch(stream) or stream[:3] == stream[4:]:
        raise FrameError(f"bad stream id {stream!r}")
    if len(_VALID) < 4096:
        _VALID.add(stream)
    return stream


def frame(ftype: int, body: bytes = b"") -> bytes:
    """Encode one frame."""
    if len(body) > MAX_FRAME:
        raise FrameError("frame body too large")
    return _LEN.pack(len(body) + 1) + bytes((ftype,)) + body


def frame_head(ftype: int, size: int) -> bytes:
    """The 5 bytes before a body of ``size`` bytes (a large body is written after it, never copied into it)."""
    if size > MAX_FRAME:
        raise FrameError("frame body too large")
    return _LEN_TYPE.pack(size + 1, ftype)


_LEN_TYPE = struct.Struct(">IB")


def json_frame(ftype: int, obj: Mapping[str, Any]) -> bytes:
    return frame(ftype, json.dumps(obj, separators=(",", ":"), sort_keys=True).encode())


def parse_json(body: bytes, keys: frozenset[str] | set[str] | None) -> dict[str, Any]:
    """A JSON object body with only ``keys`` (any keys when None; bounded by :data:`MAX_FRAME`)."""
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FrameError("body is not JSON") from None
    if not isinstance(obj, dict) or (keys is not None and not set(obj) <= set(keys)):
        raise FrameError("unexpected JSON body")
    return obj


@dataclass(frozen=True, slots=True)
class Record:
    stream: str
    seq: int
    rtype: int
    payload: bytes
    raw: bytes  # the exact record bytes (what batch signatures cover and logs store)


def record(stream: str, seq: int, rtype: int, payload: bytes) -> bytes:
    """Encode a record (stream id checked by the caller)."""
    return _REC.pack(stream.encode("ascii"), seq, rtype) + payload


def parse_record(raw: bytes) -> Record:
    if len(raw) < REC_HEADER or len(raw) > MAX_FRAME:
        raise FrameError("record has a bad size")
    s, seq, rtype = _REC.unpack_from(raw)
    try:
        stream = check_stream(s.decode("ascii"))
    except UnicodeDecodeError:
        raise FrameError("stream id is not ASCII") from None
    if rtype not in REC_TYPES or seq == 0:
        raise FrameError("record has a bad type or sequence number 0")
    return Record(stream, seq, rtype, raw[REC_HEADER:], raw)


# -- segments: the unit of batch processing ---------------------------------------------------------
#
# A segment is a run of consecutive records of one stream, each prefixed with its length:
# ``(len u32 BE | record)*``. It is at once the body of a RECS frame, a row of the durable log and the
# input of the batch-signature chain (``SHA-256(Σ len u32 | record)``): a relay checks its headers,
# hashes it once, stores it as one row and forwards it as one frame.

_SEGREC = struct.Struct(">I7sQB")
_U32 = struct.Struct(">I")
MIN_DATA = REC_HEADER + 4 + 16  # a DATA record: header, epoch, at least the AES-GCM tag


@dataclass(frozen=True, slots=True)
class Segment:
    """A checked segment: ``specials`` are the HS and BSIG records as ``(seq, rtype, start, end)``
    (``body[start:end]`` is the record, without its length prefix)."""

    stream: str
    first: int
    last: int
    body: bytes
    specials: tuple[tuple[int, int, int, int], ...]


def scan_segment(body: bytes) -> Segment:
    """Check a segment's framing: one stream, consecutive sequence numbers, known record types, sizes.

    The only per-record work a relay does (it cannot read the records): one ``unpack`` per record.
    Raises :class:`FrameError`.
    """
    n = len(body)
    if n < 4 + REC_HEADER or n > MAX_FRAME:
        raise FrameError("segment has a bad size")
    unpack = _SEGREC.unpack_from
    length, sb, first, _ = unpack(body, 0)
    try:
        stream = check_stream(sb.decode("ascii"))
    except UnicodeDecodeError:
        raise FrameError("stream id is not ASCII") from None
    if first == 0:
        raise FrameError("record has sequence number 0")
    specials: list[tuple[int, int, int, int]] = []
    pos = 0
    seq = first
    limit = n - 4 - REC_HEADER
    while pos < n:
        if pos > limit:
            raise FrameError("segment ends inside a record header")
        length, s, q, rt = unpack(body, pos)
        end = pos + 4 + length
        if end > n or length < REC_HEADER:
            raise FrameError("segment record has a bad length")
        if s != sb or q != seq:
            raise FrameError(f"{stream}: segment record {q} of {s!r} where {seq} was expected")
        if rt == DATA:
            if length < MIN_DATA:
                raise FrameError("data record too short")
        elif rt in (HS, BSIG):
            specials.append((q, rt, pos + 4, end))
        else:
            raise FrameError("record has a bad type")
        seq += 1
        pos = end
    return Segment(stream, first, seq - 1, body, tuple(specials))


def segment_records(body: bytes | memoryview) -> list[tuple[int, bytes]]:
    """``[(seq, record)]`` of a segment already checked (read back from a log written by this node)."""
    out: list[tuple[int, bytes]] = []
    pos, n = 0, len(body)
    unpack = _SEGREC.unpack_from
    while pos < n:
        length, _, q, _ = unpack(body, pos)
        out.append((q, bytes(body[pos + 4 : pos + 4 + length])))
        pos += 4 + length
    return out


def segment_offset(body: bytes | memoryview, first: int, seq: int) -> int:
    """Byte offset in ``body`` (whose first record is ``first``) of the record ``seq``."""
    pos = 0
    for _ in range(seq - first):
        (length,) = _U32.unpack_from(body, pos)
        pos += 4 + length
    return pos


def prefixed(raw: bytes) -> bytes:
    """``len u32 | record``: one record as a part of a segment."""
    return _U32.pack(len(raw)) + raw


def pubok_accepted(pid: int, seqs: dict[str, int]) -> bytes:
    """A PUBOK frame for an accepted message: where it went in each stream."""
    return frame(PUBOK, struct.pack(">IB", pid, 0) + b"".join(_ACK.pack(s.encode("ascii"), q) for s, q in seqs.items()))


def pubok_refused(pid: int, obj: Mapping[str, Any]) -> bytes:
    return frame(PUBOK, struct.pack(">IB", pid, 1) + json.dumps(obj, separators=(",", ":"), sort_keys=True).encode())


def parse_pubok(body: bytes) -> tuple[int, dict[str, Any]]:
    """``(id, {"ok": True, "seq": {stream: seq}})`` or ``(id, {"ok": False, "code", "message", "rule"})``."""
    if len(body) < 5 or body[4] not in (0, 1):
        raise FrameError("bad publish answer")
    (pid,) = struct.unpack_from(">I", body)
    if body[4] == 1:
        obj = parse_json(body[5:], {"code", "message", "rule"})
        return pid, {"ok": False, **obj}
    rest = body[5:]
    if len(rest) % _ACK.size:
        raise FrameError("bad publish answer")
    seqs: dict[str, int] = {}
    for i in range(0, len(rest), _ACK.size):
        s, q = _ACK.unpack_from(rest, i)
        try:
            seqs[check_stream(s.decode("ascii"))] = q
        except UnicodeDecodeError:
            raise FrameError("stream id is not ASCII") from None
    return pid, {"ok": True, "seq": seqs}


_ACK = struct.Struct(">7sQ")


def ack_body(stream: str, seq: int) -> bytes:
    return struct.pack(">7sQ", stream.encode("ascii"), seq)


def parse_ack(body: bytes) -> tuple[str, int]:
    if len(body) != 15:
        raise FrameError("ack has a bad size")
    s, seq = struct.unpack(">7sQ", body)
    try:
        return check_stream(s.decode("ascii")), seq
    except UnicodeDecodeError:
        raise FrameError("stream id is not ASCII") from None


class FrameReader:
    """Incremental parser: ``feed(data)`` returns the complete frames as ``(type, body)``.

    Raises :class:`FrameError` on a length of 0 or above the bound, or an unknown type; the buffer
    never holds more than one frame plus what one read returned.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf
        whole = b""
        if buf:  # the rest of a frame: appended to what was pending, frames cut with one copy each
            buf += data
            src: bytes | bytearray = buf
            cut: memoryview | None = memoryview(buf)
        else:  # nothing pending (the usual case): a slice of what was read is one copy already
            src = whole = bytes(data)
            cut = None
        out: list[tuple[int, bytes]] = []
        pos = 0
        n = len(src)
        try:
            while n - pos >= 4:
                (length,) = _LEN.unpack_from(src, pos)
                if length == 0 or length > MAX_FRAME + 1:
                    raise FrameError(f"frame length {length} out of bounds")
                if n - pos - 4 < length:
                    break
                ftype = src[pos + 4]
                if ftype not in FRAME_TYPES:
                    raise FrameError(f"unknown frame type {ftype}")
                if cut is None:
                    out.append((ftype, whole[pos + 5 : pos + 4 + length]))
                else:
                    out.append((ftype, cut[pos + 5 : pos + 4 + length].tobytes()))
                pos += 4 + length
        finally:
            if cut is not None:
                cut.release()
        if cut is not None:
            if pos:
                del buf[:pos]
        elif pos < n:
            buf += memoryview(src)[pos:]  # the start of a frame: kept until the rest arrives
        return out
