"""Fuzzing the command line itself: whatever the arguments and files, `accord` exits 0, 1 or 2 and never prints a
traceback or an internal error (issue 9: no traceback ever)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.cli import get_app
from accord.cli._common import run_app
from tests.fuzz.conftest import FUZZ_CLI
from tests.fuzz.util import EDITS, text_edits
from tests.support.reliability import record

pytestmark = pytest.mark.reliability

LABELS = Path(__file__).resolve().parent.parent / "vectors" / "labels"
LABEL_JSON = (LABELS / "kor-missile-secret.json").read_text()
LABEL_XML = (LABELS / "kor-missile-secret.xml").read_text()
PARTY = st.sampled_from(["KOR", "JPN", "USA", "kor", "uſa", "ＵＳＡ", "USA\n", "", "XXX", "-", "--to"]) | st.text(
    max_size=5
)
DAY = (
    st.none()
    | st.sampled_from(
        ["2017-01-05", "2015-03-01", "9999-12-31", "2019-02-30", "1899-12-31", "2999-12-31", "0000-00-00", ""]
    )
    | st.dates().map(str)
    | st.text(max_size=12)
)


def _run(capsys: pytest.CaptureFixture[str], case: str, args: list[str]) -> None:
    capsys.readouterr()
    code = run_app(get_app(), args)
    _, err = capsys.readouterr()
    bad = "Traceback" in err or "error: internal" in err or code not in (0, 1, 2)
    record(
        f"fuzz: cli {case}",
        group="parser fuzzing",
        refused=int(code == 2 and not bad),
        accepted=int(code in (0, 1) and not bad),
        crashed=int(bad),
    )
    assert not bad, (args, code, err)
    if code == 2:
        assert len(err.splitlines()) == 1 and err.startswith("error: "), err


@FUZZ_CLI
@given(edits=EDITS, xml=st.booleans(), holder=PARTY, recipient=PARTY, day=DAY)
def test_fuzz_cli_decide(
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    edits: list[tuple[int, int, str]],
    xml: bool,
    holder: str,
    recipient: str,
    day: str | None,
) -> None:
    f = tmp_path_factory.mktemp("l") / ("l.xml" if xml else "l.json")
    f.write_bytes(text_edits(LABEL_XML if xml else LABEL_JSON, edits).encode("utf-8", "surrogatepass"))
    args = ["decide", "--label", str(f), "--from", holder, "--to", recipient] + ([] if day is None else ["--at", day])
    _run(capsys, "decide (label edits, parties, days)", args)


@FUZZ_CLI
@given(
    day=DAY,
    topic=st.none() | st.text(max_size=10),
    event=st.none()
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "jpn-kor-gsomia:2019-02-30:terminated",
            "jpn-kor-gsomia:2999-12-31:terminated:2999-12-31",
            "jpn-kor-gsomia:2019-11-22",
            "x:y:z:w:v",
        ]
    ),
)
def test_fuzz_cli_matrix(
    capsys: pytest.CaptureFixture[str], day: str | None, topic: str | None, event: str | None
) -> None:
    args = ["matrix"] + ([] if day is None else ["--at", day]) + ([] if topic is None else ["--topic", topic])
    args += [] if event is None else ["--add-event" if event.count(":") >= 2 else "--drop-event", event]
    _run(capsys, "matrix (days, topics, hypothetical events)", args)


@FUZZ_CLI
@given(
    doc=st.dictionaries(
        st.sampled_from(
            ["id", "originator", "holder", "recipient", "granted", "until", "item", "topics", "standing", "x"]
        ),
        st.none() | st.text(max_size=12) | st.integers() | st.lists(st.text(max_size=5)),
        max_size=9,
    )
)
def test_fuzz_cli_consent_document(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str], doc: dict[str, object]
) -> None:
    f = tmp_path_factory.mktemp("c") / "c.json"
    f.write_text(json.dumps(doc))
    _run(
        capsys,
        "decide --consent (hostile consent)",
        [
            "decide",
            "--label",
            str(LABELS / "kor-missile-secret.json"),
            "--from",
            "JPN",
            "--to",
            "USA",
            "--at",
            "2017-03-01",
            "--consent",
            str(f),
        ],
    )
