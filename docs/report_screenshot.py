"""Make docs/report_screenshot.png, the README's picture of a report, in headless Chromium (not a test).

    .venv/bin/python docs/report_screenshot.py [reports/signs.html] [docs/report_screenshot.png]

The page is laid out at a laptop's width and captured whole. Excerpts of it are then stacked in two columns (run
and data on the left; training charts and evaluation on the right), so the picture stays readable in the README.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_report_browser import DevTools, chromium_path, evaluate, open_page

WIDTH = 1100  # the page's layout width in CSS pixels
OUT_WIDTH = 1500  # the picture's width, both columns
# Each column: excerpts from one marker to the next. A marker is "top", a section id or "#section h3 heading text".
COLUMNS = [
    [("top", "#run h3 Training settings"), ("data", "architecture")],
    [("training", "#training h3 Epochs"), ("evaluation", "#evaluation h3 Per class")],
]

# The y of a marker on the page (CSS pixels from the top of the document).
MARKER_Y = """
(marker => {
  if (marker === 'top') return 0;
  if (!marker.startsWith('#')) return document.getElementById(marker).getBoundingClientRect().top + scrollY;
  const parts = marker.split(' ');
  const text = parts.slice(2).join(' ');
  const found = [...document.querySelectorAll(parts.slice(0, 2).join(' '))].find(h => h.textContent.trim() === text);
  return found.getBoundingClientRect().top + scrollY;
})(%s)
"""


def capture(report: Path) -> tuple[Image.Image, dict[str, int]]:
    """The whole page as an image, and the y of every marker named in COLUMNS."""
    markers = {marker for column in COLUMNS for excerpt in column for marker in excerpt}
    with tempfile.TemporaryDirectory() as profile:
        tools = DevTools(chromium_path(), Path(profile))
        try:
            session = open_page(tools, report.resolve().as_uri(), width=WIDTH)
            height = int(evaluate(tools, session, "document.documentElement.scrollHeight"))
            ys = {m: int(evaluate(tools, session, MARKER_Y % json.dumps(m))) for m in markers}
            clip = {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}
            shot = tools.send("Page.captureScreenshot", session, format="png", clip=clip, captureBeyondViewport=True)
        finally:
            tools.close()
    return Image.open(io.BytesIO(base64.b64decode(shot["data"]))), ys


def compose(page: Image.Image, ys: dict[str, int]) -> Image.Image:
    columns = [[page.crop((0, ys[start], page.width, ys[end])) for start, end in column] for column in COLUMNS]
    height = max(sum(piece.height for piece in column) for column in columns)
    picture = Image.new("RGB", (page.width * len(columns), height), "white")
    for x, column in enumerate(columns):
        y = 0
        for piece in column:
            picture.paste(piece, (x * page.width, y))
            y += piece.height
    return picture.resize((OUT_WIDTH, round(height * OUT_WIDTH / picture.width)), Image.Resampling.LANCZOS)


def main() -> None:
    report = Path(sys.argv[1] if len(sys.argv) > 1 else "reports/signs.html")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/report_screenshot.png")
    page, ys = capture(report)
    compose(page, ys).save(out, optimize=True)
    print(json.dumps({"screenshot": str(out), "page_height": page.height}))


if __name__ == "__main__":
    main()
