"""`layerspec train --workers N`: N local worker processes of one multi-worker training, on 127.0.0.1.

Each worker is the same `layerspec train` command line with a TF_CONFIG naming all of them (worker 0 is the chief,
which writes the run folder). Worker 0's output is this command's output; the others' go to log files that are
shown when a worker fails. When one worker fails, the others stop on their own within the collective timeout;
any still running after that (and a grace period) are terminated, so the launcher never waits forever.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from layerspec.errors import EXIT_INTERRUPTED, UsageError
from layerspec.train.distributed import EXIT_WORKER_LOST, collective_timeout

MAX_WORKERS = 64
GRACE_S = 30


def free_ports(count: int) -> list[int]:
    """`count` ports that are free on 127.0.0.1 now (held open together, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def worker_arguments(argv: list[str]) -> list[str]:
    """The command line without `--workers N` (each worker is one process of the job)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            kept.append(arg)
    return kept


def tf_config(ports: list[int], index: int) -> str:
    workers = [f"127.0.0.1:{port}" for port in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def check_multi_worker(spec_or_run: Path | None, overrides: tuple[str, ...]) -> None:
    """--workers trains a spec whose strategy is multi_worker (each worker would otherwise train on its own)."""
    from layerspec.run import current_run

    if spec_or_run is None or spec_or_run.is_dir():
        from layerspec.data import load_run_spec

        loaded = load_run_spec(current_run() if spec_or_run is None else spec_or_run)
    else:
        from layerspec.check import load_reporting_all

        loaded = load_reporting_all(spec_or_run, overrides)
    strategy = loaded.spec.train.strategy.type if loaded.spec.train is not None else "default"
    if strategy != "multi_worker":
        raise UsageError(
            f"--workers needs the multi-worker strategy, and the spec's is '{strategy}': write `strategy: {{type: "
            "multi_worker}` under train:, or add --set train.strategy.type=multi_worker",
            str(loaded.path),
        )


def launch(count: int, argv: list[str], note: Any) -> int:
    """Run the training as `count` local workers; the exit code is the job's (see `_job_code`)."""
    if not 2 <= count <= MAX_WORKERS:
        raise UsageError(f"--workers {count}: give 2 to {MAX_WORKERS} workers (1 is a plain `layerspec train`)")
    ports, args = free_ports(count), worker_arguments(argv)
    logs = Path(tempfile.mkdtemp(prefix="layerspec-workers-"))
    command = [sys.executable, "-c", "from layerspec.cli import main; main()", *args]
    processes: list[subprocess.Popen[bytes]] = []
    for index in range(count):
        env = {**os.environ, "TF_CONFIG": tf_config(ports, index)}
        out = None if index == 0 else open(logs / f"worker{index}.log", "wb")  # noqa: SIM115 (closed by the child)
        processes.append(subprocess.Popen(command, env=env, stdout=out, stderr=out))
        if out is not None:
            out.close()
    try:
        codes = _wait(processes, note)
    except KeyboardInterrupt:
        _stop(processes, signal.SIGINT)
        codes = _wait(processes, note)
        return EXIT_INTERRUPTED
    _show_failures(codes, logs, note)
    shutil.rmtree(logs, ignore_errors=True)
    return _job_code(codes)


def _wait(processes: list[subprocess.Popen[bytes]], note: Any) -> list[int]:
    """Every worker's exit code; once one failed, the rest get the collective timeout and a grace period."""
    deadline: float | None = None
    while any(p.poll() is None for p in processes):
        failed = [i for i, p in enumerate(processes) if p.returncode not in (None, 0)]
        if failed and deadline is None:
            deadline = time.monotonic() + collective_timeout() + GRACE_S
            note(f"worker {failed[0]} stopped ({_how(processes[failed[0]].returncode)}); the others stop within "
                 f"{collective_timeout()} s")  # fmt: skip
        if deadline is not None and time.monotonic() > deadline:
            _stop(processes, signal.SIGTERM)
            time.sleep(5)
            _stop(processes, signal.SIGKILL)
        time.sleep(0.2)
    return [p.returncode for p in processes]


def _stop(processes: list[subprocess.Popen[bytes]], signum: int) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signum)


def _how(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _show_failures(codes: list[int], logs: Path, note: Any) -> None:
    for index, code in enumerate(codes):
        if code == 0 or index == 0:
            continue
        lines = (logs / f"worker{index}.log").read_text(errors="replace").splitlines()
        shown = [line for line in lines if "error:" in line][-3:] or lines[-3:]
        note(f"worker {index} ({_how(code)}): " + (" | ".join(shown) or "no output"))


def _job_code(codes: list[int]) -> int:
    """0 when every worker succeeded; a worker killed (or lost) makes it 4; else the first worker's failure."""
    if all(code == 0 for code in codes):
        return 0
    if any(code < 0 or code == EXIT_WORKER_LOST for code in codes):
        return EXIT_WORKER_LOST
    return next(code for code in codes if code != 0)
