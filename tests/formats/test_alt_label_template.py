"""Issue 8, wave 7 (inbound): the recipient's alternative label (JK-R4) is written from a template per policy
content, filled with the item's id and creation time -- the same bytes as the element tree writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accord.core.labels import Caveat, Label
from accord.formats import stanag4774_write as w
from accord.formats.stanag4774 import alternative_label_xml, parse_label_element, parse_xml


def _label(item: str | None, **kw: object) -> Label:
    base: dict[str, object] = {
        "originator": "KOR",
        "classification": "2급비밀",
        "topics": frozenset({"DPRK-MISSILE", "DPRK-NUCLEAR"}),
        "releasable_to": frozenset({"KOR", "JPN", "USA"}),
        "created": datetime(2016, 12, 1, 9, 30, tzinfo=UTC),
        "id": item,
    }
    base.update(kw)
    return Label(**base)  # type: ignore[arg-type]


CASES = [
    (_label("kor-2017-0042"), "JPN", "JPN SECRET", datetime(2026, 11, 30, 10, 0, 0, 123456, tzinfo=UTC)),
    (_label("kor-2017-0043"), "JPN", "JPN SECRET", datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC)),  # no micros
    (_label("kor:needs.hash"), "JPN", "JPN SECRET", datetime(2026, 11, 30, 10, 0, 1, 5, tzinfo=UTC)),  # hashed @Id
    (
        _label("kor-orcon-1", caveats=frozenset({Caveat.ORIGINATOR_CONTROL})),
        "JPN",
        "JPN TOP SECRET",
        datetime(2026, 11, 30, 11, 0, 0, 7, tzinfo=UTC),
    ),
    (
        _label("kor-review-1", review=datetime(2030, 1, 1, tzinfo=UTC)),
        "USA",
        "SECRET",
        datetime(2026, 11, 30, 12, 0, 0, 1, tzinfo=UTC),
    ),
    (_label("kor-offset-1"), "JPN", "JPN SECRET", datetime(2026, 11, 30, 19, 0, 0, 42, tzinfo=UTC) + timedelta()),
]


@pytest.mark.parametrize(("label", "party", "marking", "created"), CASES)
def test_jpn_alt_label_from_the_template_is_the_element_trees_bytes(
    label: Label, party: str, marking: str, created: datetime
) -> None:
    w._ALT_TEMPLATES.clear()
    built = w._alternative_xml_built(label, party, marking, created)
    assert alternative_label_xml(label, party, marking, created) == built  # the template's first use
    assert alternative_label_xml(label, party, marking, created) == built  # and from the cache
    doc = parse_label_element(parse_xml(built))
    assert doc.kind == "alternative" and doc.label_id == w.label_id("alternative", label.id, party)
    assert doc.label.id == label.id and doc.label.created == created and doc.label.classification == marking


def test_jpn_alt_label_template_is_reused_per_policy_content_never_across_it(monkeypatch: pytest.MonkeyPatch) -> None:
    w._ALT_TEMPLATES.clear()
    calls: list[int] = []
    real = w.label_element

    def counted(*a: object, **k: object) -> object:
        calls.append(1)
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(w, "label_element", counted)
    at = datetime(2026, 11, 30, 10, 0, 0, 1, tzinfo=UTC)
    for i in range(20):  # twenty items of one policy content: one tree written
        alternative_label_xml(_label(f"kor-many-{i}"), "JPN", "JPN SECRET", at + timedelta(seconds=i))
    assert len(calls) == 1
    other = alternative_label_xml(_label("kor-many-x"), "JPN", "JPN TOP SECRET", at)  # another marking
    assert len(calls) == 2 and b"JPN TOP SECRET" in other
    narrower = _label("kor-many-y", releasable_to=frozenset({"KOR", "JPN"}))  # another releasability
    out = alternative_label_xml(narrower, "JPN", "JPN SECRET", at)
    assert len(calls) == 3 and b"USA" not in out


def test_jpn_alt_label_a_review_equal_to_the_sentinel_has_no_template() -> None:
    w._ALT_TEMPLATES.clear()
    label = _label("kor-sentinel-1", review=w._SENTINEL_AT)
    at = datetime(2026, 11, 30, 10, 0, 0, 1, tzinfo=UTC)
    assert alternative_label_xml(label, "JPN", "JPN SECRET", at) == w._alternative_xml_built(
        label, "JPN", "JPN SECRET", at
    )
    assert () in w._ALT_TEMPLATES.values()
