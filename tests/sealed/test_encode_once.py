"""Issue 8 (container CPU): the label XML of one release is built once (the plan and the seal share it), and the
bytes do not change: the manifest a release writes is the canonical JSON of what it signs and carries."""

from __future__ import annotations

import io
import threading
import zipfile
from typing import Any

import pytest

from accord import release
from accord.formats.canonical import canonical_json
from accord.formats.label_json import label_from_dict
from accord.formats.stanag4774 import label_to_xml
from accord.sealed import container as c
from accord.sealed.format import DS_STATEMENT
from accord.sealed.item import verify_bytes
from tests.sealed.util import AT, seal


def _manifest_bytes(blob: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return zf.read(c.MANIFEST_NAME)


def test_a_sealed_manifest_is_canonical_json_and_its_signed_statement_is_the_message(parties, roster) -> None:
    blob = seal(b"p" * 3000, parties, roster, to=("JPN", "USA"))
    item = verify_bytes(blob, roster=roster)
    assert _manifest_bytes(blob) == canonical_json(item.manifest)
    assert item.parsed.message == DS_STATEMENT + canonical_json(item.parsed.statement)


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
