"""`accord decide` with custody records, lifecycle what-ifs and hops (issue 10)."""

import json
from pathlib import Path

import pytest

from tests.support.cli import run

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "labels"
LABEL = str(VECTORS / "kor-missile-secret.json")


def _write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_decide_json_lists_hops_with_modes() -> None:
    code, out, _ = run("decide", "--label", LABEL, "--from", "KOR", "--to", "JPN", "--at", "2015-06-01", "--json")
    assert code == 0
    hops = json.loads(out)["hops"]
    assert [(h["from"], h["to"], h["mode"]) for h in hops] == [
        ("KOR", "USA", "relay-rewrap"),
        ("USA", "JPN", "relay-rewrap"),
    ]
    assert all(set(h) == {"from", "to", "agreement", "marking", "mode"} for h in hops)


def test_decide_what_if_termination_still_returns_the_item_to_its_originator() -> None:
    """The 2019 notice never suspended: the GSOMIA ends, yet Japan can give Korea its item back (JK-R13)."""
    args = (
        "decide",
        "--label",
        LABEL,
        "--from",
        "JPN",
        "--to",
        "KOR",
        "--at",
        "2020-02-01",
        "--json",
        "--drop-event",
        "jpn-kor-gsomia:2019-11-22",
    )
    code, out, _ = run(*args)
    d = json.loads(out)
    assert code == 0 and d["allowed"] and d["hypothetical"] == {"drop": ["jpn-kor-gsomia:2019-11-22"], "add": []}
    assert "RETURN" in {r["code"] for r in d["reasons"]} or d["route"] == ["JPN", "KOR"]
    code, out, _ = run(
        "decide",
        "--label",
        LABEL,
        "--from",
        "KOR",
        "--to",
        "JPN",
        "--at",
        "2020-02-01",
        "--drop-event",
        "jpn-kor-gsomia:2019-11-22",
        "--add-event",
        "kor-jpn-usa-tisa:2019-12-01:suspended",
        "--json",
    )
    assert code == 1 and {r["code"] for r in json.loads(out)["reasons"] if r["code"] in ("TERMINATED", "SUSPENDED")}


def test_decide_with_a_custody_record(tmp_path: Path) -> None:
    rec = _write(
        tmp_path,
        "custody.yaml",
        "item: kor-2017-0042\noriginator: KOR\nholder: JPN\n"
        "agreement: jpn-kor-gsomia\nreceived_from: KOR\nreceived_on: 2017-01-05\nstate: FROZEN\n",
    )
    code, out, _ = run(
        "decide", "--label", LABEL, "--from", "JPN", "--to", "USA", "--at", "2017-03-01", "--custody", rec, "--json"
    )
    assert code == 1 and json.loads(out)["reasons"][0]["code"] == "FROZEN"


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("item: x\noriginator: KOR\nholder: JPN\nagreement: a\nstate: LOST\n", "state"),
        ("item: x\noriginator: KOR\nholder: JPN\nagreement: a\nwho: me\n", "unknown field"),
        ("item: x\noriginator: KOR\nholder: JPN\n", "agreement"),
        ("item: x\noriginator: KOR\nholder: JPN\nagreement: a\nreceived_on: yesterday\n", "received_on"),
        ("item: x\nitem: y\noriginator: KOR\nholder: JPN\nagreement: a\n", "duplicate key"),
    ],
)
def test_bad_custody_record_is_one_error_line_exit_2(tmp_path: Path, text: str, what: str) -> None:
    rec = _write(tmp_path, "bad.yaml", text)
    code, _out, err = run(
        "decide", "--label", LABEL, "--from", "JPN", "--to", "USA", "--at", "2017-03-01", "--custody", rec
    )
    assert code == 2 and err.startswith("error: ") and what in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 or what in err.splitlines()[0]


def test_custody_command_names_the_agreement_and_the_return_route() -> None:
    code, out, _ = run(
        "custody",
        "--label",
        LABEL,
        "--holder",
        "JPN",
        "--at",
        "2020-02-01",
        "--drop-event",
        "jpn-kor-gsomia:2019-11-22",
        "--json",
    )
    d = json.loads(out)
    assert code == 0 and d["lawful"] and d["agreement"] == "jpn-kor-gsomia" and d["presumed"]
    assert d["return"]["allowed"] and d["return"]["route"] == ["JPN", "KOR"]


def test_custody_command_refuses_a_holder_outside_the_releasability(tmp_path: Path) -> None:
    label = json.loads(Path(LABEL).read_text(encoding="utf-8"))
    label["releasable_to"] = ["USA"]
    path = _write(tmp_path, "rel-usa.json", json.dumps(label))
    code, out, _ = run("custody", "--label", path, "--holder", "JPN", "--at", "2017-06-01")
    assert code == 1 and "NOT HELD LAWFULLY" in out and "ACC-R7" in out
