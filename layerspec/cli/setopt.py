"""`--set KEY=VALUE`, the option every command that reads a spec file takes."""

from __future__ import annotations

from typing import Annotated

import typer

SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a value of the spec (repeatable): a dotted key such as train.optimizer.learning_rate=0.01, "
        "layers.NAME.ARG=VALUE or layers[3].ARG=VALUE; the value is YAML and is validated like the file's.",
        show_default=False,
    ),
]


def overrides(given: list[str] | None) -> tuple[str, ...]:
    return tuple(given or ())
