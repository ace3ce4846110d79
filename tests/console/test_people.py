"""The people register and the read decision (pure core), its storage (SQLite and PostgreSQL), and its CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from accord.core.agreements import AgreementSet
from accord.core.labels import Caveat, Label
from accord.core.people import Employment, Member, Role, Visit, attest_readers, read_access
from accord.core.persons import Person
from accord.errors import InputError
from accord.node.policy import load_agreement_set
from accord.people.register import Register, people
from tests.console.conftest import PRODUCTION_HASHER

D = dt.date(2024, 5, 1)
AGS: AgreementSet = load_agreement_set(None)


def lab(
    cls: str = "군사Ⅱ급비밀",
    topics: tuple[str, ...] = ("DPRK-MISSILE",),
    originator: str = "KOR",
    rel: tuple[str, ...] = ("JPN", "USA"),
    caveats: tuple[Caveat, ...] = (),
) -> Label:
    return Label(
        originator=originator,
        classification=cls,
        topics=frozenset(topics),
        releasable_to=frozenset(rel),
        created=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        caveats=frozenset(caveats),
        id="i1",
    )


def official(
    pid: str = "p1",
    clearance: str | None = "極秘",
    ntk: tuple[str, ...] = ("DPRK-MISSILE",),
    nat: str = "JPN",
    until: dt.date | None = None,
    **kw: object,
) -> Member:
    return Member(Person(pid, nat, clearance, frozenset(ntk), until), name=pid, **kw)  # type: ignore[arg-type]


def codes(d: object) -> list[str]:
    return [r.code for r in d.reasons]  # type: ignore[attr-defined]


def test_cleared_official_with_need_to_know_and_purpose_reads_JK_R15() -> None:
    d = read_access(official(), lab(), "JPN", D, "warning analysis", agreements=AGS)
    assert d.allowed and d.marking == "極秘"
    assert codes(d) == ["PURPOSE_OK", "CLEARANCE_OK", "NEED_TO_KNOW_OK"]


def test_no_purpose_no_read_JK_R7() -> None:
    for purpose in ("", "   ", "x" * 501):
        d = read_access(official(), lab(), "JPN", D, purpose, agreements=AGS)
        assert not d.allowed and codes(d) == ["NO_PURPOSE"] and d.reasons[0].rule == "JK-R7"


def test_role_or_rank_alone_never_opens_an_item_JK_R14() -> None:
    chief = Member(
        Person("chief", "JPN", None, frozenset({"DPRK-MISSILE"}), rank="General"), name="Chief", roles=frozenset(Role)
    )
    assert codes(read_access(chief, lab(), "JPN", D, "briefing", agreements=AGS)) == ["NO_CLEARANCE"]
    officer = official(ntk=(), roles=frozenset({Role.SECURITY_OFFICER}))
    d = read_access(officer, lab(), "JPN", D, "inspection", agreements=AGS)
    assert codes(d) == ["NO_NEED_TO_KNOW"] and d.reasons[0].rule == "JK-R14"


def test_clearance_too_low_or_expired_JK_R15() -> None:
    assert codes(read_access(official(clearance="秘"), lab(), "JPN", D, "p", agreements=AGS)) == ["CLEARANCE_TOO_LOW"]
    expired = official(until=D - dt.timedelta(days=1))
    assert codes(read_access(expired, lab(), "JPN", D, "p", agreements=AGS)) == ["CLEARANCE_EXPIRED"]
    assert read_access(official(until=D), lab(), "JPN", D, "p", agreements=AGS).allowed  # the last day counts


def test_disabled_member_reads_nothing_JK_R10() -> None:
    assert codes(read_access(official(disabled=True), lab(), "JPN", D, "p", agreements=AGS)) == ["DISABLED"]


def contractor(**kw: object) -> Member:
    base: dict[str, object] = {
        "employment": Employment.CONTRACTOR,
        "employer": "MELCO",
        "facility": "Kamakura",
        "facility_cleared_until": D + dt.timedelta(days=30),
        "briefed_on": D,
    }
    base.update(kw)
    return official("c1", **base)


def test_contractor_needs_a_cleared_facility_and_a_briefing_JK_R25() -> None:
    assert read_access(contractor(), lab(), "JPN", D, "p", agreements=AGS).allowed
    d = read_access(contractor(facility_cleared_until=None), lab(), "JPN", D, "p", agreements=AGS)
    assert codes(d) == ["FACILITY_NOT_CLEARED"] and d.reasons[0].rule == "JK-R25"
    d = read_access(contractor(facility_cleared_until=D - dt.timedelta(days=1)), lab(), "JPN", D, "p", agreements=AGS)
    assert codes(d) == ["FACILITY_NOT_CLEARED"]
    assert codes(read_access(contractor(briefed_on=None), lab(), "JPN", D, "p", agreements=AGS)) == ["NOT_BRIEFED"]
    with pytest.raises(InputError, match="employer"):
        Member(Person("c2", "JPN", None, frozenset()), name="c2", employment=Employment.CONTRACTOR, facility="F")
    with pytest.raises(InputError, match="contractors only"):
        Member(Person("o2", "JPN", None, frozenset()), name="o2", employer="MELCO")


def visit(**kw: object) -> Visit:
    base: dict[str, object] = {
        "id": "v1",
        "person": "kim",
        "host": "JPN",
        "highest": "秘",
        "topics": frozenset({"DPRK-MISSILE"}),
        "start": D,
        "end": D + dt.timedelta(days=2),
        "purpose": "bilateral staff talks",
        "approved_by": "jpn-officer",
    }
    base.update(kw)
    return Visit(**base)  # type: ignore[arg-type]


KIM = official("kim", nat="KOR", clearance="군사Ⅱ급비밀")
JPN_CONF = lab("秘", originator="JPN", rel=("KOR", "USA"))
JPN_SECRET = lab("極秘", originator="JPN", rel=("KOR", "USA"))


def test_visitor_reads_only_during_a_declared_visit_JK_R18() -> None:
    assert codes(read_access(KIM, JPN_CONF, "JPN", D, "talks", agreements=AGS)) == ["NO_VISIT"]
    late = D + dt.timedelta(days=3)
    assert codes(read_access(KIM, JPN_CONF, "JPN", late, "talks", agreements=AGS, visits=[visit()])) == ["NO_VISIT"]
    d = read_access(KIM, JPN_CONF, "JPN", D, "talks", agreements=AGS, visits=[visit()])
    assert d.allowed and d.visit == "v1" and "VISIT_OK" in codes(d)


def test_visitor_session_is_capped_at_the_declared_level_JK_R18() -> None:
    # Kim is cleared to Grade II (SECRET), but the host declared 秘 (CONFIDENTIAL) as the highest level.
    d = read_access(KIM, JPN_SECRET, "JPN", D, "talks", agreements=AGS, visits=[visit()])
    assert codes(d) == ["VISIT_LEVEL_CAP"] and d.reasons[0].rule == "JK-R18"
    assert read_access(KIM, JPN_SECRET, "JPN", D, "talks", agreements=AGS, visits=[visit(highest="極秘")]).allowed


def test_visitor_limits_topics_releasability_and_own_clearance() -> None:
    other = lab("秘", originator="JPN", rel=("KOR",), topics=("DPRK-NUCLEAR",))
    assert codes(read_access(KIM, other, "JPN", D, "t", agreements=AGS, visits=[visit()])) == ["VISIT_TOPIC"]
    korean_item = lab("군사Ⅲ급비밀")  # KOR's item held by JPN: shown to a visitor = a release, refused (JK-R6)
    d = read_access(KIM, korean_item, "JPN", D, "t", agreements=AGS, visits=[visit()])
    assert codes(d) == ["VISITOR_NOT_RELEASABLE"]
    not_rel = lab("秘", originator="JPN", rel=("USA",))
    assert codes(read_access(KIM, not_rel, "JPN", D, "t", agreements=AGS, visits=[visit()])) == [
        "VISITOR_NOT_RELEASABLE"
    ]
    noforn = lab("秘", originator="JPN", rel=("KOR",), caveats=(Caveat.ORIGINATOR_ONLY,))
    assert codes(read_access(KIM, noforn, "JPN", D, "t", agreements=AGS, visits=[visit()])) == [
        "VISITOR_NOT_RELEASABLE"
    ]
    low = official("kim", nat="KOR", clearance=None)
    assert codes(read_access(low, JPN_CONF, "JPN", D, "t", agreements=AGS, visits=[visit()])) == ["NO_CLEARANCE"]


def test_visit_validation() -> None:
    with pytest.raises(InputError, match="scheme"):
        visit(highest="TOP SECRET")
    with pytest.raises(InputError, match="before"):
        visit(end=D - dt.timedelta(days=1))
    with pytest.raises(InputError, match="topic"):
        visit(topics=frozenset())


def test_attestation_of_intended_readers_JK_R17() -> None:
    reg = {"p1": official(), "p2": official("p2", clearance="秘"), "p3": official("p3", disabled=True)}
    a = attest_readers(lab(), "JPN", D, ["p1"], reg, agreements=AGS)
    assert a.all_cleared and a.readers[0].cleared
    a = attest_readers(lab(), "JPN", D, ["p1", "p2", "p3", "ghost"], reg, agreements=AGS)
    assert not a.all_cleared
    assert [(r.person, r.cleared, r.reasons[0].code) for r in a.readers] == [
        ("p1", True, "PURPOSE_OK"),
        ("p2", False, "CLEARANCE_TOO_LOW"),
        ("p3", False, "DISABLED"),
        ("ghost", False, "DISABLED"),
    ]
    assert not attest_readers(lab(), "JPN", D, [], reg, agreements=AGS).all_cleared


# -- storage ---------------------------------------------------------------------------------------------


def _register(url: str) -> tuple[Register, list[tuple[str, dict[str, object]]]]:
    engine = create_engine(url)
    journal: list[tuple[str, dict[str, object]]] = []
    return Register(engine, engine.begin, lambda _c, t, _i, b: journal.append((t, b)), "JPN"), journal


def _exercise(reg: Register, journal: list[tuple[str, dict[str, object]]]) -> None:
    reg.add(official(roles=frozenset({Role.OPERATOR})), by="so", password="twelve chars!")
    with pytest.raises(InputError, match="already"):
        reg.add(official(), by="so")
    with pytest.raises(InputError, match="scheme"):
        reg.add(official("bad", clearance="SECRET"), by="so")
    with pytest.raises(InputError, match="12"):
        reg.add(official("short"), by="so", password="short")
    assert reg.authenticate("p1", "twelve chars!") is not None
    assert reg.authenticate("p1", "wrong chars!!") is None and reg.authenticate("nobody", "twelve chars!") is None
    with reg.engine.connect() as conn:
        stored = conn.execute(select(people.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "twelve" not in stored
    m = reg.set_clearance("p1", "秘", dt.date(2030, 1, 1), by="so")
    assert (m.person.clearance, m.person.clearance_until) == ("秘", dt.date(2030, 1, 1))
    token, csrf = reg.open_session(m, ttl=dt.timedelta(hours=1))
    s = reg.session(token)
    assert s is not None and s.csrf == csrf and s.person.id == "p1"
    assert reg.session(token + "x") is None
    expired, _ = reg.open_session(m, ttl=dt.timedelta(seconds=-1))
    assert reg.session(expired) is None
    reg.disable("p1", by="so", reason="left")
    assert reg.session(token) is None and reg.authenticate("p1", "twelve chars!") is None
    reg.add(official("kim", nat="KOR", clearance="II"), by="so")  # key spelling -> canonical marking
    assert reg.get("kim").person.clearance == "군사Ⅱ급비밀"  # type: ignore[union-attr]
    reg.add_visit(visit(), by="so")
    assert reg.visits("kim") == [visit()]
    kim = reg.get("kim")
    assert kim is not None
    over, _ = reg.open_session(kim, ttl=dt.timedelta(hours=1), visit=visit())
    assert reg.session(over) is None  # the visit (May 2024) is over, and so is a session bound to it (JK-R18)
    with pytest.raises(InputError, match="not a visitor"):
        reg.add_visit(visit(id="v2", person="p1"), by="so")
    actions = [b.get("action") for t, b in journal if t in ("person", "visit")]
    assert actions[:2] == ["add", "set-clearance"] and "disable" in actions and actions[-2:] == ["add", "sign-in"]
    assert all("twelve" not in json.dumps(b, default=str) for _t, b in journal)


def test_register_on_sqlite(tmp_path: Path) -> None:
    _exercise(*_register(f"sqlite:///{tmp_path / 'people.db'}"))


def test_register_on_postgresql_same_code(postgres_db_url: str) -> None:
    _exercise(*_register(postgres_db_url))


def test_production_password_hasher_is_argon2id_with_library_defaults() -> None:
    h = PRODUCTION_HASHER.hash("a long password")
    assert h.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PRODUCTION_HASHER.verify(h, "a long password")
