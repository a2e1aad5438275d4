"""The command line as Typer and POSIX users expect it: --version, -h, usage lines, an optional run everywhere,
help that describes the output, a bounded evaluate listing, an interrupt that is not an error, an honest resume.

No test here imports TensorFlow: the stages behind the verbs are replaced where a verb would train or load a model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import layerspec
from layerspec.errors import UsageError
from layerspec.evaluate import Prediction
from layerspec.run import set_current_run
from layerspec.run.models import Evaluation
from layerspec.spec import load_spec
from layerspec.train.interrupt import Interrupted
from layerspec.train.options import TrainOptions, train_settings
from layerspec.train.run import resumed_epochs

VERBS = ["check", "build", "train", "evaluate", "predict", "report", "schema", "export", "import", "diff"]
USAGE = {
    "check": "Usage: layerspec check [OPTIONS] SPEC",
    "build": "Usage: layerspec build [OPTIONS] SPEC",
    "train": "Usage: layerspec train [OPTIONS] [SPEC|RUN]",
    "evaluate": "Usage: layerspec evaluate [OPTIONS] [RUN]",
    "predict": "Usage: layerspec predict [OPTIONS] [RUN] IMAGE...",
    "report": "Usage: layerspec report [OPTIONS] [RUN]...",
}
SPEC = "name: tiny\ninput:\n  shape: [4, 4, 3]\nlayers:\n  - type: Flatten\n  - type: Dense\n    units: 3\n"


def flat(text: str) -> str:
    """Help text with its line wrapping undone."""
    return " ".join(text.split())


def test_version(cli: Callable[..., Any]) -> None:
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout == f"layerspec {layerspec.__version__}\n"


@pytest.mark.parametrize("verb", [None, *VERBS])
def test_dash_h_is_help(cli: Callable[..., Any], verb: str | None) -> None:
    args = [verb] if verb else []
    short, long = cli(*args, "-h"), cli(*args, "--help")
    assert short.exit_code == 0 and short.stdout == long.stdout and "Usage: layerspec" in short.stdout


@pytest.mark.parametrize("verb", sorted(USAGE))
def test_usage_lines_name_no_python_type(cli: Callable[..., Any], verb: str) -> None:
    text = cli(verb, "--help").stdout
    assert text.splitlines()[0] == USAGE[verb]
    for internal in ("{", "<int", "<path", "list[", "<bool", "Path]"):
        assert internal not in text.split("Options:")[0], f"{internal!r} in\n{text}"
    options = text.split("Options:")[1]
    assert "<int" not in options and "<path" not in options and "<int range>" not in options


def test_a_missing_argument_is_named_in_capitals(cli: Callable[..., Any]) -> None:
    result = cli("check")
    assert result.exit_code == 2
    assert "Usage: layerspec check [OPTIONS] SPEC" in result.stderr and "Missing argument 'SPEC'" in result.stderr


def test_check_json_help_names_every_key_it_prints(cli: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC, encoding="utf-8")
    payload = json.loads(cli("check", str(tmp_path / "spec.yaml"), "--json").stdout)
    described = flat(cli("check", "--help").stdout)
    for key in [*payload, *payload["layers"][0], *payload["inputs"][0]]:
        assert key in described, key


def test_evaluate_and_predict_json_help_name_their_keys(cli: Callable[..., Any]) -> None:
    from layerspec.evaluate import classification_metrics
    from layerspec.splits import Split

    split = Split(np.zeros((2, 1), np.float32), np.array([0, 1]), ["a.png", "b.png"])
    metrics = classification_metrics(np.array([[0.9, 0.1], [0.8, 0.2]]), split, ["x", "y"]).to_json()
    described = flat(cli("evaluate", "--help").stdout)
    for key in [*metrics, *metrics["per_class"][0], *metrics["misclassified"][0]]:
        assert key in described, key
    assert "[{file, class, confidence, probabilities: {CLASS: P}}]" in flat(cli("predict", "--help").stdout)
    assert "run_dir" in flat(cli("build", "--help").stdout) and "epoch_seconds" in flat(cli("train", "--help").stdout)


def fake_metrics(wrong: int) -> Evaluation:
    return Evaluation.model_validate({
        "test_loss": 1.0, "test_accuracy": 0.5, "test_count": 2 * wrong, "class_names": ["a", "b"],
        "confusion_matrix": [[wrong, 0], [wrong, 0]],
        "per_class": [{"class": c, "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": wrong} for c in "ab"],
        "misclassified": [
            {"index": i, "file": f"img{i}.png", "true": "b", "predicted": "a", "confidence": 0.6} for i in range(wrong)
        ],
    })  # fmt: skip


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run folder (its spec.yaml is all a run needs to be found), the current run of tmp_path."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "tiny"
    run.mkdir(parents=True)
    (run / "spec.yaml").write_text(SPEC, encoding="utf-8")
    set_current_run(run)
    return run


def test_evaluate_lists_twenty_misclassified_unless_all(
    cli: Callable[..., Any], run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("layerspec.evaluate.evaluate_run", lambda run, data: fake_metrics(89))
    short = cli("evaluate").stdout
    assert "misclassified: 89 (the first 20)" in short and "img19.png" in short and "img20.png" not in short
    assert "... and 69 more: `--all` lists them" in short
    full = cli("evaluate", "--all").stdout
    assert "misclassified: 89\n" in full and "img88.png" in full and "more:" not in full
    assert len(json.loads(cli("evaluate", "--json").stdout)["misclassified"]) == 89


@pytest.fixture
def predicted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, list[Path]]]:
    calls: list[tuple[Path, list[Path]]] = []

    def predict_files(run: Path, images: list[Path]) -> list[Prediction]:
        calls.append((run, images))
        return [Prediction(str(p), "a", 1.0, {"a": 1.0}) for p in images]

    monkeypatch.setattr("layerspec.evaluate.predict_files", predict_files)
    return calls


def test_predict_takes_the_current_run_when_none_is_named(
    cli: Callable[..., Any], run_dir: Path, predicted: list[tuple[Path, list[Path]]]
) -> None:
    result = cli("predict", "a.png", "b.png", "--json")
    assert result.exit_code == 0, result.output
    assert predicted[-1] == (run_dir.resolve(), [Path("a.png"), Path("b.png")])
    assert [p["file"] for p in json.loads(result.stdout)] == ["a.png", "b.png"]  # a list, as its help says


def test_predict_reads_a_first_folder_as_the_run(
    cli: Callable[..., Any], run_dir: Path, predicted: list[tuple[Path, list[Path]]]
) -> None:
    assert cli("predict", str(run_dir), "a.png").exit_code == 0
    assert predicted[-1] == (run_dir, [Path("a.png")])
    assert cli("predict", "--run", str(run_dir), "c.png").exit_code == 0
    assert predicted[-1] == (run_dir, [Path("c.png")])


def test_predict_without_images_says_how_to_call_it(cli: Callable[..., Any], run_dir: Path) -> None:
    result = cli("predict", str(run_dir))
    assert result.exit_code == 2 and "no image given: `layerspec predict [RUN] IMAGE...`" in result.stderr


def test_an_interrupt_is_reported_as_one(
    cli: Callable[..., Any], run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stopped(*args: Any, **kwargs: Any) -> Any:
        raise Interrupted("runs/tiny/checkpoints/last.npz", "SIGINT during epoch 2 (after batch 3): stopped")

    monkeypatch.setattr("layerspec.train.train_spec_or_run", stopped)
    result = cli("train")
    assert result.exit_code == 130
    assert (
        result.stderr == "runs/tiny/checkpoints/last.npz: interrupted: SIGINT during epoch 2 (after batch 3): stopped\n"
    )


def test_extend_needs_resume_and_epochs(cli: Callable[..., Any], run_dir: Path) -> None:
    result = cli("train", "--extend")
    assert result.exit_code == 2 and "--extend goes with --resume and --epochs N" in result.stderr


@pytest.mark.parametrize(
    ("epochs", "extend", "expected"),
    [(None, False, 2), (2, False, 2), (3, True, 3), (None, True, 2)],
)
def test_resume_trains_to_the_planned_epochs(epochs: int | None, extend: bool, expected: int) -> None:
    options = TrainOptions(epochs=epochs, resume=True, extend=extend)
    assert resumed_epochs(options, planned=2, done=2, run_dir=Path("run")) == expected


def test_resume_refuses_another_total_without_extend() -> None:
    with pytest.raises(UsageError) as caught:
        resumed_epochs(TrainOptions(epochs=3, resume=True), planned=2, done=2, run_dir=Path("run"))
    message = caught.value.diagnostics[0].message
    assert message.startswith("the run's schedule was planned for 2 epochs, not 3: resume without --epochs")
    assert "--extend" in message and "layerspec train SPEC --epochs 3 --out" in message
    with pytest.raises(UsageError, match="already trained 4 epochs"):
        resumed_epochs(TrainOptions(epochs=3, resume=True, extend=True), planned=5, done=4, run_dir=Path("run"))


def test_tensorboard_from_the_spec_or_the_command_line(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC + "train:\n  tensorboard: true\n", encoding="utf-8")
    assert train_settings(load_spec(spec)).tensorboard
    spec.write_text(SPEC, encoding="utf-8")
    assert not train_settings(load_spec(spec)).tensorboard
    assert train_settings(load_spec(spec), TrainOptions(tensorboard=True)).tensorboard


@pytest.mark.parametrize("failure", [None, RuntimeError("a build that failed"), KeyboardInterrupt("SIGTERM")])
def test_temporary_files_go_when_the_command_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException | None
) -> None:
    """What a tool leaves in TMPDIR (Keras's half-saved model of a failed build, AutoGraph's modules) is removed,
    however the command ends; the caller's TMPDIR is back as it was."""
    import os
    import tempfile

    from layerspec.tooldirs import private_tempdir

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    expected = pytest.raises(type(failure)) if failure is not None else nullcontext()
    with expected, private_tempdir() as private:
        Path(tempfile.mkdtemp(), "model.weights.h5").write_bytes(b"half")
        assert os.environ["TMPDIR"] == str(private) and private.parent == tmp_path
        if failure is not None:
            raise failure
    assert list(tmp_path.iterdir()) == [] and os.environ["TMPDIR"] == str(tmp_path)


def test_tools_are_pointed_at_the_cache_unless_the_user_chose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from layerspec.tooldirs import point_tools_at_cache

    monkeypatch.chdir(tmp_path)
    for name in ("KERAS_HOME", "MPLCONFIGDIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MPLCONFIGDIR", "/somewhere/mine")
    point_tools_at_cache()
    assert os.environ["KERAS_HOME"] == str(tmp_path / "runs" / ".cache" / "keras")
    assert os.environ["MPLCONFIGDIR"] == "/somewhere/mine"
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    point_tools_at_cache()
    assert os.environ["KERAS_HOME"] == str(tmp_path / "xdg" / "layerspec" / "keras")
