"""Regenerate the lifecycle-document vectors (deterministic: Ed25519 keys from fixed test seeds).

    .venv/bin/python tests/vectors/lifecycle/make_vectors.py

Test keys only: the seeds are public, nothing here protects anything.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accord.formats.lifecycle_doc import FORMAT, ed25519_keyid, sign_document

HERE = Path(__file__).resolve().parent
PARTIES = ("KOR", "JPN", "USA", "FRA")


def key(party: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"accord test key {party}".encode()).digest())


def pub(party: str) -> bytes:
    return key(party).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def signed(body: dict[str, Any], *parties: str) -> dict[str, Any]:
    doc = body
    for p in parties:
        doc = sign_document(doc, p, ed25519_keyid(pub(p)), key(p).sign)
    return doc


def body(
    etype: str, day: str, by: str | None = "KOR", agreement: str = "jpn-kor-gsomia", **extra: Any
) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": etype, "date": day, **extra}
    if by is not None:
        ev["by"] = by
    return {"format": FORMAT, "agreement": agreement, "event": ev}


AMENDED_TERMS = {
    "scope": {"topics": "all"},
    "equivalence": [{"name": "SECRET", "levels": {"JPN": "極秘", "KOR": "군사Ⅱ급비밀"}}],
}

VECTORS: dict[str, dict[str, Any]] = {
    "good/notice-2027.yaml": signed(body("notice-of-termination", "2027-08-01", note="hypothetical notice"), "KOR"),
    "good/amendment-2027.yaml": signed(
        body("amended", "2027-01-10", by=None, terms=AMENDED_TERMS, note="CONFIDENTIAL row dropped (hypothetical)"),
        "KOR",
        "JPN",
    ),
    "good/tisa-suspension-2028.yaml": signed(
        body("suspended", "2028-01-01", by="USA", agreement="kor-jpn-usa-tisa"), "USA"
    ),
    "bad/unsigned.yaml": body("notice-of-termination", "2027-08-01"),
    "bad/signed-by-a-non-party.yaml": signed(body("notice-of-termination", "2027-08-01", by="KOR"), "FRA"),
    "bad/signed-by-the-other-party.yaml": signed(body("notice-of-termination", "2027-08-01", by="KOR"), "JPN"),
    "bad/dated-before-the-agreement.yaml": signed(body("notice-of-termination", "2015-06-01"), "KOR"),
    "bad/out-of-order-withdrawal.yaml": signed(body("notice-withdrawn", "2027-09-01"), "KOR"),
    "bad/before-the-last-event.yaml": signed(body("suspended", "2020-01-01"), "KOR"),
    "bad/amendment-signed-by-one.yaml": signed(body("amended", "2027-01-10", by=None, terms=AMENDED_TERMS), "KOR"),
    "bad/tampered.yaml": {
        **signed(body("notice-of-termination", "2027-08-01"), "KOR"),
        "event": {"type": "notice-of-termination", "date": "2027-08-02", "by": "KOR"},
    },
}


def main() -> None:
    (HERE / "keys.yaml").write_text(
        "# Ed25519 test keys (public seeds: see make_vectors.py)\n"
        + yaml.safe_dump({p: [pub(p).hex()] for p in PARTIES}, sort_keys=True),
        encoding="utf-8",
    )
    for name, doc in VECTORS.items():
        path = HERE / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


if __name__ == "__main__":
    main()
