"""Print what the last fuzz run's generated cases came to, as a Markdown table (for docs/testing.md).

Usage: `LAYERSPEC_FUZZ_EXAMPLES=5000 pytest tests/fuzz` (or `make fuzz`), then `python tests/bench/fuzz_report.py`.
The figures come from tests/artifacts/fuzz-outcomes.json, which tests/fuzz/conftest.py writes at the end of a run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUTCOMES = Path(__file__).resolve().parents[1] / "artifacts" / "fuzz-outcomes.json"


def main() -> int:
    if not OUTCOMES.is_file():
        print(f"{OUTCOMES}: no fuzz run recorded yet; run `make fuzz` first", file=sys.stderr)
        return 2
    payload = json.loads(OUTCOMES.read_text(encoding="utf-8"))
    print(f"LAYERSPEC_FUZZ_EXAMPLES={payload['LAYERSPEC_FUZZ_EXAMPLES']}, pytest exit status {payload['exit_status']}")
    print()
    print("| test | cases | outcomes |")
    print("|---|---:|---|")
    for test, outcomes in payload["tests"].items():
        if test.startswith("differential: accepted layers") or test.startswith("differential: layers"):
            continue
        total = sum(outcomes.values())
        parts = ", ".join(f"{name} {count:,}" for name, count in sorted(outcomes.items(), key=lambda kv: -kv[1]))
        print(f"| {test} | {total:,} | {parts} |")
    by_type = payload["tests"].get("differential: accepted layers by type", {})
    compared = payload["tests"].get("differential: layers compared", {}).get("layers", 0)
    if by_type:
        print()
        print(f"{compared:,} layers compared with Keras in accepted specs; fewest per type: ", end="")
        print(", ".join(f"{t} {n:,}" for t, n in sorted(by_type.items(), key=lambda kv: kv[1])[:5]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
