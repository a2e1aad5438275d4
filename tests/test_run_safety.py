"""Run folders and machines that are not what layerspec expects: hostile model.keras files, damaged checkpoints,
devices that do not exist, writes the file system refuses, and SIGTERM at any point of `build` and `train`.

Whatever happens the command exits 2 or 3 (or 130) with a `PATH: error:` line, never 1, and leaves no temporary
file or staging folder behind. One tiny model trained for one epoch on generated 8x8 images is shared.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from layerspec.cli import app

pytestmark = [pytest.mark.keras, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SPEC = """\
name: tiny
input:
  shape: [8, 8, 3]
layers:
  - type: Conv2D
    name: conv
    filters: 2
    kernel_size: 3
    activation: relu
  - type: Flatten
  - type: Dense
    name: fc
    units: 3
    activation: softmax
data:
  dir: .
  train: train.h5
  test: test.h5
  validation_split: 0.25
train:
  batch_size: 8
  epochs: 1
{extra}"""


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def write_data(folder: Path) -> None:
    import h5py

    rng = np.random.default_rng(0)
    for split, n in (("train", 24), ("test", 9)):
        with h5py.File(folder / f"{split}.h5", "w") as handle:
            handle[f"{split}_set_x"] = rng.integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8)
            handle[f"{split}_set_y"] = np.arange(n) % 3


def write_spec(folder: Path, name: str = "spec.yaml", extra: str = "") -> Path:
    path = folder / name
    path.write_text(SPEC.format(extra=extra), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("safety")
    write_data(folder)
    write_spec(folder)
    previous = Path.cwd()
    os.chdir(folder)  # runs/.current stays in here
    yield folder
    os.chdir(previous)


@pytest.fixture(scope="module")
def trained(workdir: Path) -> Path:
    result = invoke("train", str(workdir / "spec.yaml"), "--out", str(workdir / "trained"))
    assert result.exit_code == 0, result.output
    return workdir / "trained"


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leftovers(folder: Path) -> list[str]:
    """Temporary files (`.NAME.XXXX.tmp.SUFFIX`) under `folder`, and hidden folders beside it in which a new run
    was made or an old one set aside (`.NAME.new-XXXX`, `.NAME.old-XXXX`)."""
    inside = [p for p in folder.rglob(".*") if ".tmp" in p.name]
    beside = [p for p in folder.parent.glob(f".{folder.name}.*") if p.name.split(".")[2][:4] in {"new-", "old-"}]
    return sorted(str(p) for p in inside + beside)


def assert_error(result: Any, code: int, *messages: str) -> None:
    assert result.exit_code == code, result.output
    for message in messages:
        assert message in result.stderr, result.stderr
    assert "internal error" not in result.output and "Traceback" not in result.output


# ------------------------------------------------------------------------------------------------ model.keras


def rewrite_config(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """model.keras with its config.json changed by `change` (the weights stay as they were)."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def last_layer(config: dict[str, Any]) -> dict[str, Any]:
    layer: dict[str, Any] = config["config"]["layers"][-1]
    return layer


def test_model_with_a_lambda_is_refused(run: Path, keras: Any) -> None:
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Lambda(lambda x: x[:, :3])])
    model.save(run / "model.keras")
    assert_error(invoke("evaluate", str(run)), 3, "model.keras: error: the model holds 'Lambda'")


def test_model_with_a_layer_that_loads_other_files_is_refused(run: Path, tmp_path: Path) -> None:
    def to_saved_model_layer(config: dict[str, Any]) -> None:
        layer = last_layer(config)
        layer["class_name"] = "TFSMLayer"
        layer["config"] = {"filepath": str(tmp_path / "elsewhere"), "call_endpoint": "serve", "name": "fc"}

    rewrite_config(run / "model.keras", to_saved_model_layer)
    assert_error(invoke("evaluate", str(run)), 3, "the model holds 'TFSMLayer'")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("class_name", "NoSuchLayer", "the model holds 'NoSuchLayer'"),
        ("module", "os", "from module 'os'"),
        ("registered_name", "evil>Dense", "registered as 'evil>Dense'"),
    ],
)
def test_model_naming_an_unknown_class_is_refused(run: Path, field: str, value: str, message: str) -> None:
    rewrite_config(run / "model.keras", lambda config: last_layer(config).__setitem__(field, value))
    assert_error(invoke("evaluate", str(run)), 3, message)


@pytest.mark.parametrize("damage", ["truncated", "not_a_zip", "extra_member", "deep_config"])
def test_damaged_model_archive_is_bad_data(run: Path, damage: str) -> None:
    path = run / "model.keras"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "not_a_zip":
        path.write_bytes(b"PK\x03\x04 this is no archive")
    elif damage == "extra_member":
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("assets/payload.py", "print('hello')")
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", "[" * 50_000 + "]" * 50_000)
    assert_error(invoke("evaluate", str(run)), 3, "model.keras")


def test_model_of_another_shape_is_bad_data(run: Path, workdir: Path, keras: Any) -> None:
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.save(run / "model.keras")
    assert_error(invoke("evaluate", str(run)), 3, "takes inputs of shape (4, 4, 3)", "(8, 8, 3)")
    image = workdir / "image.png"
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    assert_error(invoke("predict", str(run), str(image)), 3, "takes inputs of shape (4, 4, 3)")


def test_predict_refuses_a_hostile_metrics_json(run: Path, workdir: Path) -> None:
    (run / "metrics.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    image = workdir / "image.png"
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    assert_error(invoke("predict", str(run), str(image)), 3, "metrics.json: error: nested more than")


# ------------------------------------------------------------------------------------------------ checkpoints


def rewrite_checkpoint(path: Path, change: Callable[[dict[str, np.ndarray]], None]) -> None:
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    change(arrays)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def state_bytes(state: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)


def _state(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(arrays["state"].tobytes())
    return state


CHECKPOINT_DAMAGE: dict[str, tuple[Callable[[dict[str, np.ndarray]], None], str]] = {
    "weight_of_another_shape": (
        lambda a: a.__setitem__("model_0", np.zeros((5, 5), np.float32)),
        "the checkpoint holds a float32 array of shape (5, 5)",
    ),
    "weight_of_strings": (lambda a: a.__setitem__("model_1", np.array(["x"] * 2)), "the checkpoint holds a <U1"),
    "one_weight_missing": (lambda a: a.pop("optimizer_0"), "optimizer arrays"),
    "no_state": (lambda a: a.pop("state"), "cannot read the checkpoint"),
    "state_not_json": (lambda a: a.__setitem__("state", np.frombuffer(b"{oops", np.uint8)), "not valid JSON"),
    "state_of_floats": (lambda a: a.__setitem__("state", np.zeros(3)), "not JSON bytes"),
    "history_of_strings": (
        lambda a: a.__setitem__("state", state_bytes({**_state(a), "history": ["x"], "epoch": 1})),
        "history.0: Input should be",
    ),
    "epoch_count_disagrees": (
        lambda a: a.__setitem__("state", state_bytes({**_state(a), "epoch": 7})),
        "says epoch 7 but holds the history of 1 epochs",
    ),
    "huge_seed": (lambda a: a.__setitem__("state", state_bytes({**_state(a), "seed": 10**30})), "seed: the integer"),
}


@pytest.mark.parametrize("damage", sorted(CHECKPOINT_DAMAGE))
def test_damaged_checkpoint_is_bad_data(run: Path, damage: str) -> None:
    change, message = CHECKPOINT_DAMAGE[damage]
    rewrite_checkpoint(run / "checkpoints" / "last.npz", change)
    result = invoke("train", str(run), "--resume", "--epochs", "2", "--extend")  # trains on: loads the weights
    assert_error(result, 3, "last.npz: error: ", message)
    assert not leftovers(run)


# ------------------------------------------------------------------------------------------------ devices


def test_device_that_does_not_exist_is_refused(workdir: Path) -> None:
    spec = write_spec(workdir, "gpu7.yaml", "  strategy:\n    type: mirrored\n    devices: ['/gpu:7']\n")
    result = invoke("train", str(spec), "--out", str(workdir / "gpu7"))
    assert_error(result, 2, "gpu7.yaml:", "device '/gpu:7' does not exist on this machine", "/device:CPU:0")
    assert not (workdir / "gpu7").exists()  # refused before anything was built


def test_existing_device_is_accepted(workdir: Path) -> None:
    from layerspec.spec import load_spec
    from layerspec.train import check_devices

    spec = write_spec(workdir, "cpu0.yaml", "  strategy:\n    type: mirrored\n    devices: ['/cpu:0']\n")
    check_devices(load_spec(spec), ["/cpu:0", "/device:CPU:0", "/job:localhost/replica:0/task:0/device:CPU:0"])


# ------------------------------------------------------------------------------------------------ writes refused


def failing(code: int) -> Callable[..., Any]:
    def fail(*_: Any, **__: Any) -> Any:
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize(
    ("target", "code", "message"),
    [
        ("keras.Model.save", errno.ENOSPC, "no space left on the device"),
        ("layerspec.run.replace.tempfile.mkdtemp", errno.EROFS, "the file system is read-only"),
        ("layerspec.artifacts.os.fsync", errno.ENOSPC, "no space left on the device"),
        ("layerspec.run.replace.os.rename", errno.EACCES, "permission denied"),
    ],
)
def test_build_that_cannot_write_leaves_the_run_folder_as_it_was(
    run: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch, target: str, code: int, message: str
) -> None:
    before = snapshot(run)
    changed = write_spec(workdir, "changed.yaml", "").read_text().replace("filters: 2", "filters: 3")
    (workdir / "changed.yaml").write_text(changed, encoding="utf-8")
    monkeypatch.setattr(target, failing(code))
    result = invoke("build", str(workdir / "changed.yaml"), "--out", str(run), "--overwrite")
    assert_error(result, 2, "error: cannot write", message)
    assert snapshot(run) == before and not leftovers(run)


def test_train_that_cannot_write_leaves_no_temporary_file(
    run: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    monkeypatch.setattr(keras.Model, "save", failing(errno.ENOSPC))
    result = invoke("train", str(run), "--epochs", "1")
    assert_error(result, 2, "model.keras: error: cannot write", "no space left on the device")
    assert not leftovers(run)


def test_out_that_is_a_dangling_symbolic_link(workdir: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "missing")
    result = invoke("build", str(workdir / "spec.yaml"), "--out", str(link))
    assert_error(result, 2, f"cannot write {link}: it is a symbolic link to", "which does not exist")
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("command", ["build", "train"])
def test_run_folder_name_too_long_for_the_file_system(workdir: Path, tmp_path: Path, command: str) -> None:
    out = tmp_path / ("r" * 300)
    result = invoke(command, str(workdir / "spec.yaml"), "--out", str(out))
    assert_error(result, 2, "the name is too long for the file system")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------ SIGTERM


def start(workdir: Path, *args: str) -> subprocess.Popen[str]:
    layerspec = Path(sys.executable).parent / "layerspec"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [str(layerspec), *args], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def terminate_when(process: subprocess.Popen[str], ready: Callable[[], bool], timeout: float = 240) -> str:
    """Send SIGTERM as soon as `ready()` holds (polled every millisecond); returns stderr."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"ended before the signal: {process.communicate()}"
        assert time.monotonic() < deadline, "never got ready"
        time.sleep(0.001)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    return stderr


def staging_exists(run_dir: Path) -> Callable[[], bool]:
    """The hidden folder beside `run_dir` in which the new run is made has been created."""
    return lambda: any(run_dir.parent.glob(f".{run_dir.name}.new-*"))


@pytest.mark.parametrize("command", ["build", "train"])
def test_sigterm_while_building_leaves_the_run_folder_byte_identical(run: Path, workdir: Path, command: str) -> None:
    before = snapshot(run)
    changed = (workdir / "spec.yaml").read_text().replace("filters: 2", "filters: 5")
    (workdir / "sigterm.yaml").write_text(changed, encoding="utf-8")
    process = start(workdir, command, "sigterm.yaml", "--out", str(run), "--overwrite")
    stderr = terminate_when(process, staging_exists(run))
    assert process.returncode == 130, stderr
    assert "layerspec: interrupted by SIGTERM" in stderr and "Traceback" not in stderr
    assert snapshot(run) == before and not leftovers(run)


def test_sigterm_while_saving_the_trained_model_leaves_the_trained_run_as_it_was(run: Path, workdir: Path) -> None:
    # Training a trained run again happens beside it; the model is written last, to `.model.keras.XXXX.tmp.keras`.
    def saving() -> bool:
        return any(run.parent.glob(f".{run.name}.new-*/.model.keras.*"))

    before = snapshot(run)
    process = start(workdir, "train", str(run), "--epochs", "1")
    stderr = terminate_when(process, saving)
    assert process.returncode == 130, stderr
    assert f"{run}: interrupted: stopped before training finished: {run} is exactly as it was" in stderr
    assert "Traceback" not in stderr
    assert snapshot(run) == before and not leftovers(run)


def test_signal_while_the_files_move_into_place_waits_for_all_of_them(
    run: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new build takes the old one's place all or none: a SIGTERM between the renames is held back until the
    new run is in."""
    from layerspec import interrupts
    from layerspec.run import replace

    rename = os.rename

    def rename_after_a_signal(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode, inside the held-back stretch
        return rename(*args, **kwargs)

    changed = (workdir / "spec.yaml").read_text().replace("filters: 2", "filters: 4")
    (workdir / "publish.yaml").write_text(changed, encoding="utf-8")
    monkeypatch.setattr(replace.os, "rename", rename_after_a_signal)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    interrupts.install()
    try:
        result = invoke("build", str(workdir / "publish.yaml"), "--out", str(run), "--overwrite")
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert_error(result, 130, "layerspec: interrupted by SIGTERM")
    assert (run / "spec.yaml").read_text(encoding="utf-8") == changed  # every file of the new build is in
    assert json.loads((run / "build.json").read_text())["spec_sha256"] == hashlib.sha256(changed.encode()).hexdigest()
    assert not leftovers(run)
