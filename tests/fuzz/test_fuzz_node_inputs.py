"""Hypothesis fuzzing of what a partner (or a local system) hands a gateway node (issue 9): the sealed container
through the receiving node's verify/open path, the API bodies through the routes' own validation, and the
partner's signed delivery receipt through the sender's receipt check. Hostile input only ever raises the
InputError family (or IntegrityError for cryptography); nothing tampered verifies, opens or is acknowledged."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from accord.errors import InputError, IntegrityError
from accord.node.api.fast import _invalid, validation_errors
from accord.node.api.models import ConsentRequestMessage, DeliveryEnvelope, SubmitRequest
from accord.sealed import container as c
from accord.sealed.item import open_item, verify_bytes
from accord.sealed.keys import PartyKeys, Roster
from tests.fuzz.conftest import FUZZ
from tests.fuzz.util import EDITS, SPECIAL, VALUES, mutate, paths, refused_or_accepted, text_edits
from tests.sealed.util import label_xml, read_zip, seal

pytestmark = pytest.mark.reliability

HOW = st.sampled_from(["replace", "replace", "delete", "extra"])
#: A value planted in hostile bodies: it must never come back in a 422 problem document.
CANARY = "CANARY-classified-plaintext"
NODE_VALUES = VALUES | st.sampled_from([*SPECIAL, CANARY])
PAYLOAD = b"kor-fuzz sealed payload " * 200

# ---------------------------------------------------------------- a valid sealed item (SDK: keys + roster)

_SEALED: dict[str, Any] = {}


def _sealed() -> tuple[bytes, dict[str, PartyKeys], Roster]:
    """One item KOR sealed for JPN, the parties' keys and the pinned roster (made once)."""
    if not _SEALED:
        parties = {p: PartyKeys.generate(p) for p in ("KOR", "JPN", "USA")}
        roster = Roster()
        for k in parties.values():
            roster.pin(Roster.first_entry(k))
        blob = seal(PAYLOAD, parties, roster, to=("JPN",), label=label_xml(rel=("JPN",)), segment_size=1024)
        _SEALED.update(blob=blob, parties=parties, roster=roster)
    return _SEALED["blob"], _SEALED["parties"], _SEALED["roster"]


def _receive(blob: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    """What a receiving node does with an inbound container: verify once, then open with its own keys."""
    _, parties, roster = _sealed()
    item = verify_bytes(blob, roster=roster)
    opened = open_item(item, keys=parties["JPN"])
    assert opened.payload is not None
    return dict(item.manifest), opened.payload, opened.label_xml


def _check_received(case: str, blob: bytes) -> None:
    """Only a refusal, or the genuine item: the same signed manifest, label and payload (nothing tampered)."""
    got = refused_or_accepted(case, _receive, blob, crypto=True)
    if got is not None:
        raw, payload, lab = got
        valid = _sealed()[0]
        manifest, _ = read_zip(valid)
        assert payload == PAYLOAD and lab == label_xml(rel=("JPN",))
        assert raw == manifest, "a changed manifest verified"
        if blob != valid:  # only bytes no signature covers may differ (zip timestamps, comment...)
            assert read_zip(blob) == read_zip(valid)


def _zip(members: list[tuple[str, bytes, int]]) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as zf:
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": the duplicate is the point
        for name, data, method in members:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return out.getvalue()


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)), max_size=4),
    cut=st.none() | st.integers(min_value=0),
)
def test_fuzz_sealed_verify_open_byte_flips_and_truncation(flips: list[tuple[int, int]], cut: int | None) -> None:
    blob = bytearray(_sealed()[0])
    for pos, x in flips:
        blob[pos % len(blob)] ^= x
    if cut is not None:
        blob = blob[: cut % len(blob)]
    _check_received("sealed container: verify/open byte flips and truncation", bytes(blob))


@FUZZ
@given(
    edit=st.sampled_from(["payload", "manifest-text", "extra", "duplicate", "drop", "deflate", "rename"]),
    flips=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)), min_size=1, max_size=3
    ),
    edits=EDITS,
    extra=st.binary(max_size=64),
)
def test_fuzz_sealed_verify_open_zip_member_edits(
    edit: str, flips: list[tuple[int, int]], edits: list[tuple[int, int, str]], extra: bytes
) -> None:
    manifest, payload = read_zip(_sealed()[0])
    mtext = json.dumps(manifest, ensure_ascii=False).encode()
    stored, deflated = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
    members = [(c.PAYLOAD_NAME, payload, stored), (c.MANIFEST_NAME, mtext, stored)]
    if edit == "payload":
        p = bytearray(payload)
        for pos, x in flips:
            p[pos % len(p)] ^= x
        members[0] = (c.PAYLOAD_NAME, bytes(p), stored)
    elif edit == "manifest-text":
        text = text_edits(mtext.decode(), edits).encode("utf-8", "surrogatepass")
        members[1] = (c.MANIFEST_NAME, text, stored)
    elif edit == "extra":
        members.append(("1.payload", extra, stored))
    elif edit == "duplicate":
        members.append((c.MANIFEST_NAME, mtext, stored))
    elif edit == "drop":
        members.pop(flips[0][0] % 2)
    elif edit == "deflate":
        members[flips[0][0] % 2] = (members[flips[0][0] % 2][0], members[flips[0][0] % 2][1], deflated)
    else:
        members[flips[0][0] % 2] = (f"../{members[flips[0][0] % 2][0]}", *members[flips[0][0] % 2][1:])
    _check_received("sealed container: verify/open zip member edits", _zip(members))


@FUZZ
@given(data=st.data(), how=HOW, value=NODE_VALUES)
def test_fuzz_sealed_verify_open_manifest_field_edits(data: st.DataObject, how: str, value: Any) -> None:
    manifest, payload = read_zip(_sealed()[0])
    path = data.draw(st.sampled_from(paths(manifest)))
    doc = mutate(manifest, path, how, value)
    try:
        text = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    except ValueError:  # pragma: no cover - json.dumps accepts every VALUES document
        return
    blob = _zip([(c.PAYLOAD_NAME, payload, zipfile.ZIP_STORED), (c.MANIFEST_NAME, text, zipfile.ZIP_STORED)])
    _check_received("sealed container: verify/open manifest field edits", blob)


# ---------------------------------------------------------------- API bodies (the routes' own validation)


def _valid_bodies() -> dict[str, dict[str, Any]]:
    sealed = base64.b64encode(_sealed()[0]).decode()
    lab = {
        "originator": "KOR",
        "classification": "군사Ⅱ급비밀",
        "topics": ["DPRK-MISSILE"],
        "releasable_to": ["JPN", "USA"],
        "caveats": [],
        "created": "2015-01-01T00:00:00Z",
        "review": None,
        "id": "kor-fuzz-1",
    }
    return {
        "delivery": {
            "item_id": "kor-fuzz-1",
            "sender": "KOR",
            "final_recipient": "JPN",
            "at": "2017-02-12",
            "sealed": sealed,
            "consents": [],
        },
        "consent request": {
            "request_id": "kor-req-fuzz-1",
            "item_id": "kor-fuzz-1",
            "originator": "KOR",
            "holder": "JPN",
            "recipient": "USA",
            "label": lab,
            "digest": "ab" * 32,
            "statement": "cd" * 48,
            "at": "2017-02-12",
            "reasons": [{"rule": "JK-R6", "text": "the originator's consent is required"}],
        },
        "submit": {"label": lab, "to": "JPN", "payload_b64": base64.b64encode(b"x" * 64).decode(), "at": "2017-02-12"},
    }


MODELS: dict[str, type[BaseModel]] = {
    "delivery": DeliveryEnvelope,
    "consent request": ConsentRequestMessage,
    "submit": SubmitRequest,
}


def _validate(kind: str, body: bytes) -> BaseModel:
    """The route's step: ``model_validate_json`` of the raw body; a mismatch is the 422 problem document (where
    and what, never the value), raised here as an InputError so that it counts as a refusal."""
    try:
        model = MODELS[kind].model_validate_json(body)
    except ValidationError as e:
        answer = _invalid(validation_errors(e))
        assert answer.status_code == 422
        doc = json.loads(bytes(answer.body))
        assert doc["status"] == 422 and doc["errors"], doc
        assert all(err["loc"][0] == "body" for err in doc["errors"])
        assert CANARY not in bytes(answer.body).decode(), "a 422 problem echoed the offending value"
        raise InputError("the request does not match the schema", field="body") from None
    if isinstance(model, SubmitRequest):  # the submit route's next step
        try:
            base64.b64decode(model.payload_b64, validate=True)
        except ValueError as e:
            raise InputError("payload_b64 is not base64", field="payload_b64") from e
    return model


@FUZZ
@given(kind=st.sampled_from(sorted(MODELS)), raw=st.binary(max_size=600) | st.text(max_size=600).map(str.encode))
def test_fuzz_api_bodies_random_bytes(kind: str, raw: bytes) -> None:
    refused_or_accepted(f"API bodies: {kind} random bytes", _validate, kind, raw)


@FUZZ
@given(kind=st.sampled_from(sorted(MODELS)), data=st.data(), how=HOW, value=NODE_VALUES)
def test_fuzz_api_bodies_field_edits(kind: str, data: st.DataObject, how: str, value: Any) -> None:
    valid = _valid_bodies()[kind]
    doc = mutate(valid, data.draw(st.sampled_from(paths(valid))), how, value)
    body = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    model = refused_or_accepted(f"API bodies: {kind} field edits", _validate, kind, body)
    if model is not None:  # what is accepted is what the schema promises
        dumped = model.model_dump(mode="json")
        assert set(dumped) <= set(MODELS[kind].model_fields)
        for party in ("sender", "final_recipient", "originator", "holder", "recipient", "to"):
            if party in dumped:
                assert len(dumped[party]) == 3 and dumped[party].isascii() and dumped[party].isupper()


@FUZZ
@given(kind=st.sampled_from(sorted(MODELS)), edits=EDITS)
def test_fuzz_api_bodies_text_edits(kind: str, edits: list[tuple[int, int, str]]) -> None:
    text = text_edits(json.dumps(_valid_bodies()[kind], ensure_ascii=False), edits)
    refused_or_accepted(f"API bodies: {kind} text edits", _validate, kind, text.encode("utf-8", "surrogatepass"))


# ---------------------------------------------------------------- the partner's signed delivery receipt


@pytest.fixture(scope="module")
def receipt_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """KOR sent JPN an item; JPN's real answer (signed receipt + audit evidence) and KOR's outbox entry."""
    from tests.node.helpers import Net, label

    net = Net(Path(tmp_path_factory.mktemp("receipts")), ("KOR", "JPN"))
    net.submit("KOR", label("kor-fuzz-r1", rel=("JPN",)), "JPN", "2017-02-12")
    (entry,) = net.nodes["KOR"].store.claim("kor-fuzz", limit=10, lease_seconds=60)
    answer = net.dispatch("KOR", "delivery", "JPN", entry.body, entry.idem_key)
    assert isinstance(answer.get("receipt"), dict) and isinstance(answer.get("signature"), str)
    try:
        yield {"net": net, "entry": entry, "answer": answer}
    finally:
        for svc in net.nodes.values():
            close = getattr(svc, "close", None)
            if close is not None:
                close()


def _acknowledge(net: Any, entry: Any, answer: dict[str, Any]) -> bool:
    net.nodes["KOR"].acknowledged(entry, answer)
    return True


def _check_ack(case: str, env: dict[str, Any], answer: dict[str, Any], *, partner_signed: bool = False) -> None:
    """The sender's receipt check refuses (IntegrityError / InputError) or accepts only the genuine receipt.

    ``partner_signed``: the partner itself signed the edited receipt; the one field that is its own claim (the
    time it received the item) may then differ, as long as it is a timestamp."""
    valid = env["answer"]
    ok = refused_or_accepted(case, _acknowledge, env["net"], env["entry"], answer, crypto=True)
    if ok:
        receipt = answer.get("receipt")
        if (
            partner_signed
            and isinstance(receipt, dict)
            and receipt.get("received_at") != valid["receipt"]["received_at"]
        ):
            assert dict(receipt, received_at=valid["receipt"]["received_at"]) == valid["receipt"]
            assert dt.datetime.fromisoformat(receipt["received_at"]).tzinfo is not None
        else:
            assert receipt == valid["receipt"], "an edited receipt was acknowledged"
            assert answer.get("signature") == valid["signature"], "an edited signature was acknowledged"
        assert answer.get("evidence") in (None, valid.get("evidence")), "edited audit evidence was acknowledged"


@FUZZ
@given(data=st.data(), how=HOW, value=NODE_VALUES)
def test_fuzz_receipt_field_edits_unsigned(
    receipt_net: dict[str, Any], data: st.DataObject, how: str, value: Any
) -> None:
    valid = receipt_net["answer"]
    path = data.draw(st.sampled_from(paths(valid)))
    _check_ack("node receipts: field edits of the signed answer", receipt_net, mutate(valid, path, how, value))


@FUZZ
@given(data=st.data(), how=HOW, value=NODE_VALUES, signer=st.sampled_from(["JPN", "KOR"]))
def test_fuzz_receipt_field_edits_resigned(
    receipt_net: dict[str, Any], data: st.DataObject, how: str, value: Any, signer: str
) -> None:
    """The partner (or the sender's own key) signs whatever it edited: the field checks must still refuse."""
    from accord.node.canon import sign
    from accord.node.flow.journal import RECEIPT_DOMAIN

    valid = receipt_net["answer"]
    receipt = valid["receipt"]
    path = data.draw(st.sampled_from(paths(receipt)))
    edited = mutate(receipt, path, how, value)
    answer = dict(valid, receipt=edited)
    with contextlib.suppress(ValueError):  # not canonical JSON (NaN, a lone surrogate): the old signature stays
        answer["signature"] = sign(receipt_net["net"].nodes[signer].receipt_key, RECEIPT_DOMAIN, edited)
    _check_ack("node receipts: re-signed field edits", receipt_net, answer, partner_signed=signer == "JPN")


@FUZZ
@given(raw=st.binary(max_size=300), edits=EDITS)
def test_fuzz_receipt_signature_bytes(
    receipt_net: dict[str, Any], raw: bytes, edits: list[tuple[int, int, str]]
) -> None:
    valid = receipt_net["answer"]
    for sig in (base64.b64encode(raw).decode(), text_edits(valid["signature"], edits)):
        _check_ack("node receipts: signature edits", receipt_net, dict(valid, signature=sig))


def test_receipt_genuine_answer_still_accepted(receipt_net: dict[str, Any]) -> None:
    """The control: the partner's genuine answer is acknowledged (so the refusals above are not vacuous)."""
    assert _acknowledge(receipt_net["net"], receipt_net["entry"], json.loads(json.dumps(receipt_net["answer"])))


def test_sealed_genuine_item_still_verifies() -> None:
    raw, payload, _ = _receive(_sealed()[0])
    assert payload == PAYLOAD and raw == read_zip(_sealed()[0])[0]


def test_receipt_evidence_with_an_extra_key_or_a_coerced_value_is_refused(receipt_net: dict[str, Any]) -> None:
    """Found by the receipt fuzzing: evidence with an extra key (or ``"index": "1"``, ``true``) was acknowledged
    and stored as the partner wrote it (the audit-stall class of issue 9); refused now, before any write."""
    valid = receipt_net["answer"]
    ev = valid["evidence"]
    for bad in (dict(ev, payload="plaintext?"), dict(ev, index=str(ev["index"])), dict(ev, index=float(ev["index"]))):
        with pytest.raises(IntegrityError):
            receipt_net["net"].nodes["KOR"].acknowledged(receipt_net["entry"], dict(valid, evidence=bad))
    if ev["index"] == 1:
        with pytest.raises(IntegrityError):
            receipt_net["net"].nodes["KOR"].acknowledged(
                receipt_net["entry"], dict(valid, evidence=dict(ev, index=True))
            )


def test_receipt_signed_with_version_true_or_free_text_time_is_refused(receipt_net: dict[str, Any]) -> None:
    """Found by the re-signed receipt fuzzing: ``"v": true`` (or ``1.0``), validly signed by the partner, equals
    1 in Python, and any text as ``received_at``, were acknowledged and stored as written; the receipt check now
    wants the integer 1 and an ISO 8601 timestamp with its UTC offset."""
    from accord.node.canon import sign
    from accord.node.flow.journal import RECEIPT_DOMAIN

    valid = receipt_net["answer"]
    for edit in ({"v": True}, {"v": 1.0}, {"received_at": "uſa"}, {"received_at": "2017-02-12T00:00:00 plaintext"}):
        receipt = dict(valid["receipt"], **edit)
        sig = sign(receipt_net["net"].nodes["JPN"].receipt_key, RECEIPT_DOMAIN, receipt)
        with pytest.raises(IntegrityError):
            receipt_net["net"].nodes["KOR"].acknowledged(
                receipt_net["entry"], dict(valid, receipt=receipt, signature=sig)
            )
