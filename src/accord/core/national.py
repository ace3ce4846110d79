"""Sourced national restrictions that no equivalence row can override (fail closed, ACC-R4).

An agreement's equivalence table may map a level that the originating nation says it never shares.
When the table row is an assumption ([I]) and the national statement is sourced ([C] or [S]), the
sourced fact wins: the level is refused to every other nation, under every agreement.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from accord.core.schemes import Level


@dataclass(frozen=True, slots=True)
class Restriction:
    """A level its nation never releases to any other nation.

    Attributes:
        party: the nation (alpha-3).
        key: the level key in its scheme.
        statement: what the source says.
        source: the evidence tag and source key of ``shared/domain/agreements.md``.
        rule: the rule id cited.
    """

    party: str
    key: str
    statement: str
    source: str
    rule: str = "ACC-R4"


#: ROK MND: Grade I content and even its holdings are secret; Grade I is "never shared with any
#: country" [S JOONG16]. The US–ROK agreement's TOP SECRET row is assumed [I] (US template).
RESTRICTIONS: tuple[Restriction, ...] = (
    Restriction("KOR", "I", "ROK military Grade I secrets are never shared with any country (ROK MND)", "[S JOONG16]"),
)

_BY_LEVEL = {(r.party, r.key): r for r in RESTRICTIONS}


@functools.lru_cache(maxsize=1024)
def restriction_for(level: Level) -> Restriction | None:
    """The national restriction on ``level``, if its nation never releases it."""
    return _BY_LEVEL.get((level.party, level.key))
