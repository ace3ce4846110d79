"""A small world for the console tests: KOR, JPN and USA nodes in-process, items exchanged, people registered.

- JPN holds ``kor-missile`` (KOR 군사Ⅱ급비밀, DPRK-MISSILE; 極秘 in JPN) and ``kor-nuclear`` (DPRK-NUCLEAR).
- USA holds ``kor-relay`` (DPRK-NUCLEAR) and asked KOR to approve its onward release to JPN (T-R5): KOR's
  consent queue has one pending request.
- JPN register: ``jpn-analyst`` (operator, 極秘, DPRK-MISSILE), ``jpn-officer`` (security officer, 極秘, no
  need-to-know), ``jpn-auditor`` (auditor), ``jpn-lowly`` (operator, 秘 only).
- KOR register: ``kor-officer`` (security officer).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from accord.console.backend import NodeBackend
from accord.core.people import Member, Role
from accord.core.persons import Person
from tests.node.helpers import Net, label

PASSWORD = "correct horse battery staple"
MISSILE = b"launch point 39.0N 125.7E; trajectory lofted; impact 40.9N 134.5E"


@dataclass
class World:
    net: Net
    jpn: NodeBackend
    kor: NodeBackend


def member(pid: str, nat: str, clearance: str | None, ntk: set[str], roles: set[Role], **kw: object) -> Member:
    return Member(
        Person(pid, nat, clearance, frozenset(ntk)), name=pid.replace("-", " ").title(), roles=frozenset(roles), **kw
    )  # type: ignore[arg-type]


def build(root: Path) -> World:
    net = Net(root)
    net.submit("KOR", label("kor-missile", rel=("JPN", "USA")), "JPN", "2017-02-12", MISSILE)
    net.submit(
        "KOR",
        label("kor-nuclear", topics=("DPRK-NUCLEAR",), rel=("JPN", "USA")),
        "JPN",
        "2017-02-12",
        b"nuclear test site activity",
    )
    net.submit("KOR", label("kor-relay", topics=("DPRK-NUCLEAR",), rel=("JPN", "USA")), "USA", "2015-06-20")
    net.pump()
    assert net.nodes["USA"].forward("kor-relay", "JPN", "2015-06-22").status == "held"
    net.pump()
    jpn = NodeBackend(net.nodes["JPN"], net.cfgs["JPN"].dir)
    kor = NodeBackend(net.nodes["KOR"], net.cfgs["KOR"].dir)
    r = jpn.register
    r.add(member("jpn-analyst", "JPN", "極秘", {"DPRK-MISSILE"}, {Role.OPERATOR}), by="setup", password=PASSWORD)
    r.add(member("jpn-officer", "JPN", "極秘", set(), {Role.SECURITY_OFFICER}), by="setup", password=PASSWORD)
    r.add(member("jpn-auditor", "JPN", "秘", set(), {Role.AUDITOR}), by="setup", password=PASSWORD)
    r.add(member("jpn-lowly", "JPN", "秘", {"DPRK-MISSILE"}, {Role.OPERATOR}), by="setup", password=PASSWORD)
    kor.register.add(
        member("kor-officer", "KOR", "군사Ⅱ급비밀", set(), {Role.SECURITY_OFFICER}), by="setup", password=PASSWORD
    )
    return World(net, jpn, kor)
