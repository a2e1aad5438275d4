"""The report in a real browser: headless Chromium opens it from disk.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages ending in NUL
on file descriptors 3 and 4), so no port is opened and no extra package is needed. The page must log no error,
request nothing but itself and its data: URIs, show every image (natural width > 0), fit a phone's width and
print. A screenshot is kept in tests/artifacts/. Without Chromium the test fails (`make system-deps` installs
it); LAYERSPEC_SKIP_BROWSER=1 skips it on purpose.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report import HOSTILE, FakeRun, make_run

from layerspec.report import make_report

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]
TIMEOUT = 30.0

IMAGES_LOADED = """JSON.stringify({
  count: document.images.length,
  broken: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
  svgs: [...document.querySelectorAll('svg')].filter(s => s.getBoundingClientRect().width > 0).length,
  sections: [...document.querySelectorAll('section')].map(s => s.id),
})"""
FITS_WIDTH = "document.documentElement.scrollWidth <= window.innerWidth + 1"


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        if os.environ.get("LAYERSPEC_SKIP_BROWSER") == "1":
            pytest.skip("LAYERSPEC_SKIP_BROWSER=1")
        pytest.fail(
            "headless Chromium is needed for the browser test: run `make system-deps` (apt-get install chromium)"
        )
    return found


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4.
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w}', "chromium", binary,
             *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                buffer += chunk
                while b"\0" in buffer:
                    message, buffer = buffer.split(b"\0", 1)
                    self._replies.put(json.loads(message))

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._replies.get(timeout=TIMEOUT)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._replies.get(timeout=TIMEOUT)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError, queue.Empty):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    tools = DevTools(chromium_path(), tmp_path / "profile")
    try:
        yield tools
    finally:
        tools.close()


def open_page(tools: DevTools, url: str, width: int = 1200, height: int = 900) -> str:
    target = tools.send("Target.createTarget", url="about:blank")["targetId"]
    session = tools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        tools.send(f"{domain}.enable", session)
    tools.send("Emulation.setDeviceMetricsOverride", session, width=width, height=height, deviceScaleFactor=1,
               mobile=width < 600)  # fmt: skip
    tools.events.clear()  # what earlier pages logged is not this page's problem
    tools.send("Page.navigate", session, url=url)
    tools.wait_for("Page.loadEventFired")
    return str(session)


def evaluate(tools: DevTools, session: str, expression: str) -> Any:
    result = tools.send("Runtime.evaluate", session, expression=expression, returnByValue=True)
    assert "exceptionDetails" not in result, result
    return result["result"]["value"]


def problems(tools: DevTools, page_url: str) -> list[str]:
    """Errors the page logged, scripts that ran and requests for anything but the page and data: URIs."""
    found = []
    for event in tools.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Log.entryAdded" and params["entry"]["level"] in {"error", "warning"}:
            found.append(f"log: {params['entry']['text']}")
        elif method == "Runtime.exceptionThrown" or method == "Runtime.consoleAPICalled":
            found.append(f"{method}: {json.dumps(params)[:300]}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url != page_url and not url.startswith("data:"):
                found.append(f"request: {url}")
        elif method == "Network.loadingFailed":
            found.append(f"failed load: {params.get('errorText')}")
    return found


def test_report_in_chromium(tmp_path: Path, browser: DevTools) -> None:
    run = make_run(tmp_path, FakeRun(description=" ".join(HOSTILE), classes=HOSTILE))
    report = make_report([run], tmp_path / "report.html")
    url = report.resolve().as_uri()
    session = open_page(browser, url)
    state = json.loads(evaluate(browser, session, IMAGES_LOADED))
    assert state["count"] == 21 and state["broken"] == []  # with the per-layer memory chart
    assert state["svgs"] == 1  # the inline diagram is drawn
    assert state["sections"] == ["run", "data", "architecture", "training", "evaluation", "use"]
    assert evaluate(browser, session, "document.title").startswith("tiny")
    assert evaluate(browser, session, "document.querySelector('.lead').textContent") == " ".join(HOSTILE)
    assert evaluate(browser, session, FITS_WIDTH)
    shot = browser.send("Page.captureScreenshot", session, format="png")["data"]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report_browser.png").write_bytes(base64.b64decode(shot))
    browser.send(
        "Emulation.setDeviceMetricsOverride", session, width=700, height=1000, deviceScaleFactor=1, mobile=False
    )
    browser.send("Emulation.setEmulatedMedia", session, media="print")  # about the width of A4 inside its margins
    assert evaluate(browser, session, FITS_WIDTH), "the printed page is wider than the paper"
    pdf = base64.b64decode(browser.send("Page.printToPDF", session)["data"])
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    assert problems(browser, url) == []


def test_report_fits_a_phone(tmp_path: Path, browser: DevTools) -> None:
    first = make_run(tmp_path, FakeRun(name="small"))
    second = make_run(tmp_path, FakeRun(name="wide", filters=8, extra_layer=True))
    for runs in ([first], [first, second]):
        report = make_report(runs, tmp_path / f"report{len(runs)}.html")
        url = report.resolve().as_uri()
        session = open_page(browser, url, width=390, height=844)
        assert evaluate(browser, session, FITS_WIDTH), f"{report.name} is wider than a phone"
        assert json.loads(evaluate(browser, session, IMAGES_LOADED))["broken"] == []
        assert problems(browser, url) == []


def test_comparison_fits_a_wide_screen(tmp_path: Path, browser: DevTools) -> None:
    """The comparison's new parts at 1,400 pixels: settings side by side with the differing rows highlighted, the
    structural diff, the confusion matrices drawn, nothing wider than the screen."""
    first = make_run(tmp_path, FakeRun(name="small"))
    second = make_run(tmp_path, FakeRun(name="wide", filters=8, extra_layer=True, epochs=6))
    report = make_report([first, second], tmp_path / "compare.html")
    url = report.resolve().as_uri()
    session = open_page(browser, url, width=1400, height=900)
    state = json.loads(evaluate(browser, session, IMAGES_LOADED))
    assert state["broken"] == []
    assert {"settings", "confusion", "layers"} <= set(state["sections"])
    assert evaluate(browser, session, FITS_WIDTH)
    highlighted = "getComputedStyle(document.querySelector('table.settings tr.changed td')).backgroundColor"
    assert evaluate(browser, session, highlighted) not in ("rgba(0, 0, 0, 0)", "transparent")
    matrices = "[...document.querySelectorAll('#confusion img')].filter(i => i.naturalWidth > 0).length"
    assert evaluate(browser, session, matrices) == 2
    added = "document.querySelector('table.structure tr.added').textContent"
    assert "drop (Dropout)" in evaluate(browser, session, added)
    shot = browser.send("Page.captureScreenshot", session, format="png")["data"]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "compare_browser.png").write_bytes(base64.b64decode(shot))
    assert problems(browser, url) == []


def test_the_browser_check_sees_what_a_bad_page_does(tmp_path: Path, browser: DevTools) -> None:
    """The checks above can fail: a page that fetches an image and runs a script is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:">'
        '<img src="https://example.invalid/x.png" alt="remote"><img src="missing.png" alt="local">',
        encoding="utf-8",
    )
    url = page.resolve().as_uri()
    session = open_page(browser, url)
    assert json.loads(evaluate(browser, session, IMAGES_LOADED))["broken"] == ["remote", "local"]
    assert problems(browser, url), "a blocked fetch went unnoticed"
