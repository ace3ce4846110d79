"""Node configuration (``node.yaml``) and the roster of peers (``roster.yaml``) in a node directory.

A node directory holds::

    node.yaml        party, listen address, public URL, database URL, options
    roster.yaml      one entry per partner: party, url, pinned TLS certificate, receipt public key
    tls-cert.pem     this node's self-signed certificate (pinned by partners)
    tls-key.pem      its private key (0600)
    receipt-key.pem  Ed25519 key that signs delivery receipts (0600)
    node.db          SQLite database (default; PostgreSQL with ``--db postgresql+psycopg://...``)
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from accord.errors import InputError
from accord.formats._yaml import load_yaml
from accord.node.identity import (
    RECEIPT_KEY,
    TLS_CERT,
    TLS_KEY,
    cert_fingerprint,
    load_public_key_b64,
    validate_cert_pem,
)

NODE_FILE = "node.yaml"
ROSTER_FILE = "roster.yaml"
_URL = re.compile(r"^https://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?/?$")


def check_party(value: object, *, source: str, field: str = "party") -> str:
    """An ISO 3166 alpha-3 party code such as ``KOR``, exactly (no case folding, no trailing newline, no
    look-alike: :func:`accord.core.parties.is_alpha3`)."""
    from accord.core.parties import is_alpha3

    if not is_alpha3(value):
        raise InputError(f"party must be an alpha-3 code like KOR, got {value!r}", source=source, field=field)
    assert isinstance(value, str)
    return value


@dataclass(frozen=True)
class Peer:
    """A partner node, pinned: its party, base URL, TLS certificate (PEM) and receipt key (base64)."""

    party: str
    url: str
    cert_pem: str
    receipt_key: str
    sealed_entry: str = ""  # the party's signed roster entry for sealed items (accord.sealed), JSON
    audit_vkey: str = ""  # the verifier key of the party's audit log (receipt evidence)

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the pinned certificate (DER), computed once per entry: every request and feed connection
        looks its caller up by it (a PEM parse per peer per request cost ~0.3 ms of a release, issue 8)."""
        return cert_fingerprint(self.cert_pem.encode())

    @property
    def entry_fingerprint(self) -> str:
        """SHA-256 over what a partner's entry pins (party, TLS certificate, receipt key, sealed-items roster
        entry, audit key; not the URL): what operators compare out of band for ``accord node add-peer``."""
        import hashlib

        from accord.formats.canonical import canonical_json

        sealed = ""
        if self.sealed_entry:
            from accord.sealed.keys import RosterEntry

            sealed = RosterEntry.parse(self.sealed_entry.encode(), source=f"{self.party}.sealed_entry").fingerprint()
        doc = {
            "party": self.party,
            "cert_sha256": self.fingerprint,
            "receipt_key": self.receipt_key,
            "sealed_entry_sha256": sealed,
            "audit_vkey": self.audit_vkey,
        }
        return hashlib.sha256(canonical_json(doc)).hexdigest()

    def check_party_binding(self, *, source: str) -> None:
        """The entry's party is the party its certificate and its sealed roster entry name (issue 9): JPN's
        entry relabelled ``party: USA`` is refused."""
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        cert = x509.load_pem_x509_certificate(self.cert_pem.encode())
        cns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if cns != [f"accord-node-{self.party.lower()}"]:
            raise InputError(
                f"the certificate is for {', '.join(cns) or 'no common name'}, not accord-node-{self.party.lower()}",
                source=source,
                field=f"{self.party}.cert_pem",
            )
        if not self.sealed_entry:
            raise InputError(
                "the entry has no sealed_entry (roster entry for sealed items)",
                source=source,
                field=f"{self.party}.sealed_entry",
            )
        from accord.sealed.keys import RosterEntry

        se = RosterEntry.parse(self.sealed_entry.encode(), source=f"{source}: {self.party}.sealed_entry")
        if se.party != self.party:
            raise InputError(
                f"the sealed roster entry is {se.party}'s, not {self.party}'s",
                source=source,
                field=f"{self.party}.sealed_entry",
            )

    @staticmethod
    def from_dict(d: object, *, source: str) -> Peer:
        if not isinstance(d, dict):
            raise InputError("roster entry must be a mapping", source=source)
        party = check_party(d.get("party"), source=source)
        url = d.get("url")
        if not isinstance(url, str) or not _URL.match(url):
            raise InputError(f"url must be https://host:port, got {url!r}", source=source, field=f"{party}.url")
        cert = d.get("cert_pem")
        if not isinstance(cert, str):
            raise InputError("cert_pem missing", source=source, field=f"{party}.cert_pem")
        validate_cert_pem(cert.encode(), source=source)
        rk = d.get("receipt_key")
        if not isinstance(rk, str):
            raise InputError("receipt_key missing", source=source, field=f"{party}.receipt_key")
        load_public_key_b64(rk, source=source)
        se = d.get("sealed_entry", "")
        if not isinstance(se, str):
            raise InputError("sealed_entry must be a roster entry (JSON)", source=source, field=f"{party}.sealed_entry")
        av = d.get("audit_vkey", "")
        if not isinstance(av, str):
            raise InputError("audit_vkey must be a verifier key", source=source, field=f"{party}.audit_vkey")
        return Peer(party=party, url=url.rstrip("/"), cert_pem=cert, receipt_key=rk, sealed_entry=se, audit_vkey=av)


@dataclass
class NodeConfig:
    """The settings of one node. ``what_if`` lets requests carry an ``at`` date other than today
    (demo and what-if analysis only: a production node decides as of today)."""

    party: str
    host: str = "127.0.0.1"
    port: int = 8443
    url: str = ""
    db: str = ""
    what_if: bool = False
    lease_seconds: float = 30.0
    retry_base_seconds: float = 0.5
    retry_max_seconds: float = 60.0
    max_attempts: int = 50
    poll_seconds: float = 0.05
    agreements: str | None = None  # path of an agreements YAML; None = the bundled set
    audit_sync: bool = False  # answer only once the events are in the audit log (else: within audit_poll)
    audit_poll_seconds: float = 0.25
    receipt_evidence: bool = True  # receipts carry the audit checkpoint + inclusion proof of the delivery
    # limits in front of the application (accord.node.api.limits) and backpressure (issue 9)
    max_body_bytes: int = 64 * 1024 * 1024
    max_header_bytes: int = 16 * 1024
    max_headers: int = 64
    max_url_bytes: int = 4096
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 120.0
    keepalive_seconds: float = 5.0
    handshake_timeout_seconds: float = 10.0
    max_peer_connections: int = 32
    max_own_connections: int = 256
    outbox_max_pending: int = 10_000  # per recipient: past it, submit/forward answer 503 with Retry-After
    prune_delivered: bool = True  # drop a delivered envelope once its receipt is stored (receipt + custody stay)
    dir: Path = field(default=Path("."), compare=False)

    def __post_init__(self) -> None:
        if not self.url:
            self.url = f"https://{self.host}:{self.port}"
        if not self.db:
            self.db = f"sqlite:///{(self.dir / 'node.db').resolve()}"

    @property
    def cert_file(self) -> Path:
        return self.dir / TLS_CERT

    @property
    def key_file(self) -> Path:
        return self.dir / TLS_KEY

    @property
    def receipt_key_file(self) -> Path:
        return self.dir / RECEIPT_KEY

    def save(self) -> None:
        d = asdict(self)
        d.pop("dir")
        _write_private(self.dir / NODE_FILE, yaml.safe_dump(d, sort_keys=False, allow_unicode=True))

    @staticmethod
    def load(directory: Path) -> NodeConfig:
        path = directory / NODE_FILE
        if not path.is_file():
            raise InputError("no node configuration here (run `accord node init` first)", source=str(path))
        raw = load_yaml(path.read_bytes(), source=str(path))  # strict: a duplicated key is an error
        if not isinstance(raw, dict):
            raise InputError("must be a mapping", source=str(path))
        known = {f for f in NodeConfig.__dataclass_fields__ if f != "dir"}
        unknown = set(raw) - known
        if unknown:
            raise InputError(f"unknown keys {sorted(unknown)}", source=str(path))
        check_party(raw.get("party"), source=str(path))
        for key, value in raw.items():
            _check_option(key, value, source=str(path))
        cfg = NodeConfig(**raw, dir=directory)
        if not 0 < cfg.port < 65536:
            raise InputError("port out of range", source=str(path), field="port")
        return cfg


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, created 0600 whatever the umask (a configuration that decides whom
    the node trusts must not be writable by anyone else)."""
    import os

    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _check_option(key: str, value: object, *, source: str) -> None:
    """One ``node.yaml`` value of the right type and range (checked at load, so that nothing -- e.g. the
    delivery thread -- fails on it later, after the node said it was serving)."""
    kind = NodeConfig.__dataclass_fields__[key].type
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    if kind == "int":
        if type(value) is not int or value < 0 or (value == 0 and key != "port"):
            raise InputError(f"must be a positive whole number, got {value!r}", source=source, field=key)
    elif kind == "float":
        if type(value) not in (int, float) or not 0 < float(value) < 1e9:  # type: ignore[arg-type]
            raise InputError(f"must be a positive number of seconds, got {value!r}", source=source, field=key)
    elif kind == "bool":
        if type(value) is not bool:
            raise InputError(f"must be true or false, got {value!r}", source=source, field=key)
    elif kind == "str":
        if not isinstance(value, str):
            raise InputError(f"must be a string, got {value!r}", source=source, field=key)
    elif kind == "str | None" and value is not None and not isinstance(value, str):
        raise InputError(f"must be a path or null, got {value!r}", source=source, field=key)


@dataclass
class Roster:
    """The pinned peers of a node, keyed by party."""

    peers: dict[str, Peer] = field(default_factory=dict)

    def by_fingerprint(self, fp: str) -> Peer | None:
        for p in self.peers.values():
            if p.fingerprint == fp:
                return p
        return None

    def to_yaml(self) -> str:
        return yaml.safe_dump({"peers": [asdict(p) for p in self.peers.values()]}, sort_keys=False)

    def save(self, directory: Path) -> None:
        _write_private(directory / ROSTER_FILE, self.to_yaml())

    @staticmethod
    def parse(text: str, *, source: str) -> Roster:
        raw: Any = load_yaml(text, source=source) or {}
        if not isinstance(raw, dict) or not isinstance(raw.get("peers", []), list):
            raise InputError("roster must be a mapping with a `peers` list", source=source)
        r = Roster()
        for entry in raw.get("peers", []):
            p = Peer.from_dict(entry, source=source)
            if p.party in r.peers:
                raise InputError(f"duplicate peer {p.party}", source=source)
            r.peers[p.party] = p
        return r

    @staticmethod
    def load(directory: Path) -> Roster:
        path = directory / ROSTER_FILE
        if not path.exists():
            return Roster()
        return Roster.parse(path.read_text(), source=str(path))


def self_entry(cfg: NodeConfig) -> dict[str, str]:
    """This node's own roster entry, to hand to partners (public data only)."""
    from accord.node.identity import load_receipt_key, public_key_b64
    from accord.node.sealing import own_entry

    return {
        "party": cfg.party,
        "url": cfg.url,
        "cert_pem": cfg.cert_file.read_text(),
        "receipt_key": public_key_b64(load_receipt_key(cfg.receipt_key_file)),
        "sealed_entry": own_entry(cfg.dir, cfg.party),
        "audit_vkey": (cfg.dir / "audit.vkey").read_text().strip() if (cfg.dir / "audit.vkey").exists() else "",
    }
