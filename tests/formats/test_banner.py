from datetime import UTC, datetime
from pathlib import Path

import pytest

from accord.core.labels import Label
from accord.errors import LabelError
from accord.formats.banner import format_banner, parse_banner

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "banners"


@pytest.mark.parametrize("line", (VECTORS / "valid.txt").read_text(encoding="utf-8").splitlines())
def test_valid_banners_round_trip(line: str) -> None:
    f = parse_banner(line)
    label = Label(
        originator=f.originator,
        classification=f.classification,
        topics=f.topics,
        releasable_to=f.releasable_to,
        caveats=f.caveats,
        created=datetime(2020, 1, 1, tzinfo=UTC),
    )
    assert format_banner(label) == line


@pytest.mark.parametrize("line", (VECTORS / "invalid.txt").read_text(encoding="utf-8").splitlines())
def test_invalid_banners_are_refused(line: str) -> None:
    with pytest.raises(LabelError):
        parse_banner(line)
