"""National classification schemes: ordered levels with their national marking text.

Each nation classifies in its own words; agreements say which levels are equivalent
(see :mod:`accord.core.agreements`). Levels are compared only within one scheme.

Schemes are data: each nation's scheme is an Open XML SPIF file (``data/spif/KOR.xml`` and the
like, parsed by :mod:`accord.formats.spif`), loaded with the agreements into a
:class:`SchemeRegistry`. The core never reads them itself: a decision uses the registry its
:class:`~accord.core.agreements.AgreementSet` was loaded with (``agreements.schemes``), so a world
of any nations is decided by the same pure code. A party absent from the registry is unknown and
every decision about it is a denial.

Accepted spellings of a level are matched after Unicode NFKC normalisation, case folding and
whitespace collapsing, so ``군사Ⅱ급비밀`` (Roman numeral Ⅱ, U+2161) and ``군사II급비밀`` are the same,
and each level has documented ASCII aliases (``docs/labels.md``) for systems that cannot carry
the national script.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Iterator
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
        marking: the canonical national marking (``군사Ⅱ급비밀``, ``極秘``, ``SECRET``): the SPIF
            ``securityClassification/@name``, written as the label's Classification.
        rank: order within the scheme; higher is more sensitive (the SPIF ``hierarchy``).
        english: the English equivalent usually given in treaties (``SECRET``).
        other_markings: further national markings of the same level (``特定秘密`` beside ``極秘``).
        aliases: documented ASCII aliases.
        lacv: the SPIF local assigned classification value (binary labels, equivalence maps).
    """

    party: str
    key: str
    marking: str
    rank: int
    english: str
    other_markings: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    lacv: int = 0

    def spellings(self) -> tuple[str, ...]:
        """Every accepted spelling: key, markings and aliases."""
        return (self.key, self.marking, *self.other_markings, *self.aliases)

    def same_as(self, other: Level) -> bool:
        """True when two levels (from two loads of a scheme) carry the same data."""
        return (
            self.party,
            self.key,
            self.marking,
            self.rank,
            self.english,
            self.other_markings,
            self.aliases,
            self.lacv,
        ) == (
            other.party,
            other.key,
            other.marking,
            other.rank,
            other.english,
            other.other_markings,
            other.aliases,
            other.lacv,
        )

    def __str__(self) -> str:
        return self.marking


@dataclass(frozen=True, slots=True)
class Category:
    """A security category tag set of a policy (STANAG 4774 Category; SPIF securityCategoryTagSet).

    Attributes:
        name: the TagName (``Releasable To``, ``Topic``, ``Caveat``).
        kind: ``PERMISSIVE``, ``RESTRICTIVE`` or ``INFORMATIVE`` (the 4774 Type).
        values: the enumerated values (tagCategory names with their lacv), empty when open:
            ``Releasable To`` takes any alpha-3 code and ``Topic`` any topic token.
        prefix, separator: how a marking renders the values (SPIF markingQualifier).
        oid: the tag set's object identifier.
    """

    name: str
    kind: str
    values: tuple[tuple[str, int], ...] = ()
    prefix: str = ""
    separator: str = ", "
    oid: str = ""


#: The categories every Accord policy declares (docs/labels.md): topics are need-to-know
#: (RESTRICTIVE, a person needs all of them); releasability is PERMISSIVE; caveats RESTRICTIVE.
TOPIC = "Topic"
RELEASABLE_TO = "Releasable To"
CAVEAT = "Caveat"


@dataclass(frozen=True, slots=True)
class Scheme:
    """A nation's ordered classification levels (highest first) and its label categories.

    Attributes:
        party: alpha-3 code (the STANAG 4774 PolicyIdentifier).
        name: the scheme's name (``ROK military secrets (군사기밀보호법)``).
        levels: highest first.
        policy_id: the policy's object identifier (SPIF securityPolicyId/@id).
        categories: the tag sets labels under this policy may carry.
        source: where the scheme was read from (a SPIF file), for error messages.
        basis: what the levels rest on (law, order), with its evidence tag.
    """

    party: str
    name: str
    levels: tuple[Level, ...]
    policy_id: str = ""
    categories: tuple[Category, ...] = ()
    source: str | None = None
    basis: str = ""
    _index: dict[str, Level] = field(init=False, repr=False, compare=False, hash=False)
    _keys: dict[str, Level] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        index: dict[str, Level] = {}
        keys: dict[str, Level] = {}
        for level in self.levels:
            if level.party != self.party:
                raise ValueError(f"level {level.key} belongs to {level.party}, not {self.party}")
            if level.key in keys:
                raise ValueError(f"{self.party}: key {level.key!r} names two levels")
            keys[level.key] = level
            for spelling in level.spellings():
                norm = normalise_marking(spelling)
                if norm in index and index[norm] is not level:
                    raise ValueError(f"{self.party}: spelling {spelling!r} names two levels")
                index[norm] = level
        exact = dict(keys)
        for level in self.levels:  # the exact canonical marking is the common case: no normalising
            exact.setdefault(level.marking, level)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_keys", exact)

    def level(self, text: str) -> Level | None:
        """The level a marking, key or alias names, or None when the scheme has no such level."""
        hit = self._keys.get(text)
        if hit is not None:
            return hit
        return self._index.get(normalise_marking(text))

    def by_key(self, key: str) -> Level | None:
        """The level with this exact key."""
        hit = self._keys.get(key)
        return hit if hit is not None and hit.key == key else None

    def by_lacv(self, lacv: int) -> Level | None:
        """The level with this local assigned classification value."""
        return next((lv for lv in self.levels if lv.lacv == lacv), None)

    def category(self, name: str) -> Category | None:
        """The category with this TagName (matched case-insensitively, as ADatP-4774 says)."""
        folded = name.casefold()
        return next((c for c in self.categories if c.name.casefold() == folded), None)

    def rel_marking(self, nations: Iterable[str]) -> str:
        """``REL TO JPN, USA`` with the prefix and separator the policy's SPIF gives."""
        cat = self.category(RELEASABLE_TO)
        prefix = cat.prefix if cat is not None and cat.prefix else "REL TO "
        sep = cat.separator if cat is not None and cat.separator else ", "
        return prefix + sep.join(sorted(nations))


class SchemeRegistry:
    """The classification schemes of a world, by party (immutable).

    Built by the edge from SPIF files (:func:`accord.formats.spif.load_registry`) or by the
    synthetic world generator; carried by every agreement validated against it and by the
    :class:`~accord.core.agreements.AgreementSet`.
    """

    __slots__ = ("_schemes",)

    def __init__(self, schemes: Iterable[Scheme] = ()) -> None:
        by_party: dict[str, Scheme] = {}
        for s in schemes:
            if s.party in by_party:
                raise ValueError(f"two schemes for {s.party} ({by_party[s.party].source or '?'} and {s.source or '?'})")
            by_party[s.party] = s
        self._schemes = dict(sorted(by_party.items()))

    def get(self, party: str) -> Scheme | None:
        """The scheme of ``party``, or None when the party is unknown."""
        return self._schemes.get(party)

    def __getitem__(self, party: str) -> Scheme:
        return self._schemes[party]

    def __contains__(self, party: object) -> bool:
        return party in self._schemes

    def __iter__(self) -> Iterator[Scheme]:
        return iter(self._schemes.values())

    def __len__(self) -> int:
        return len(self._schemes)

    @property
    def parties(self) -> tuple[str, ...]:
        """The parties with a scheme, sorted."""
        return tuple(self._schemes)

    def level(self, party: str, text: str) -> Level | None:
        """The level of ``party``'s scheme that ``text`` names, or None."""
        scheme = self._schemes.get(party)
        return None if scheme is None else scheme.level(text)

    def merged(self, other: SchemeRegistry) -> SchemeRegistry:
        """Both registries together; a party defined twice is refused (ValueError)."""
        return SchemeRegistry([*self, *other])

    def __repr__(self) -> str:
        return f"SchemeRegistry({', '.join(self._schemes)})"


#: The registry with no scheme: every party is unknown.
EMPTY = SchemeRegistry()


#: Where the bundled schemes come from. The core reads no file and imports no format: the package root
#: (``accord/__init__.py``, run before any ``accord.*`` module) installs the edge's reader of the shipped
#: SPIFs (:func:`accord.formats.spif.bundled_registry`) with :func:`set_bundled_source`.
_SOURCE: dict[str, Callable[[], SchemeRegistry]] = {}


def set_bundled_source(source: Callable[[], SchemeRegistry]) -> None:
    """Install the function that gives the bundled schemes (called once, by the package root)."""
    _SOURCE["bundled"] = source


def bundled() -> SchemeRegistry:
    """The schemes shipped with Accord (``data/spif/*.xml``), parsed once by the edge.

    For the conveniences that have no agreement set at hand (a label's canonical marking and banner).
    Decisions never use it: they use ``agreements.schemes``. With no source installed every party is
    unknown (:data:`EMPTY`): labels then resolve no level and every decision about them is a denial.
    """
    source = _SOURCE.get("bundled")
    return source() if source is not None else EMPTY


def scheme_for(party: str) -> Scheme | None:
    """The bundled classification scheme of a party, or None when the party is unknown."""
    return bundled().get(party)


def resolve_level(party: str, text: str) -> Level | None:
    """The level of ``party``'s bundled scheme that ``text`` names, or None."""
    return bundled().level(party, text)
