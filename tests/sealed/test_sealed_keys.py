"""Party keys on disk and the pinned, versioned roster (TUF-like rotation)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from accord.errors import InputError, IntegrityError, TrustError
from accord.sealed import container as c
from accord.sealed.keys import PartyKeys, Roster, RosterEntry, make_entry
from accord.sealed.suites import CLASSICAL, HYBRID
from tests.sealed.util import label_xml, read_zip, seal


def test_keys_are_saved_0600_and_load_back(tmp_path: Path):
    k = PartyKeys.generate("KOR")
    path = k.save(tmp_path / "kor")
    assert (path.stat().st_mode & 0o777) == 0o600
    again = PartyKeys.load(tmp_path / "kor")
    assert again == k
    assert b"private" not in repr(again).encode()  # no key material in reprs/logs
    assert again.current.sign.private_raw.hex() not in repr(again)


def test_loading_a_world_readable_key_file_is_refused(tmp_path: Path):
    path = PartyKeys.generate("KOR").save(tmp_path)
    os.chmod(path, 0o644)
    with pytest.raises(InputError, match="chmod 600"):
        PartyKeys.load(tmp_path)


@pytest.mark.parametrize("party", ["kor", "KO", "KOREA", ""])
def test_party_must_be_alpha3(party):
    with pytest.raises(InputError):
        PartyKeys.generate(party)


def test_roster_saves_loads_and_verifies(tmp_path: Path, parties, roster):
    roster.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["JPN.1.json", "KOR.1.json", "USA.1.json"]
    again = Roster.load(tmp_path)
    again.verify()
    assert again.parties == ["JPN", "KOR", "USA"]


def test_rotation_is_signed_by_previous_and_new_keys_and_keeps_old_keys(tmp_path: Path, parties, roster):
    old = parties["KOR"]
    new = old.rotate()
    entry = roster.rotate(new)
    assert entry.version == 2
    assert {kid for kid, _ in entry.signatures} == {old.sign_key_id, new.sign_key_id}
    assert roster.latest("KOR").active_sign.keyid == new.sign_key_id
    assert roster.latest("KOR").key(old.sign_key_id).status == "retired"
    roster.save(tmp_path)
    Roster.load(tmp_path).verify()


def test_old_items_still_open_after_rotation_and_new_items_use_new_key_ids(parties, roster):
    before = seal(b"old item", parties, roster, to=("JPN",))
    jpn2 = parties["JPN"].rotate()
    roster.rotate(jpn2)
    # Item wrapped for the old key id: opened with the kept old key.
    assert c.open_bytes(before, keys=jpn2, roster=roster).payload == b"old item"
    after = seal(b"new item", parties, roster, to=("JPN",))
    manifest, _ = read_zip(after)
    assert manifest["keyAccess"][0]["keyid"] == jpn2.current.enc_key_id("mlkem1024+p384")
    assert c.open_bytes(after, keys=jpn2, roster=roster).payload == b"new item"
    with pytest.raises(TrustError, match="does not hold the key"):
        c.open_bytes(after, keys=parties["JPN"], roster=roster)  # the pre-rotation key set cannot


def test_items_signed_before_a_signing_key_rotation_still_verify(parties, roster):
    before = seal(b"x", parties, roster, to=("JPN",))
    kor2 = parties["KOR"].rotate()
    roster.rotate(kor2)
    assert c.open_bytes(before, keys=parties["JPN"], roster=roster).signer == "KOR"
    # …but the retired key can no longer seal: the roster's active key is the new one.
    with pytest.raises(TrustError, match="active"):
        seal(b"y", parties, roster, to=("JPN",))
    assert c.open_bytes(seal(b"y", {"KOR": kor2}, roster, to=("JPN",)), keys=parties["JPN"], roster=roster)


def test_rotation_signed_only_by_the_new_key_is_refused(parties, roster):
    new = parties["KOR"].rotate()
    entry = make_entry(new, 2, [new.current.sign])
    with pytest.raises(TrustError, match="not signed by"):
        roster.update(entry)


def test_rotation_by_an_attacker_is_refused(parties, roster):
    mallory = PartyKeys.generate("KOR")
    entry = make_entry(mallory, 2, [mallory.current.sign])
    with pytest.raises(TrustError):
        roster.update(entry)


def test_rotation_dropping_old_keys_is_refused(parties, roster):
    old = parties["KOR"]
    fresh = PartyKeys("KOR", (old.rotate().current,))  # new generation only, old keys dropped
    entry = make_entry(fresh, 2, [old.current.sign, fresh.current.sign])
    with pytest.raises(TrustError, match="drops keys"):
        roster.update(entry)


def test_rollback_and_version_skips_are_refused(parties, roster):
    k2 = parties["KOR"].rotate()
    e2 = roster.rotate(k2)
    with pytest.raises(TrustError, match="rollback"):
        roster.update(roster.chains["KOR"][0])
    k3 = k2.rotate()
    skip = make_entry(k3, 4, [k2.current.sign, k3.current.sign])
    with pytest.raises(TrustError, match="skips"):
        roster.update(skip)
    assert roster.latest("KOR") is e2


def test_pinning_twice_or_a_later_version_is_refused(parties, roster):
    with pytest.raises(TrustError, match="already pinned"):
        roster.pin(Roster.first_entry(parties["KOR"]))
    other = Roster()
    k2 = parties["USA"].rotate()
    with pytest.raises(TrustError, match="only version 1"):
        other.pin(make_entry(k2, 2, [k2.current.sign]))


def test_tampered_roster_entry_is_refused(tmp_path: Path, roster):
    roster.save(tmp_path)
    p = tmp_path / "JPN.1.json"
    doc = json.loads(p.read_text())
    doc["signed"]["keys"][0]["status"] = "retired"
    doc["signed"]["keys"].append(dict(doc["signed"]["keys"][0], status="active"))
    p.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="duplicate key id"):
        Roster.load(tmp_path)
    doc["signed"]["keys"].pop()
    doc["signed"]["keys"][0]["status"] = "active"
    doc["signed"]["keys"][1]["public"] = doc["signed"]["keys"][2]["public"]  # a key swapped under its id
    p.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="key id does not match"):
        Roster.load(tmp_path)


def test_roster_entry_signature_change_is_refused(roster):
    e = roster.latest("JPN")
    doc = json.loads(e.raw)
    sig = bytearray(base64.b64decode(doc["signatures"][0]["sig"]))
    sig[-5] ^= 1
    doc["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    bad = RosterEntry.parse(json.dumps(doc).encode())
    with pytest.raises(IntegrityError):
        Roster().pin(bad)


def test_file_name_must_match_entry(tmp_path: Path, roster):
    roster.save(tmp_path)
    (tmp_path / "JPN.1.json").rename(tmp_path / "CHN.1.json")
    with pytest.raises(TrustError, match="file name"):
        Roster.load(tmp_path)


def test_both_suites_have_an_active_key_per_party(roster):
    for party in roster.parties:
        assert roster.encryption_key(party, HYBRID).type == "mlkem1024+p384"
        assert roster.encryption_key(party, CLASSICAL).type == "p384"


def test_fingerprint_is_stable(roster, tmp_path: Path):
    roster.save(tmp_path)
    again = Roster.load(tmp_path)
    assert again.latest("KOR").fingerprint() == roster.latest("KOR").fingerprint()
    assert label_xml()  # conftest import used


def test_loading_keys_whose_public_half_was_swapped_is_refused(tmp_path: Path):
    path = PartyKeys.generate("KOR").save(tmp_path)
    other = json.loads(PartyKeys.generate("KOR").to_json())
    doc = json.loads(path.read_text())
    doc["generations"][0]["enc"]["p384"]["public"] = other["generations"][0]["enc"]["p384"]["public"]
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="do not match"):
        PartyKeys.load(tmp_path)
