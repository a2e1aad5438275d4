"""Print what the last fuzz run's generated cases came to, as a Markdown table (for docs/testing.md).

Usage: `LAYERSPEC_FUZZ_EXAMPLES=5000 pytest tests/fuzz` (or `make fuzz`), then `python tests/bench/fuzz_report.py`.
The figures come from tests/artifacts/fuzz-outcomes.json, which tests/fuzz/conftest.py writes at the end of a run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUTCOMES = Path(__file__).resolve().parents[1] / "artifacts" / "fuzz-outcomes.json"
BY_TYPE = "differential: outcomes by type"  # as tests/fuzz/test_differential.py records it: "TYPE\tOUTCOME"
# The per-type table's columns: (heading, the outcomes it adds up).
COLUMNS = (
    ("both accept, ran", ("both accept, ran",)),
    ("both accept, built", ("both accept",)),
    ("both refuse", ("both refuse",)),
    ("check refuses (or warns) on purpose", ("check refuses on purpose", "check warns on purpose")),
    ("Keras fails on the random values", ("Keras fails on the random values",)),
    ("disagreements", ("disagreement",)),
)


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
        if test.startswith(("differential: accepted layers", "differential: layers", BY_TYPE)):
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
    outcomes_by_type = payload["tests"].get(BY_TYPE, {})
    if outcomes_by_type:
        print()
        print_type_table(outcomes_by_type, registered_types())
    return 0


def registered_types() -> list[str]:
    """Every type of the registry (so a type no spec contained shows as a row of zeros), if layerspec imports."""
    try:
        from layerspec.layers import REGISTRY
    except ImportError:
        return []
    return sorted(REGISTRY)


def type_counts(recorded: dict[str, int], types: list[str]) -> dict[str, dict[str, int]]:
    """{type: {outcome: specs}} from the recorded "TYPE\tOUTCOME" counts."""
    table: dict[str, dict[str, int]] = {t: {} for t in types}
    for key, count in recorded.items():
        type_name, _, outcome = key.partition("\t")
        row = table.setdefault(type_name, {})
        row[outcome] = row.get(outcome, 0) + count
    return table


def print_type_table(recorded: dict[str, int], types: list[str]) -> None:
    """For each layer type, how the differential specs containing it (wrapped layers included) ended."""
    table = type_counts(recorded, types)
    print(f"Differential specs by layer type ({len(table)} types; a spec counts once for each type in it):")
    print()
    print("| type | specs | " + " | ".join(h for h, _ in COLUMNS) + " |")
    print("|---|" + "---:|" * (len(COLUMNS) + 1))
    totals = [0] * (len(COLUMNS) + 1)
    for type_name, row in sorted(table.items()):
        cells = [sum(row.values()), *(sum(row.get(o, 0) for o in outs) for _, outs in COLUMNS)]
        totals = [a + b for a, b in zip(totals, cells, strict=True)]
        print(f"| {type_name} | " + " | ".join(f"{c:,}" for c in cells) + " |")
    print("| **all types** | " + " | ".join(f"**{c:,}**" for c in totals) + " |")
    never = [t for t, row in table.items() if not row]
    if never:
        print()
        print(f"In no spec: {', '.join(never)}")


if __name__ == "__main__":
    raise SystemExit(main())
