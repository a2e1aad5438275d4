"""`layerspec build`: check -> memory guard -> compile -> cross-check -> run folder.

Every file of a build is written into a hidden folder beside the run folder, which takes the run folder's place
in one step once all of them exist (`layerspec.run.replace`). A build that fails or is interrupted leaves any
previous run exactly as it was; a run holding training results is replaced only with `--overwrite`.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphviz

from layerspec import artifacts
from layerspec.check import Checked, check_loaded
from layerspec.compile import check_memory, compile_model, keras_module, verify_model
from layerspec.diagram import RankDir, dot_available, model_graph, render
from layerspec.layer_args import describe
from layerspec.run import BuildInfo, RunFolder, Summary, folder, set_current_run
from layerspec.run.replace import choose_target, publish, staged
from layerspec.spec import LoadedSpec
from layerspec.summary_table import render_summary

RUN_FILES = folder.BUILD_FILES
DIAGRAM_IMAGES = (folder.SVG, folder.PNG)


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote: the run folder and each file's path (None for a diagram that could not be drawn)."""

    run_dir: Path
    files: dict[str, Path | None]
    checked: Checked
    graphviz_missing: bool
    note: str | None = None  # why the run went to another folder than runs/<name>

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
    loaded: LoadedSpec,
    out: Path | None = None,
    *,
    rankdir: RankDir = "TB",
    command: str = "layerspec build",
    overwrite: bool = False,
) -> BuildResult:
    """Check, compile and verify a loaded spec, then write its run folder and make it the current run."""
    checked = check_loaded(loaded)
    model = compile_verified(checked)
    target = choose_target(out, checked.summary.name, loaded.sha256, overwrite=overwrite, spec_path=loaded.path)
    with staged(target.path) as staging:
        drawn = write_build(staging, checked, model, rankdir=rankdir, command=command)
        run = publish(staging, target.path)
    set_current_run(run.path)
    return BuildResult(run.path, build_files(run), checked, graphviz_missing=not drawn, note=target.note)


def compile_verified(checked: Checked) -> Any:
    """The checked spec's Keras model, compiled and cross-checked against the static inference."""
    check_memory(checked)  # before TensorFlow allocates anything
    model = compile_model(checked)
    verify_model(checked, model)
    return model


def write_build(staging: RunFolder, checked: Checked, model: Any, *, rankdir: RankDir, command: str) -> bool:
    """Write every file of the build into `staging` (build.json last); say whether the diagram was drawn."""
    graph = model_graph(checked.summary, rankdir=rankdir, block_types=block_types(checked), notes=layer_notes(checked))
    _write_summaries(staging, checked)
    drawn = _write_diagram(staging, graph)
    with artifacts.writing(staging.file(folder.MODEL)):
        model.save(staging.file(folder.MODEL))
    staging.write(folder.BUILD, build_record(checked, command, rankdir))
    return drawn


def build_files(run: RunFolder) -> dict[str, Path | None]:
    """Each file of a build and its path, None for one the run does not hold (a diagram not drawn)."""
    return {name: run.file(name) if run.file(name).exists() else None for name in RUN_FILES}


def layer_notes(checked: Checked) -> dict[str, str]:
    """Each layer's key arguments in a few words (`filters 32 · 3x3 /2 · same · relu`), for the diagram."""
    return {node.name: describe(node.layer) for node in checked.graph.nodes if node.layer is not None}


def block_types(checked: Checked) -> dict[str, str]:
    """Block instance name -> the block it instantiates, for the diagram's cluster labels."""
    return {
        node.origin.block: node.origin.block_type
        for node in checked.graph.nodes
        if node.origin is not None and node.origin.block is not None and node.origin.block_type is not None
    }


def build_record(checked: Checked, command: str, rankdir: str) -> BuildInfo:
    """build.json: how and from what this run folder was made."""
    keras = keras_module()
    import tensorflow as tf

    loaded = checked.loaded
    return BuildInfo(
        command=command,
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        spec_path=str(loaded.path.resolve()),  # absolute: data paths are relative to the spec's folder
        spec_sha256=loaded.sha256,
        model_name=checked.summary.name,
        params=checked.summary.params,
        rankdir=rankdir,
        overrides=list(loaded.overrides),
        versions={
            "layerspec": importlib.metadata.version("layerspec"),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "python": platform.python_version(),
        },
    )


def summary_record(checked: Checked) -> Summary:
    """summary.json: `check --json`'s summary, each layer with the block instance it came from (if any)."""
    raw = checked.summary.to_json()
    blocks = {node.name: node.origin.block for node in checked.graph.nodes if node.origin is not None}
    for layer in raw["layers"]:
        if blocks.get(layer["name"]) is not None:
            layer["block"] = blocks[layer["name"]]
    return Summary.model_validate(raw)


def _write_summaries(staging: RunFolder, checked: Checked) -> None:
    staging.write_text(folder.SPEC, checked.loaded.text)
    staging.write_text(folder.SUMMARY_TXT, render_summary(checked.summary, shares=True))
    staging.write(folder.SUMMARY_JSON, summary_record(checked))


def _write_diagram(staging: RunFolder, graph: graphviz.Digraph) -> bool:
    """Write model.dot, and the SVG and PNG when Graphviz's `dot` is installed; say whether they were drawn."""
    staging.write_text(folder.DOT, graph.source)
    if not dot_available():
        return False
    try:
        svg, png = render(graph, "svg"), render(graph, "png")
    except graphviz.ExecutableNotFound:
        return False
    staging.write_bytes(folder.SVG, svg)
    staging.write_bytes(folder.PNG, png)
    return True
