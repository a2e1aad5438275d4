"""How long `layerspec report` takes for the SIGNS run (target: a few seconds on this CPU).

Usage: python tests/bench/bench_report.py [RUN] [--repeat N]   (RUN: default the current run)

Prints the median over N repeats of each stage in one process (collect: read the run folder and the dataset;
view: charts and tables; render: jinja2), the whole in-process call, and the whole `layerspec report` command
as a user runs it (a fresh process, imports included), plus the report's size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from layerspec.report import collect_run, make_report
from layerspec.report.render import environment
from layerspec.report.view import run_view
from layerspec.run import current_run


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", type=Path, help="run folder (default: the current run)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    run_dir = args.run or current_run()
    out = Path(tempfile.mkdtemp()) / "report.html"

    collect_s, run = timed(lambda: collect_run(run_dir), args.repeat)
    view_s, view = timed(lambda: run_view(run), args.repeat)
    template = environment().get_template("report.html.j2")
    common = {"csp": "", "version": "", "generated": "", "title": "", "show_data": True}
    render_s, _ = timed(lambda: template.render(run=view, **common), args.repeat)
    total_s, _ = timed(lambda: make_report([run_dir], out), args.repeat)
    command = [str(Path(sys.executable).parent / "layerspec")]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cli_s, _ = timed(
        lambda: subprocess.run([*command, "report", str(run_dir), "--out", str(out)], check=True, env=env,
                               capture_output=True),
        args.repeat,
    )  # fmt: skip
    trained = run.history is not None
    print(f"run: {run_dir} ({'trained' if trained else 'built only'}), median of {args.repeat}")
    print(f"  collect (run folder + dataset)  {collect_s:6.2f} s")
    print(f"  view (charts, tables)           {view_s:6.2f} s")
    print(f"  render (jinja2)                 {render_s:6.2f} s")
    print(f"  make_report, in process         {total_s:6.2f} s")
    print(f"  `layerspec report` command      {cli_s:6.2f} s")
    print(f"  report size                     {out.stat().st_size / 1024:6.0f} KiB")


if __name__ == "__main__":
    main()
