"""Hypothesis settings for the parser fuzzing: a bounded, fast run in ``make test``; ``make reliability`` sets
``ACCORD_FUZZ_EXAMPLES`` for a longer one."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("ACCORD_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 60, suppress_health_check=list(HealthCheck)
)
#: The CLI fuzzing runs a whole command per example (~70 ms): at most 300 examples even in `make reliability`.
FUZZ_CLI = settings(FUZZ, max_examples=min(EXAMPLES, 300))
