from datetime import UTC, datetime

import pytest

from accord.core.labels import Caveat, Label
from accord.errors import LabelError
from tests.conftest import make_label


def test_label_resolves_level_and_banner() -> None:
    lab = make_label()
    assert lab.level is not None and lab.level.key == "II"
    assert lab.banner == "KOR 군사Ⅱ급비밀 // DPRK-MISSILE // REL TO JPN, USA"


def test_label_with_unknown_level_is_constructible_but_has_no_level() -> None:
    lab = make_label(classification="ULTRA")
    assert lab.level is None
    assert lab.marking == "ULTRA"


def test_originator_only_banner() -> None:
    lab = make_label(caveats=("ORIGINATOR-ONLY", "ORCON"))
    assert lab.caveats == {Caveat.ORIGINATOR_ONLY, Caveat.ORIGINATOR_CONTROL}
    assert "KOR ONLY" in lab.banner and "ORCON" in lab.banner


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"originator": "KR"}, "originator"),
        ({"originator": "kor"}, "originator"),
        ({"classification": " "}, "classification"),
        ({"topics": frozenset({"dprk missile"})}, "topics"),
        ({"topics": "DPRK-MISSILE"}, "topics"),
        ({"releasable_to": frozenset({"JP"})}, "releasable_to"),
        ({"caveats": frozenset({"NOFORN"})}, "caveats"),
        ({"created": datetime(2014, 1, 1)}, "created"),  # naive datetime
        ({"review": datetime(2014, 1, 1)}, "review"),
        ({"id": ""}, "id"),
    ],
)
def test_malformed_label_is_refused_with_the_field(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = {
        "originator": "KOR",
        "classification": "군사Ⅱ급비밀",
        "topics": frozenset({"DPRK-MISSILE"}),
        "releasable_to": frozenset({"JPN"}),
        "created": datetime(2014, 1, 1, tzinfo=UTC),
    }
    base.update(kwargs)
    with pytest.raises(LabelError) as exc:
        Label(**base)  # type: ignore[arg-type]
    assert exc.value.field == field
