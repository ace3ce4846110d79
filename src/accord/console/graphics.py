"""Geometry of the console's two drawings (SVG, server-side): the agreements' timeline and the sharing graph."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any


def timeline(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Geometry of the lifecycle timeline (SVG): one lane per agreement, a dot per event."""
    days = [p["on"] for r in rows for p in r["points"]]
    if not days:
        return {"lanes": [], "width": 900, "height": 40, "ticks": []}
    lo, hi = dt.date(min(days).year, 1, 1), dt.date(max(days).year + 1, 1, 1)
    span = max((hi - lo).days, 1)
    width, left, lane_h = 900, 190, 34

    def x(d: dt.date) -> float:
        return round(left + (width - left - 20) * (d - lo).days / span, 1)

    lanes = []
    for i, r in enumerate(rows):
        y = 24 + i * lane_h
        lanes.append(
            {
                "id": r["ag"].id,
                "y": y,
                "x0": x(r["points"][0]["on"]) if r["points"] else left,
                "x1": width - 20,
                "dots": [{"x": x(p["on"]), "kind": p["kind"], "on": p["on"], "state": p["state"]} for p in r["points"]],
            }
        )
    ticks = [{"x": x(dt.date(y, 1, 1)), "year": y} for y in range(lo.year + 1, hi.year + 1, 2)]
    return {"lanes": lanes, "width": width, "height": 40 + lane_h * len(rows), "ticks": ticks}


def graph(
    parties: tuple[str, ...], cells: dict[tuple[str, str], Any], wcells: dict[tuple[str, str], Any]
) -> dict[str, Any]:
    """Positions of the sharing graph (SVG): parties on a circle, an arrow per allowed release."""
    n = max(len(parties), 1)
    cx, cy, radius = 220, 180, 130
    pos = {
        p: (
            round(cx + radius * math.cos(2 * math.pi * i / n - math.pi / 2), 1),
            round(cy + radius * math.sin(2 * math.pi * i / n - math.pi / 2), 1),
        )
        for i, p in enumerate(parties)
    }
    edges = []
    for (a, b), c in cells.items():
        w = wcells.get((a, b))
        if not c.allowed and not (w is not None and w.allowed):
            continue
        (x1, y1), (x2, y2) = pos[a], pos[b]
        dx, dy = x2 - x1, y2 - y1
        d = math.hypot(dx, dy) or 1
        ox, oy = -dy / d * 6, dx / d * 6  # offset so a->b and b->a do not overlap
        sx, sy = x1 + dx / d * 28 + ox, y1 + dy / d * 28 + oy
        ex, ey = x2 - dx / d * 30 + ox, y2 - dy / d * 30 + oy
        if w is None or (w.allowed, w.route, w.level) == (c.allowed, c.route, c.level):
            change = ""
        elif w.allowed != c.allowed:
            change = "lost" if c.allowed else "gained"
        else:
            change = "rerouted"
        edges.append(
            {
                "a": a,
                "b": b,
                "x1": round(sx, 1),
                "y1": round(sy, 1),
                "x2": round(ex, 1),
                "y2": round(ey, 1),
                "route": " → ".join(c.route if c.allowed else w.route if w else ()),
                "level": c.level or (w.level if w else ""),
                "change": change,
            }
        )
    return {"nodes": [{"p": p, "x": xy[0], "y": xy[1]} for p, xy in pos.items()], "edges": edges}
