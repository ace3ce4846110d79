"""Issue 11: the feed's Ed25519 signing key is certified by the party's sealed (hybrid) identity, and the
certificate verifies against the sealed trust roster and the key pinned for the party (docs/feed.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.errors import IntegrityError, TrustError
from accord.feed.identity import NodeIdentity
from accord.feed.keycert import make_cert, verify_cert
from accord.node.sealing import TRUST_DIR


def test_a_partner_verifies_the_feed_key_against_its_roster(nodes: dict[str, Path]) -> None:
    kor = NodeIdentity.load(nodes["KOR"])
    jpn = NodeIdentity.load(nodes["JPN"])
    cert = make_cert(nodes["KOR"], "KOR", kor.sign_key)
    kc = verify_cert(cert, nodes["JPN"] / TRUST_DIR, pinned=jpn.verify_key("KOR"))
    assert kc.party == "KOR" and kc.key_raw == kor.sign_key.public_key().public_bytes_raw()


def test_a_certificate_for_another_key_than_the_pinned_one_is_refused(nodes: dict[str, Path]) -> None:
    """KOR's party key certifying a fresh key (a stolen party key used to slip a key in): JPN pins another."""
    jpn = NodeIdentity.load(nodes["JPN"])
    cert = make_cert(nodes["KOR"], "KOR", Ed25519PrivateKey.generate())
    verify_cert(cert, nodes["JPN"] / TRUST_DIR)  # the signature itself is good
    with pytest.raises(IntegrityError, match="not the key pinned"):
        verify_cert(cert, nodes["JPN"] / TRUST_DIR, pinned=jpn.verify_key("KOR"))


def test_a_certificate_signed_by_another_party_is_refused(nodes: dict[str, Path]) -> None:
    """JPN's party key signing a certificate that claims to be KOR's: the signer is not a KOR key."""
    kor = NodeIdentity.load(nodes["KOR"])
    forged = json.loads(make_cert(nodes["JPN"], "JPN", kor.sign_key))
    forged["party"] = "KOR"
    with pytest.raises((TrustError, IntegrityError)):
        verify_cert(json.dumps(forged).encode(), nodes["USA"] / TRUST_DIR)


def test_a_tampered_certificate_is_refused(nodes: dict[str, Path]) -> None:
    kor = NodeIdentity.load(nodes["KOR"])
    obj = json.loads(make_cert(nodes["KOR"], "KOR", kor.sign_key))
    obj["created"] = "2030-01-01T00:00:00Z"
    with pytest.raises(IntegrityError, match="does not verify"):
        verify_cert(json.dumps(obj).encode(), nodes["JPN"] / TRUST_DIR)


def _accord(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accord", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.integration
def test_key_cert_and_verify_signer_from_the_cli(nodes: dict[str, Path], tmp_path: Path) -> None:
    cert = tmp_path / "kor-feed-key.json"
    r = _accord("feed", "key-cert", "--dir", str(nodes["KOR"]), "--out", str(cert))
    assert r.returncode == 0, r.stderr
    r = _accord("feed", "verify-signer", "--dir", str(nodes["JPN"]), str(cert))
    assert r.returncode == 0 and "KOR: feed key" in r.stdout and "pinned" in r.stdout, r.stderr
    obj = json.loads(cert.read_text())
    obj["key"] = obj["key"][:-4] + ("AAA=" if not obj["key"].endswith("AAA=") else "BBB=")
    cert.write_text(json.dumps(obj))
    r = _accord("feed", "verify-signer", "--dir", str(nodes["JPN"]), str(cert))
    assert r.returncode in (1, 2) and r.stderr.startswith("error:") and "Traceback" not in r.stderr
    cert.write_text("not json")
    r = _accord("feed", "verify-signer", "--dir", str(nodes["JPN"]), str(cert))
    assert r.returncode == 2 and r.stderr.count("\n") == 1


@pytest.mark.integration
def test_rotate_key_refuses_a_node_without_a_feed_in_one_line(nodes: dict[str, Path]) -> None:
    r = _accord("feed", "rotate-key", "--dir", str(nodes["JPN"]))
    assert r.returncode == 2 and r.stderr.startswith("error:") and r.stderr.count("\n") == 1


def test_rotate_refuses_a_negative_bound(tmp_path: Path) -> None:
    from accord.errors import InputError
    from accord.feed import offerkeys

    offerkeys.new_key(tmp_path / offerkeys.OFFER_KEY)
    with pytest.raises(InputError, match="--keep"):
        offerkeys.rotate(tmp_path, b"{}", keep_days=-1)
    assert not (tmp_path / offerkeys.RETIRED_DIR).exists()
