"""National classification schemes: ordered levels with their national marking text.

Each nation classifies in its own words; agreements say which levels are equivalent
(see :mod:`accord.core.agreements`). Levels are compared only within one scheme.

Accepted spellings of a level are matched after Unicode NFKC normalisation, case folding and
whitespace collapsing, so ``군사Ⅱ급비밀`` (Roman numeral Ⅱ, U+2161) and ``군사II급비밀`` are the same,
and each level has documented ASCII aliases (``docs/labels.md``) for systems that cannot carry
the national script.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field


def normalise_marking(text: str) -> str:
    """The comparison form of a marking: NFKC, case-folded, single spaces, hyphens as spaces."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("-", " ").replace("_", " ")
    return " ".join(folded.split())


@dataclass(frozen=True, slots=True, eq=False)
class Level:
    """One classification level of a national scheme.

    Levels are singletons of their scheme, so they compare and hash by identity (they key the
    decision engine's caches).

    Attributes:
        party: alpha-3 code of the nation whose scheme this is.
        key: stable ASCII identifier used in agreement documents (``II``, ``GOKUHI``, ``SECRET``).
        marking: the canonical national marking (``군사Ⅱ급비밀``, ``極秘``, ``SECRET``).
        rank: order within the scheme; higher is more sensitive.
        english: the English equivalent usually given in treaties (``SECRET``).
        other_markings: further national markings of the same level (``特定秘密`` beside ``極秘``).
        aliases: documented ASCII aliases.
    """

    party: str
    key: str
    marking: str
    rank: int
    english: str
    other_markings: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    def spellings(self) -> tuple[str, ...]:
        """Every accepted spelling: key, markings and aliases."""
        return (self.key, self.marking, *self.other_markings, *self.aliases)

    def __str__(self) -> str:
        return self.marking


@dataclass(frozen=True, slots=True)
class Scheme:
    """A nation's ordered classification levels (highest first)."""

    party: str
    name: str
    levels: tuple[Level, ...]
    _index: dict[str, Level] = field(init=False, repr=False, compare=False, hash=False)
    _keys: dict[str, Level] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        index: dict[str, Level] = {}
        keys: dict[str, Level] = {}
        for level in self.levels:
            if level.party != self.party:
                raise ValueError(f"level {level.key} belongs to {level.party}, not {self.party}")
            keys[level.key] = level
            for spelling in level.spellings():
                norm = normalise_marking(spelling)
                if norm in index and index[norm] is not level:
                    raise ValueError(f"{self.party}: spelling {spelling!r} names two levels")
                index[norm] = level
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_keys", keys)

    def level(self, text: str) -> Level | None:
        """The level a marking, key or alias names, or None when the scheme has no such level."""
        hit = self._keys.get(text)
        if hit is not None:
            return hit
        return self._index.get(normalise_marking(text))

    def by_key(self, key: str) -> Level | None:
        """The level with this exact key."""
        return self._keys.get(key)


def _scheme(party: str, name: str, rows: list[tuple[str, str, str, tuple[str, ...], tuple[str, ...]]]) -> Scheme:
    n = len(rows)
    levels = tuple(
        Level(party=party, key=key, marking=marking, rank=n - i, english=english,
              other_markings=others, aliases=aliases)
        for i, (key, marking, english, others, aliases) in enumerate(rows)
    )
    return Scheme(party=party, name=name, levels=levels)


#: ROK: Military Secret Protection Act, Enforcement Decree Art. 3 (grades I-III) [C ROKLAW];
#: 대외비 ("not for outside release") sits below Grade III and is not classified military secret.
KOR = _scheme("KOR", "ROK military secrets (군사기밀보호법)", [
    ("I", "군사Ⅰ급비밀", "TOP SECRET", (), ("KOR I", "GRADE I", "GUNSA I", "MILITARY GRADE I")),
    ("II", "군사Ⅱ급비밀", "SECRET", (), ("KOR II", "GRADE II", "GUNSA II", "MILITARY GRADE II")),
    ("III", "군사Ⅲ급비밀", "CONFIDENTIAL", (), ("KOR III", "GRADE III", "GUNSA III", "MILITARY GRADE III")),
    ("DAEOEBI", "대외비", "RESTRICTED", (), ("KOR R", "DAEOEBI", "FOR OFFICIAL USE ONLY")),
])

#: Japan: MOD secrecy order (機密/極秘/秘) [I JPLAW]; 特定秘密 (Specially Designated Secret, 2013 Act)
#: is listed beside 極秘 in Art. 4.1 of the Japan-ROK GSOMIA [C W-JP3].
JPN = _scheme("JPN", "Japan defence secrets (防衛省秘密保全)", [
    ("KIMITSU", "機密", "TOP SECRET", (), ("JPN TS", "KIMITSU")),
    ("GOKUHI", "極秘", "SECRET", ("特定秘密",), ("JPN S", "GOKUHI", "TOKUTEI HIMITSU", "TOKUTEI")),
    ("HI", "秘", "CONFIDENTIAL", (), ("JPN C", "HI")),
])

#: United States: Executive Order 13526 levels.
USA = _scheme("USA", "US national security information (E.O. 13526)", [
    ("TOP_SECRET", "TOP SECRET", "TOP SECRET", (), ("TS", "USA TS")),
    ("SECRET", "SECRET", "SECRET", (), ("S", "USA S")),
    ("CONFIDENTIAL", "CONFIDENTIAL", "CONFIDENTIAL", (), ("C", "USA C")),
])

#: The schemes Accord knows. A party absent here is unknown: decisions about it are denials.
SCHEMES: dict[str, Scheme] = {s.party: s for s in (KOR, JPN, USA)}


def scheme_for(party: str) -> Scheme | None:
    """The classification scheme of a party, or None when the party is unknown."""
    return SCHEMES.get(party)


def resolve_level(party: str, text: str) -> Level | None:
    """The level of ``party``'s scheme that ``text`` names, or None."""
    scheme = SCHEMES.get(party)
    return None if scheme is None else scheme.level(text)
