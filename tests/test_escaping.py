"""No file name, name or class name can forge an error line or send control codes to the terminal.

The spec cases tests/cases/bad/control_chars*.yaml cover names inside a spec; here: file names, the one
escaping function, and the other terminal output that shows names (evaluate's table).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from layerspec.errors import Diagnostic, escape_text
from layerspec.evaluate import format_metrics
from layerspec.run import Evaluation

HOSTILE = ["a\nb", "x\x1b[2Jy", "left\u202eright", "tab\tcr\r", "nul\x00", "line\u2028sep", "del\x7f"]


@pytest.mark.parametrize("text", HOSTILE, ids=repr)
def test_escaped_text_is_one_printable_line(text: str) -> None:
    escaped = escape_text(text)
    assert escaped.isprintable()
    assert escape_text(escaped) == escaped  # escaping twice changes nothing
    assert escaped == repr(text)[1:-1]


def test_printable_text_is_left_alone() -> None:
    for text in ["conv2d_1", "déjà vu", "数据/图片.yaml", "C:\\specs\\x.yaml", "received 'a\\nb'"]:
        assert escape_text(text) == text


def test_diagnostic_is_always_one_line() -> None:
    line = Diagnostic("x.yaml\n/etc/passwd", 1, 2, "bad\nfake.yaml:1:1: error: \u202eforged").format()
    assert line == "x.yaml\\n/etc/passwd:1:2: error: bad\\nfake.yaml:1:1: error: \\u202eforged"


def test_a_file_name_cannot_forge_an_error_line(cli: Callable[..., Any], tmp_path: Path) -> None:
    folder = tmp_path / "x.yaml\n" / "etc"
    folder.mkdir(parents=True)
    spec = folder / "passwd:1:1: error: fake\x1b[31m"
    spec.write_text("name: x\ninput: {shape: [4]}\nlayers: [{type: Dense, units: 0}]\n", encoding="utf-8")
    result = cli("check", str(spec))
    assert result.exit_code == 2
    printed = result.stderr.splitlines()
    assert len(printed) == 1
    assert printed[0].startswith(f"{tmp_path}/x.yaml\\n/etc/passwd:1:1: error: fake\\x1b[31m:3:")


def _metrics(names: list[str], file: str) -> Evaluation:
    raw = {
        "test_loss": 0.5,
        "test_accuracy": 0.5,
        "test_count": 2,
        "class_names": names,
        "confusion_matrix": [[1, 0], [1, 0]],
        "per_class": [{"class": n, "precision": 0.5, "recall": 1.0, "f1": 0.6, "support": 1} for n in names],
        "misclassified": [{"index": 1, "true": names[1], "predicted": names[0], "confidence": 0.9, "file": file}],
    }
    return Evaluation.model_validate(raw)


def test_evaluate_table_escapes_class_names() -> None:
    table = format_metrics(_metrics(["cat\nfake: error", "dog\x1b[2J"], "a\nb"))
    assert all(line.isprintable() for line in table.splitlines())
    assert "cat\\nfake: error" in table and "dog\\x1b[2J" in table and "a\\nb" in table
    assert len(table.splitlines()) == len(format_metrics(_metrics(["cat", "dog"], "a")).splitlines())
