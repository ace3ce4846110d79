"""A memory of opened checkpoints (issue 8): the same signed note is checked once, and only a success is kept."""

from __future__ import annotations

import json

import pytest

from accord.audit.errors import MalformedNoteError, UnverifiedNoteError
from accord.audit.merkle import leaf_hash
from accord.audit.note import Checkpoint, NoteSigner, open_checkpoint, sign_note
from accord.audit.receipt import ReceiptEvidence, VerifiedCheckpoints, check_receipt_evidence
from accord.errors import InputError, IntegrityError

ORIGIN = "log.example/a"


def _note(size: int, signer: NoteSigner, root: bytes = bytes(32)) -> bytes:
    return sign_note(Checkpoint(ORIGIN, size, root).text(), [signer])


def test_the_same_note_is_opened_once_and_gives_the_same_checkpoint() -> None:
    s = NoteSigner.generate(ORIGIN)
    memo = VerifiedCheckpoints()
    note = _note(3, s)
    first = memo.open(note, [s.verifier()], origin=ORIGIN)
    assert memo.hits == 0
    again = memo.open(note, [s.verifier()], origin=ORIGIN)  # a new, equal verifier: the same key
    assert memo.hits == 1
    assert again == first == open_checkpoint(note, [s.verifier()], origin=ORIGIN)[0]


def test_a_tampered_note_is_refused_every_time_and_never_kept() -> None:
    s = NoteSigner.generate(ORIGIN)
    memo = VerifiedCheckpoints()
    note = _note(3, s)
    memo.open(note, [s.verifier()], origin=ORIGIN)
    forged = note.replace(b"\n3\n", b"\n4\n", 1)  # same signature, another tree size
    for _ in range(2):
        with pytest.raises(UnverifiedNoteError):
            memo.open(forged, [s.verifier()], origin=ORIGIN)
    assert memo.hits == 0 and len(memo._done) == 1


def test_a_note_opened_with_one_key_is_not_accepted_under_another() -> None:
    """A roster change (the partner's audit key replaced) is a different key: nothing opened before applies."""
    s, other = NoteSigner.generate(ORIGIN), NoteSigner.generate(ORIGIN)
    memo = VerifiedCheckpoints()
    note = _note(3, s)
    memo.open(note, [s.verifier()], origin=ORIGIN)
    with pytest.raises(UnverifiedNoteError):
        memo.open(note, [other.verifier()], origin=ORIGIN)
    assert memo.hits == 0


def test_a_note_opened_for_one_origin_is_refused_for_another() -> None:
    s = NoteSigner.generate(ORIGIN)
    memo = VerifiedCheckpoints()
    note = _note(3, s)
    memo.open(note, [s.verifier()], origin=ORIGIN)
    with pytest.raises(MalformedNoteError):
        memo.open(note, [s.verifier()], origin="log.example/b")
    assert memo.hits == 0


def test_the_memory_is_bounded_and_forgets_the_oldest() -> None:
    s = NoteSigner.generate(ORIGIN)
    memo = VerifiedCheckpoints(size=2)
    notes = [_note(n, s) for n in (1, 2, 3)]
    for n in notes:
        memo.open(n, [s.verifier()], origin=ORIGIN)
    assert len(memo._done) == 2
    memo.open(notes[0], [s.verifier()], origin=ORIGIN)  # forgotten: opened (verified) again
    assert memo.hits == 0
    memo.open(notes[2], [s.verifier()], origin=ORIGIN)
    assert memo.hits == 1


def test_a_verifier_of_another_type_is_checked_every_time() -> None:
    s = NoteSigner.generate(ORIGIN)
    calls: list[bytes] = []

    class Counting:
        name, key_id = s.verifier().name, s.verifier().key_id

        def verify(self, msg: bytes, sig: bytes) -> bool:
            calls.append(msg)
            return s.verifier().verify(msg, sig)

    memo = VerifiedCheckpoints()
    note = _note(3, s)
    memo.open(note, [Counting()], origin=ORIGIN)
    memo.open(note, [Counting()], origin=ORIGIN)
    assert len(calls) == 2 and memo.hits == 0 and not memo._done


def test_a_remembered_checkpoint_still_needs_a_valid_inclusion_proof() -> None:
    """The memory holds the opened checkpoint only: every piece of evidence is proven against it."""
    s = NoteSigner.generate(ORIGIN)
    event = b'{"item":"kor-vc-1"}'
    note = _note(1, s, root=leaf_hash(event))  # a one-leaf tree: its root is the leaf hash
    memo = VerifiedCheckpoints()
    good = ReceiptEvidence(note, 0, event, ())
    cp, ev = check_receipt_evidence(good, [s.verifier()], origin=ORIGIN, checkpoints=memo)
    assert (cp.size, ev) == (1, {"item": "kor-vc-1"})
    forged = ReceiptEvidence(note, 0, b'{"item":"kor-vc-2"}', ())
    with pytest.raises(IntegrityError):
        check_receipt_evidence(forged, [s.verifier()], origin=ORIGIN, checkpoints=memo)
    assert memo.hits == 1  # the note came from memory; the proof was checked and failed


def _evidence() -> dict[str, object]:
    s = NoteSigner.generate(ORIGIN)
    event = b'{"item":"kor-vc-3"}'
    return json.loads(ReceiptEvidence(_note(1, s, root=leaf_hash(event)), 0, event, (bytes(32),)).to_json())


HOSTILE: list[object] = [
    "not an object",
    ["a", "list"],
    None,
    {},
    {**_evidence(), "payload": "x"},  # an extra key
    {**_evidence(), "format": "other/1"},
    {**_evidence(), "index": True},  # a coerced value
    {**_evidence(), "index": 1.0},
    {**_evidence(), "index": -1},
    {**_evidence(), "index": float("inf")},
    {**_evidence(), "checkpoint": 7},
    {**_evidence(), "event": "\ud800"},  # a lone surrogate
    {**_evidence(), "checkpoint": "log\ud800\n"},
    {**_evidence(), "proof": "AAAA"},
    {**_evidence(), "proof": ["not base64!"]},
    {**_evidence(), "proof": ["\ud800"]},
    {**_evidence(), "proof": [1]},
    {k: v for k, v in _evidence().items() if k != "proof"},
]


@pytest.mark.parametrize("doc", [_evidence(), *HOSTILE])
def test_evidence_from_its_parsed_form_is_what_the_strict_parse_of_its_json_gives(doc: object) -> None:
    """``from_obj`` (the sender's partner answer, already parsed) accepts and refuses exactly what
    ``from_json`` of the same document does: no check is lost by not re-encoding it (issue 8)."""
    try:
        text = json.dumps(doc)
    except ValueError:  # not JSON at all: from_obj must refuse it too
        with pytest.raises(InputError):
            ReceiptEvidence.from_obj(doc)
        return
    try:
        want: ReceiptEvidence | None = ReceiptEvidence.from_json(text)
    except InputError:
        want = None
    if want is None:
        with pytest.raises(InputError):
            ReceiptEvidence.from_obj(doc)
    else:
        assert ReceiptEvidence.from_obj(doc) == want


def test_a_long_note_is_opened_every_time() -> None:
    from accord.audit.receipt import MAX_REMEMBERED_NOTE

    s = NoteSigner.generate(ORIGIN)
    ext = tuple(f"ext {i} " + "x" * 60 for i in range(MAX_REMEMBERED_NOTE // 60))
    note = sign_note(Checkpoint(ORIGIN, 3, bytes(32), ext).text(), [s])
    assert len(note) > MAX_REMEMBERED_NOTE
    memo = VerifiedCheckpoints()
    assert memo.open(note, [s.verifier()], origin=ORIGIN).extensions == ext
    memo.open(note, [s.verifier()], origin=ORIGIN)
    assert memo.hits == 0 and not memo._done
