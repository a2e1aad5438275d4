"""Compare training recipes by k-fold cross-validation on the training images alone (not a test).

    .venv/bin/python tests/bench/bench_cross_validate.py specs/signs.yaml \
        --candidate baseline='{}' --candidate ema='{optimizer: {use_ema: true}}' [--folds 5] [--seeds 11 12]

A 15 % validation split of SIGNS is 162 images, and good recipes all score 97-99 % on it: one or two images decide.
Cross-validation scores every training image once per seed (1,080 held-out predictions), and the test images are
never read (the spec's `test` is dropped). Each candidate is a YAML mapping merged into the spec's `train:`
section; every fold trains on the other folds' images with the spec's recipe and is scored on its own (the
`validation_split` is dropped too: with `keep: last` nothing needs it). The folds are stratified by class and fixed
by `--fold-seed`, so every candidate sees the same folds. Results go to OUT/results.json as they finish.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from layerspec.data import Dataset, Split, load_dataset
from layerspec.spec import LoadedSpec, load_spec
from layerspec.train import TrainOptions, train_run


def merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def candidate_spec(spec: Path, train_update: dict[str, Any], folder: Path) -> Path:
    """The spec with the candidate's train settings, its data read from the same place, no test or split."""
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    data = dict(document["data"])
    data["dir"] = str((spec.parent / data.get("dir", ".")).resolve())
    data["test"] = None
    data.pop("validation_split", None)
    document["data"] = data
    document["train"] = merged(document.get("train") or {}, train_update)
    path = folder / spec.name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def stratified_folds(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number of every example: each class dealt out in turn over the folds after a seeded shuffle."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), np.int64)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        rng.shuffle(members)
        fold[members] = np.arange(len(members)) % folds
    return fold


def run_fold(
    loaded: LoadedSpec, images: Split, names: list[str], held_out: np.ndarray, seed: int, out: Path
) -> dict[str, Any]:
    dataset = Dataset(images.subset(np.flatnonzero(~held_out)), None, images.subset(np.flatnonzero(held_out)), names)
    result = train_run(out, loaded, TrainOptions(seed=seed, command="bench_cross_validate"), dataset=dataset)
    metrics = result.metrics
    assert metrics is not None  # the held-out fold is the test split
    return {
        "seed": seed,
        "held_out": int(held_out.sum()),
        "correct": int(np.trace(metrics.confusion_matrix)),
        "loss": metrics.test_loss,
        "kept": result.kept_reason,
        "median_epoch_seconds": statistics.median(r.seconds or 0.0 for r in result.history),
    }


def cross_validate(spec: Path, update: dict[str, Any], args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="layerspec-cv-") as scratch:
        loaded = load_spec(candidate_spec(spec, update, Path(scratch)))
        images = load_dataset(loaded)
        fold_of = stratified_folds(images.train.y, args.folds, args.fold_seed)
        results = []
        for seed in args.seeds:
            for fold in range(args.folds):
                record = {"fold": fold} | run_fold(
                    loaded, images.train, images.class_names, fold_of == fold, seed, out / f"seed{seed}-fold{fold}"
                )
                print(
                    f"    seed {seed} fold {fold}: {record['correct']}/{record['held_out']}  loss {record['loss']:.4f}",
                    flush=True,
                )
                results.append(record)
    return results


def summary(name: str, results: list[dict[str, Any]]) -> str:
    correct = sum(r["correct"] for r in results)
    total = sum(r["held_out"] for r in results)
    loss = statistics.fmean(r["loss"] for r in results)
    return f"{name:24} {correct}/{total} correct ({correct / total:.2%})  mean held-out loss {loss:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("spec", type=Path)
    parser.add_argument("--candidate", action="append", required=True, help="NAME=YAML merged into train:")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold-seed", type=int, default=0)
    parser.add_argument("--seeds", nargs="+", type=int, default=[11, 12])
    parser.add_argument("--out", type=Path, default=Path("/tmp/layerspec-cv"))
    args = parser.parse_args()
    spec = args.spec.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    os.chdir(args.out)  # train_run records runs/.current in the working directory
    record_path = args.out / "results.json"
    records: dict[str, Any] = json.loads(record_path.read_text()) if record_path.is_file() else {}
    for item in args.candidate:
        name, _, text = item.partition("=")
        update = yaml.safe_load(text) or {}
        print(f"{name}: train += {update}", flush=True)
        results = cross_validate(spec, update, args, args.out / name)
        records[name] = {"train_update": update, "folds": args.folds, "results": results}
        record_path.write_text(json.dumps(records, indent=1))
        print(summary(name, results), flush=True)
    print()
    for name, record in records.items():
        print(summary(name, record["results"]))


if __name__ == "__main__":
    main()
