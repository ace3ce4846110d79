"""The result contract shared by every benchmark module."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Result:
    """One measured figure of ours against the peer measured in the same run."""

    name: str
    unit: str
    ours: float
    peer: str
    peer_value: float | None
    higher_is_better: bool
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """Ours relative to the peer, >1 meaning better (whatever the direction of the unit)."""
        if self.peer_value is None or self.peer_value == 0 or self.ours == 0:
            return None
        return self.ours / self.peer_value if self.higher_is_better else self.peer_value / self.ours

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["ratio"] = self.ratio
        return d


def rate(fn: Callable[[], object], *, min_seconds: float = 1.0, batch: int = 100) -> float:
    """Calls per second of ``fn`` over at least ``min_seconds`` (after a short warm-up)."""
    for _ in range(batch):
        fn()
    n = 0
    t0 = time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        n += batch
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            return n / dt


def percentiles_us(fn: Callable[[], object], *, samples: int = 20000) -> dict[str, float]:
    """p50/p99/p99.9 latency in microseconds from per-call samples."""
    for _ in range(min(1000, samples)):
        fn()
    out: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(samples):
        t0 = clock()
        fn()
        out.append((clock() - t0) / 1000.0)
    out.sort()

    def pct(p: float) -> float:
        return out[min(len(out) - 1, int(p * len(out)))]

    return {"p50": pct(0.50), "p99": pct(0.99), "p999": pct(0.999)}
