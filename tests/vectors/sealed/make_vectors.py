"""Regenerate the sealed-item test vectors: ``.venv/bin/python tests/vectors/sealed/make_vectors.py``.

The keys written here are TEST-ONLY keys, published on purpose. Regenerating changes every file (keys,
nonces and signatures are random); the test checks the committed files, not a regeneration.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

from accord import release
from accord.core.labels import Label
from accord.formats.agreement_yaml import load_agreements
from accord.formats.canonical import canonical_json
from accord.formats.stanag4774 import label_to_xml
from accord.sealed import container as c
from accord.sealed.format import DS_STATEMENT
from accord.sealed.keys import PartyKeys, Roster
from accord.sealed.suites import CLASSICAL, HYBRID

HERE = Path(__file__).resolve().parent
AT = date(2017, 1, 5)
PLAINTEXT = bytes((i * 7 + 3) % 256 for i in range(3000))
LABEL = Label(
    originator="KOR",
    classification="군사Ⅱ급비밀",
    topics=frozenset({"DPRK-MISSILE"}),
    releasable_to=frozenset({"JPN", "USA"}),
    created=datetime(2016, 12, 1, tzinfo=UTC),
    id="kor-vec-1",
)


def _zip(manifest: dict, payload: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(c.PAYLOAD_NAME, payload)
        zf.writestr(c.MANIFEST_NAME, canonical_json(manifest))
    return out.getvalue()


def _parts(blob: bytes) -> tuple[dict, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return json.loads(zf.read(c.MANIFEST_NAME)), zf.read(c.PAYLOAD_NAME)


def _details(blob: bytes, keys: PartyKeys, roster: Roster) -> dict:
    item = c.verify_bytes(blob, roster=roster)
    parsed, dek = item.parsed, item._key(keys)
    v = item
    manifest, payload = _parts(blob)
    n, size, seg = parsed.info.segments, parsed.info.size, parsed.info.segment_size
    hashes, off = [], 0
    for i in range(n):
        ln = min(seg, size - i * seg) + 16
        hashes.append(hashlib.sha256(payload[off : off + ln]).hexdigest())
        off += ln
    return {
        "open_as": keys.party,
        "result": "ok",
        "dek": dek.hex(),
        "item_id": parsed.item_id.hex(),
        "statement_digest": hashlib.sha384(DS_STATEMENT + canonical_json(manifest["statement"])).hexdigest(),
        "root": parsed.info.root,
        "segment_sha256": hashes,
        "plaintext_sha256": hashlib.sha256(PLAINTEXT).hexdigest(),
        "recipients": [[g.party, g.keyid, g.granted_by] for g in v.grants],
    }


def main() -> None:
    for sub in ("keys", "roster"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
    for f in HERE.glob("*.tdf"):
        f.unlink()
    parties = {p: PartyKeys.generate(p) for p in ("KOR", "JPN", "USA")}
    roster = Roster()
    for k in parties.values():
        roster.pin(Roster.first_entry(k))
    label_xml = label_to_xml(LABEL)
    (HERE / "label.xml").write_bytes(label_xml)
    (HERE / "plaintext.bin").write_bytes(PLAINTEXT)
    expected: dict[str, dict] = {}

    def seal(suite: str, signer: PartyKeys) -> bytes:
        out = io.BytesIO()
        c.seal_stream(
            io.BytesIO(PLAINTEXT),
            out,
            label_xml=label_xml,
            plan=c.ReleasePlan.without_decision(
                label_xml,
                holder=signer.party,
                recipients=[
                    c.Hop("JPN", ("KOR", "JPN"), ("jpn-kor-gsomia",)),
                    c.Hop("USA", ("KOR", "USA"), ("kor-usa-security-agreement",)),
                ],
                at=AT,
                suite=suite,
            ),
            signer=signer,
            roster=roster,
            segment_size=1024,
        )
        return out.getvalue()

    old = seal(HYBRID, parties["KOR"])
    kor2 = parties["KOR"].rotate()
    roster.rotate(kor2)
    parties["KOR"] = kor2
    vectors = {"old-key.tdf": old, "hybrid.tdf": seal(HYBRID, kor2), "classical.tdf": seal(CLASSICAL, kor2)}
    aset = load_agreements()
    relay = release.seal_bytes(
        PLAINTEXT,
        LABEL,
        recipients=["JPN"],
        signer=kor2,
        roster=roster,
        agreements=aset,
        at=date(2015, 6, 1),
        relay="rewrap",
        segment_size=1024,
    )
    vectors["relay-rewrap.tdf"] = release.rewrap(
        relay, keys=parties["USA"], roster=roster, to="JPN", agreements=aset, at=date(2015, 6, 1)
    )
    for name, blob in vectors.items():
        expected[name] = _details(blob, parties["JPN"], roster)

    m, p = _parts(vectors["hybrid.tdf"])
    bad: dict[str, tuple[bytes, str]] = {}
    m1 = json.loads(json.dumps(m))
    m1["statement"]["label"]["xml"] = base64.b64encode(label_xml.replace(b"JPN", b"CHN")).decode()
    bad["bad-label.tdf"] = (_zip(m1, p), "IntegrityError")
    m2 = json.loads(json.dumps(m))
    m2["statement"]["recipients"][1]["party"] = "KOR"
    bad["bad-recipients.tdf"] = (_zip(m2, p), "IntegrityError")
    m3 = json.loads(json.dumps(m))
    w = bytearray(base64.b64decode(m3["keyAccess"][0]["wrappedKey"]))
    w[-3] ^= 1
    m3["keyAccess"][0]["wrappedKey"] = base64.b64encode(bytes(w)).decode()
    bad["bad-wrapped-key.tdf"] = (_zip(m3, p), "IntegrityError")
    bad["bad-payload-byte.tdf"] = (_zip(m, p[:1500] + bytes([p[1500] ^ 1]) + p[1501:]), "IntegrityError")
    bad["bad-truncated.tdf"] = (_zip(m, p[: 2 * 1040]), "IntegrityError")
    bad["bad-segment-swap.tdf"] = (_zip(m, p[1040:2080] + p[:1040] + p[2080:]), "IntegrityError")
    mallory = PartyKeys.generate("KOR")
    m4 = json.loads(json.dumps(m))
    m4["statement"]["signer"]["keyid"] = mallory.sign_key_id
    m4["statement"]["label"]["xml"] = base64.b64encode(
        label_xml.replace("군사Ⅱ급비밀".encode(), "군사Ⅲ급비밀".encode())
    ).decode()
    m4["signature"]["sig"] = base64.b64encode(mallory.sign(DS_STATEMENT + canonical_json(m4["statement"]))).decode()
    bad["bad-forged-signer.tdf"] = (_zip(m4, p), "TrustError")
    m5 = json.loads(json.dumps(m))
    m5["statement"]["suite"] = "hpke-x25519-hkdfsha256-chacha20poly1305"
    for k in m5["keyAccess"]:
        k["suite"] = m5["statement"]["suite"]
    bad["bad-unknown-suite.tdf"] = (_zip(m5, p), "InputError")
    for name, (blob, err) in bad.items():
        vectors[name] = blob
        expected[name] = {"open_as": "JPN", "result": err}

    for name, blob in vectors.items():
        (HERE / name).write_bytes(blob)
    for party, keys in parties.items():
        keys.save(HERE / "keys" / party)
    roster.save(HERE / "roster")
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(vectors)} vectors to {HERE}")


if __name__ == "__main__":
    main()
