"""Issue 8 (container CPU): what a release already encoded is not encoded again -- and the bytes do not change.

The statement's canonical JSON is the signed message's (spliced into the manifest at sealing and whenever a
verified item is written); the label XML of one release is built once (the plan and the seal share it). Each
shortcut is checked against the long way round: the same bytes, byte for byte."""

from __future__ import annotations

import io
import threading
import zipfile
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from accord import release
from accord.formats.canonical import canonical_json, canonical_json_with
from accord.formats.label_json import label_from_dict
from accord.formats.stanag4774 import label_to_xml
from accord.sealed import container as c
from accord.sealed.format import DS_STATEMENT
from accord.sealed.item import add_alternative_label, rewrap_item, verify_bytes
from accord.sealed.manifest import statement_message
from accord.sealed.model import Relay
from accord.sealed.plan import Hop, RewrapPlan
from tests.sealed.util import AT, label_xml, seal

_json = hs.recursive(
    hs.none() | hs.booleans() | hs.integers(-(2**70), 2**70) | hs.text(max_size=12),
    lambda kids: hs.lists(kids, max_size=4) | hs.dictionaries(hs.text(max_size=6), kids, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(obj=hs.dictionaries(hs.text(max_size=8), _json, max_size=8), data=hs.data())
def test_canonical_json_with_pre_encoded_members_is_canonical_json(obj: dict[str, Any], data: Any) -> None:
    chosen = data.draw(hs.lists(hs.sampled_from(sorted(obj)), unique=True) if obj else hs.just([]))
    encoded = {k: canonical_json(obj[k]) for k in chosen}
    assert canonical_json_with(obj, encoded) == canonical_json(obj)


def test_canonical_json_with_refuses_non_string_keys() -> None:
    with pytest.raises(TypeError):
        canonical_json_with({1: "a", "b": 2}, {"b": b"2"})


def _manifest_bytes(blob: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return zf.read(c.MANIFEST_NAME)


def test_a_sealed_manifest_is_canonical_json_and_carries_the_signed_statement_bytes(parties, roster) -> None:
    blob = seal(b"p" * 3000, parties, roster, to=("JPN", "USA"))
    raw = _manifest_bytes(blob)
    item = verify_bytes(blob, roster=roster)
    assert raw == canonical_json(item.manifest)  # spliced = encoded the long way
    assert item.parsed.statement_json == canonical_json(item.parsed.statement)
    assert statement_message(item.parsed.statement) == DS_STATEMENT + item.parsed.statement_json


def test_a_verified_item_writes_the_manifest_as_canonical_json_unchanged_marked_and_rewrapped(parties, roster) -> None:
    lab = label_xml(rel=("JPN", "USA"))
    out = io.BytesIO()
    relay = Relay("USA", ("JPN",), ("KOR", "JPN", "USA"), ("kor-usa",))
    hop = Hop("JPN", ("KOR", "JPN"), ("kor-jpn",), "relay-rewrap")
    plan = c.ReleasePlan.without_decision(lab, holder="KOR", recipients=[hop], at=AT, relays=[relay])
    c.seal_stream(io.BytesIO(b"q" * 5000), out, label_xml=lab, plan=plan, signer=parties["KOR"], roster=roster)
    item = verify_bytes(out.getvalue(), roster=roster)
    assert item.manifest_json() == canonical_json(item.manifest) == _manifest_bytes(out.getvalue())
    alt = lab.replace(b"originatorConfidentialityLabel", b"alternativeConfidentialityLabel")
    marked = add_alternative_label(item, keys=parties["JPN"], xml=alt)
    assert marked.manifest_json() == canonical_json(marked.manifest)
    rw = RewrapPlan(item.statement_digest, "JPN", "USA", AT, "originator-request", ("KOR", "JPN", "USA"), ("x",))
    both = rewrap_item(marked, rw, keys=parties["JPN"], roster=roster)
    assert both.manifest_json() == canonical_json(both.manifest)
    again = verify_bytes(both.to_bytes(), roster=roster)  # and the written item verifies with both records
    assert {a.party for a in again.alternative_labels} == {"JPN"} and again.parties() == {"JPN", "USA"}


def test_a_manifest_whose_statement_was_replaced_is_encoded_from_what_it_holds(parties, roster) -> None:
    item = verify_bytes(seal(b"r" * 100, parties, roster), roster=roster)
    item.manifest = {**item.manifest, "statement": {**item.manifest["statement"], "holder": "USA"}}
    assert item.manifest_json() == canonical_json(item.manifest)  # not the verified statement's bytes


def _label(item: str) -> Any:
    return label_from_dict(
        {
            "originator": "KOR",
            "classification": "군사Ⅱ급비밀",
            "topics": ["DPRK-MISSILE"],
            "releasable_to": ["JPN"],
            "caveats": [],
            "created": "2017-02-12T00:00:00Z",
            "review": None,
            "id": item,
        }
    )


def test_the_label_xml_of_one_release_is_built_once_and_is_the_label_s_xml() -> None:
    a, b = _label("kor-enc-1"), _label("kor-enc-2")
    first = release.label_xml_of(a)
    assert release.label_xml_of(a) is first  # the plan's and the seal's: one build
    assert first == label_to_xml(a)
    other = release.label_xml_of(b)
    assert other == label_to_xml(b) and other != first
    equal = _label("kor-enc-1")  # an equal but distinct object is built again (identity, not equality)
    assert release.label_xml_of(equal) == first and release.label_xml_of(equal) is not first


def test_the_label_xml_cache_is_per_thread() -> None:
    a, b = _label("kor-enc-3"), _label("kor-enc-4")
    mine = release.label_xml_of(a)
    seen: list[bytes] = []
    t = threading.Thread(target=lambda: seen.extend([release.label_xml_of(b), release.label_xml_of(a)]))
    t.start()
    t.join()
    assert seen == [label_to_xml(b), label_to_xml(a)]
    assert release.label_xml_of(a) is mine  # the other thread did not displace this thread's


def test_a_plan_and_seal_of_one_label_agree_and_a_plan_for_another_label_is_still_refused(parties, roster) -> None:
    lab_a, lab_b = _label("kor-enc-5"), _label("kor-enc-6")
    plan_b = c.ReleasePlan.without_decision(release.label_xml_of(lab_b), holder="KOR", recipients=["JPN"], at=AT)
    with pytest.raises(Exception, match="another label"):
        c.seal_stream(
            io.BytesIO(b"x"),
            io.BytesIO(),
            label_xml=release.label_xml_of(lab_a),
            plan=plan_b,
            signer=parties["KOR"],
            roster=roster,
        )
    plan_a = c.ReleasePlan.without_decision(release.label_xml_of(lab_a), holder="KOR", recipients=["JPN"], at=AT)
    out = io.BytesIO()
    c.seal_stream(
        io.BytesIO(b"x"), out, label_xml=release.label_xml_of(lab_a), plan=plan_a, signer=parties["KOR"], roster=roster
    )
    assert verify_bytes(out.getvalue(), roster=roster).label_xml == label_to_xml(lab_a)
