"""Issue 10: a hub outside the releasability is never sealed for, even when a re-wrap relay is asked for."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from accord import release
from accord.core.labels import Label
from accord.errors import TrustError
from accord.sealed import container as c
from tests.sealed.util import read_zip


def test_hub_not_in_the_releasability_is_never_sealed_for(parties, roster, aset):
    lab = Label(
        originator="KOR",
        classification="군사Ⅱ급비밀",
        topics=frozenset({"DPRK-MISSILE"}),
        releasable_to=frozenset({"JPN"}),
        created=datetime(2015, 1, 1, tzinfo=UTC),
        id="item-1",
    )
    blob = release.seal_bytes(
        b"warning",
        lab,
        recipients=["JPN"],
        signer=parties["KOR"],
        roster=roster,
        agreements=aset,
        at=date(2015, 6, 1),
        relay="rewrap",
    )
    manifest, _ = read_zip(blob)
    assert [k["recipient"] for k in manifest["keyAccess"]] == ["JPN"]
    assert manifest["statement"]["recipients"][0]["route"] == ["KOR", "USA", "JPN"]
    with pytest.raises(TrustError):
        c.open_bytes(blob, keys=parties["USA"], roster=roster)
    assert c.open_bytes(blob, keys=parties["JPN"], roster=roster).payload == b"warning"
