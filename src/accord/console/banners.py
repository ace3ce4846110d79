"""Classification banners: the national marking and its equivalents, coloured by level (WCAG contrast).

Colours follow the common convention (green unclassified, blue confidential, red secret, orange top
secret) with text colours chosen so every banner has a contrast ratio of at least 4.5:1 (WCAG 2.x AA).
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.core.agreements import AgreementSet
from accord.core.labels import Caveat, Label

#: tier (the level's English equivalent) -> (background, text)
COLOURS: dict[str, tuple[str, str]] = {
    "TOP SECRET": ("#FF671F", "#000000"),
    "SECRET": ("#C8102E", "#FFFFFF"),
    "CONFIDENTIAL": ("#0033A0", "#FFFFFF"),
    "RESTRICTED": ("#6A1B9A", "#FFFFFF"),
    "UNCLASSIFIED": ("#007A33", "#FFFFFF"),
}
UNKNOWN = ("#000000", "#FFFF00")  # an unknown level is shouted, never shown as harmless


def _channel(c: int) -> float:
    s = c / 255
    return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4


def luminance(hex_colour: str) -> float:
    """WCAG relative luminance of ``#RRGGBB``."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio between two colours (1..21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@dataclass(frozen=True)
class Banner:
    """A banner ready to render: the text lines and colours."""

    tier: str
    text: str
    equivalents: tuple[tuple[str, str], ...]  # (party, marking)
    background: str
    foreground: str


def banner_for(label: Label, agreements: AgreementSet, *, holder: str | None = None) -> Banner:
    """The banner of ``label``: originator's marking, then the equivalent marking of every other party."""
    level = label.level
    if level is None:
        return Banner("UNKNOWN", f"{label.originator} {label.classification} (UNKNOWN LEVEL)", (), *UNKNOWN)
    tier = getattr(level, "english", "") or "UNKNOWN"
    bg, fg = COLOURS.get(tier, UNKNOWN)
    eq: list[tuple[str, str]] = [(label.originator, level.marking)]
    for party in agreements.parties:
        if party == label.originator:
            continue
        found = agreements.equivalent_level(level, party)
        if found is not None:
            eq.append((party, found[0].marking))
    if holder is not None:  # the holder's own marking first (JK-R4: the receiving party's equivalent)
        eq.sort(key=lambda pm: pm[0] != holder)
    parts = [f"{tier}"]
    if label.topics:
        parts.append(" ".join(sorted(label.topics)))
    if Caveat.ORIGINATOR_ONLY in label.caveats:
        parts.append(f"{label.originator} ONLY")
    elif label.releasable_to:
        parts.append("REL TO " + ", ".join(sorted(label.releasable_to)))
    if Caveat.ORIGINATOR_CONTROL in label.caveats:
        parts.append("ORCON")
    return Banner(tier, " // ".join(parts), tuple(eq), bg, fg)
