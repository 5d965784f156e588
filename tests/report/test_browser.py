"""The report in a real browser: a smoke tour's report (one section run, the others "not run"), opened from
disk in headless Chromium.

Checks every page reachable from index.html: each image loaded (naturalWidth > 0), each internal
link and stylesheet resolves, nothing is fetched from the network, and the index lists exactly the
registered experiments. A screenshot of the index is kept under test-artifacts/ (not committed).
Outside CI the test skips when Chromium, chromedriver or selenium are absent; in CI (CI=true) it fails.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import pytest

from mllab.core.registry import all_experiments
from mllab.report import build_report

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900")

# What a page reports about itself, gathered in one round trip.
PAGE_JS = """
const images = Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]);
const links = Array.from(document.querySelectorAll('a[href]')).map(a => [a.getAttribute('href'), a.href]);
const sheets = Array.from(document.querySelectorAll('link[rel=stylesheet]')).map(l => [l.getAttribute('href'), !!l.sheet]);
const fetched = performance.getEntriesByType('resource').map(r => r.name);
const listed = Array.from(document.querySelectorAll('[data-experiment]')).map(e => e.dataset.experiment);
return {images, links, sheets, fetched, listed, ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id)};
"""


def _need_browser() -> None:
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not path]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        reason = (f"{', '.join(missing)} not found: `apt-get install chromium chromium-driver` and "
                  f"`pip install selenium` to run the browser test")
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the browser test must run in CI, not skip)")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))  # no Selenium Manager
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@dataclass
class Crawl:
    problems: list[str] = field(default_factory=list)
    pages: list[Path] = field(default_factory=list)
    images: dict[Path, int] = field(default_factory=dict)  # loaded images per page
    listed: list[str] = field(default_factory=list)  # experiments on the index, in order


def _local(url: str) -> Path | None:
    parts = urlsplit(url)
    return Path(url2pathname(unquote(parts.path))) if parts.scheme == "file" else None


def crawl(driver, index: Path) -> Crawl:
    """Open index.html and every page it links to; list each image, link and stylesheet that fails."""
    from selenium.webdriver.support.ui import WebDriverWait

    site, found = index.parent.resolve(), Crawl()
    queue, ids_on, wanted = [index.resolve()], {}, []  # wanted: (linking page, target page, #fragment)
    while queue:
        page = queue.pop(0)
        if page in ids_on:
            continue
        driver.get(page.as_uri())
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(
            "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"))
        info = driver.execute_script(PAGE_JS)
        name = page.relative_to(site).as_posix()
        found.pages.append(page)
        ids_on[page] = set(info["ids"])
        if page == index.resolve():
            found.listed = info["listed"]
        found.images[page] = sum(width > 0 for _, _, width in info["images"])
        found.problems += [f"{name}: image {src} did not load" for src, _, width in info["images"] if width == 0]
        found.problems += [f"{name}: stylesheet {href} did not load" for href, ok in info["sheets"] if not ok]
        found.problems += [f"{name}: fetched from the network: {url}" for url in info["fetched"] if _local(url) is None]
        for raw, absolute in info["links"]:
            target = _local(absolute)
            if urlsplit(raw).scheme or raw.startswith("/") or target is None:
                found.problems.append(f"{name}: link {raw} is not relative")
            elif site not in target.parents or not target.is_file():
                found.problems.append(f"{name}: link {raw} points at nothing in the report")
            elif target.suffix == ".html":
                queue.append(target)
                if urlsplit(absolute).fragment:
                    wanted.append((name, target, unquote(urlsplit(absolute).fragment)))
    found.problems += [f"{name}: link to {target.name}#{fragment}: no #{fragment} there"
                       for name, target, fragment in wanted if fragment not in ids_on[target]]
    return found


def screenshot(driver, page: Path, name: str) -> Path:
    """Save the whole page (not only the window) as test-artifacts/<name>."""
    driver.get(page.resolve().as_uri())
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 8000), "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


SECTION = "normalization"  # one small section runs; tests/experiments/test_smoke.py runs every experiment


@pytest.mark.slow  # runs one section's experiments (smoke profile) in a subprocess
def test_smoke_tour_report_in_chromium(browser, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("MLLAB_TEST_THREADS", "1")}
    done = subprocess.run([sys.executable, "-m", "mllab.cli", "tour", "--profile", "smoke", "--device", "cpu",
                           "--only", SECTION, "--jobs", "1", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=900)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "tour-smoke.txt").write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: some experiment erred (test_smoke names it)
    index = tmp_path / "report" / "index.html"
    assert done.stdout.strip().splitlines()[-1] == f"report: {index.resolve()}"

    found = crawl(browser, index)
    screenshot(browser, index, "report-index.png")
    if len(found.pages) > 1:
        screenshot(browser, found.pages[1], "report-experiment.png")
    registered = [e.name for e in all_experiments()]
    assert found.listed == registered, "the index must list exactly the registered experiments, in order"
    assert found.problems == []
    assert len(found.pages) == 1 + len(registered)  # the index and one page per experiment
    ran = {e.name for e in all_experiments(SECTION)}
    for page in found.pages[1:]:  # the section's experiments ran and show their figures; the rest are "not run"
        text = page.read_text()
        heading = text.split("<h1>")[1].split("</h1>")[0]
        if page.stem in ran:
            assert "not run" not in heading, page.name
            assert found.images[page] > 0 or "badge error" in text, f"{page.name} shows no figure"
        else:
            assert "not run" in heading, page.name


def test_crawler_reports_a_missing_image_and_a_broken_link(browser, fake_registry, fake_runs, tmp_path):
    index = build_report(fake_runs, tmp_path / "report")
    clean = crawl(browser, index)
    assert clean.problems == []
    assert clean.listed == ["fake-rises", "fake-breaks", "fake-falls", "fake-compares", "fake-never"]
    assert clean.images[index.resolve()] == 2  # thumbnails of fake-rises and fake-falls

    broken = tmp_path / "broken"
    shutil.copytree(index.parent, broken)
    (broken / "exp" / "fake-falls" / "parabola.png").unlink()
    index_text = (broken / "index.html").read_text()
    (broken / "index.html").write_text(index_text.replace('href="exp/fake-falls.html"', 'href="exp/fake-fall.html"', 1))
    page = broken / "exp" / "fake-rises.html"
    page.write_text(page.read_text().replace('href="../index.html#fake-rises"', 'href="../index.html#no-such-id"'))
    problems = crawl(browser, broken / "index.html").problems
    assert any("fake-falls/parabola.png did not load" in p for p in problems), problems
    assert any("exp/fake-fall.html points at nothing" in p for p in problems), problems
    assert any("no #no-such-id" in p for p in problems), problems
    screenshot(browser, broken / "index.html", "report-broken-index.png")
