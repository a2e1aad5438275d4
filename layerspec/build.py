"""`layerspec build`: check -> memory guard -> compile -> cross-check -> run folder.

Every file of a build is first written into a staging folder inside the run folder, and only once all of them
exist are they moved into place one by one with `os.replace`. An interrupted or failed build therefore leaves
the previous build's files untouched, never a half-written model or diagram beside them.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphviz

from layerspec import artifacts, interrupts
from layerspec.check import Checked, check_loaded
from layerspec.compile import check_memory, compile_model, keras_module, verify_model
from layerspec.diagram import RankDir, dot_available, model_graph, render
from layerspec.errors import UsageError
from layerspec.spec import LoadedSpec
from layerspec.summary_table import render_summary

# Files in the order they are moved into place: build.json last, so its presence marks a complete build.
RUN_FILES = (
    "spec.yaml",
    "summary.txt",
    "summary.json",
    "model.dot",
    "model.svg",
    "model.png",
    "model.keras",
    "build.json",
)
DIAGRAM_IMAGES = ("model.svg", "model.png")


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote: the run folder and each file's path (None for a diagram that could not be drawn)."""

    run_dir: Path
    files: dict[str, Path | None]
    checked: Checked
    graphviz_missing: bool

    @property
    def params(self) -> int:
        return self.checked.summary.params

    def to_json(self) -> dict[str, Any]:
        """The `build --json` payload; the keys are a contract (see README)."""
        files = {name: None if path is None else str(path) for name, path in self.files.items()}
        return {
            "run_dir": str(self.run_dir),
            "model": files["model.keras"],
            "summary": files["summary.txt"],
            "summary_json": files["summary.json"],
            "spec": files["spec.yaml"],
            "build": files["build.json"],
            "dot": files["model.dot"],
            "svg": files["model.svg"],
            "png": files["model.png"],
            "params": self.params,
        }


def build(
    loaded: LoadedSpec, out: Path | None = None, *, rankdir: RankDir = "TB", command: str = "layerspec build"
) -> BuildResult:
    """Check, compile and verify a loaded spec, then write its run folder and make it the current run."""
    checked = check_loaded(loaded)
    check_memory(checked)  # before TensorFlow allocates anything
    model = compile_model(checked)
    verify_model(checked, model)
    run_dir = out if out is not None else artifacts.RUNS_DIR / checked.summary.name
    graph = model_graph(checked.summary, rankdir=rankdir, block_types=block_types(checked))
    with _staging(run_dir) as staging:
        _write_summaries(staging, checked)
        drawn = _write_diagram(staging, graph)
        with artifacts.writing(run_dir / "model.keras"):
            model.save(staging / "model.keras")
        artifacts.write_json(staging / "build.json", build_record(checked, command, rankdir))
        with interrupts.deferred(), artifacts.writing(run_dir):  # all files move into place, or none do
            files = _publish(staging, run_dir, drawn=drawn)
    artifacts.set_current_run(run_dir)
    return BuildResult(run_dir, files, checked, graphviz_missing=not drawn)


def block_types(checked: Checked) -> dict[str, str]:
    """Block instance name -> the block it instantiates, for the diagram's cluster labels."""
    return {
        node.origin.block: node.origin.block_type
        for node in checked.graph.nodes
        if node.origin is not None and node.origin.block is not None and node.origin.block_type is not None
    }


def build_record(checked: Checked, command: str, rankdir: str) -> dict[str, Any]:
    """build.json: how and from what this run folder was made."""
    keras = keras_module()
    import tensorflow as tf

    loaded = checked.loaded
    return {
        "command": command,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "spec_path": str(loaded.path.resolve()),  # absolute: data paths are relative to the spec's folder
        "spec_sha256": loaded.sha256,
        "model_name": checked.summary.name,
        "params": checked.summary.params,
        "rankdir": rankdir,
        "versions": {
            "layerspec": importlib.metadata.version("layerspec"),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "python": platform.python_version(),
        },
    }


def _write_summaries(staging: Path, checked: Checked) -> None:
    artifacts.write_text(staging / "spec.yaml", checked.loaded.text)
    artifacts.write_text(staging / "summary.txt", render_summary(checked.summary, shares=True))
    artifacts.write_json(staging / "summary.json", checked.summary.to_json())


def _write_diagram(staging: Path, graph: graphviz.Digraph) -> bool:
    """Write model.dot, and the SVG and PNG when Graphviz's `dot` is installed; say whether they were drawn."""
    artifacts.write_text(staging / "model.dot", graph.source)
    if not dot_available():
        return False
    try:
        svg, png = render(graph, "svg"), render(graph, "png")
    except graphviz.ExecutableNotFound:
        return False
    artifacts.write_bytes(staging / "model.svg", svg)
    artifacts.write_bytes(staging / "model.png", png)
    return True


@contextlib.contextmanager
def _staging(run_dir: Path) -> Iterator[Path]:
    """A hidden temporary folder inside the run folder (same file system, so `os.replace` is atomic).

    It is removed whatever happens, and so is the run folder if this build created it and failed. Signals are
    held back while the folder is made and removed, so that none comes between making it and knowing its name.
    """
    staging: Path | None = None
    created = finished = False
    try:
        with interrupts.deferred(), artifacts.writing(run_dir):
            if run_dir.exists() and not run_dir.is_dir():
                raise UsageError(f"{run_dir} exists and is not a folder: choose another --out")
            created = not run_dir.exists()
            run_dir.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".build-", dir=run_dir))
        yield staging
        finished = True
    finally:
        with interrupts.deferred():
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            if created and not finished:
                with contextlib.suppress(OSError):
                    run_dir.rmdir()  # only if empty: nothing of a failed build is left


def _publish(staging: Path, run_dir: Path, *, drawn: bool) -> dict[str, Path | None]:
    """Move every staged file into the run folder; without Graphviz, drop the previous build's images too,
    since they would show a model that may no longer be this one."""
    files: dict[str, Path | None] = {}
    for name in RUN_FILES:
        target = run_dir / name
        if (staging / name).exists():
            os.replace(staging / name, target)
            files[name] = target
        else:
            if name in DIAGRAM_IMAGES and not drawn:
                target.unlink(missing_ok=True)
            files[name] = None
    return files
