"""Hostile YAML: object-constructing tags, alias bombs, block bombs, deep nesting and huge files are refused quickly
and safely."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from layerspec.errors import SpecError
from layerspec.spec import load_spec, parse_spec
from layerspec.spec.block_size import MAX_EXPANDED, ExpansionTooLarge, check_expansion_size
from layerspec.spec.yaml_source import MAX_FILE_BYTES

BAD = Path(__file__).parent / "cases" / "bad"
SPEC_TAIL = "input: {shape: [4]}\nlayers: [{type: Flatten}]\n"


def _messages(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(text, Path("hostile.yaml"))
    return [d.message for d in caught.value.diagnostics]


def test_python_tags_construct_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    for tag in ("!!python/object/apply:os.system", "!!python/object/new:os.system", "!!python/name:os.system"):
        text = f'name: x\nfoo: {tag} ["touch {marker}"]\n{SPEC_TAIL}'
        assert any("is not allowed" in m for m in _messages(text)), tag
    with pytest.raises(SpecError):
        load_spec(BAD / "python_tag.yaml")
    assert not marker.exists()
    assert not Path("/tmp/layerspec-python-tag-executed").exists()


def test_alias_bomb_is_refused_with_flat_memory() -> None:
    """Nine levels of nine aliases would be 387 million values; twenty levels of ten would be 10**20."""
    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 20)]
    text = "name: lol\n" + "\n".join(levels) + "\n" + SPEC_TAIL
    tracemalloc.start()
    try:
        messages = _messages(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert any("expands to more than" in m for m in messages)
    assert peak < 20 * 1024 * 1024, f"peak {peak:,} bytes"
    with pytest.raises(SpecError):
        load_spec(BAD / "billion_laughs.yaml")


def test_recursive_alias_is_an_error() -> None:
    assert any("recursive" in m for m in _messages(f"name: x\na: &a [1, *a]\n{SPEC_TAIL}"))


@pytest.mark.parametrize("depth", [150, 3000])
def test_deep_nesting_is_an_error(depth: int) -> None:
    """Past the depth limit, and past Python's recursion limit inside the YAML parser."""
    text = "name: x\ndeep: " + "[" * depth + "]" * depth + "\n" + SPEC_TAIL
    assert any("nested" in m for m in _messages(text))


def test_huge_file_is_refused_without_parsing(tmp_path: Path) -> None:
    spec = tmp_path / "big.yaml"
    spec.write_text("name: x\n" + "# padding\n" * (MAX_FILE_BYTES // 10 + 1), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    assert "larger than" in caught.value.diagnostics[0].message


def test_a_directory_is_not_a_spec(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path)
    assert "directory" in caught.value.diagnostics[0].message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("yes", "valid integer"),
        ("0x10", None),
        ("1_000", "valid integer"),
        ("1e3", "valid integer"),
        ('"8"', "valid integer"),
    ],
    ids=["yes", "hex", "underscore", "float", "quoted"],
)
def test_scalars_follow_yaml_1_2_without_coercion(value: str, fragment: str | None) -> None:
    """`yes` is a string and `"8"` is not 8 (YAML 1.2, strict); `0x10` is the integer 16."""
    text = f"name: x\ninput: {{shape: [4]}}\nlayers: [{{type: Dense, units: {value}}}]\n"
    if fragment is None:
        assert parse_spec(text, Path("x.yaml")).spec.layers[0].units == 16  # type: ignore[attr-defined]
    else:
        assert any(fragment in m for m in _messages(text))


def _peak_and_messages(text: str) -> tuple[int, list[str]]:
    tracemalloc.start()
    try:
        messages = _messages(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, messages


@pytest.mark.parametrize("case", ["block_param_doubling", "block_large_template", "block_repeat_nested"])
def test_block_bombs_are_counted_with_flat_memory(case: str) -> None:
    """Refused by a count before any copy: no layer entry or substituted string is built (see tests/cases/bad)."""
    peak, messages = _peak_and_messages((BAD / f"{case}.yaml").read_text(encoding="utf-8"))
    assert len(messages) == 1 and "counted before expanding" in messages[0], messages
    assert peak < 20 * 1024 * 1024, f"peak {peak:,} bytes"


def test_repeats_just_past_the_layer_limit_are_refused_before_expanding() -> None:
    """1,000 x 101 layers: expanding first would build 100,000 entries (and report the excess once per copy)."""
    text = (
        "name: x\ninput: {shape: [4]}\n"
        "blocks:\n  one: {layers: [{type: ReLU}]}\n  hundred: {layers: [{block: one, repeat: 101}]}\n"
        "layers: [{block: hundred, repeat: 1000}]\n"
    )
    peak, messages = _peak_and_messages(text)
    assert messages == [
        f"the blocks would expand to more than {MAX_EXPANDED:,} layers, the most a spec may have; counted before "
        "expanding: check the `repeat` counts and `with:` values of nested block uses"
    ]
    assert peak < 20 * 1024 * 1024, f"peak {peak:,} bytes"


BLOCKS = {
    "one": {"layers": [{"type": "ReLU"}]},
    "many": {"params": {"n": 1}, "layers": [{"block": "one", "repeat": "${n}"}]},
    "pick": {"params": {"b": "one", "n": 1}, "layers": [{"block": "${b}", "repeat": "${n}"}]},
}


@pytest.mark.parametrize(
    ("use", "layers"),
    [
        ({"block": "many", "repeat": 1000, "with": {"n": 100}}, 100_000),
        ({"block": "many", "repeat": 1000, "with": {"n": 101}}, 101_000),
        ({"block": "pick", "repeat": 1000, "with": {"b": "many", "n": 101}}, 101_000),
        ({"block": "many", "repeat": 1000, "with": {"n": 1001}}, 0),  # a bad repeat: expansion reports it
        ({"block": "pick", "repeat": 1000, "with": {"b": "pick", "n": 1000}}, 0),  # recursive: reported too
    ],
    ids=["exactly-the-limit", "one-copy-past", "chosen-by-parameter", "bad-repeat", "recursive"],
)
def test_the_count_follows_parameters_exactly(use: dict[str, object], layers: int) -> None:
    """`repeat: ${n}` and `block: ${b}` change what a use expands to, so the count substitutes them too."""
    if layers > MAX_EXPANDED:
        with pytest.raises(ExpansionTooLarge, match=r"more than 100,000 (layers|block uses)"):
            check_expansion_size([use], BLOCKS)
    else:
        check_expansion_size([use], BLOCKS)


def test_a_plain_list_of_layers_counts_too() -> None:
    check_expansion_size([{"type": "ReLU"}] * (MAX_EXPANDED - 1) + [{"block": "one"}], BLOCKS)
    with pytest.raises(ExpansionTooLarge):
        check_expansion_size([{"type": "ReLU"}] * MAX_EXPANDED + [{"block": "one"}], BLOCKS)
