"""The test vectors of docs/feed.md (tests/vectors/feed/vectors.json): an independent implementation must
reproduce the deterministic parts and open the session record."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.feed import crypto as fc
from accord.feed import frame as ff
from accord.feed.model import decode_message, encode_message, parse_message

V = json.loads((Path(__file__).parents[1] / "vectors" / "feed" / "vectors.json").read_text())


def test_message_vector() -> None:
    m = parse_message(V["message"]["json"])
    assert encode_message(m).hex() == V["message"]["binary"]
    assert decode_message(bytes.fromhex(V["message"]["binary"])) == m


def test_handshake_data_and_batch_vectors() -> None:
    keys = V["keys"]
    kor = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(keys["kor_ed25519_seed"]))
    jpn = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(keys["jpn_ed25519_seed"]))
    x = X25519PrivateKey.from_private_bytes(bytes.fromhex(keys["jpn_x25519"]))
    offer = fc.open_offer(V["offer"].encode(), jpn.public_key(), "JPN")
    assert fc.make_offer("JPN", x, jpn, 1_702_944_000_000_000) == V["offer"].encode()  # Ed25519 is deterministic
    hs = ff.parse_record(bytes.fromhex(V["session_record"]))
    assert (hs.stream, hs.seq, hs.rtype) == ("KOR-JPN", 1, ff.HS)
    session = fc.open_session(hs.payload, "KOR-JPN", kor.public_key(), offer, x)
    assert session.key.hex() == V["session_key"]
    data = bytes.fromhex(V["data_record"])
    assert session.open(data, 2).hex() == V["message"]["binary"]
    assert session.seal(2, bytes.fromhex(V["message"]["binary"])) == data  # nonce epoch|seq: deterministic
    chain = fc.BatchChain()
    chain.add(1, hs.raw)
    chain.add(2, data)
    assert chain.digest().hex() == V["batch"]["chain_sha256"]
    bs = ff.parse_record(bytes.fromhex(V["batch"]["bsig_record"]))
    batch = fc.parse_batch(bs.payload)
    fc.verify_batch("KOR-JPN", batch, chain, kor.public_key())
    assert ff.record("KOR-JPN", 3, ff.BSIG, fc.sign_batch("KOR-JPN", chain, kor)).hex() == V["batch"]["bsig_record"]


def test_frame_vectors() -> None:
    f = V["frames"]
    assert ff.json_frame(ff.SUB, {"stream": "KOR-JPN", "from": 1, "offer": V["offer"]}).hex() == f["sub"]
    assert ff.frame(ff.REC, bytes.fromhex(V["data_record"])).hex() == f["rec"]
    assert ff.frame(ff.ACK, ff.ack_body("KOR-JPN", 3)).hex() == f["ack"]
    assert ff.pubok_accepted(7, {"KOR-JPN": 2, "KOR-USA": 2}).hex() == f["pubok"]
    ((t, body),) = ff.FrameReader().feed(bytes.fromhex(f["pubok"]))
    assert t == ff.PUBOK and ff.parse_pubok(body) == (7, {"ok": True, "seq": {"KOR-JPN": 2, "KOR-USA": 2}})
