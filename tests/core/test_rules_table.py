"""docs/rules.md is the project's table of enforced rules: it must cover every rule the code cites and every
reason code, name tests that exist, and every reason a decision gives must cite one of its rules."""

import itertools
import re
from datetime import date
from pathlib import Path

import pytest

from accord.core.access import AccessCode, access
from accord.core.agreements import AgreementSet
from accord.core.decision import decide
from accord.core.persons import Person
from accord.core.reasons import DEFAULT_RULE, Code
from accord.formats.spif import bundled_registry
from tests.conftest import make_label

ROOT = Path(__file__).resolve().parents[2]
TABLE = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
RULE_ID = re.compile(r"\b(?:JK|US|N|T|M|ACC)-R[0-9]+\b")
ROWS = {m.group(1): m.group(0) for m in re.finditer(r"^\| ((?:JK|US|N|T|M|ACC)-R[0-9]+) \|.*$", TABLE, re.M)}


def test_every_rule_id_cited_in_src_has_a_row() -> None:
    cited: dict[str, str] = {}
    for path in sorted((ROOT / "src" / "accord").rglob("*")):
        if path.suffix in {".py", ".yaml", ".yml"}:
            for rule in RULE_ID.findall(path.read_text(encoding="utf-8")):
                cited.setdefault(rule, str(path.relative_to(ROOT)))
    missing = {r: f for r, f in cited.items() if r not in ROWS}
    assert not missing, f"rule ids cited in src without a row in docs/rules.md: {missing}"


def test_every_reason_code_maps_to_a_documented_rule() -> None:
    for code in Code:
        assert DEFAULT_RULE[code] in ROWS, code
        assert code.value in TABLE, f"{code.value} is not listed in docs/rules.md"
    for acode in AccessCode:
        assert acode.value in TABLE, f"{acode.value} is not listed in docs/rules.md"


def test_every_refusing_test_named_in_the_table_exists() -> None:
    defined = {
        m.group(1)
        for p in (ROOT / "tests").rglob("test_*.py")
        for m in re.finditer(r"^def (test_\w+)", p.read_text(encoding="utf-8"), re.M)
    }
    named = {n for row in ROWS.values() for n in re.findall(r"`(test_\w+)`", row)}
    assert named, "the table names no test"
    assert named <= defined, f"tests named in docs/rules.md that do not exist: {sorted(named - defined)}"


def test_every_enforced_rule_names_a_refusing_test() -> None:
    for rule, row in ROWS.items():
        if "| enforced" in row:
            assert re.search(r"`test_\w+`", row), f"{rule} is marked enforced but names no refusing test"


DAYS = (date(2012, 6, 29), date(2015, 6, 1), date(2017, 6, 1), date(2019, 12, 1), date(2024, 1, 1))
TOPICS = (("DPRK-MISSILE",), ("LOGISTICS",), ())


@pytest.mark.parametrize("day", DAYS)
def test_every_reason_of_every_decision_cites_a_documented_rule(aset: AgreementSet, day: date) -> None:
    what_if = aset.what_if(drop=[("jpn-kor-gsomia", date(2019, 11, 22))])
    parties = ("KOR", "JPN", "USA", "FRA")
    for agreements in (aset, what_if, AgreementSet()):
        for originator in ("KOR", "JPN", "USA", "FRA"):
            scheme = bundled_registry().get(originator)
            levels = [lv.marking for lv in scheme.levels] if scheme is not None else ["SECRET"]
            for level, topics, holder, recipient, caveats in itertools.product(
                [*levels, "ULTRA"], TOPICS, parties, parties, ((), ("ORCON",))
            ):
                lab = make_label(
                    originator=originator,
                    classification=level,
                    topics=topics,
                    rel=("JPN", "USA") if originator != "JPN" else ("KOR",),
                    caveats=caveats,
                )
                d = decide(lab, holder, recipient, day, agreements=agreements)
                for r in d.reasons:
                    assert r.rule in ROWS, (r, holder, recipient, day)


def test_every_access_reason_cites_a_documented_rule(aset: AgreementSet) -> None:
    for clearance, holder, day in itertools.product(("極秘", "秘", None, "SECRET"), ("JPN", "KOR", "USA", "FRA"), DAYS):
        who = Person(id="p", nationality="JPN", clearance=clearance, need_to_know=frozenset({"DPRK-MISSILE"}))
        d = access(who, make_label(), holder, day, agreements=aset)
        assert all(r.rule in ROWS for r in d.reasons), d.reasons
