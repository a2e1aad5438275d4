"""Rules on the `data:` and `train:` sections, alone and together."""

from __future__ import annotations

import re

from layerspec.errors import Diagnostic
from layerspec.recipes import LOSSES, SCHEDULES
from layerspec.rules.base import Context, rule
from layerspec.spec.train import LOSS_FOR_LABELS, TrainSpec
from layerspec.spec.yaml_source import SourcePath


@rule
def loss_fits_labels(ctx: Context) -> list[Diagnostic]:
    """A categorical loss needs one-hot labels, a sparse one integer labels, the others the stored values."""
    if ctx.data is None or ctx.train is None or ctx.train.loss is None:
        return []
    loss, labels = ctx.train.loss, ctx.data.labels
    accepted = LOSSES[loss].labels
    if labels in accepted:
        return []
    fitting = [name for name, entry in LOSSES.items() if labels in entry.labels]
    return [
        ctx.error(
            ("train", "loss"),
            f"loss '{loss}' does not fit labels '{labels}' (data.labels): use one of {', '.join(fitting)}, "
            f"or data.labels: {' or '.join(accepted)}",
        )
    ]


@rule
def label_smoothing_needs_one_hot(ctx: Context) -> list[Diagnostic]:
    """Keras's sparse cross-entropy has no label smoothing: it would be ignored."""
    if ctx.data is None or ctx.train is None or ctx.train.label_smoothing == 0:
        return []
    loss = ctx.train.loss or LOSS_FOR_LABELS[ctx.data.labels]
    if LOSSES[loss].smooths_labels:
        return []
    why = "train.loss" if ctx.train.loss is not None else f"the default for data.labels '{ctx.data.labels}'"
    return [
        ctx.error(
            ("train", "label_smoothing"),
            f"label_smoothing works only with categorical_crossentropy and binary_crossentropy, but the loss is "
            f"{loss} ({why}): set label_smoothing: 0, or use one of those losses",
        )
    ]


@rule
def ema_keeps_last_weights(ctx: Context) -> list[Diagnostic]:
    """The weights' moving average is of the last steps: keeping the best epoch's raw weights would drop it."""
    if ctx.train is None or not (ctx.train.optimizer.use_ema and ctx.train.keep.weights == "best"):
        return []
    return [
        ctx.error(
            ("train", "optimizer", "use_ema"),
            "optimizer.use_ema keeps the average of the last steps' weights; it needs keep.weights: last "
            f"(keep.weights: best, line {ctx.line(('train', 'keep', 'weights'))}, would throw the average away)",
        )
    ]


def watched_monitors(settings: TrainSpec) -> dict[SourcePath, str]:
    """Where each figure the training watches is set, for the settings that watch one."""
    watched: dict[SourcePath, str] = {}
    if settings.keep.weights == "best":
        watched[("train", "keep", "monitor")] = settings.keep.monitor
    if settings.early_stopping is not None:
        watched[("train", "early_stopping", "monitor")] = settings.early_stopping.monitor
    if SCHEDULES[settings.schedule.type].watches_monitor:
        watched[("train", "schedule", "monitor")] = settings.schedule.monitor
    return watched


@rule
def monitors_need_validation(ctx: Context) -> list[Diagnostic]:
    """Settings that watch validation figures need a validation split."""
    if ctx.data is None or ctx.train is None or ctx.data.validation is not None or ctx.data.validation_split > 0:
        return []
    return [
        ctx.error(where, f"'{monitor}' needs validation data: set data.validation_split (e.g. 0.15) or data.validation")
        for where, monitor in watched_monitors(ctx.train).items()
        if monitor.startswith("val_")
    ]


@rule
def one_validation_source(ctx: Context) -> list[Diagnostic]:
    if ctx.data is None or ctx.data.validation is None or ctx.data.validation_split == 0:
        return []
    return [
        ctx.error(
            ("data", "validation_split"),
            f"write either `validation` (a file or folder, line {ctx.line(('data', 'validation'))}) or "
            "`validation_split`, not both",
        )
    ]


# TensorFlow's device names: [/job:NAME][/replica:N][/task:N] then /TYPE:N or /device:TYPE:N.
_DEVICE = re.compile(
    r"^(?:(?:/job:[A-Za-z0-9_.\-]+)?(?:/replica:\d+)?(?:/task:\d+)?/|)(?:device:)?(cpu|gpu|tpu):(\d+)$", re.I
)


def _canonical(device: str) -> str | None:
    """One spelling per device (`/gpu:0` and `/device:GPU:0` are the same), None if `device` is not one."""
    match = _DEVICE.match(device)
    if match is None:
        return None
    prefix = device[: match.start(1)].lower().removesuffix("device:").rstrip("/")
    return f"{prefix}/{match[1].upper()}:{int(match[2])}"


@rule
def devices_are_device_names(ctx: Context) -> list[Diagnostic]:
    """Each of strategy.devices is a device name, once; whether the device exists is known only when training."""
    if ctx.train is None or ctx.train.strategy.devices is None:
        return []
    problems: list[Diagnostic] = []
    seen: dict[str, int] = {}
    for i, device in enumerate(ctx.train.strategy.devices):
        where = ("train", "strategy", "devices", i)
        canonical = _canonical(device)
        if canonical is None:
            problems.append(
                ctx.error(
                    where,
                    f"{device!r} is not a device name: write /cpu:N or /gpu:N (e.g. /gpu:0), or /device:GPU:N "
                    "(optionally after /job:NAME/replica:N/task:N)",
                )
            )
        elif canonical in seen:
            problems.append(
                ctx.error(where, f"{device!r} is the same device as devices[{seen[canonical]}]: list each once")
            )
        else:
            seen[canonical] = i
    return problems


@rule
def devices_need_mirrored(ctx: Context) -> list[Diagnostic]:
    if ctx.train is None or ctx.train.strategy.devices is None or ctx.train.strategy.type == "mirrored":
        return []
    kind = ctx.train.strategy.type
    return [
        ctx.error(
            ("train", "strategy", "devices"),
            f"only strategy type 'mirrored' uses `devices`; with '{kind}' they would be ignored: set "
            "type: mirrored, or remove devices",
        )
    ]
