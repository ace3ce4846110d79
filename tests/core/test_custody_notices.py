"""Signed custody notices (JK-R12 reclassification, JK-R26 freeze and compromise, JK-R13 return/destruction):
each signed by the nation whose act it is, or refused; applied to every copy and derived item."""

import hashlib
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accord.core.custody import Custody, CustodyState, DerivedKind, derive
from accord.formats.custody_notice import FORMAT, NoticeError, apply_notice, sign_notice, verify_notice
from accord.formats.lifecycle_doc import Ed25519Keys, ed25519_keyid
from tests.conftest import make_label

PRIV = {
    p: Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"notice {p}".encode()).digest())
    for p in ("KOR", "JPN", "USA")
}
PUB = {p: k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) for p, k in PRIV.items()}
KEYS = Ed25519Keys({p: [raw] for p, raw in PUB.items()})
JP = Custody(
    "item-1", "KOR", "JPN", "jpn-kor-gsomia", "KOR", date(2017, 1, 5), "군사Ⅱ급비밀", "極秘", CustodyState.RELEASED
)
US = Custody("item-1", "KOR", "USA", "jpn-usa-gsomia", "JPN", date(2017, 2, 1), "군사Ⅱ급비밀", "SECRET")


def signed(party: str, **body: object) -> dict[str, object]:
    return sign_notice(
        {"format": FORMAT, "item": "item-1", "originator": "KOR", "date": "2018-01-01", **body},
        party,
        ed25519_keyid(PUB[party]),
        PRIV[party].sign,
    )


def test_reclassification_by_the_originator_reaches_copies_and_derivatives() -> None:
    label = make_label()
    tr_label, tr, (us,) = derive([(label, US)], DerivedKind.TRANSLATION, "tr-1", date(2017, 3, 1))
    notice = verify_notice(signed("KOR", kind="reclassification", classification="군사Ⅲ급비밀"), KEYS, source="n")
    _, labels = apply_notice(notice, [JP, us, tr], {"item-1": label, "tr-1": tr_label})
    assert labels["item-1"].classification == labels["tr-1"].classification == "군사Ⅲ급비밀"


@pytest.mark.parametrize(
    ("party", "body", "what"),
    [
        ("JPN", {"kind": "reclassification", "classification": "군사Ⅲ급비밀"}, "signed by the originator KOR"),
        ("USA", {"kind": "freeze"}, "signed by the originator KOR"),
        ("KOR", {"kind": "compromise", "holder": "JPN", "stage": "SUSPECTED"}, "signed by the holder JPN"),
        ("JPN", {"kind": "compromise", "holder": "JPN", "stage": "LOST"}, "stage"),
        ("JPN", {"kind": "acknowledgement", "holder": "JPN", "acknowledges": "abc"}, "digest"),
        ("KOR", {"kind": "reclassification"}, "classification"),
    ],
)
def test_notice_from_the_wrong_nation_or_malformed_is_refused(party: str, body: dict[str, object], what: str) -> None:
    with pytest.raises(NoticeError, match=what):
        verify_notice(signed(party, **body), KEYS, source="n")


def test_tampered_notice_does_not_verify() -> None:
    doc = signed("KOR", kind="freeze")
    doc["item"] = "item-2"
    with pytest.raises(NoticeError, match="does not verify"):
        verify_notice(doc, KEYS, source="n")


def test_compromise_report_then_freeze_stops_every_release_but_the_return() -> None:
    label = make_label()
    _tr_label, tr, (us,) = derive([(label, US)], DerivedKind.REPRODUCTION, "cp-1", date(2017, 3, 1))
    records = [JP, us, tr]
    report = verify_notice(signed("USA", kind="compromise", holder="USA", stage="SUSPECTED"), KEYS, source="n")
    records, _ = apply_notice(report, records, {})
    assert records[1].state is CustodyState.COMPROMISED
    freeze = verify_notice(signed("KOR", kind="freeze"), KEYS, source="n")
    records, _ = apply_notice(freeze, records, {})
    assert [r.state for r in records] == [CustodyState.FROZEN] * 3
    ack = verify_notice(
        signed("JPN", kind="acknowledgement", holder="JPN", acknowledges=freeze.digest), KEYS, source="n"
    )
    assert ack.acknowledges == freeze.digest and apply_notice(ack, records, {})[0] == records
    lifted = verify_notice(signed("KOR", kind="unfreeze"), KEYS, source="n")
    records, _ = apply_notice(lifted, records, {})
    assert all(r.state is CustodyState.HELD for r in records)


def test_return_report_ends_the_custody() -> None:
    ret = verify_notice(signed("JPN", kind="returned", holder="JPN"), KEYS, source="n")
    records, _ = apply_notice(ret, [JP, US], {})
    assert records[0].state is CustodyState.RETURNED and not records[0].holding
