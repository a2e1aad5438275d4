"""Paths that are not spec files: FIFOs, devices, directories, huge files, and block uses that never end.

Each command runs in a subprocess with a timeout and a memory cap, so a regression (a read that waits on a FIFO
forever, an endless read of /dev/zero) fails the test instead of hanging the suite or exhausting the machine.
The timeout only bounds a hang; it is no claim about speed.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from layerspec.spec.yaml_source import MAX_FILE_BYTES

REPO = Path(__file__).resolve().parent.parent
BAD = Path(__file__).parent / "cases" / "bad"
HANG = 120  # seconds; far beyond any of these refusals, which take well under one
MEMORY_CAP = 2 * 1024**3


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=HANG,
        preexec_fn=_cap_memory,
        cwd=REPO,
    )


def check(path: Path | str) -> subprocess.CompletedProcess[str]:
    return run_python("from layerspec.cli import main; main()", "check", str(path))


def assert_refused(done: subprocess.CompletedProcess[str], path: Path | str, fragment: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"{path}: error: {fragment}"]


def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    assert_refused(check(fifo), fifo, "is a FIFO (named pipe), not a spec file")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_is_refused_without_reading(tmp_path: Path) -> None:
    assert_refused(check("/dev/zero"), "/dev/zero", "is a character device, not a spec file")
    link = tmp_path / "spec.yaml"
    link.symlink_to("/dev/zero")
    assert_refused(check(link), link, "is a character device, not a spec file")


def test_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "spec.yaml"
    folder.mkdir()
    assert_refused(check(folder), folder, "is a directory, not a spec file")


def test_huge_sparse_file_is_refused_by_its_size(tmp_path: Path) -> None:
    """8 GiB that take no disk: reading it whole would pass the memory cap."""
    spec = tmp_path / "spec.yaml"
    with open(spec, "wb") as handle:
        handle.truncate(8 * 1024**3)
    assert_refused(check(spec), spec, f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")


def test_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    head = "name: x\ninput: {shape: [4]}\nlayers: [{type: Flatten}]\n"
    spec.write_text(head + "#" * (MAX_FILE_BYTES - len(head) - 1) + "\n", encoding="utf-8")
    assert spec.stat().st_size == MAX_FILE_BYTES
    done = check(spec)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("case", ["block_repeat_nested", "block_repeat_empty"])
def test_endless_block_expansion_ends(case: str) -> None:
    """The same cases as tests/cases/bad, here bounded: without the count first, they would run for days."""
    spec = BAD / f"{case}.yaml"
    done = check(spec)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert "counted before expanding" in done.stderr


READ_RECORD = """
import sys
from pathlib import Path
from layerspec.files import read_text_limited
try:
    read_text_limited(Path(sys.argv[1]))
except OSError as exc:
    print(exc)
"""


def test_run_records_are_read_the_same_careful_way(tmp_path: Path) -> None:
    """build.json, metrics.json and the other files of a run folder are bounded like the spec."""
    fifo = tmp_path / "metrics.json"
    os.mkfifo(fifo)
    assert run_python(READ_RECORD, str(fifo)).stdout.strip() == "is a FIFO (named pipe), not a regular file"
    assert run_python(READ_RECORD, "/dev/zero").stdout.strip() == "is a character device, not a regular file"
