"""The payload of a sealed item: segmented AES-256-GCM, the SHA-384 root, and zip entry access.

No decision, no signature: the segment crypto and hashing shared by sealing, opening, inspecting and
re-wrapping (``docs/sealed-format.md``, "Payload").
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import struct
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accord.errors import AccordError, InputError, IntegrityError
from accord.sealed.format import (
    DS_KEY_COMMIT,
    DS_ROOT,
    DS_SEGMENT_AAD,
    MAX_SEGMENTS,
    PAYLOAD_NAME,
    TAG_SIZE,
)
from accord.sealed.model import ManifestInfo

Progress = Callable[[int], None]
SRC = "sealed item"


def key_commitment(dek: bytes, item_id: bytes) -> str:
    return hmac.new(dek, DS_KEY_COMMIT + item_id, hashlib.sha384).hexdigest()


def nonce(i: int) -> bytes:
    return b"\x00\x00\x00\x00" + i.to_bytes(8, "big")


def aad(item_id: bytes, i: int, final: bool) -> bytes:
    return DS_SEGMENT_AAD + item_id + i.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


def segment_count(size: int, seg: int) -> int:
    return max(1, -(-size // seg))


def now_utc() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _sha256(data: bytes | memoryview) -> bytes:
    return hashlib.sha256(data).digest()


class RootHasher:
    """SHA-384 root over the SHA-256 of each sealed segment.

    From the second segment on, segments are hashed in one worker thread (hashlib releases the GIL) while
    the caller encrypts or decrypts the next one; results are folded into the root in order. Use as a
    context manager so the worker is always stopped.
    """

    def __init__(self) -> None:
        self._root = hashlib.sha384(DS_ROOT)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[bytes]] = deque()
        self._first: bytes | memoryview | None = None
        self.count = 0

    def __enter__(self) -> RootHasher:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def add(self, sealed: bytes | memoryview) -> None:
        self.count += 1
        if self.count == 1:
            self._first = sealed  # single-segment items never start a thread
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="accord-seal-hash")
            assert self._first is not None
            self._pending.append(self._pool.submit(_sha256, self._first))
            self._first = None
        self._pending.append(self._pool.submit(_sha256, sealed))
        while len(self._pending) > 2:
            self._root.update(self._pending.popleft().result())

    def finish(self, size: int) -> str:
        if self._first is not None:
            self._root.update(_sha256(self._first))
            self._first = None
        while self._pending:
            self._root.update(self._pending.popleft().result())
        self._root.update(struct.pack(">QQ", self.count, size))
        return self._root.hexdigest()


def read_full(src: IO[bytes], n: int) -> bytes:
    buf = src.read(n)
    if buf is None:
        raise InputError("non-blocking input is not supported", source="input")
    if len(buf) == n or not buf:
        return buf
    parts = [buf]
    got = len(buf)
    while got < n:
        more = src.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def readinto_full(src: IO[bytes], buf: memoryview) -> int:
    """Fill ``buf`` from ``src`` (short only at end of input); returns the byte count."""
    got = 0
    while got < len(buf):
        n = src.readinto(buf[got:])  # type: ignore[attr-defined]
        if n is None:
            raise InputError("non-blocking input is not supported", source="input")
        if n == 0:
            break
        got += n
    return got


class Ring:
    """A few reused segment buffers: constant memory, no per-segment allocation.

    Three are enough: after each ``add`` the hasher keeps at most two segments pending, so the buffer
    filled next (used three segments ago) has been hashed and folded into the root.
    """

    def __init__(self, size: int, count: int = 3) -> None:
        self._bufs = [memoryview(bytearray(size)) for _ in range(count)]
        self._i = 0

    def next(self, n: int) -> memoryview:
        b = self._bufs[self._i]
        self._i = (self._i + 1) % len(self._bufs)
        return b[:n]


@contextlib.contextmanager
def as_input_error() -> Iterator[None]:
    """Map any parser failure of the zip layer to Accord's own errors."""
    try:
        yield
    except AccordError:
        raise
    except zipfile.BadZipFile as e:
        if "CRC" in str(e):
            raise IntegrityError() from e
        raise InputError(f"not a valid sealed item (zip): {e}", source=SRC) from e
    except (
        zipfile.LargeZipFile,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        NotImplementedError,
        struct.error,
        RuntimeError,
        OverflowError,
        IndexError,
        TypeError,
        zlib.error,
        UnicodeDecodeError,
    ) as e:
        raise InputError(f"not a valid sealed item: {type(e).__name__}", source=SRC) from e


def payload_file(zf: zipfile.ZipFile) -> tuple[IO[bytes], int]:
    """The open file and the offset of ``0.payload``'s stored bytes (read directly: no CRC pass, no copy).

    The zip CRC is not needed: the signed root covers every byte.
    """
    zi = zf.getinfo(PAYLOAD_NAME)
    fp = zf.fp
    if fp is None or zi.compress_size != zi.file_size:
        raise InputError("payload entry is not stored", source=SRC)
    fp.seek(zi.header_offset)
    head = fp.read(30)
    if len(head) != 30 or head[:4] != b"PK\x03\x04":
        raise InputError("bad local header for 0.payload", source=SRC)
    n, m = struct.unpack("<HH", head[26:30])
    if fp.read(n) != PAYLOAD_NAME.encode():
        raise InputError("local header name differs from the central directory", source=SRC)
    off = zi.header_offset + 30 + n + m
    end = fp.seek(0, os.SEEK_END)
    if off + zi.file_size > end:
        raise IntegrityError()
    return fp, off


def iter_sealed_segments(fp: IO[bytes], off: int, info: ManifestInfo) -> Iterator[tuple[int, memoryview, bool]]:
    """The sealed segments of the payload stored at ``off`` in ``fp`` (index, bytes, final flag)."""
    fp.seek(off)
    ring = Ring(min(info.segment_size, info.size) + TAG_SIZE)
    remaining = info.size
    for i in range(info.segments):
        n = min(info.segment_size, remaining)
        remaining -= n
        buf = ring.next(n + TAG_SIZE)
        if readinto_full(fp, buf) != n + TAG_SIZE:
            raise IntegrityError()
        yield i, buf, i == info.segments - 1


def decrypt_to(
    fp: IO[bytes], off: int, info: ManifestInfo, dek: bytes, out: IO[bytes] | None, progress: Progress | None
) -> None:
    """Decrypt every segment (tags and the signed root checked) into ``out`` (or nowhere)."""
    aes = AESGCM(dek)
    item_id = bytes.fromhex(info.item_id)
    plainbuf = memoryview(bytearray(min(info.segment_size, info.size)))
    with RootHasher() as hasher, as_input_error():
        for i, sealed, final in iter_sealed_segments(fp, off, info):
            hasher.add(sealed)
            plain = plainbuf[: len(sealed) - TAG_SIZE]
            try:
                aes.decrypt_into(nonce(i), sealed, aad(item_id, i, final), plain)
            except InvalidTag as e:
                raise IntegrityError() from e
            if out is not None:
                out.write(plain)
            if progress is not None:
                progress(len(plain))
        root = hasher.finish(info.size)
    if not hmac.compare_digest(root, info.root):
        raise IntegrityError()


def check_payload(fp: IO[bytes], off: int, info: ManifestInfo, progress: Progress | None = None) -> None:
    """Check the sealed segments against the signed root without the key."""
    with RootHasher() as hasher, as_input_error():
        for _i, sealed, _final in iter_sealed_segments(fp, off, info):
            hasher.add(sealed)
            if progress is not None:
                progress(len(sealed) - TAG_SIZE)
        root = hasher.finish(info.size)
    if not hmac.compare_digest(root, info.root):
        raise IntegrityError()


def encrypt_segments(
    src: IO[bytes], out: IO[bytes], dek: bytes, item_id: bytes, segment_size: int, progress: Progress | None
) -> tuple[int, int, str]:
    """Seal ``src`` segment by segment into ``out`` in constant memory; returns (size, segments, root)."""
    aes = AESGCM(dek)
    size = 0
    with RootHasher() as hasher:
        first = read_full(src, segment_size)
        if len(first) < segment_size:  # one segment: small items allocate no ring
            sealed1 = aes.encrypt(nonce(0), first, aad(item_id, 0, True))
            hasher.add(sealed1)
            out.write(sealed1)
            size = len(first)
            if progress is not None:
                progress(size)
            return size, hasher.count, hasher.finish(size)
        ins = [memoryview(bytearray(segment_size)), memoryview(bytearray(segment_size))]
        ins[0][:] = first
        del first
        ring = Ring(segment_size + TAG_SIZE)
        k, n_cur, i = 0, segment_size, 0
        while True:
            n_nxt = readinto_full(src, ins[1 - k]) if n_cur == segment_size else 0
            final = n_nxt == 0
            sealed = ring.next(n_cur + TAG_SIZE)
            aes.encrypt_into(nonce(i), ins[k][:n_cur], aad(item_id, i, final), sealed)
            hasher.add(sealed)
            out.write(sealed)
            size += n_cur
            if progress is not None:
                progress(n_cur)
            i += 1
            if final:
                break
            if i >= MAX_SEGMENTS:
                raise InputError("input too large for this segment size", source="input")
            k, n_cur = 1 - k, n_nxt
        return size, hasher.count, hasher.finish(size)


def stored_entry(name: str) -> zipfile.ZipInfo:
    """A zip entry stored (not compressed) with a fixed date, so that the bytes depend only on content."""
    zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    zi.compress_type = zipfile.ZIP_STORED
    return zi
