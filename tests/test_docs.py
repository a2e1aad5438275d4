"""The documentation: generated pages up to date, every spec field described, the README's example real.

No TensorFlow: the pages are rendered from the pydantic models, and the README's image-folder example is checked
and loaded as data only.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from layerspec.check import check_file
from layerspec.data import load_dataset
from layerspec.docs import (
    PAGES,
    REGENERATE,
    outdated_pages,
    undocumented_run_fields,
    undocumented_spec_fields,
    write_pages,
)
from layerspec.docs.__main__ import main as docs_main
from layerspec.docs.fields import anchor
from layerspec.docs.pages import render_run_folder_page, render_spec_page, spec_models
from layerspec.layers import REGISTRY
from layerspec.spec import load_spec

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
MY_IMAGES = REPO / "specs" / "my_images.yaml"
# The README is the five-minute front door; everything else belongs in docs/.
README_LIMIT = 15_000
# The exit codes are a contract (the house style's); the README's table must list exactly these.
EXIT_CODES = ["0", "1", "2", "3", "4", "130"]


def test_every_spec_field_has_a_description() -> None:
    """The spec reference is generated from the descriptions, so a field without one is a hole in the docs."""
    missing = undocumented_spec_fields()
    assert not missing, f"fields without description= (add one in layerspec/spec/ or layerspec/layers/): {missing}"


def test_every_run_file_field_has_a_description() -> None:
    """docs/run-folder.md is generated from the run-file models: a field without a description shows as a dash."""
    missing = undocumented_run_fields()
    assert not missing, f"fields without description= (add one in layerspec/run/): {missing}"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_generated_page_is_up_to_date(page: str) -> None:
    stale = outdated_pages(REPO)
    assert page not in stale, f"{page} is out of date with the code; regenerate it with {REGENERATE}"


def test_a_stale_page_is_found_and_rewritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "docs").mkdir()
    assert sorted(write_pages(tmp_path)) == sorted(PAGES)
    assert outdated_pages(tmp_path) == []
    page = tmp_path / "docs" / "spec.md"
    page.write_text(page.read_text(encoding="utf-8").replace("| `units` |", "| `unit` |"), encoding="utf-8")
    assert outdated_pages(tmp_path) == ["docs/spec.md"]
    assert docs_main(["--check", str(tmp_path)]) == 1
    assert "docs/spec.md: out of date; regenerate it with make docs" in capsys.readouterr().err
    assert docs_main([str(tmp_path)]) == 0
    assert docs_main(["--check", str(tmp_path)]) == 0
    assert not [p.name for p in (tmp_path / "docs").iterdir() if p.name.startswith(".")], "temporary file left"


def test_spec_page_lists_every_layer_type_and_every_key() -> None:
    text = render_spec_page()
    for name in REGISTRY:
        assert f"\n### {name}\n" in text, f"layer type {name} missing from docs/spec.md"
    for model in spec_models():
        for field_name, info in model.model_fields.items():
            key = info.alias or field_name
            assert f"| `{key}` |" in text, f"{model.__name__}.{key} missing from docs/spec.md"
    assert "| `scale` | float (≥ 0.001, ≤ 1000000.0) | `255.0` |" in text
    assert "Written as `train.optimizer`." in text


def test_run_folder_page_holds_the_contract_from_the_code() -> None:
    """The run-folder contract is part of the generated page: every file name, stage and the format version
    come from layerspec.run, so a file or stage added there shows up (or the page is out of date)."""
    from layerspec.run import FORMAT_VERSION, Stage, folder

    text = render_run_folder_page()
    names = [*folder.BUILD_FILES, *folder.TRAINING_FILES, folder.CHECKPOINT, folder.BEST_WEIGHTS, folder.INTERRUPTED]
    for name in (n for n in names if n != folder.CHECKPOINTS):
        assert f"| `{name}` |" in text, f"{name} missing from the files table of docs/run-folder.md"
    assert set(folder.STAGE_MARKS) == set(Stage)
    for stage in Stage:
        assert f"- **{stage.value}**: " in text
    assert f'{{"format_version": {FORMAT_VERSION}, "run":' in text and "{FORMAT_VERSION}" not in text
    for model in folder.RECORDS.values():
        assert f"\n### {model.__name__}\n" in text
    assert not (REPO / "docs" / "run-folder-contract.md").exists(), "the contract is generated into run-folder.md"


def test_rendering_the_pages_imports_no_tensorflow() -> None:
    code = (
        "import sys\n"
        "from layerspec.docs import PAGES\n"
        "for render in PAGES.values(): render()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------------- README


def test_readme_is_short() -> None:
    size = len(README.read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes; move reference text to docs/ (limit {README_LIMIT})"


def test_readme_exit_code_table_is_the_contract() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Exit codes and errors", 1)[1].split("\n## ", 1)[0]
    codes = re.findall(r"^\| (\d+) \|", section, flags=re.M)
    assert codes == EXIT_CODES


def test_readme_example_is_specs_my_images() -> None:
    """The README shows specs/my_images.yaml word for word, so the example a newcomer copies is the checked one."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert MY_IMAGES.read_text(encoding="utf-8") in blocks


def test_my_images_spec_checks_and_reads_an_image_folder(tmp_path: Path) -> None:
    """The README's example spec passes check and reads a folder dataset laid out as the README says."""
    checked = check_file(MY_IMAGES)
    assert checked.summary.params == 93_635
    rng = np.random.default_rng(0)
    for split, count in (("train", 7), ("test", 2)):
        for name in ("fox", "cat", "dog"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{index:03d}.png")
    dataset = load_dataset(load_spec(MY_IMAGES), data_dir=tmp_path)
    assert dataset.class_names == ["cat", "dog", "fox"]
    assert dataset.train.x.shape[1:] == (128, 128, 3)
    assert dataset.val is not None and dataset.test is not None
    assert len(dataset.train) + len(dataset.val) == 21 and len(dataset.test) == 6
    assert float(dataset.train.x.min()) >= 0.0 and float(dataset.train.x.max()) <= 1.0


def test_readme_shows_what_check_prints(cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = cli("check", "specs/my_images.yaml")
    assert result.exit_code == 0, result.output
    shown = f"$ layerspec check specs/my_images.yaml\n{result.stdout}```"
    assert shown in README.read_text(encoding="utf-8"), "update the README's check output of specs/my_images.yaml"


def _links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize(
    "page", [README, *sorted((REPO / "docs").glob("*.md"))], ids=lambda p: str(p.relative_to(REPO))
)
def test_relative_links_point_at_files_and_headings(page: Path) -> None:
    broken = []
    for target in _links(page):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, heading = target.partition("#")
        linked = page.parent / file if file else page
        has_heading = not heading or linked.suffix != ".md" or heading in _anchors(linked)
        if not (linked.exists() and has_heading):
            broken.append(target)
    assert not broken, f"{page.relative_to(REPO)} has links to missing files or headings: {broken}"


def _anchors(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {anchor(title) for title in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


_CONFLICT = re.compile(r"^(<{7} |={7}$|>{7} )", re.MULTILINE)


def test_no_merge_conflict_marker_is_left_in_the_docs_or_sources() -> None:
    files = [README, *REPO.glob("docs/*.md"), *REPO.glob("layerspec/**/*.py")]
    marked = [str(f.relative_to(REPO)) for f in files if _CONFLICT.search(f.read_text())]
    assert marked == []
