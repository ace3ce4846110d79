"""Outgoing HTTPS with mutual TLS: to a partner (trusting only its pinned certificate) or to our own node."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from accord.node.config import NodeConfig, Peer, Roster
from accord.node.identity import client_context


class PeerClients:
    """One keep-alive httpx client per partner, each pinned to that partner's certificate."""

    def __init__(self, cfg: NodeConfig, roster: Roster, *, timeout: float = 10.0) -> None:
        self.cfg = cfg
        self.roster = roster
        self.timeout = timeout
        self._clients: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()

    def get(self, peer: Peer) -> httpx.Client:
        with self._lock:
            c = self._clients.get(peer.party)
            if c is None:
                ctx = client_context(self.cfg.cert_file, self.cfg.key_file, peer.cert_pem.encode())
                c = httpx.Client(base_url=peer.url, verify=ctx, timeout=self.timeout)
                self._clients[peer.party] = c
            return c

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()


def local_client(cfg: NodeConfig, *, timeout: float = 30.0, port: int | None = None) -> httpx.Client:
    """A client for this nation's own systems: presents the node's certificate and pins it."""
    ctx = client_context(cfg.cert_file, cfg.key_file, cfg.cert_file.read_bytes())
    url = f"https://{cfg.host}:{port}" if port else cfg.url
    return httpx.Client(base_url=url, verify=ctx, timeout=timeout)


def problem_title(r: httpx.Response) -> str:
    """A short description of an error answer (the problem document's title and detail)."""
    try:
        p: Any = r.json()
        return f"{r.status_code} {p.get('title', '')}: {p.get('detail', '')}"[:500]
    except ValueError:
        return f"{r.status_code}"
