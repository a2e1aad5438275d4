"""sweep.json: the study's trials as the last `layerspec sweep` process saw them (also the `--json` payload)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from layerspec.run.models import Record, RunFile

SWEEP_FILE = "sweep.json"
Direction = Literal["minimize", "maximize"]
State = Literal["RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING"]


class TrialRecord(RunFile):
    number: int = Field(ge=0, description="The trial's number in the study (0, 1, ...).")
    value: float | None = Field(description="The objective of a completed trial; null otherwise.")
    params: dict[str, Any] = Field(description="The searched keys and the values this trial tried.")
    state: State = Field(description="Optuna's state of the trial.")
    run_dir: str | None = Field(description="The trial's run folder.")


class BestTrial(RunFile):
    number: int = Field(ge=0, description="The best completed trial's number.")
    value: float = Field(description="Its objective.")
    params: dict[str, Any] = Field(description="Its values.")
    run_dir: str | None = Field(description="Its run folder.")


class SweepRecord(Record):
    """`sweep.json` in the sweep folder; rewritten after every trial by whichever process ran it."""

    study: str = Field(description="The Optuna study's name.")
    storage: str = Field(description="Where the study lives (an Optuna storage URL).")
    objective: str = Field(description="The validation metric the search optimises.")
    direction: Direction = Field(description="Whether a lower or a higher objective is better.")
    spec_path: str = Field(description="The spec every trial trains (with its overrides).")
    trials: list[TrialRecord] = Field(description="Every trial of the study so far.")
    best: BestTrial | None = Field(description="The best completed trial, if any completed.")

    def to_json(self) -> dict[str, Any]:
        """The `layerspec sweep --json` payload."""
        payload = self.model_dump(mode="json", include={"study", "trials", "best"})
        return payload
