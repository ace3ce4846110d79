"""Every tampering is detected with a clear error, and no plaintext is left behind."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path

import pytest

from accord.errors import AccordError, InputError, IntegrityError, TrustError
from accord.formats.canonical import canonical_json
from accord.sealed import container as c
from accord.sealed.format import DS_STATEMENT
from accord.sealed.keys import PartyKeys, Roster
from tests.sealed.util import AT, label_xml, read_zip, rebuild, seal

SEG = 1024
PAYLOAD = bytes(range(256)) * 16  # 4096 bytes = 4 segments of 1024


@pytest.fixture
def blob(parties, roster) -> bytes:
    return seal(PAYLOAD, parties, roster, to=("JPN", "USA"), segment_size=SEG)


def _opens_fails(blob, parties, roster, exc=IntegrityError, party="JPN"):
    with pytest.raises(exc) as info:
        c.open_bytes(blob, keys=parties[party], roster=roster)
    return info.value


def test_integrity_error_message_is_fixed_and_opaque(blob, parties, roster):
    bad = rebuild(blob, payload_fn=lambda p: p[:10] + bytes([p[10] ^ 1]) + p[11:])
    err = _opens_fails(bad, parties, roster)
    assert str(err) == "integrity check failed"


def test_label_change_is_detected(blob, parties, roster):
    def edit(m):
        m["statement"]["label"]["xml"] = base64.b64encode(label_xml(rel=("JPN", "USA", "CHN"))).decode()

    _opens_fails(rebuild(blob, edit), parties, roster)
    assert c.inspect_bytes(rebuild(blob, edit), roster=roster).signature == "invalid"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("statement", "at"), "2099-01-01"),
        (("statement", "created"), "2001-01-01T00:00:00Z"),
        (("statement", "holder"), "USA"),
        (("statement", "payload", "mimeType"), "text/plain"),
        (("statement", "payload", "keyCommitment"), "0" * 96),
        (("statement", "payload", "root"), "1" * 96),
        (("statement", "itemId"), "2" * 32),
        (("statement", "suite"), "hpke-p384-hkdfsha384-aes256gcm"),
    ],
)
def test_any_statement_field_change_is_detected(blob, parties, roster, path, value):
    def edit(m):
        d = m
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value

    with pytest.raises((IntegrityError, InputError)):
        c.open_bytes(rebuild(blob, edit), keys=parties["JPN"], roster=roster)


@pytest.mark.parametrize("edit", ["drop", "add", "swap_party"])
def test_recipient_list_change_is_detected(blob, parties, roster, edit):
    def fn(m):
        rec = m["statement"]["recipients"]
        if edit == "drop":
            rec.pop(1)
            m["keyAccess"].pop(1)
        elif edit == "add":
            rec.append(dict(rec[0], party="KOR", keyid=roster.encryption_key("KOR", c.DEFAULT_SUITE).keyid))
        else:
            rec[1]["party"] = "KOR"

    _opens_fails(rebuild(blob, fn), parties, roster)


def test_key_access_entry_added_without_grant_is_detected(blob, parties, roster):
    # An attacker who holds KOR's public key could wrap *some* key for it; without a signed grant, refused.
    def fn(m):
        m["keyAccess"].append(dict(m["keyAccess"][0], recipient="KOR"))

    _opens_fails(rebuild(blob, fn), parties, roster)


def test_key_access_entries_swapped_are_detected(blob, parties, roster):
    def fn(m):
        m["keyAccess"].reverse()

    _opens_fails(rebuild(blob, fn), parties, roster)


@pytest.mark.parametrize("where", [0, 40, 100, -1])
def test_wrapped_key_byte_change_is_detected(blob, parties, roster, where):
    def fn(m):
        w = bytearray(base64.b64decode(m["keyAccess"][0]["wrappedKey"]))
        w[where] ^= 0x01
        m["keyAccess"][0]["wrappedKey"] = base64.b64encode(bytes(w)).decode()

    _opens_fails(rebuild(blob, fn), parties, roster)
    # USA's key is untouched: USA still opens.
    assert c.open_bytes(rebuild(blob, fn), keys=parties["USA"], roster=roster).payload == PAYLOAD


def test_every_payload_byte_change_is_detected(blob, parties, roster):
    sealed_len = len(PAYLOAD) + 16 * 4
    for pos in range(0, sealed_len, 7):
        bad = rebuild(blob, payload_fn=lambda p, i=pos: p[:i] + bytes([p[i] ^ 0x80]) + p[i + 1 :])
        _opens_fails(bad, parties, roster)
        assert c.inspect_bytes(bad, roster=roster).payload == "corrupt"


def test_payload_change_in_the_raw_zip_bytes_is_detected(blob, parties, roster):
    i = blob.index(b"0.payload") + len("0.payload") + 40  # inside the stored payload
    bad = blob[:i] + bytes([blob[i] ^ 1]) + blob[i + 1 :]
    _opens_fails(bad, parties, roster, exc=AccordError)


@pytest.mark.parametrize("cut", [1, 16, 1040, 1041])
def test_truncated_payload_is_detected(blob, parties, roster, cut):
    _opens_fails(rebuild(blob, payload_fn=lambda p: p[:-cut]), parties, roster)


def test_truncation_to_whole_segments_with_edited_sizes_is_detected(blob, parties, roster):
    def fn(m):
        m["statement"]["payload"]["size"] = 3 * SEG
        m["statement"]["payload"]["segments"] = 3

    _opens_fails(rebuild(blob, fn, payload_fn=lambda p: p[: 3 * (SEG + 16)]), parties, roster)


def test_extended_payload_is_detected(blob, parties, roster):
    _opens_fails(rebuild(blob, payload_fn=lambda p: p + b"\x00" * 16), parties, roster)


@pytest.mark.parametrize(("a", "b"), [(0, 1), (1, 2), (0, 3)])
def test_segment_swap_is_detected(blob, parties, roster, a, b):
    def swap(p):
        n = SEG + 16
        segs = [p[i : i + n] for i in range(0, len(p), n)]
        segs[a], segs[b] = segs[b], segs[a]
        return b"".join(segs)

    _opens_fails(rebuild(blob, payload_fn=swap), parties, roster)


def test_segment_from_another_item_is_detected(parties, roster, blob):
    other = seal(PAYLOAD, parties, roster, to=("JPN", "USA"), segment_size=SEG)

    _, p2 = read_zip(other)
    _opens_fails(rebuild(blob, payload_fn=lambda p: p2[: SEG + 16] + p[SEG + 16 :]), parties, roster)


def test_forged_label_signed_with_a_key_not_in_the_roster_is_rejected(parties, roster):
    """OpenTDF's flaw: a key carried in the file was trusted. Here only roster keys count."""
    mallory = PartyKeys.generate("KOR")  # claims to be KOR, holds its own key
    forged_roster = Roster()
    forged_roster.pin(Roster.first_entry(mallory))
    forged_roster.pin(Roster.first_entry(parties["JPN"]))
    forged = seal(b"orders", {"KOR": mallory}, forged_roster, to=("JPN",), label=label_xml(cls="I"))
    # The genuine roster does not know Mallory's key id: refused as untrusted.
    with pytest.raises(TrustError, match="not in the roster"):
        c.open_bytes(forged, keys=parties["JPN"], roster=roster)
    assert c.inspect_bytes(forged, roster=roster).signature == "untrusted"


def test_forged_label_claiming_a_genuine_key_id_is_rejected(blob, parties, roster):
    mallory = PartyKeys.generate("KOR")

    def fn(m):
        m["statement"]["label"]["xml"] = base64.b64encode(label_xml(cls="I")).decode()
        sig = mallory.sign(DS_STATEMENT + canonical_json(m["statement"]))
        m["signature"]["sig"] = base64.b64encode(sig).decode()

    _opens_fails(rebuild(blob, fn), parties, roster)


def test_a_public_key_field_in_the_file_is_refused_not_used(blob, parties, roster):
    def fn(m):
        m["signature"]["jwk"] = "mallory's key"

    with pytest.raises(InputError, match="unknown field"):
        c.open_bytes(rebuild(blob, fn), keys=parties["JPN"], roster=roster)


def test_unknown_suite_in_file_is_refused(blob, parties, roster):
    def fn(m):
        m["statement"]["suite"] = "hpke-none"
        for k in m["keyAccess"]:
            k["suite"] = "hpke-none"

    with pytest.raises(InputError, match="unknown suite"):
        c.open_bytes(rebuild(blob, fn), keys=parties["JPN"], roster=roster)


def test_missing_label_or_recipients_in_file_is_refused(blob, parties, roster):
    def drop_label(m):
        del m["statement"]["label"]

    with pytest.raises(InputError, match="label"):
        c.open_bytes(rebuild(blob, drop_label), keys=parties["JPN"], roster=roster)
    with pytest.raises(InputError, match="recipients"):
        c.open_bytes(rebuild(blob, lambda m: m["statement"].update(recipients=[])), keys=parties["JPN"], roster=roster)


def test_future_version_is_refused(blob, parties, roster):
    with pytest.raises(InputError, match="unsupported version"):
        c.open_bytes(rebuild(blob, lambda m: m.update(version=2)), keys=parties["JPN"], roster=roster)


def test_open_file_leaves_nothing_when_the_last_segment_is_corrupt(tmp_path: Path, parties, roster, blob):
    bad = rebuild(blob, payload_fn=lambda p: p[:-1] + bytes([p[-1] ^ 1]))
    (tmp_path / "in.tdf").write_bytes(bad)
    out = tmp_path / "out" / "plain.bin"
    out.parent.mkdir()
    with pytest.raises(IntegrityError):
        c.open_file(tmp_path / "in.tdf", out, keys=parties["JPN"], roster=roster)
    assert list(out.parent.iterdir()) == []  # no partial plaintext, no temp file


def test_open_file_does_not_replace_an_existing_file_on_failure(tmp_path: Path, parties, roster, blob):
    bad = rebuild(blob, payload_fn=lambda p: p[: -(SEG + 16)])
    (tmp_path / "in.tdf").write_bytes(bad)
    out = tmp_path / "plain.bin"
    out.write_bytes(b"previous")
    with pytest.raises(IntegrityError):
        c.open_file(tmp_path / "in.tdf", out, keys=parties["JPN"], roster=roster)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tdf", "plain.bin"]


def test_seal_path_leaves_nothing_on_refusal(tmp_path: Path, parties, roster):
    (tmp_path / "in.bin").write_bytes(os.urandom(100))
    with pytest.raises(TrustError):
        c.seal_path(
            tmp_path / "in.bin",
            tmp_path / "out.tdf",
            label_xml=label_xml(),
            plan=c.ReleasePlan.without_decision(label_xml(), holder="KOR", recipients=["GBR"], at=AT),
            signer=parties["KOR"],
            roster=roster,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.bin"]


def test_streams_are_not_read_as_plaintext_until_verified(blob, parties, roster):
    out = io.BytesIO()
    bad = rebuild(blob, lambda m: m["statement"].update(at="2001-01-01"))
    with pytest.raises(IntegrityError):
        c.open_stream(io.BytesIO(bad), out, keys=parties["JPN"], roster=roster)
    assert out.getvalue() == b""  # signature checked before any segment is decrypted


def test_alternative_label_from_a_non_recipient_is_rejected(parties, roster):
    from accord.sealed.format import DS_ALT_LABEL

    only_jpn = seal(PAYLOAD, parties, roster, to=("JPN",), segment_size=SEG)
    alt = label_xml("USA", "SECRET").replace(b"originatorConfidentialityLabel", b"alternativeConfidentialityLabel")

    def fn(m):
        digest = hashlib.sha384(DS_STATEMENT + canonical_json(m["statement"])).hexdigest()
        signed = {
            "type": "accord-sealed-alternative-label",
            "statement": digest,
            "party": "USA",
            "xml": base64.b64encode(alt).decode(),
        }
        sig = parties["USA"].sign(DS_ALT_LABEL + canonical_json(signed))
        m["alternativeLabels"] = [
            {
                "signed": signed,
                "signature": {"keyid": parties["USA"].sign_key_id, "sig": base64.b64encode(sig).decode()},
            }
        ]

    _opens_fails(rebuild(only_jpn, fn), parties, roster)


def test_oversized_segments_are_refused_before_any_allocation(blob, parties, roster):
    def fn(m):
        m["statement"]["payload"]["segmentSize"] = 1 << 30

    with pytest.raises(InputError, match="segmentSize"):
        c.open_bytes(rebuild(blob, fn), keys=parties["JPN"], roster=roster)
    with pytest.raises(InputError, match="segment size"):
        seal(b"x", parties, roster, segment_size=64 * 1024 * 1024)
