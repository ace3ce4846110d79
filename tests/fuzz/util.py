"""The one check of every fuzz test: hostile input only ever raises the project's InputError family (or
IntegrityError where cryptography is checked), never anything else; the outcome goes to the reliability tally."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from accord.errors import InputError, IntegrityError
from tests.support.reliability import record

#: Values a hostile document puts where a field is expected.
SPECIAL: list[Any] = [
    "uſa",
    "ＵＳＡ",
    "USA\n",
    "KOR",
    "JPN",
    "USA",
    "2019-02-30",
    "9999-12-31",
    "2019-01-01T00:00:00Z",
    "1e20",
    10**20,
    -1,
    0,
    2**63,
    "",
    " ",
    "\x00",
    "all",
    "a" * 300,
    "\ud800",
    float("nan"),
    float("inf"),
    True,
    [],
    {},
]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40), st.sampled_from(SPECIAL)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def refused_or_accepted(case: str, fn: Callable[..., Any], *args: Any, crypto: bool = False, **kwargs: Any) -> Any:
    """Call ``fn``; an InputError (or IntegrityError with ``crypto``) is a refusal, anything else fails."""
    allowed: tuple[type[BaseException], ...] = (InputError, IntegrityError) if crypto else (InputError,)
    try:
        result = fn(*args, **kwargs)
    except allowed:
        record(f"fuzz: {case}", group="parser fuzzing", refused=1)
        return None
    except BaseException:
        record(f"fuzz: {case}", group="parser fuzzing", crashed=1)
        raise
    record(f"fuzz: {case}", group="parser fuzzing", accepted=1)
    return result


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in a nested document."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, (*prefix, i))
    return out


def mutate(doc: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    """A copy of ``doc`` with the value at ``path`` replaced, deleted, or given an extra key."""
    import copy

    new = copy.deepcopy(doc)
    parent = new
    for p in path[:-1]:
        parent = parent[p]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "extra" and isinstance(parent, dict):
        parent[f"x-{last}"] = value
    else:
        parent[last] = value
    return new


def text_edits(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (position, deleted length, inserted text) edits."""
    for pos, cut, ins in edits:
        at = pos % (len(text) + 1)
        text = text[:at] + ins + text[at + cut :]
    return text


EDITS = st.lists(
    st.tuples(
        st.integers(min_value=0),
        st.integers(min_value=0, max_value=8),
        st.text(max_size=8)
        | st.sampled_from(["[", "{", ":", "\n", "- ", "&a ", "*a", "? ", "!!binary ", "<", "</", '"', "\\u0000", ","]),
    ),
    min_size=1,
    max_size=5,
)
