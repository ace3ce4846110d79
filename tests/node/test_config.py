"""Node configuration and roster documents are read strictly (bad input changes nothing)."""

from pathlib import Path

import pytest

from accord.errors import InputError
from accord.node.config import NODE_FILE, NodeConfig, Roster


def test_roster_with_a_duplicated_key_is_refused() -> None:
    with pytest.raises(InputError, match="duplicate key"):
        Roster.parse("peers: []\npeers: []\n", source="roster.yaml")


def test_roster_that_is_not_yaml_is_refused() -> None:
    with pytest.raises(InputError, match=r"roster\.yaml"):
        Roster.parse("peers: [unclosed\n", source="roster.yaml")


def test_node_config_with_a_duplicated_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / NODE_FILE).write_text("party: KOR\nparty: JPN\n")
    with pytest.raises(InputError, match="duplicate key"):
        NodeConfig.load(tmp_path)


def test_a_peers_certificate_fingerprint_is_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request looks its caller up by certificate fingerprint: the PEM is parsed once per pinned entry,
    not once per peer per request (issue 8), and the look-up still tells the peers apart."""
    from accord.node import config
    from accord.node.config import Peer
    from accord.node.identity import cert_fingerprint, generate_tls_identity

    certs = {p: generate_tls_identity(p)[0] for p in ("USA", "JPN")}
    roster = Roster({p: Peer(p, f"https://{p.lower()}.example", c.decode(), "") for p, c in certs.items()})
    calls = []
    monkeypatch.setattr(config, "cert_fingerprint", lambda pem: calls.append(pem) or cert_fingerprint(pem))
    for _ in range(3):
        for p, c in certs.items():
            found = roster.by_fingerprint(cert_fingerprint(c))
            assert found is not None and found.party == p
        assert roster.by_fingerprint("00" * 32) is None
    assert len(calls) == 2
