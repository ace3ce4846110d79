"""Groups of nations named in labels (``Releasable To NATO``, ``EU``, ``FVEY``) and organisation policies.

A label may name a group instead of nations. Accord understands a group only through this table:
members with the day they joined and, where it applies, the day they left. A group whose membership
Accord does not hold (a NATO operation such as ``KFOR``) is still *read*, but matches no nation: a
permissive value that matches nobody can only withhold a release, never grant one (fail closed).

Membership is taken on two days and must hold on both: the day the label was created and the day of
the decision (a nation that joins later, or has left since, is not reached through the group).

Sources (checked against public record, not against a signed register; the operator may replace the
table when the node holds an authoritative list):

- NATO: the North Atlantic Treaty's entry into force (1949-08-24) and each accession protocol's
  deposit date as published on nato.int ("Member countries"). [sourced, transcribed by hand]
- EU: accession dates of the EEC/EC/EU treaties, and the United Kingdom's withdrawal on 2020-01-31
  (european-union.europa.eu, "Country profiles"). [sourced, transcribed by hand]
- FVEY: the five-eyes tetragraph as in the CAPCO/ISM tetragraph list (AUS, CAN, GBR, NZL, USA);
  no dates are kept (assumed constant). [assumed]
- ISAF, KFOR, RESOLUTE SUPPORT, EAPC, PFP: NATO operations and partnerships named by NATO labels
  (ADatP-4774 Table 17 examples); membership not held. [assumed: matches no nation]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Member:
    """One nation's membership of a group: from ``joined`` to ``left`` (exclusive), both optional."""

    code: str
    joined: date | None = None
    left: date | None = None

    def on(self, day: date) -> bool:
        """True when the nation is a member on ``day``."""
        return (self.joined is None or self.joined <= day) and (self.left is None or day < self.left)


@dataclass(frozen=True, slots=True)
class Group:
    """A named group of nations. ``members`` is None when Accord does not hold the membership."""

    name: str
    title: str
    members: tuple[Member, ...] | None
    source: str

    def members_on(self, *days: date) -> frozenset[str]:
        """The nations that are members on every one of ``days`` (empty when membership is unknown)."""
        if self.members is None:
            return frozenset()
        return frozenset(m.code for m in self.members if all(m.on(d) for d in days))


def _dated(rows: list[tuple[str, str]], left: dict[str, str] | None = None) -> tuple[Member, ...]:
    out = []
    for joined, codes in rows:
        for code in codes.split():
            gone = (left or {}).get(code)
            out.append(Member(code, date.fromisoformat(joined), date.fromisoformat(gone) if gone else None))
    return tuple(out)


_NATO = _dated(
    [
        ("1949-08-24", "BEL CAN DNK FRA ISL ITA LUX NLD NOR PRT GBR USA"),
        ("1952-02-18", "GRC TUR"),
        ("1955-05-06", "DEU"),
        ("1982-05-30", "ESP"),
        ("1999-03-12", "CZE HUN POL"),
        ("2004-03-29", "BGR EST LVA LTU ROU SVK SVN"),
        ("2009-04-01", "ALB HRV"),
        ("2017-06-05", "MNE"),
        ("2020-03-27", "MKD"),
        ("2023-04-04", "FIN"),
        ("2024-03-07", "SWE"),
    ]
)

_EU = _dated(
    [
        ("1958-01-01", "BEL DEU FRA ITA LUX NLD"),
        ("1973-01-01", "DNK IRL GBR"),
        ("1981-01-01", "GRC"),
        ("1986-01-01", "ESP PRT"),
        ("1995-01-01", "AUT FIN SWE"),
        ("2004-05-01", "CYP CZE EST HUN LVA LTU MLT POL SVK SVN"),
        ("2007-01-01", "BGR ROU"),
        ("2013-07-01", "HRV"),
    ],
    left={"GBR": "2020-01-31"},
)

#: Every group name Accord reads in a label, with what it knows of the membership.
GROUPS: dict[str, Group] = {
    g.name: g
    for g in (
        Group("NATO", "North Atlantic Treaty Organization", _NATO, "nato.int member countries [sourced]"),
        Group("EU", "European Union", _EU, "europa.eu country profiles [sourced]"),
        Group(
            "FVEY",
            "Five Eyes",
            tuple(Member(c) for c in ("AUS", "CAN", "GBR", "NZL", "USA")),
            "CAPCO/ISM tetragraph list [assumed]",
        ),
        Group("ISAF", "International Security Assistance Force (NATO)", None, "ADatP-4774 Table 17 [assumed]"),
        Group("KFOR", "Kosovo Force (NATO)", None, "ADatP-4774 Table 17 [assumed]"),
        Group("RESOLUTE SUPPORT", "Resolute Support Mission (NATO)", None, "ADatP-4774 Table 17 [assumed]"),
        Group("EAPC", "Euro-Atlantic Partnership Council", None, "ADatP-4774 Table 17 [assumed]"),
        Group("PFP", "Partnership for Peace", None, "NATO [assumed]"),
    )
}

#: Policy authorities that are organisations, not nations: their labels are read, and every decision
#: about them is a denial unless an agreement Accord holds covers the policy (none does today).
ORGANISATION_POLICIES: dict[str, str] = {
    "NATO": "urn:oid:1.3.26.1.3.1",  # ADatP-4774 App. 2
    "EU": "",
}


def is_group(value: str) -> bool:
    """True when ``value`` names a group Accord reads (``NATO``, ``EU``, ``KFOR`` …)."""
    return value in GROUPS


def group_members(name: str, *days: date) -> frozenset[str]:
    """The members of group ``name`` on every one of ``days`` (empty for an unknown membership)."""
    group = GROUPS.get(name)
    return frozenset() if group is None else group.members_on(*days)
