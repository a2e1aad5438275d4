"""The fuzz tests' helper modules (strategies, Keras oracle, mutators) live next to them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))  # the suite's own helpers (test_report's fake run folders)

OUTCOMES_FILE = Path(__file__).parents[1] / "artifacts" / "fuzz-outcomes.json"


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """Save how many generated cases each fuzz test ran and what they came to (for the figures in docs/testing.md)."""
    from fuzz_settings import OUTCOMES, fuzz_examples

    if not OUTCOMES:
        return
    tests: dict[str, dict[str, int]] = {}
    for (test, outcome), count in sorted(OUTCOMES.items()):
        tests.setdefault(test, {})[outcome] = count
    payload = {"LAYERSPEC_FUZZ_EXAMPLES": fuzz_examples(), "exit_status": exitstatus, "tests": tests}
    OUTCOMES_FILE.parent.mkdir(parents=True, exist_ok=True)
    OUTCOMES_FILE.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
