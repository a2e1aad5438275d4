"""Reusable blocks: parameters, `${param}`, `$input`, `repeat`, naming, nesting, and errors that point home."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerspec.check import Checked, check_loaded
from layerspec.errors import Diagnostic, SpecError
from layerspec.spec import parse_spec

BLOCKS = """\
name: blocks
input: {shape: [16, 16, 8]}
blocks:
  cbr:
    params: {filters: 8, kernel: 3}
    layers:
      - type: Conv2D
        name: conv
        filters: ${filters}
        kernel_size: ${kernel}
        padding: same
        use_bias: false
      - {type: BatchNormalization, name: bn}
      - {type: ReLU, name: relu}
  residual:
    params: {filters: null}
    layers:
      - {block: cbr, name: first, with: {filters: "${filters}"}}
      - {type: Conv2D, name: conv, filters: "${filters}", kernel_size: 3, padding: same}
      - {type: Add, name: add, inputs: [$input, conv]}
"""


def check(text: str) -> Checked:
    return check_loaded(parse_spec(text, Path("blocks.yaml")))


def errors(text: str) -> list[Diagnostic]:
    with pytest.raises(SpecError) as caught:
        check(text)
    return caught.value.diagnostics


def names(checked: Checked) -> list[str]:
    return [r.name for r in checked.summary.layers]


def test_use_with_defaults_and_prefixed_names() -> None:
    checked = check(BLOCKS + "layers:\n  - {block: cbr, name: stem}\n")
    assert names(checked) == ["input", "stem_conv", "stem_bn", "stem_relu"]
    conv = checked.summary.record("stem_conv")
    assert conv.output_shape == (16, 16, 8)
    assert conv.params == 3 * 3 * 8 * 8
    assert conv.block == "stem"


def test_with_overrides_and_whole_values_keep_their_type() -> None:
    checked = check(BLOCKS + "layers:\n  - {block: cbr, name: wide, with: {filters: 32, kernel: [1, 5]}}\n")
    conv = checked.graph.by_name["wide_conv"].layer
    assert conv is not None
    assert conv.model_dump()["filters"] == 32
    assert conv.model_dump()["kernel_size"] == [1, 5]
    assert checked.summary.record("wide_conv").params == 1 * 5 * 8 * 32


def test_partial_substitution_builds_a_string() -> None:
    text = BLOCKS.replace("name: conv\n        filters", "name: conv_k${kernel}\n        filters")
    checked = check(text + "layers:\n  - {block: cbr, name: a}\n")
    assert "a_conv_k3" in names(checked)


def test_repeat_numbers_copies_and_chains_them() -> None:
    checked = check(BLOCKS + "layers:\n  - {block: cbr, name: stage, repeat: 3}\n")
    assert names(checked)[1:] == [f"stage{i}_{n}" for i in (1, 2, 3) for n in ("conv", "bn", "relu")]
    assert checked.graph.by_name["stage2_conv"].inputs == ("stage1_relu",)
    assert checked.graph.by_name["stage1_conv"].inputs == ("input",)


def test_input_is_the_tensor_feeding_each_copy() -> None:
    text = (
        BLOCKS
        + "layers:\n  - {type: ReLU, name: pre}\n  - {block: residual, name: res, repeat: 2, with: {filters: 8}}\n"
    )
    checked = check(text)
    assert checked.graph.by_name["res1_add"].inputs == ("pre", "res1_conv")
    assert checked.graph.by_name["res2_add"].inputs == ("res1_add", "res2_conv")
    # the nested use inside `residual` is named <instance>_<use name>_<inner>
    assert checked.graph.by_name["res2_first_conv"].inputs == ("res1_add",)
    assert checked.summary.params == 2 * (3 * 3 * 8 * 8 + 2 * 8 + 2 * 8 + 3 * 3 * 8 * 8 + 8)


def test_use_inputs_and_outside_references() -> None:
    text = BLOCKS + (
        "layers:\n"
        "  - {type: Conv2D, name: side, filters: 8, kernel_size: 1}\n"
        "  - {block: cbr, name: b, inputs: input}\n"
        "  - {type: Add, inputs: [side, b_relu]}\n"
    )
    checked = check(text)
    assert checked.graph.by_name["b_conv"].inputs == ("input",)
    assert checked.graph.by_name["add"].inputs == ("side", "b_relu")


def test_unnamed_uses_are_named_like_keras_layers() -> None:
    checked = check(BLOCKS + "layers:\n  - {block: cbr}\n  - {block: cbr}\n")
    assert names(checked)[1:] == ["cbr_conv", "cbr_bn", "cbr_relu", "cbr_1_conv", "cbr_1_bn", "cbr_1_relu"]


@pytest.mark.parametrize(
    ("use", "line", "fragment"),
    [
        ("{block: cbx}", 22, "unknown block 'cbx'; did you mean 'cbr'?"),
        ("{block: residual}", 22, "block 'residual' needs a value for parameter 'filters'"),
        ("{block: cbr, with: {filter: 4}}", 22, "block 'cbr' has no parameter 'filter'; did you mean 'filters'?"),
        ("{block: cbr, repeat: 0}", 22, "`repeat` must be greater than or equal to 1; received 0"),
        ('{block: cbr, repeat: "2"}', 22, "`repeat` must be a valid integer"),
        ("{block: cbr, repeats: 2}", 22, "unknown key 'repeats'; did you mean 'repeat'?"),
    ],
    ids=["unknown-block", "missing-param", "unknown-param", "repeat-zero", "repeat-string", "unknown-key"],
)
def test_use_errors(use: str, line: int, fragment: str) -> None:
    found = errors(BLOCKS + f"layers:\n  - {use}\n")
    assert [(d.line, fragment in d.message) for d in found] == [(line, True)], found


def test_bad_value_points_at_the_with_entry() -> None:
    found = errors(BLOCKS + "layers:\n  - {block: cbr, name: u,\n     with: {filters: -3}}\n")
    assert [(d.line, d.col) for d in found] == [(23, 22)]
    assert found[0].message.startswith("layers[0] (block cbr, u_conv): `filters` must be greater than 0")


def test_bad_template_points_at_the_block_definition() -> None:
    text = BLOCKS.replace("      - {type: ReLU, name: relu}", "      - {type: ReLU, name: relu, max_valu: 6}")
    found = errors(text + "layers:\n  - {block: cbr, name: a, repeat: 3}\n")
    assert [d.line for d in found] == [14], "one error for the definition, not one per copy"
    assert "(block cbr, a1_relu): unknown argument 'max_valu' for ReLU; did you mean 'max_value'?" in found[0].message


def test_unknown_parameter_reference() -> None:
    text = BLOCKS.replace("kernel_size: ${kernel}", "kernel_size: ${kernal}")
    found = errors(text + "layers:\n  - {block: cbr}\n")
    assert [d.line for d in found] == [10]
    assert "unknown block parameter '${kernal}'; did you mean 'kernel'?" in found[0].message


def test_recursive_blocks_are_refused() -> None:
    text = BLOCKS.replace("{block: cbr, name: first,", "{block: residual, name: first,")
    found = errors(text + "layers:\n  - {block: residual, with: {filters: 8}}\n")
    assert any("blocks cannot be recursive" in d.message for d in found)


def test_shape_error_inside_a_block_names_the_instance() -> None:
    text = BLOCKS + "layers:\n  - {block: residual, name: r, with: {filters: 16}}\n"
    found = errors(text)
    assert len(found) == 1
    assert "layers[0] (r_add): Add needs inputs of the same shape" in found[0].message
    assert "'input' has shape (16, 16, 8) but 'r_conv' has shape (16, 16, 16)" in found[0].message


def test_inner_layers_may_read_a_nested_use_by_its_prefixed_name() -> None:
    text = BLOCKS.replace(
        "{type: Add, name: add, inputs: [$input, conv]}", "{type: Add, name: add, inputs: [a_relu, conv]}"
    )
    text = text.replace("{block: cbr, name: first,", "{block: cbr, name: a,")
    checked = check(text + "layers:\n  - {block: residual, name: r, with: {filters: 8}}\n")
    assert checked.graph.by_name["r_add"].inputs == ("r_a_relu", "r_conv")


def test_unnamed_nested_uses_are_named_alike_in_every_copy() -> None:
    text = BLOCKS.replace("{block: cbr, name: first, with:", "{block: cbr, with:")
    checked = check(text + "layers:\n  - {block: residual, name: s, repeat: 2, with: {filters: 8}}\n")
    assert {"s1_cbr_conv", "s2_cbr_conv"} <= set(names(checked))
