"""Hypothesis settings for the fuzz tests: reproducible, no deadline, example counts from the environment.

`LAYERSPEC_FUZZ_EXAMPLES` sets the size of a run (`make fuzz` uses thousands; `make test` the default below).
Each test takes its share of it: building Keras models or run folders costs far more than a check.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

DEFAULT_EXAMPLES = 500

settings.register_profile(
    "layerspec-fuzz",
    deadline=None,
    derandomize=True,  # the same cases on every run, so a failure in CI reproduces locally
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
FUZZ = settings.get_profile("layerspec-fuzz")


def fuzz_examples(share: float = 1.0, minimum: int = 1) -> int:
    """This test's number of generated examples: `share` of LAYERSPEC_FUZZ_EXAMPLES."""
    total = int(os.environ.get("LAYERSPEC_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
    return max(minimum, round(total * share))


# What every generated case came to, per test: written to tests/artifacts/fuzz-outcomes.json at the end of the
# session (conftest.py) and printed by tests/bench/fuzz_report.py.
OUTCOMES: Counter[tuple[str, str]] = Counter()


def record(test: str, outcome: str, count: int = 1) -> None:
    OUTCOMES[(test, outcome)] += count
