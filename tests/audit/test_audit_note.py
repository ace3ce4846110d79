"""C2SP signed notes, checkpoints and cosignatures against golang.org/x/mod/sumdb/note vectors."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.audit.errors import MalformedNoteError, UnverifiedNoteError
from accord.audit.note import (
    Checkpoint,
    CosignatureSigner,
    NoteSigner,
    add_cosignature,
    cosignature_timestamp,
    open_checkpoint,
    open_note,
    parse_vkey,
    sign_note,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "audit"
GO = json.loads((VECTORS / "go_sumdb_note.json").read_text())
BAD_NAME_SIG = "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="


def test_go_signer_key_reproduces_go_signature_byte_for_byte() -> None:
    signer = NoteSigner.from_skey(GO["skey"])
    assert signer.vkey == GO["vkey"]
    assert signer.skey == GO["skey"]
    assert sign_note(GO["text"], [signer]).decode() == GO["signed"]


def test_go_vectors_open_with_known_and_unknown_keys() -> None:
    peter = parse_vkey(GO["vkey"])
    enoch = parse_vkey(GO["enoch_vkey"])
    msg = (GO["text"] + "\n" + GO["peter_sig_line"] + GO["enoch_sig_line"]).encode()
    n = open_note(msg, [peter])
    assert n.text == GO["text"]
    assert [s.name for s in n.sigs] == ["PeterNeumann"]
    assert [s.name for s in n.unverified] == ["EnochRoot"]
    assert n.sigs[0].key_id == 0xC74F20A3
    n2 = open_note(msg, [peter, enoch])
    assert [s.name for s in n2.sigs] == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(UnverifiedNoteError):
        open_note(msg, [])


def test_go_invalid_signature_from_known_key_rejects_note() -> None:
    sig = GO["peter_sig_line"]
    msg = (GO["text"] + "\n" + sig[:60] + "ABCD" + sig[60:]).encode()
    with pytest.raises(UnverifiedNoteError):
        open_note(msg, [parse_vkey(GO["vkey"])])


@pytest.mark.parametrize(
    "msg",
    [
        GO["text"],
        GO["text"] + "\n",
        GO["text"] + "\n" + GO["peter_sig_line"][:-1],
        "\x01" + GO["text"] + "\n" + GO["peter_sig_line"],
        GO["text"] + "\n" + BAD_NAME_SIG,
        GO["text"] + "\n" + GO["peter_sig_line"] + "Unexpected line.\n",
        GO["text"] + "\n" + GO["peter_sig_line"] * 101,
    ],
)
def test_go_malformed_notes_are_rejected(msg: str) -> None:
    with pytest.raises(MalformedNoteError):
        open_note(msg.encode(), [parse_vkey(GO["vkey"])])


def test_non_utf8_note_is_malformed() -> None:
    with pytest.raises(MalformedNoteError):
        open_note(b"\xff" + (GO["text"] + "\n" + GO["peter_sig_line"]).encode(), [parse_vkey(GO["vkey"])])


def test_go_mangled_verifier_keys_are_rejected() -> None:
    vkey = GO["vkey"]
    bad = [*GO["bad_vkeys"]]
    bad += [
        vkey[i:j] for i in range(0, len(vkey), 7) for j in range(i + 1, len(vkey) + 1, 5) if (i, j) != (0, len(vkey))
    ]
    bad += [vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1 :] for i in range(len(vkey))]
    for k in bad:
        if k == vkey:
            continue
        with pytest.raises(MalformedNoteError):
            parse_vkey(k)


def test_go_mangled_signer_keys_are_rejected() -> None:
    skey = GO["skey"]
    for i in range(len(skey)):
        k = skey[:i] + chr(ord(skey[i]) + 1) + skey[i + 1 :]
        with pytest.raises(MalformedNoteError):
            NoteSigner.from_skey(k)


def test_generated_keys_round_trip() -> None:
    s = NoteSigner.generate("accord.kor.example/audit")
    v = parse_vkey(s.vkey)
    msg = sign_note("hello\n", [s])
    assert open_note(msg, [v]).sigs[0].name == s.name
    assert NoteSigner.from_skey(s.skey).vkey == s.vkey


def test_key_names_with_space_or_plus_are_rejected() -> None:
    for name in ("a b", "a+b", "", "a\u00a0b"):
        with pytest.raises(MalformedNoteError):
            NoteSigner.generate(name)


def test_checkpoint_round_trip_and_c2sp_example_parses() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = Checkpoint.parse(text)
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)
    assert cp.text() == text


@pytest.mark.parametrize(
    "text",
    [
        "o\n1\n",
        "o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n1\nnotbase64!\n",
        "o\n1\nAAAA\n",
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\next\n",
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
        "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    ],
)
def test_malformed_checkpoints_are_rejected(text: str) -> None:
    with pytest.raises(MalformedNoteError):
        Checkpoint.parse(text)


def test_open_checkpoint_checks_origin() -> None:
    s = NoteSigner.generate("log.example/a")
    note = sign_note(Checkpoint("log.example/a", 3, bytes(32)).text(), [s])
    cp, _ = open_checkpoint(note, [s.verifier()], origin="log.example/a")
    assert cp.size == 3
    with pytest.raises(MalformedNoteError):
        open_checkpoint(note, [s.verifier()], origin="log.example/b")


def test_cosignature_verifies_with_type_04_key_and_fails_when_tampered() -> None:
    log = NoteSigner.generate("log.example/a")
    wit = CosignatureSigner.generate("witness.example/w1")
    note = sign_note(Checkpoint("log.example/a", 3, bytes(32)).text(), [log])
    cosigned = add_cosignature(note, wit, 1679315147)
    wv = parse_vkey(wit.vkey)
    assert wit.vkey.split("+")[2].startswith("B")  # base64 of 0x04 ...
    n = open_note(cosigned, [log.verifier(), wv])
    assert [s.name for s in n.sigs] == ["log.example/a", "witness.example/w1"]
    assert cosignature_timestamp(n.sigs[1]) == 1679315147
    # A cosignature does not verify as a plain Ed25519 note signature of the same key.
    with pytest.raises(UnverifiedNoteError):
        open_note(cosigned.replace(b"log.example/a", b"log.example/b", 1), [wv])
    # Re-cosigning replaces the earlier cosignature.
    again = add_cosignature(cosigned, wit, 1679315200)
    assert again.count(b"witness.example/w1") == 1


def test_accord_vector_is_reproducible() -> None:
    vec = json.loads(
        (Path(__file__).resolve().parent.parent / "vectors" / "audit" / "accord_checkpoint.json").read_text()
    )
    log = NoteSigner.from_skey(vec["log_skey"])
    wit = CosignatureSigner.from_skey(vec["witness_skey"])
    assert log.vkey == vec["log_vkey"]
    assert wit.vkey == vec["witness_vkey"]
    note = sign_note(vec["checkpoint_text"], [log])
    assert note.decode() == vec["signed_checkpoint"]
    assert add_cosignature(note, wit, vec["cosignature_time"]).decode() == vec["cosigned_checkpoint"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_fuzz_open_note_fails_only_with_accord_errors(msg: bytes) -> None:
    vk = parse_vkey(GO["vkey"])
    with contextlib.suppress(MalformedNoteError, UnverifiedNoteError):
        open_note(msg, [vk])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_checkpoint_and_vkey_parsers_fail_only_with_malformed(text: str) -> None:
    for fn in (Checkpoint.parse, parse_vkey, NoteSigner.from_skey):
        with contextlib.suppress(MalformedNoteError):
            fn(text)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10), st.binary(min_size=1, max_size=120))
def test_fuzz_mutated_signed_note_never_verifies_unless_unchanged(pos: int, junk: bytes) -> None:
    msg = GO["signed"].encode()
    i = (pos * 13) % len(msg)
    mutated = msg[:i] + junk + msg[i + len(junk) :]
    try:
        n = open_note(mutated, [parse_vkey(GO["vkey"])])
    except (MalformedNoteError, UnverifiedNoteError):
        return
    assert n.text == GO["text"]  # only mutations that left the text and signature intact verify


def test_key_id_syntax_is_exactly_eight_hex_digits() -> None:
    vkey = GO["vkey"]
    assert parse_vkey(vkey.replace("c74f20a3", "C74F20A3")).key_id == 0xC74F20A3  # Go accepts upper case
    for bad_id in ("0xc74f20", "c74f_20a", " c74f20a", "+c74f20a"):
        with pytest.raises(MalformedNoteError):
            parse_vkey(vkey.replace("c74f20a3", bad_id))


C2SP_COSIGNED = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "— example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 "
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def test_c2sp_cosignature_example_parses_with_its_timestamp() -> None:
    """c2sp.org/tlog-cosignature's example: its cosignature carries ``time 1679315147``."""
    from accord.audit.note import parse_note

    text, sigs = parse_note(C2SP_COSIGNED.encode())
    assert Checkpoint.parse(text).size == 20852163
    assert [s.name for s in sigs] == ["example.com/behind-the-sofa", "witness.example.com/w1"]
    assert cosignature_timestamp(sigs[1]) == 1679315147
    assert len(sigs[1].signature) == 8 + 64
    with pytest.raises(UnverifiedNoteError):  # no known key among them
        open_note(C2SP_COSIGNED.encode(), [parse_vkey(GO["vkey"])])
