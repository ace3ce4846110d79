"""The feed service's upkeep: its keys (offer key and its rotation, the certificate of its signing key),
re-admission of suspended subscriptions, and the audit entries a crash lost (rebuilt at start)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.errors import AccordError
from accord.feed import crypto as fc
from accord.feed import frame as ff
from accord.feed import offerkeys
from accord.feed.base import NodeBase, batch_item
from accord.feed.conn import OFFER_KEY

log = logging.getLogger("accord.feed")
READMIT_INTERVAL = 0.25  # seconds between checks of suspended subscriptions against the day's agreements


class Upkeep(NodeBase):
    def _load_offer(self) -> tuple[X25519PrivateKey, bytes]:
        """The current offer key and the node's signed offer of it (a new offer when the key was rotated)."""
        path = self.state_dir / OFFER_KEY
        if not path.exists():
            offerkeys.new_key(path)
        self._key_mtime = path.stat().st_mtime_ns
        priv = offerkeys.load_private(path)
        raw = self.store.get("my-offer")
        mine = self.ident.sign_key.public_key()
        if raw is None or fc.open_offer(raw, mine, self.party).pub.public_bytes_raw() != offerkeys.public_raw(priv):
            raw = fc.make_offer(self.party, priv, self.ident.sign_key, self.clock_us())
            self.store.put("my-offer", raw)
        return priv, raw

    def _check_rotation(self) -> None:
        """``accord feed rotate-key`` wrote a new offer key: offer it upstream for every stream this node
        receives (each originator opens a new epoch sealed to it); drop retired keys past their bound."""
        try:
            mtime = (self.state_dir / OFFER_KEY).stat().st_mtime_ns
        except OSError:
            return
        if mtime == self._key_mtime:
            return
        old = self.offer_raw
        self.offer_priv, self.offer_raw = self._load_offer()
        offerkeys.purge(self.state_dir)
        if self.offer_raw == old:
            return
        self.offers[self.party] = fc.open_offer(self.offer_raw, self.ident.sign_key.public_key(), self.party)
        log.info("%s: offer key rotated; offering the new key upstream", self.party)
        for stream in {f"{o}-{self.party}" for o in self.parties if o != self.party}:
            src = self._source_of(stream)
            if src is not None and src in self.peers:
                self._send_sub(self.peers[src], stream)

    def _key_cert(self) -> bytes | None:
        """The certificate of this node's feed key by the party's sealed identity (``feed/key-cert.json``,
        :mod:`accord.feed.keycert`): made at start when missing or no longer matching the key."""
        from accord.feed.keycert import CERT_FILE, make_cert, verify_cert
        from accord.node.sealing import KEYS_DIR, TRUST_DIR

        path = self.state_dir / CERT_FILE
        if not (self.ident.dir / KEYS_DIR).exists():
            return None  # a node directory without sealed party keys: batches still verify against roster.yaml
        pub = self.ident.sign_key.public_key()
        if path.exists():
            with contextlib.suppress(AccordError):
                verify_cert(path.read_bytes(), self.ident.dir / TRUST_DIR, pinned=pub)
                return path.read_bytes()
        cert = make_cert(self.ident.dir, self.party, self.ident.sign_key)
        verify_cert(cert, self.ident.dir / TRUST_DIR, pinned=pub)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(cert)
        tmp.replace(path)
        return cert

    async def _readmit_loop(self) -> None:
        while True:
            await asyncio.sleep(READMIT_INTERVAL)
            try:
                self._readmit()
                self._check_rotation()
            except Exception:
                log.exception("%s: re-admission check failed", self.party)

    def _readmit(self) -> None:
        """Subscriptions refused or cut off for scope on connections still open come back, without the
        subscriber reconnecting, once the agreements allow the stream again (a what-if day moving, an
        agreement entering into force or resuming): the same request, from where the stream stopped;
        audited as an allowed decision (``READMITTED``)."""
        for (conn, stream), req in list(self._suspended.items()):
            if conn.closed:
                del self._suspended[(conn, stream)]
                continue
            sc = self.scope(stream)
            if not sc.allowed:
                continue
            del self._suspended[(conn, stream)]
            self._audit_refusal(
                f"feed:{stream}", "READMITTED", None, f"{conn.party} re-admitted: {sc.why}", allowed=True
            )
            self._on_sub(conn, req)
            self._flush()

    def _rebuild_audit(self) -> None:
        """Audit entries a crash lost (``kill -9`` inside an audit group), rebuilt from the durable logs:
        the batch signatures of every stream whose entry is missing (walking back from the newest BSIG
        record until one is found), and the refusals and cut-offs still in the journal and not yet in the
        audit log. Rebuilt entries carry ``"rebuilt": true``."""
        if self.audit is None:
            return
        n = 0
        for stream in self.store.streams():
            o, r = stream[:3], stream[4:]
            kind = (
                "release"
                if o == self.party
                else "delivery"
                if self.party == self.hub and r != self.party
                else "receipt"
            )
            missing: list[fc.Batch] = []
            for seq in self.store.marks_desc(stream, ff.BSIG):
                rec = self.store.read(stream, seq, 1)
                b = fc.parse_batch(rec[0][1][ff.REC_HEADER :])
                if self.audit.audited(batch_item(stream, b)):
                    break
                missing.append(b)
            for b in reversed(missing):
                self._audit_batch(kind, stream, b, rebuilt=True)
            n += len(missing)
        done = self.audit.journaled()
        for jid, raw in self.store.journal():
            if jid in done:
                continue
            ev = json.loads(raw)
            self.audit.event(ev["type"], ev["item"], ev["digest"], decision=ev["decision"], journal=jid, rebuilt=True)
            n += 1
        if n:
            log.warning("%s: %d audit entries lost by a crash rebuilt from the feed log", self.party, n)
