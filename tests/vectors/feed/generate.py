"""Regenerate ``vectors.json`` (run once; the HPKE encapsulation is random, everything else deterministic).

python tests/vectors/feed/generate.py > tests/vectors/feed/vectors.json
"""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.feed import crypto as fc
from accord.feed import frame as ff
from accord.feed.model import Kind, WarningMessage, encode_message

KOR_SEED = bytes(range(32))
JPN_SEED = bytes(range(32, 64))
JPN_X = bytes(range(64, 96))
CREATED = 1_702_944_000_000_000  # 2023-12-19T00:00:00Z


def main() -> None:
    kor = Ed25519PrivateKey.from_private_bytes(KOR_SEED)
    jpn = Ed25519PrivateKey.from_private_bytes(JPN_SEED)
    x = X25519PrivateKey.from_private_bytes(JPN_X)
    msg = WarningMessage(
        "E20240114",
        Kind.TRACK,
        1_705_212_000_000_000,
        39.1,
        126.2,
        95_000.0,
        (1_800.5, 120.25, 650.0),
        1_705_212_000_250_000,
    )
    plain = encode_message(msg)
    offer_raw = fc.make_offer("JPN", x, jpn, CREATED)
    offer = fc.open_offer(offer_raw, jpn.public_key(), "JPN")
    session, hs = fc.make_session("KOR-JPN", 1, offer, kor)
    hs_rec = ff.record("KOR-JPN", 1, ff.HS, hs)
    data_rec = session.seal(2, plain)
    chain = fc.BatchChain()
    chain.add(1, hs_rec)
    chain.add(2, data_rec)
    bsig = fc.sign_batch("KOR-JPN", chain, kor)
    out = {
        "keys": {"kor_ed25519_seed": KOR_SEED.hex(), "jpn_ed25519_seed": JPN_SEED.hex(), "jpn_x25519": JPN_X.hex()},
        "message": {"json": msg.to_dict(), "binary": plain.hex()},
        "offer": offer_raw.decode(),
        "session_record": hs_rec.hex(),
        "session_key": session.key.hex(),
        "data_record": data_rec.hex(),
        "batch": {"chain_sha256": chain.digest().hex(), "bsig_record": ff.record("KOR-JPN", 3, ff.BSIG, bsig).hex()},
        "frames": {
            "sub": ff.json_frame(ff.SUB, {"stream": "KOR-JPN", "from": 1, "offer": offer_raw.decode()}).hex(),
            "rec": ff.frame(ff.REC, data_rec).hex(),
            "ack": ff.frame(ff.ACK, ff.ack_body("KOR-JPN", 3)).hex(),
            "pubok": ff.pubok_accepted(7, {"KOR-JPN": 2, "KOR-USA": 2}).hex(),
        },
    }
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
