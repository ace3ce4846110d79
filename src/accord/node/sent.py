"""The container digests of the delivery envelopes this process queued (issue 8, the sender's CPU).

Checking a partner's receipt compares its digest with the digest of the container the envelope carried;
computing it again means a JSON parse, a base64 decode of ~14 KB and a hash (~75 µs of the sender's CPU per
release). The outbound flow keeps the digest it computed when it queued the envelope, with the envelope's
exact bytes; the receipts flow takes it back only for a byte-equal envelope.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict

from accord.node import db as st
from accord.node.canon import sha256_hex


class SentDigests:
    """The digest of the sealed container each delivery envelope queued by this process carries, kept (bounded)
    with the envelope's exact bytes, so that checking the partner's receipt needs no second base64 decode and
    hash of the container (issue 8: ~75 µs of the sender's CPU per release).

    A digest is given back only for the very envelope it was computed from (same idempotency key, byte-equal
    body): the digest of a container is a function of those bytes alone, so the answer is the one a decode
    and hash would give. Anything else (another process queued it, a restart, the memory full) is computed
    from the envelope as before. Each digest is taken once."""

    def __init__(self, size: int = 256, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.size = size
        self.max_bytes = max_bytes  # the envelopes kept, together; one larger than 1/16 of it is not kept
        self._sent: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, idem_key: str, body: bytes, digest: str) -> None:
        if len(body) > self.max_bytes // 16:  # a large item: decoded and hashed again at its receipt
            return
        with self._lock:
            old = self._sent.pop(idem_key, None)
            self._bytes += len(body) - (len(old[0]) if old is not None else 0)
            self._sent[idem_key] = (body, digest)
            while len(self._sent) > self.size or self._bytes > self.max_bytes:
                self._bytes -= len(self._sent.popitem(last=False)[1][0])

    def digest(self, entry: st.OutboxEntry) -> str:
        """The digest of the container in ``entry``'s envelope (kept, or decoded and hashed)."""
        with self._lock:
            kept = self._sent.pop(entry.idem_key, None)
            if kept is not None:
                self._bytes -= len(kept[0])
        if kept is not None and kept[0] == entry.body:
            return kept[1]
        return sha256_hex(base64.b64decode(json.loads(entry.body)["sealed"]))


#: Deliveries queued by this process (:class:`SentDigests`).
SENT = SentDigests()
