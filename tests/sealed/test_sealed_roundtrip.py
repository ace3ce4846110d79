"""Round trips of every suite, every recipient, streaming files; who may not open."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from accord.errors import InputError, TrustError
from accord.sealed import container as c
from accord.sealed.keys import PartyKeys
from accord.sealed.suites import CLASSICAL, HYBRID, SUITES
from tests.sealed.util import AT, label_xml, read_zip, seal


@pytest.mark.parametrize("suite", sorted(SUITES))
@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 4096, 5000])
def test_round_trip_every_suite_and_segment_boundary(parties, roster, suite, size):
    payload = os.urandom(size)
    blob = seal(payload, parties, roster, to=("JPN", "USA"), suite=suite)
    for party in ("JPN", "USA"):
        opened = c.open_bytes(blob, keys=parties[party], roster=roster)
        assert opened.payload == payload
        assert opened.label_xml == label_xml()
        assert opened.signer == "KOR"
        assert opened.manifest.suite == suite
        assert [g.party for g in opened.recipients] == ["JPN", "USA"]
        assert opened.manifest.segments == max(1, -(-size // 1024))


def test_manifest_names_the_suite_and_key_ids(parties, roster):
    blob = seal(b"x", parties, roster, to=("JPN",), suite=CLASSICAL)
    manifest, _ = read_zip(blob)
    assert manifest["statement"]["suite"] == CLASSICAL
    ka = manifest["keyAccess"][0]
    assert ka["suite"] == CLASSICAL
    assert ka["keyid"] == roster.encryption_key("JPN", CLASSICAL).keyid
    assert manifest["statement"]["recipients"][0]["keyid"] == ka["keyid"]


def test_default_suite_is_hybrid_post_quantum(parties, roster):
    manifest, _ = read_zip(seal(b"x", parties, roster))
    assert manifest["statement"]["suite"] == HYBRID


def test_non_recipient_cannot_open(parties, roster):
    blob = seal(b"secret", parties, roster, to=("JPN",))
    with pytest.raises(TrustError, match="not a recipient"):
        c.open_bytes(blob, keys=parties["USA"], roster=roster)


def test_recipient_with_a_same_named_but_different_key_cannot_open(parties, roster):
    blob = seal(b"secret", parties, roster, to=("JPN",))
    impostor = PartyKeys.generate("JPN")
    with pytest.raises(TrustError, match="does not hold the key"):
        c.open_bytes(blob, keys=impostor, roster=roster)


def test_no_recipient_is_refused(parties, roster):
    with pytest.raises(InputError, match="no recipient"):
        c.seal_stream(
            io.BytesIO(b"x"),
            io.BytesIO(),
            label_xml=label_xml(),
            plan=c.ReleasePlan.without_decision(label_xml(), holder="KOR", recipients=[], at=AT),
            signer=parties["KOR"],
            roster=roster,
        )


@pytest.mark.parametrize("bad", [b"", b"<not-a-label/>", b"<<<", label_xml().replace(b"originator", b"alternative")])
def test_no_label_or_a_non_4774_label_is_refused(parties, roster, bad):
    with pytest.raises(InputError):
        seal(b"x", parties, roster, label=bad)


def test_unknown_suite_is_refused(parties, roster):
    with pytest.raises(InputError, match="unknown suite"):
        seal(b"x", parties, roster, suite="hpke-rot13")


def test_recipient_not_in_roster_is_refused(parties, roster):
    with pytest.raises(TrustError, match="GBR"):
        seal(b"x", parties, roster, to=("GBR",))


def test_signer_not_in_roster_is_refused(parties, roster):
    with pytest.raises(TrustError):
        c.seal_stream(
            io.BytesIO(b"x"),
            io.BytesIO(),
            label_xml=label_xml(),
            plan=c.ReleasePlan.without_decision(label_xml(), holder="KOR", recipients=["JPN"], at=AT),
            signer=PartyKeys.generate("KOR"),
            roster=roster,
        )


def test_seal_file_and_open_file_stream(tmp_path: Path, parties, roster):
    src = tmp_path / "in.bin"
    data = os.urandom(300_000)
    src.write_bytes(data)
    seen: list[int] = []
    info = c.seal_path(
        src,
        tmp_path / "item.tdf",
        label_xml=label_xml(),
        plan=c.ReleasePlan.without_decision(label_xml(), holder="KOR", recipients=["JPN"], at=AT),
        signer=parties["KOR"],
        roster=roster,
        segment_size=65536,
        progress=seen.append,
    )
    assert sum(seen) == len(data)
    assert info.segments == 5
    dest = tmp_path / "out.bin"
    opened = c.open_file(tmp_path / "item.tdf", dest, keys=parties["JPN"], roster=roster)
    assert dest.read_bytes() == data
    assert opened.payload is None
    assert (dest.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.bin", "item.tdf", "out.bin"]


def test_inspect_without_key_checks_signature_and_payload(parties, roster):
    blob = seal(os.urandom(3000), parties, roster, to=("JPN", "USA"))
    ins = c.inspect_bytes(blob, roster=roster)
    assert ins.ok
    assert ins.signature == "valid"
    assert ins.payload == "intact"
    assert ins.banner.startswith("KOR ")
    assert ins.banner.endswith("REL TO JPN, USA")
    assert [g.party for g in ins.recipients] == ["JPN", "USA"]
    assert ins.suite_description.startswith("ML-KEM-1024+P-384")
    unchecked = c.inspect_bytes(blob, roster=None)
    assert unchecked.signature == "not checked"
    assert not unchecked.ok


def test_alternative_label_is_added_by_a_recipient_and_keeps_the_original(parties, roster):
    blob = seal(b"data", parties, roster, to=("JPN",))
    alt = label_xml("JPN", "GOKUHI").replace(b"originatorConfidentialityLabel", b"alternativeConfidentialityLabel")
    blob2 = c.add_alternative_label_bytes(blob, keys=parties["JPN"], roster=roster, xml=alt)
    opened = c.open_bytes(blob2, keys=parties["JPN"], roster=roster)
    assert opened.label_xml == label_xml()  # the originator's label is never overwritten
    assert [(a.party, a.xml) for a in opened.alternative_labels] == [("JPN", alt)]
    with pytest.raises(TrustError):
        c.add_alternative_label_bytes(blob, keys=parties["USA"], roster=roster, xml=alt)


def test_streaming_uses_constant_memory(tmp_path: Path, parties, roster):
    """24 MiB through 1 MiB segments: Python allocations stay at a few segments, not the file size."""
    import tracemalloc

    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        for _ in range(24):
            f.write(os.urandom(1024 * 1024))
    kw = {
        "label_xml": label_xml(),
        "plan": c.ReleasePlan.without_decision(label_xml(), holder="KOR", recipients=["JPN"], at=AT),
        "signer": parties["KOR"],
        "roster": roster,
        "segment_size": 1024 * 1024,
    }
    tracemalloc.start()
    try:
        c.seal_path(src, tmp_path / "big.tdf", **kw)
        _, seal_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        c.open_file(tmp_path / "big.tdf", tmp_path / "big.out", keys=parties["JPN"], roster=roster)
        _, open_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seal_peak < 10 * 1024 * 1024
    assert open_peak < 10 * 1024 * 1024
    assert (tmp_path / "big.out").read_bytes() == src.read_bytes()
