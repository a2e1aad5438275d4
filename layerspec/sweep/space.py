"""The search space: `KEY=DIST` entries, KEY a `--set` key and DIST one of four distributions."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from layerspec.errors import SpecError
from layerspec.spec.overrides import parse_override
from layerspec.spec.yaml_source import parse_value

Kind = Literal["choice", "uniform", "log_uniform", "int"]
KINDS: tuple[Kind, ...] = ("choice", "uniform", "log_uniform", "int")
FORMS = "choice:a,b,c, uniform:LO:HI, log_uniform:LO:HI or int:LO:HI"


@dataclass(frozen=True)
class Param:
    """One searched value: the spec key it sets and the distribution its values are drawn from."""

    key: str
    kind: Kind
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0

    def suggest(self, trial: Any) -> Any:
        """The trial's value (Optuna records it under the key)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high))
        return trial.suggest_float(self.key, self.low, self.high, log=self.kind == "log_uniform")


def override_text(key: str, value: Any) -> str:
    """`KEY=VALUE` for `--set`, the value written so that YAML reads it back as the same value."""
    if isinstance(value, str):
        return f"{key}={json.dumps(value)}"
    if isinstance(value, bool):
        return f"{key}={'true' if value else 'false'}"
    return f"{key}={value!r}"


def parse_param(text: str, label: str) -> Param:
    """`KEY=DIST`; SpecError naming `label` (`--space ...` or the `search:` entry) when it cannot be read."""
    key, equals, dist = text.partition("=")
    key = key.strip()
    if not equals or not key:
        raise SpecError.single(label, f"expected KEY=DIST with DIST one of {FORMS}")
    parse_override(f"{key}=0")  # the key is one `--set` accepts
    kind, colon, rest = dist.strip().partition(":")
    if kind not in KINDS or not colon:
        raise SpecError.single(label, f"unknown distribution '{dist.strip()}': write {FORMS}")
    if kind == "choice":
        return Param(key, "choice", _choices(rest, label))
    return _range(key, kind, rest, label)


def _choices(text: str, label: str) -> tuple[Any, ...]:
    values = []
    for item in text.split(","):
        value, problems = parse_value(item.strip(), label)
        if problems or not isinstance(value, str | int | float | bool) or not item.strip():
            raise SpecError.single(label, f"choice '{item.strip()}' is not a plain value (a number, word or bool)")
        values.append(value)
    if len(set(map(repr, values))) != len(values):
        raise SpecError.single(label, "a choice is listed twice")
    return tuple(values)


def _range(key: str, kind: Kind, text: str, label: str) -> Param:
    low_text, colon, high_text = text.partition(":")
    try:
        low, high = (int(low_text), int(high_text)) if kind == "int" else (float(low_text), float(high_text))
    except ValueError:
        number = "integers" if kind == "int" else "numbers"
        raise SpecError.single(label, f"{kind}:LO:HI needs two {number}; received '{text}'") from None
    if not colon or not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise SpecError.single(label, f"{kind}:LO:HI needs finite LO < HI; received '{text}'")
    if kind == "log_uniform" and low <= 0:
        raise SpecError.single(label, f"log_uniform needs LO > 0; received {low}")
    return Param(key, kind, (), float(low), float(high))


def read_space(given: list[str], section: dict[str, str] | None) -> list[Param]:
    """The command line's `--space` entries, then the spec's `search:` ones that the command line did not set."""
    params = [parse_param(text, f"--space {text}") for text in given]
    taken = {param.key for param in params}
    for key, dist in (section or {}).items():
        if key not in taken:
            params.append(parse_param(f"{key}={dist}", f"search: {key}"))
    if len({p.key for p in params}) != len(params):
        raise SpecError.single("--space", "a key is searched twice: give each key once")
    if not params:
        raise SpecError.single("--space", f"nothing to search: give --space KEY=DIST ({FORMS}) or a `search:` section")
    return params
