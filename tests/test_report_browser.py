"""report.html in a real browser: Debian's headless Chromium, driven by selenium through Debian's chromedriver.

One quickstart battle (red wins) is rendered from its file:// URL; the page must raise no script error, load
nothing but itself, and lay out the verdict, the story (one ``.loss`` per loss), every chart as a sized ``<svg>``,
the finalised-height chart and the timeline, all measured with the browser's own layout (getBoundingClientRect),
not by reading the file. A full-page screenshot is kept in ``tests/output/report_browser/report.png`` for a person
to look at. A hand-written run whose names and evidence carry ``<script>alert(1)</script>`` must open no dialog and
run no planted script.

Without ``/usr/bin/chromium`` or ``chromedriver`` the tests skip, unless ``CI`` is set: there they fail
(``.ci/run`` installs both).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from arena.report.html import REPORT_NAME, write_report

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("quickstart")]  # the battle: with tests/test_story.py

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "tests" / "output" / "report_browser"
CHROMIUM = Path("/usr/bin/chromium")
#: No connection out: the machine's network is closed, and the report must not need one.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--disable-dev-shm-usage", "--mute-audio",
         "--window-size=1300,900"]
#: Schemes a self-contained page may load from: its own file, and inline data.
LOCAL_SCHEMES = ("file:", "data:")
BLOCKED = ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]
WIDTH = 1300
MAX_SHOT_HEIGHT = 30000
#: The charts every red_won quickstart report draws (aria-label of each ``<svg>``).
CHARTS = {"timeline", "balances over time", "red side over time", "block tree", "messages sent"}
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)><svg onload=alert(3)>'

#: Installed before any of the page's own code runs (CDP Page.addScriptToEvaluateOnNewDocument): records every
#: script error, failed resource, unhandled rejection and dialog instead of letting it pass unseen.
CATCHER = r"""
(() => {
  const seen = {errors: [], dialogs: []};
  Object.defineProperty(window, '__arena', {value: seen});
  window.onerror = (message, source, line, column) => {
    seen.errors.push(`onerror: ${message} at ${source}:${line}:${column}`);
    return false;
  };
  window.addEventListener('error', (ev) => {
    const t = ev.target;
    if (t && t !== window && t.tagName) {
      seen.errors.push(`resource failed: <${t.tagName.toLowerCase()}> ${t.src || t.href || ''}`);
    } else {
      seen.errors.push(`error event: ${ev.message} at ${ev.filename}:${ev.lineno}:${ev.colno}`);
    }
  }, true);
  window.addEventListener('unhandledrejection', (ev) => seen.errors.push(`unhandled rejection: ${ev.reason}`));
  for (const name of ['alert', 'confirm', 'prompt', 'print', 'open']) {
    window[name] = (...args) => { seen.dialogs.push(`${name}(${args.map(String).join(', ')})`); return null; };
  }
})();
"""

#: Every element matching a selector, as the browser laid it out.
BOXES = r"""
const [selector, root] = arguments;
const scope = root ? document.querySelector(root) : document;
if (!scope) return null;
return Array.from(scope.querySelectorAll(selector)).map((el) => {
  const r = el.getBoundingClientRect();
  const s = getComputedStyle(el);
  return {tag: el.tagName.toLowerCase(), id: el.id, cls: el.getAttribute('class') || '',
          label: el.getAttribute('aria-label') || '', text: (el.innerText || el.textContent || '').trim(),
          x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height,
          shown: s.display !== 'none' && s.visibility !== 'hidden' && Number(s.opacity) > 0,
          data: Object.assign({}, el.dataset)};
});
"""


def ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def chromedriver() -> Path | None:
    found = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").is_file()
                                             else None)
    return Path(found) if found else None


def need_browser() -> Path:
    """chromedriver's path, or skip (fail under CI) when the browser, its driver or selenium is missing."""
    missing = [str(CHROMIUM)] if not CHROMIUM.is_file() else []
    driver = chromedriver()
    if driver is None:
        missing.append("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[dev]')")
    if missing:
        why = (f"{' and '.join(missing)} not installed: the browser test needs Debian's chromium and "
               "chromium-driver (apt-get install -y chromium chromium-driver) and selenium (the dev extra)")
        if ci():
            pytest.fail(f"CI is set but {why}; .ci/run should have installed them")
        pytest.skip(why)
    assert driver is not None
    return driver


@dataclass
class Rendered:
    """What the browser saw of one page."""

    url: str
    errors: list[str] = field(default_factory=list)  # the catcher's script errors and failed resources
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)  # SEVERE browser log entries
    requests: list[str] = field(default_factory=list)  # every URL the page asked for (CDP Network events)
    size: tuple[int, int] = (0, 0)  # the document's scroll width and height


class Browser:
    """One headless Chromium for the module; ``render`` loads a file and collects what went wrong."""

    def __init__(self, driver_path: Path, profile: Path) -> None:
        from selenium import webdriver

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in [*FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        # a path for the driver: selenium does not run its Selenium Manager (which would look on the network)
        service = webdriver.ChromeService(executable_path=str(driver_path))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(60)
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CATCHER})
        # a request out is still seen (requestWillBeSent) and fails the test, but never leaves the machine
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": BLOCKED})

    def quit(self) -> None:
        self.driver.quit()

    def render(self, page: Path) -> Rendered:
        from selenium.common.exceptions import UnexpectedAlertPresentException

        d = self.driver
        d.get_log("browser")  # start both logs afresh: only this page's entries count
        d.get_log("performance")
        url = page.resolve().as_uri()
        try:
            d.get(url)
            seen = d.execute_script("return window.__arena")
            size = d.execute_script("return [document.documentElement.scrollWidth, "
                                    "document.documentElement.scrollHeight]")
        except UnexpectedAlertPresentException as exc:  # a real dialog opened, past the catcher
            pytest.fail(f"{page.name} opened a dialog: {exc.alert_text!r}")
        out = Rendered(url, size=(int(size[0]), int(size[1])))
        if seen is None:
            out.errors.append("the error catcher did not run before the page")
        else:
            out.errors += [str(x) for x in seen["errors"]]
            out.dialogs += [str(x) for x in seen["dialogs"]]
        out.console = [f"{x.get('source')}: {x.get('message')}" for x in d.get_log("browser")
                       if x.get("level") == "SEVERE"]
        for entry in d.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            params = msg.get("params") or {}
            if msg.get("method") == "Network.requestWillBeSent":
                out.requests.append(str(params["request"]["url"]))
            elif msg.get("method") == "Network.webSocketCreated":
                out.requests.append(str(params.get("url")))
        return out

    def boxes(self, selector: str, root: str | None = None) -> list[dict[str, Any]] | None:
        """Every element matching ``selector`` (inside the first ``root``, when given) with its layout box;
        ``None`` when ``root`` is not on the page."""
        found = self.driver.execute_script(BOXES, selector, root)
        return None if found is None else list(found)

    def screenshot(self, path: Path, height: int) -> None:
        """The whole page: the window made as tall as the document, then one screenshot (written whole: under
        xdist two workers may each render the quickstart)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.set_window_size(WIDTH, min(max(height, 600), MAX_SHOT_HEIGHT))
        inner = int(self.driver.execute_script("return window.innerHeight"))
        if inner < height:  # the window has a frame: grow it by the difference
            self.driver.set_window_size(WIDTH, min(2 * height - inner, MAX_SHOT_HEIGHT))
        part = path.with_name(f".{path.name}.{os.getpid()}")
        part.write_bytes(self.driver.get_screenshot_as_png())
        os.replace(part, path)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    driver_path = need_browser()
    b = Browser(driver_path, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield b
    finally:
        b.quit()


@pytest.fixture(scope="module")
def battle(quickstart_run: tuple[Path, str]) -> Path:
    """One full quickstart battle (the README's first command): red steals. Run once in a session and shared with
    ``tests/test_story.py`` (``tests/conftest.py``); only read."""
    return quickstart_run[0]


@pytest.fixture(scope="module")
def result(battle: Path) -> dict[str, Any]:
    return dict(json.loads((battle / "result.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def rendered(browser: Browser, battle: Path) -> Rendered:
    """The quickstart report, rendered; its full-page screenshot kept for a person."""
    page = browser.render(battle / REPORT_NAME)
    browser.screenshot(OUTPUT / "report.png", page.size[1])
    return page


def shown(box: dict[str, Any]) -> bool:
    return bool(box["shown"]) and box["w"] > 0 and box["h"] > 0


# ================================================ the quickstart report ==========================================
def test_the_report_raises_no_script_error(rendered: Rendered) -> None:
    assert rendered.errors == [], rendered.errors
    assert rendered.console == [], rendered.console
    assert rendered.dialogs == [], rendered.dialogs


def test_the_report_loads_nothing_but_itself(rendered: Rendered) -> None:
    assert rendered.url in rendered.requests, ("the network log did not see the page itself", rendered.requests)
    outside = [u for u in rendered.requests if not u.startswith(LOCAL_SCHEMES)]
    assert outside == [], outside


def test_the_verdict_is_shown(browser: Browser, rendered: Rendered, result: dict[str, Any]) -> None:
    assert result["verdict"] == "red_won" and result["stolen"] > 0, result.get("verdict_reason")
    section = browser.boxes("#verdict")
    assert section and shown(section[0]), "no #verdict on the page"
    banner = browser.boxes(".verdict", "#verdict")
    assert banner and shown(banner[0]), "no .verdict banner inside #verdict"
    assert result["verdict"] in banner[0]["cls"].split(), banner[0]["cls"]
    assert "red won" in banner[0]["text"].lower(), banner[0]["text"]
    assert f"stolen: {result['stolen']}" in section[0]["text"], section[0]["text"][:400]


def test_the_story_tells_each_loss(browser: Browser, rendered: Rendered) -> None:
    story = browser.boxes("#story")
    assert story, "no #story on the page"
    assert shown(story[0]), story[0]
    losses = browser.boxes(".loss", "#story")
    assert losses, "#story lists no .loss, yet red won"
    for loss in losses:
        assert shown(loss) and loss["text"], loss
    verdict = browser.boxes("#verdict")
    assert verdict and story[0]["y"] < verdict[0]["y"], "the story is not above the verdict"


def test_every_chart_is_a_laid_out_svg(browser: Browser, rendered: Rendered) -> None:
    svgs = browser.boxes("svg") or []
    assert svgs, "no <svg> on the page"
    empty = [(s["label"], s["w"], s["h"]) for s in svgs if not shown(s)]
    assert empty == [], f"charts with no size in the layout: {empty}"
    labels = {s["label"] for s in svgs}
    assert labels >= CHARTS, f"missing charts: {CHARTS - labels}"
    holders = browser.boxes(".chart") or []
    assert len(holders) == len(svgs), (len(holders), len(svgs))
    assert all(shown(h) for h in holders), [(h["y"], h["w"], h["h"]) for h in holders if not shown(h)]
    page_width = rendered.size[0]
    assert all(s["x"] >= 0 and s["x"] < page_width for s in svgs), [(s["label"], s["x"]) for s in svgs]


def test_the_height_chart_is_drawn(browser: Browser, rendered: Rendered) -> None:
    holder = browser.boxes("#chart-height")
    assert holder, "no #chart-height on the page"
    svgs = browser.boxes("svg", "#chart-height")
    assert svgs, "#chart-height holds no <svg>"
    assert all(shown(s) for s in svgs), svgs
    curves = [p for p in browser.boxes("path", "#chart-height") or [] if p["w"] > 0 or p["h"] > 0]
    assert curves, "the height chart draws nothing"


def test_the_timeline_marks_the_evidence(browser: Browser, rendered: Rendered, result: dict[str, Any]) -> None:
    section = browser.boxes("#timeline")
    assert section and shown(section[0]), "no #timeline on the page"
    chart = browser.boxes('svg[aria-label="timeline"]', "#timeline")
    assert chart and shown(chart[0]), "no timeline chart in #timeline"
    marks = browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('#timeline svg title'))"
        ".filter((t) => t.textContent.startsWith('attack evidence'))"
        ".map((t) => { const r = t.parentElement.getBoundingClientRect(); return [r.width, r.height]; })")
    assert marks, "the timeline marks no evidence"
    assert all(w > 0 and h > 0 for w, h in marks), marks
    assert len(marks) == len(result["evidence"]), (len(marks), len(result["evidence"]))
    text = section[0]["text"]
    for ev in result["evidence"]:
        assert str(ev["detail"]) in text, ev["detail"]


def test_a_full_page_screenshot_is_kept(rendered: Rendered) -> None:
    shot = OUTPUT / "report.png"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= WIDTH * 0.9, width
    assert height >= min(rendered.size[1], MAX_SHOT_HEIGHT) * 0.95, (height, rendered.size)


# ================================================ hostile strings ================================================
def test_hostile_strings_open_no_dialog_and_run_no_script(browser: Browser, tmp_path: Path) -> None:
    """Names, evidence, plugin logs, faults and drop reasons carrying script and event handlers (as in
    test_report's escape test) stay text in the browser."""
    from test_report import hand_run

    page = write_report(hand_run(tmp_path / "hostile", 6, hostile=HOSTILE))
    seen = browser.render(page)
    assert seen.dialogs == [], seen.dialogs
    assert seen.errors == [], seen.errors
    assert seen.console == [], seen.console
    assert [u for u in seen.requests if not u.startswith(LOCAL_SCHEMES)] == [], seen.requests
    planted = browser.driver.execute_script(r"""
        const bad = [];
        for (const el of document.querySelectorAll('*')) {
          const tag = el.tagName.toLowerCase();
          if (['script', 'img', 'iframe', 'object', 'embed', 'foreignobject'].includes(tag)) bad.push(tag);
          for (const a of el.attributes) if (a.name.toLowerCase().startsWith('on')) bad.push(`${tag}[${a.name}]`);
        }
        return bad;""")
    assert planted == [], planted
    text = browser.driver.execute_script("return document.body.innerText")
    assert "<script>alert(1)</script>" in text, "the hostile string is not shown as text"
    svgs = browser.boxes("svg") or []
    assert svgs and all(shown(s) for s in svgs), [(s["label"], s["w"], s["h"]) for s in svgs]


# ================================================ the checks themselves ==========================================
def test_the_checks_see_a_script_error_a_dialog_and_a_request_out(browser: Browser, tmp_path: Path) -> None:
    """The harness is not blind: a page that throws, opens a dialog and loads an image from the network fails each
    check above (the request is blocked in the browser, so nothing leaves the machine)."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><p>bad</p><script>alert("hi"); throw new Error("boom")</script>'
                    '<img src="http://127.0.0.1:9/pixel.png"></body></html>', encoding="utf-8")
    seen = browser.render(page)
    assert seen.dialogs == ["alert(hi)"], seen.dialogs
    assert any("boom" in x for x in seen.errors), seen.errors
    assert any("resource failed: <img>" in x for x in seen.errors), seen.errors
    assert "http://127.0.0.1:9/pixel.png" in seen.requests, seen.requests
    assert seen.console, "no SEVERE console entry"
