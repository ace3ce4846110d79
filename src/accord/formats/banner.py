"""Banner markings: the one-line marking printed at the top and bottom of a page or screen.

Syntax (after CAPCO's ``//``-separated banner lines, ``docs/labels.md``)::

    banner   = ORIGINATOR " " MARKING *( " // " segment )
    segment  = topics / "REL TO " alpha3 *( ", " alpha3 ) / ORIGINATOR " ONLY" / "ORCON"
    topics   = topic *( " " topic )

``KOR 군사Ⅱ급비밀 // DPRK-MISSILE // REL TO JPN, USA`` is the banner of a Korean Grade II item on
North Korean missiles releasable to Japan and the US. A banner carries no dates, so parsing gives
:class:`BannerFields`, not a full label.
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.core.labels import Caveat, Label
from accord.core.parties import is_alpha3, is_topic
from accord.errors import LabelError


@dataclass(frozen=True, slots=True)
class BannerFields:
    """What a banner line says."""

    originator: str
    classification: str
    topics: frozenset[str]
    releasable_to: frozenset[str]
    caveats: frozenset[Caveat]


def format_banner(label: Label) -> str:
    """The banner line of a label."""
    return label.banner


def parse_banner(text: str) -> BannerFields:
    """Parse a banner line; raise :class:`LabelError` saying which segment is wrong."""
    segments = [s.strip() for s in text.strip().split("//")]
    head = segments[0].split(" ", 1)
    if len(head) != 2 or not is_alpha3(head[0]) or not head[1].strip():
        raise LabelError(
            f"a banner starts with the originator's alpha-3 code and its marking, got {segments[0]!r}", field="banner"
        )
    originator, marking = head[0], head[1].strip()
    topics: set[str] = set()
    rel: set[str] = set()
    caveats: set[Caveat] = set()
    for seg in segments[1:]:
        if seg.startswith("REL TO "):
            for code in (c.strip() for c in seg[len("REL TO ") :].split(",")):
                if not is_alpha3(code):
                    raise LabelError(f"{code!r} in {seg!r} is not an alpha-3 code", field="banner")
                rel.add(code)
        elif seg == f"{originator} ONLY":
            caveats.add(Caveat.ORIGINATOR_ONLY)
        elif seg.endswith(" ONLY"):
            raise LabelError(
                f"{seg!r}: only the originator ({originator} ONLY) can restrict to its nation", field="banner"
            )
        elif seg == "ORCON":
            caveats.add(Caveat.ORIGINATOR_CONTROL)
        elif seg and all(is_topic(t) for t in seg.split()):
            topics.update(seg.split())
        else:
            raise LabelError(
                f"banner segment {seg!r} is not topics, REL TO, {originator} ONLY or ORCON", field="banner"
            )
    if Caveat.ORIGINATOR_ONLY in caveats and rel:
        raise LabelError(f"{originator} ONLY contradicts REL TO", field="banner")
    return BannerFields(originator, marking, frozenset(topics), frozenset(rel), frozenset(caveats))
