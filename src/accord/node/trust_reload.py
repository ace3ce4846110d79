"""A running node picks up changes to what it trusts without a restart (issue 9).

``accord node add-peer`` writes ``roster.yaml`` (pinned partners: URL, TLS certificate, receipt key) and the
sealed trust roster ``trust/`` (party keys); ``accord keys add`` brings a partner's rotation or revocation
into ``trust/``. :class:`TrustReloader` watches both (a ``stat`` of each file once a second) and, when they
change, loads them completely and checks them before swapping anything in:

- new partners' certificates are added to the TLS server context (new handshakes accept them);
- the service's roster of peers is updated in place (admission, the delivery workers and their per-peer
  clients all read it), removed partners are refused at admission from then on (their TLS certificate
  stays in the server's store until a restart, but an unpinned fingerprint is never admitted);
- the sealed roster (signing keys, rotations, revocations) and the partners' receipt keys are replaced;
- the admission cache is invalidated (``service.trust_version``).

A directory that does not load (a half-written file, a broken chain) changes nothing: the node keeps what
it trusted, logs one line and tries again at the next change.
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import threading
from pathlib import Path
from typing import Any

from accord.errors import AccordError

log = logging.getLogger("accord.node")

Stamp = tuple[tuple[str, int, int, int], ...]


def trust_stamp(directory: Path) -> Stamp:
    """What changes when ``roster.yaml`` or a file in ``trust/`` is written, added or removed."""
    from accord.node.sealing import TRUST_DIR

    paths = [directory / "roster.yaml"]
    with_trust = directory / TRUST_DIR
    with contextlib.suppress(OSError):
        paths += sorted(with_trust / n for n in os.listdir(with_trust) if not n.startswith("."))
    out = []
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class TrustReloader:
    """Reload ``service``'s pinned peers and sealed roster when its directory's trust files change."""

    def __init__(self, service: Any, ssl_context: ssl.SSLContext | None = None, *, interval: float = 1.0) -> None:
        self.service = service
        self.ssl_context = ssl_context
        self.interval = interval
        self.directory: Path = service.cfg.dir
        self._stamp = trust_stamp(self.directory)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def check(self) -> bool:
        """Reload if the trust files changed since the last look; True when something new was applied."""
        with self._lock:
            stamp = trust_stamp(self.directory)
            if stamp == self._stamp:
                return False
            try:
                self.reload()
            except (AccordError, OSError, ValueError, ssl.SSLError) as e:
                log.warning("%s: trust files changed but do not load; keeping what was trusted: %s", self.party, e)
                return False
            finally:
                self._stamp = stamp
            return True

    @property
    def party(self) -> str:
        return str(self.service.party)

    def reload(self) -> list[str]:
        """Load and check everything, then swap it in. Returns the parties newly pinned or changed."""
        from accord.node.config import Roster
        from accord.node.files import check_directory
        from accord.node.identity import load_public_key_b64
        from accord.node.sealing import TRUST_DIR
        from accord.sealed.keys import Roster as SealedRoster

        svc = self.service
        check_directory(self.directory)  # as at start: trust no file another user may have written
        peers = Roster.load(self.directory).peers
        sealed = SealedRoster.load(self.directory / TRUST_DIR)
        keys = {p.party: load_public_key_b64(p.receipt_key, source="roster") for p in peers.values()}
        old = dict(svc.roster.peers)
        changed = [p for p, peer in peers.items() if old.get(p) != peer]
        if self.ssl_context is not None:
            for p in changed:
                self.ssl_context.load_verify_locations(cadata=peers[p].cert_pem)
        # swap (each assignment is atomic; readers see the old or the new roster)
        svc.sealer.roster = sealed
        for p in [p for p in svc._keys if p != svc.party and p not in keys]:
            del svc._keys[p]
        svc._keys.update(keys)
        for p in [p for p in old if p not in peers]:
            del svc.roster.peers[p]
        svc.roster.peers.update(peers)
        clients = getattr(getattr(getattr(svc, "courier", None), "transport", None), "clients", None)
        for p in [p for p in old if p not in peers or p in changed]:
            if clients is not None and hasattr(clients, "forget"):
                clients.forget(p)  # a stale keep-alive client pinned to the old certificate
        svc.trust_version = getattr(svc, "trust_version", 0) + 1
        removed = sorted(set(old) - set(peers))
        log.info(
            "%s: trust reloaded: %d partner(s) pinned%s%s",
            self.party,
            len(peers),
            f", new or changed: {', '.join(changed)}" if changed else "",
            f", removed: {', '.join(removed)}" if removed else "",
        )
        return changed

    def start(self) -> TrustReloader:
        self._thread = threading.Thread(target=self._run, name="accord-trust-reload", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # never let the watcher die silently with the node serving stale trust
                log.exception("%s: trust reload failed", self.party)
