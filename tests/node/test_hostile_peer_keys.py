"""Hostile holders of old keys (issue 9): a retired key verifies only what it signed before its retirement,
for every signed object (items, re-wrap records, alternative labels, documents); a revoked (compromised) key
verifies nothing. Each attack is tried with the real old private key, named after it, and refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from accord import release
from accord.core.labels import Label
from accord.errors import AccordError, InputError, TrustError
from accord.sealed import container as c
from accord.sealed.keys import PartyKeys, Roster
from tests.sealed.util import read_zip
from tests.support.reliability import record

GROUP = "hostile peer"
DAY = dt.date(2015, 6, 1)  # KOR -> JPN only through the US hub (T-R5): the hub re-wraps

pytestmark = pytest.mark.reliability


def _z(t: dt.datetime) -> str:
    return t.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _rotated(keys: PartyKeys, retired_at: dt.datetime) -> PartyKeys:
    """``keys`` rotated, the new generation (and so the old key's retirement) dated ``retired_at``."""
    new = keys.rotate()
    return PartyKeys(keys.party, (*keys.generations, dataclasses.replace(new.current, created=_z(retired_at))))


def _label(item: str = "kor-1", rel: tuple[str, ...] = ("JPN", "USA")) -> Label:
    return Label(
        originator="KOR",
        classification="군사Ⅱ급비밀",
        topics=frozenset({"DPRK-MISSILE"}),
        releasable_to=frozenset(rel),
        created=dt.datetime(2015, 1, 1, tzinfo=dt.UTC),
        id=item,
    )


@pytest.fixture
def world() -> tuple[dict[str, PartyKeys], Roster]:
    parties = {p: PartyKeys.generate(p) for p in ("KOR", "JPN", "USA")}
    r = Roster()
    for k in parties.values():
        r.pin(Roster.first_entry(k))
    return parties, r


def _sealed_via_usa(parties: dict[str, PartyKeys], roster: Roster, aset: object) -> bytes:
    return release.seal_bytes(
        b"warning",
        _label(),
        recipients=["JPN"],
        signer=parties["KOR"],
        roster=roster,
        agreements=aset,  # type: ignore[arg-type]
        at=DAY,
        relay="rewrap",
    )


def _rewrap(blob: bytes, hub_keys: PartyKeys, roster: Roster, aset: object) -> bytes:
    item = c.verify_bytes(blob, roster=roster)
    plan = release.plan_rewrap(item, hub="USA", to="JPN", at=DAY, agreements=aset)  # type: ignore[arg-type]
    return c.rewrap_item(item, plan, keys=hub_keys, roster=roster).to_bytes()


# ---------------------------------------------------------------- retired keys: every signed object


def test_retired_key_rewrap_signed_after_the_retirement_is_refused(world, aset) -> None:  # type: ignore[no-untyped-def]
    parties, roster = world
    blob = _sealed_via_usa(parties, roster, aset)
    stale = parties["USA"]  # the hub's old keys, kept (or stolen) after its rotation
    roster.rotate(_rotated(stale, _now() - dt.timedelta(hours=1)))
    out = _rewrap(blob, stale, roster, aset)  # the old key still signs; the record says "now"
    with pytest.raises(TrustError, match="retired"):
        c.verify_bytes(out, roster=roster)
    with pytest.raises(TrustError):
        c.open_bytes(out, keys=parties["JPN"], roster=roster)
    record("sealed: hostile holder — re-wrap signed with a retired key", group=GROUP, attempts=1, refused=1)


def test_retired_key_rewrap_signed_before_the_retirement_still_verifies(world, aset) -> None:  # type: ignore[no-untyped-def]
    parties, roster = world
    blob = _sealed_via_usa(parties, roster, aset)
    out = _rewrap(blob, parties["USA"], roster, aset)
    roster.rotate(_rotated(parties["USA"], _now() + dt.timedelta(hours=1)))  # retired after the record
    assert c.open_bytes(out, keys=parties["JPN"], roster=roster).payload == b"warning"


def test_retired_key_rewrap_backdated_before_the_retirement_is_refused(world, aset, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A stolen retired key, its clock set back so that its re-wrap predates the retirement: the record cannot
    predate the statement it re-wraps, so an item made after the retirement cannot be re-wrapped with it."""
    from accord.errors import IntegrityError
    from accord.sealed import item as sealed_item

    parties, roster = world
    blob = _sealed_via_usa(parties, roster, aset)  # made "now"
    stale = parties["USA"]
    retired = _now() - dt.timedelta(hours=1)
    roster.rotate(_rotated(stale, retired))
    monkeypatch.setattr(sealed_item, "now_utc", lambda: _z(retired - dt.timedelta(minutes=5)))
    out = _rewrap(blob, stale, roster, aset)  # validly signed, dated before the retirement
    manifest, _ = read_zip(out)
    assert manifest["rewraps"][0]["signed"]["created"] == _z(retired - dt.timedelta(minutes=5))
    with pytest.raises(IntegrityError):
        c.verify_bytes(out, roster=roster)
    record("sealed: hostile holder — re-wrap signed with a retired key", group=GROUP, attempts=1, refused=1)


def test_retired_key_alternative_label_signed_after_the_retirement_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    from tests.sealed.util import label_xml, seal

    parties, roster = world
    blob = seal(b"data", parties, roster, to=("JPN",))
    alt = label_xml("JPN", "GOKUHI").replace(b"originatorConfidentialityLabel", b"alternativeConfidentialityLabel")
    before = c.add_alternative_label_bytes(blob, keys=parties["JPN"], roster=roster, xml=alt)
    stale = parties["JPN"]
    roster.rotate(_rotated(stale, _now() - dt.timedelta(hours=1)))
    after = c.add_alternative_label_bytes(blob, keys=stale, roster=roster, xml=alt)
    with pytest.raises(TrustError, match="alternative label"):
        c.verify_bytes(after, roster=roster)
    # the marking JPN added before... also "now", i.e. after the (backdated) retirement: refused too
    with pytest.raises(TrustError):
        c.verify_bytes(before, roster=roster)
    record("sealed: hostile holder — alternative label signed with a retired key", group=GROUP, attempts=1, refused=1)


def test_retired_key_object_without_a_signing_time_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    """Objects that do not say when they were signed (bindings, documents, records made before Accord kept
    the time) cannot show that they predate a retirement: a retired key verifies none of them."""
    parties, roster = world
    old = parties["KOR"].sign_key_id
    roster.rotate(_rotated(parties["KOR"], _now()))
    with pytest.raises(TrustError, match="does not say when"):
        roster.signing_key("KOR", old, what="binding")
    assert roster.signing_key("KOR", old, at="2001-01-01T00:00:00Z").keyid == old
    assert roster.signing_key("KOR", roster.latest("KOR").active_sign.keyid).status == "active"


# ---------------------------------------------------------------- revoked keys


def test_revoked_key_item_signed_before_the_revocation_is_refused_too(world) -> None:  # type: ignore[no-untyped-def]
    """A revoked key is compromised: its holder can backdate, so it verifies nothing, whatever time is claimed."""
    from tests.sealed.util import seal

    parties, roster = world
    blob = seal(b"data", parties, roster, to=("JPN",))
    old = parties["KOR"].sign_key_id
    rotated = _rotated(parties["KOR"], _now() + dt.timedelta(hours=1))
    roster.rotate(rotated)
    assert c.open_bytes(blob, keys=parties["JPN"], roster=roster).payload == b"data"  # retired, not yet revoked
    entry = roster.revoke(rotated, old, at=_z(_now()))
    assert entry.key(old).status == "revoked"  # type: ignore[union-attr]
    with pytest.raises(TrustError, match="revoked"):
        c.open_bytes(blob, keys=parties["JPN"], roster=roster)
    record("sealed: hostile holder — item signed with a revoked key", group=GROUP, attempts=1, refused=1)


def test_revoked_key_cannot_be_unrevoked_by_a_later_rotation(world) -> None:  # type: ignore[no-untyped-def]
    parties, roster = world
    old = parties["KOR"].sign_key_id
    rotated = _rotated(parties["KOR"], _now())
    roster.rotate(rotated)
    roster.revoke(rotated, old, at=_z(_now()))
    again = roster.rotate(rotated.rotate())  # the next rotation keeps the revocation
    assert again.key(old).status == "revoked"  # type: ignore[union-attr]
    prev = roster.latest("KOR")
    # a hand-made entry that marks the key retired again is refused
    from accord.sealed.keys import sign_entry

    records = [k.to_dict() for k in prev.keys]
    for r in records:
        if r["keyid"] == old:
            r["status"] = "retired"
            r.pop("revoked")
    forged = sign_entry("KOR", prev.version + 1, records, [rotated.rotate().current.sign])
    with pytest.raises(TrustError):
        roster.update(forged)


def test_revoke_refuses_the_active_key_and_unknown_keys(world) -> None:  # type: ignore[no-untyped-def]
    parties, roster = world
    with pytest.raises(InputError, match="rotate first"):
        roster.revoke(parties["KOR"], parties["KOR"].sign_key_id, at=_z(_now()))
    with pytest.raises(InputError, match="no key"):
        roster.revoke(parties["KOR"], "0" * 64, at=_z(_now()))
    assert roster.latest("KOR").version == 1  # nothing changed


def test_revocation_signed_by_another_party_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    """Only the party's own active key signs its revocation (as its rotation): JPN cannot revoke KOR's key."""
    from accord.sealed.keys import sign_entry

    parties, roster = world
    rotated = _rotated(parties["KOR"], _now())
    roster.rotate(rotated)
    prev = roster.latest("KOR")
    records = [k.to_dict() for k in prev.keys]
    for r in records:
        if r["status"] == "retired":
            r["status"], r["revoked"] = "revoked", _z(_now())
    with pytest.raises(TrustError):
        roster.update(sign_entry("KOR", prev.version + 1, records, [parties["JPN"].current.sign]))
    assert roster.latest("KOR").version == prev.version


# ---------------------------------------------------------------- at the node: `accord keys revoke`, picked up live


def test_revoked_key_item_is_refused_once_the_running_node_picks_up_the_revocation(tmp_path: Path) -> None:
    """JPN's old signing key is compromised: JPN rotates, then revokes it (`accord keys revoke`); KOR's operator
    applies both entries (`accord keys add`) while KOR runs, and KOR's node picks them up without a restart.
    An item signed with the old key, accepted while the key was merely retired, is then refused."""
    from typer.testing import CliRunner

    from accord.cli import get_app
    from accord.node import db as st
    from accord.node.policy import label_from_dict
    from accord.node.trust_reload import TrustReloader
    from tests.node.helpers import Net, label
    from tests.node.test_hostile_peer import _envelope

    net = Net(tmp_path)
    kor, jpn_dir, kor_dir = net.nodes["KOR"], net.cfgs["JPN"].dir, net.cfgs["KOR"].dir
    reloader = TrustReloader(kor)
    old_kid = net.nodes["JPN"].sealer.keys.sign_key_id
    day = dt.date(2017, 2, 12)
    blobs = {
        item: net.nodes["JPN"].sealer.seal(
            b"r" * 32, label_from_dict(label(item, originator="JPN", rel=("KOR",), cls="極秘")), to="KOR", at=day
        )
        for item in ("jpn-r0", "jpn-r1")
    }  # both signed before the rotation
    runner = CliRunner()
    keys_args = ["--keys", str(jpn_dir / "keys"), "--roster", str(jpn_dir / "trust")]
    r = runner.invoke(get_app(), ["keys", "rotate", *keys_args])
    assert r.exit_code == 0, r.stderr
    # the active key cannot be revoked alone (one line, exit 2)
    r = runner.invoke(get_app(), ["keys", "revoke", PartyKeys.load(jpn_dir / "keys").sign_key_id, *keys_args])
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and "rotate first" in r.stderr
    r = runner.invoke(get_app(), ["keys", "revoke", old_kid, *keys_args])
    assert r.exit_code == 0, r.stderr
    assert "revoked" in r.stdout

    def add(v: int) -> None:
        entry = str(jpn_dir / "keys" / f"JPN.{v}.json")
        r = runner.invoke(get_app(), ["keys", "add", entry, "--roster", str(kor_dir / "trust")])
        assert r.exit_code == 0, r.stderr

    add(2)  # the rotation: the old key is retired, and still verifies what it signed before
    assert kor.sealer.roster.latest("JPN").version == 1  # not yet picked up
    assert reloader.check()
    assert kor.sealer.roster.latest("JPN").version == 2
    env0 = _envelope("jpn-r0", "JPN", "KOR", "2017-02-12", blobs["jpn-r0"])
    assert net.dispatch("JPN", "delivery", "KOR", env0)["status"] == "stored"
    add(3)  # the revocation
    assert reloader.check()
    assert kor.sealer.roster.latest("JPN").version == 3
    env1 = _envelope("jpn-r1", "JPN", "KOR", "2017-02-12", blobs["jpn-r1"])
    with pytest.raises(AccordError):
        net.dispatch("JPN", "delivery", "KOR", env1)
    assert [r["item_id"] for r in kor.store.rows(st.items)] == ["jpn-r0"]
    assert not [r for r in kor.store.rows(st.inbox) if r["item_id"] == "jpn-r1"]
    record("node: hostile peer — item signed with a revoked key", group=GROUP, attempts=1, refused=1)


def test_revocation_signed_by_another_party_is_not_picked_up(tmp_path: Path) -> None:
    """A forged roster update (USA's entry v2 signed by JPN) dropped into the trust directory does not load:
    the running node keeps what it trusted."""
    from accord.node.trust_reload import TrustReloader
    from accord.sealed.keys import sign_entry
    from tests.node.helpers import Net

    net = Net(tmp_path)
    kor = net.nodes["KOR"]
    reloader = TrustReloader(kor)
    jpn_keys = net.nodes["JPN"].sealer.keys
    prev = kor.sealer.roster.latest("USA")
    forged = sign_entry("USA", 2, [k.to_dict() for k in prev.keys], [jpn_keys.current.sign])
    (net.cfgs["KOR"].dir / "trust" / "USA.2.json").write_bytes(forged.raw)
    assert not reloader.check()  # logged, nothing swapped
    assert kor.sealer.roster.latest("USA").version == 1
    record("node: hostile peer — forged roster update", group=GROUP, attempts=1, refused=1)


def test_trust_file_writable_by_others_is_not_picked_up(tmp_path: Path) -> None:
    """A local user who can write into the trust directory cannot have the running node reload it."""
    import os

    from accord.node.trust_reload import TrustReloader
    from tests.node.helpers import Net

    net = Net(tmp_path)
    kor = net.nodes["KOR"]
    reloader = TrustReloader(kor)
    roster_file = net.cfgs["KOR"].dir / "roster.yaml"
    text = roster_file.read_text()
    roster_file.write_text(text.replace("\n", "\n", 1))
    os.chmod(roster_file, 0o666)
    before = dict(kor.roster.peers)
    assert not reloader.check()
    assert kor.roster.peers == before
    os.chmod(roster_file, 0o600)
    record("node: hostile peer — trust file writable by others", group=GROUP, attempts=1, refused=1)


def test_unpinned_peer_is_refused_by_the_running_node_at_once(tmp_path: Path) -> None:
    """A partner removed from roster.yaml is refused at admission as soon as the running node reloads."""
    from accord.errors import PeerRefused
    from accord.node.config import Roster as Peers
    from accord.node.identity import cert_fingerprint
    from accord.node.trust_reload import TrustReloader
    from tests.node.helpers import Net

    net = Net(tmp_path)
    kor, kor_dir = net.nodes["KOR"], net.cfgs["KOR"].dir
    reloader = TrustReloader(kor)
    jpn_fp = cert_fingerprint(net.cfgs["JPN"].cert_file.read_bytes())
    assert kor.identify(jpn_fp).party == "JPN"
    peers = Peers.load(kor_dir)
    del peers.peers["JPN"]
    peers.save(kor_dir)
    assert reloader.check()
    with pytest.raises(PeerRefused, match="not pinned"):
        kor.identify(jpn_fp)
    assert sorted(kor.roster.peers) == ["USA"]
    record("node: hostile peer — unpinned partner", group=GROUP, attempts=1, refused=1)


def test_replaced_receipt_key_receipt_signed_with_the_old_key_is_refused(tmp_path: Path) -> None:
    """JPN's receipt key is compromised: JPN makes a new one and KOR re-pins JPN's entry (`accord node add-peer`,
    new fingerprint checked out of band) while KOR runs. A receipt still signed with the old key is refused,
    not stored, and the message stays pending."""
    import yaml
    from typer.testing import CliRunner

    from accord.cli import get_app
    from accord.errors import IntegrityError
    from accord.node import db as st
    from accord.node.config import Peer, self_entry
    from accord.node.identity import generate_receipt_key, write_secret
    from accord.node.trust_reload import TrustReloader
    from tests.node.helpers import Net, label

    net = Net(tmp_path)
    kor, jpn_cfg = net.nodes["KOR"], net.cfgs["JPN"]
    reloader = TrustReloader(kor)
    write_secret(jpn_cfg.receipt_key_file, generate_receipt_key())  # the running JPN still signs with the old one
    entry = self_entry(jpn_cfg)
    path = tmp_path / "jpn-new.yaml"
    path.write_text(yaml.safe_dump(entry))
    fp = Peer.from_dict(entry, source="test").entry_fingerprint
    r = CliRunner().invoke(
        get_app(), ["node", "add-peer", "--dir", str(net.cfgs["KOR"].dir), "--entry", str(path), "--fingerprint", fp]
    )
    assert r.exit_code == 0, r.stderr
    assert reloader.check()
    net.submit("KOR", label("kor-rk1", rel=("JPN",)), "JPN", "2017-02-12")
    (entry_,) = kor.store.claim("w", limit=10, lease_seconds=0.01)
    answer = net.dispatch("KOR", "delivery", "JPN", entry_.body, entry_.idem_key)  # signed with the old key
    with pytest.raises(IntegrityError):
        kor.acknowledged(entry_, answer)
    assert kor.store.rows(st.receipts) == []
    assert kor.store.outbox_rows()[0]["state"] == "pending"
    record("node: hostile peer — receipt signed with a replaced receipt key", group=GROUP, attempts=1, refused=1)
