"""The train stage: fit a compiled spec on its dataset as its `train:` section says (imports TensorFlow when run).

The epoch loop is layerspec's own (one `model.fit` call per epoch) so that everything that decides the next epoch
(learning rate, early stopping, best weights) is a function of the history alone. A checkpoint is therefore just
the variables (model, optimizer, random-seed states) plus the history, and `--resume` continues exactly where an
uninterrupted run would be: shuffling order depends only on (seed, epoch), never on how many epochs ran before in
this process.

The package, one module per concern: `options` (command-line overrides, settings), `runtime` (threads, seeds,
precision, strategy, devices), `built` (the model `build` verified, handed over or read back from the run
folder), `model` (the recipe as Keras objects), `pipeline` (tf.data and augmentation),
`checkpoint`, `interrupt` (signals), `loop` (the epochs), `records` (what the run folder keeps at the end), `run`
(`train_run`) and `orchestrate` (`layerspec train`: a spec built first, or a run folder trained in place).
"""

from __future__ import annotations

from layerspec.recipes import epochs_without_improvement, learning_rate
from layerspec.train.built import Built
from layerspec.train.checkpoint import BEST_WEIGHTS, CHECKPOINT, load_checkpoint, read_checkpoint_state, save_checkpoint
from layerspec.train.interrupt import SIGNAL_AT_EPOCH_ENV, Interrupted, stop_on_signals
from layerspec.train.loop import Progress, best_epoch
from layerspec.train.model import apply_weight_average, build_model, mixed_precision
from layerspec.train.options import TrainOptions, loss_name, train_settings
from layerspec.train.orchestrate import Display, train_spec_or_run
from layerspec.train.pipeline import PARALLEL_CALLS, PREFETCH_BATCHES, _Pipeline, _rotated_and_zoomed
from layerspec.train.records import HISTORY_COLUMNS, TrainResult, recalibrate_batchnorm
from layerspec.train.run import train_run
from layerspec.train.runtime import check_devices, is_chief, make_strategy, prepare_runtime, resolve_precision

__all__ = [
    "BEST_WEIGHTS",
    "CHECKPOINT",
    "HISTORY_COLUMNS",
    "PARALLEL_CALLS",
    "PREFETCH_BATCHES",
    "SIGNAL_AT_EPOCH_ENV",
    "Built",
    "Display",
    "Interrupted",
    "Progress",
    "TrainOptions",
    "TrainResult",
    "_Pipeline",
    "_rotated_and_zoomed",
    "apply_weight_average",
    "best_epoch",
    "build_model",
    "check_devices",
    "epochs_without_improvement",
    "is_chief",
    "learning_rate",
    "load_checkpoint",
    "loss_name",
    "make_strategy",
    "mixed_precision",
    "prepare_runtime",
    "read_checkpoint_state",
    "recalibrate_batchnorm",
    "resolve_precision",
    "save_checkpoint",
    "stop_on_signals",
    "train_run",
    "train_settings",
    "train_spec_or_run",
]
