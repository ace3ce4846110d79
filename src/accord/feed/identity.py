"""A node's identity as the feed uses it: party, pinned TLS certificates and Ed25519 keys.

Read-only use of the gateway node's directory (``accord node init``): ``node.yaml`` (party, host),
``roster.yaml`` (pinned peers: certificate, Ed25519 key), ``tls-cert.pem``/``tls-key.pem`` and the
node's Ed25519 key (``receipt-key.pem``), which signs feed offers, sessions and batches and which every
partner already pins. This module is the only place the feed touches ``accord.node``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from accord.node.config import NodeConfig, Roster
from accord.node.identity import (
    cert_fingerprint,
    client_context,
    load_public_key_b64,
    load_receipt_key,
    server_context,
)


@dataclass(frozen=True)
class PeerInfo:
    party: str
    host: str
    port: int
    cert_pem: bytes
    fingerprint: str
    verify_key: Ed25519PublicKey


@dataclass
class NodeIdentity:
    """What the feed needs from a node directory."""

    party: str
    dir: Path
    host: str
    port: int
    cert_file: Path
    key_file: Path
    cert_pem: bytes
    fingerprint: str
    sign_key: Ed25519PrivateKey
    peers: dict[str, PeerInfo] = field(default_factory=dict)

    @staticmethod
    def load(directory: Path) -> NodeIdentity:
        """Raises InputError when the directory is not an initialised node."""
        cfg = NodeConfig.load(directory)
        roster = Roster.load(directory)
        peers: dict[str, PeerInfo] = {}
        for p in roster.peers.values():
            hostport = p.url.removeprefix("https://").rstrip("/")
            host, _, port = hostport.rpartition(":")
            peers[p.party] = PeerInfo(
                p.party,
                host.strip("[]") or "127.0.0.1",
                int(port or 443),
                p.cert_pem.encode(),
                p.fingerprint,
                load_public_key_b64(p.receipt_key, source=f"{directory}/roster.yaml"),
            )
        cert = cfg.cert_file.read_bytes()
        return NodeIdentity(
            cfg.party,
            directory,
            cfg.host,
            cfg.port,
            cfg.cert_file,
            cfg.key_file,
            cert,
            cert_fingerprint(cert),
            load_receipt_key(cfg.receipt_key_file),
            peers,
        )

    def verify_key(self, party: str) -> Ed25519PublicKey | None:
        """The pinned Ed25519 key of ``party`` (our own for our party)."""
        if party == self.party:
            return self.sign_key.public_key()
        p = self.peers.get(party)
        return p.verify_key if p is not None else None

    def party_of(self, fingerprint: str) -> str | None:
        """Who presented this certificate: our own party (a local client) or a pinned peer."""
        if fingerprint == self.fingerprint:
            return self.party
        for p in self.peers.values():
            if p.fingerprint == fingerprint:
                return p.party
        return None

    def server_ssl(self) -> ssl.SSLContext:
        """TLS 1.3, client certificate required: ours (local clients) or a pinned peer's."""
        pinned = [self.cert_pem, *(p.cert_pem for p in self.peers.values())]
        return server_context(self.cert_file, self.key_file, pinned)

    def client_ssl(self, party: str) -> ssl.SSLContext:
        """TLS 1.3 to ``party`` (our own node for a local client), trusting only its pinned certificate."""
        pem = self.cert_pem if party == self.party else self.peers[party].cert_pem
        return client_context(self.cert_file, self.key_file, pem)
