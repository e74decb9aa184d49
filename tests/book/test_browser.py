"""The rendered book in a real browser: headless Chromium over a local HTTP server."""

import functools
import http.server
import shutil
import threading

import pytest

from relubook.pipeline import paths, records

HTML = paths.repo_root() / "_build" / "html"
CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="Debian's chromium and chromium-driver are not installed "
           "(make browser-deps installs them where apt-get is available)",
)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output readable
        pass


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").exists():
        pytest.fail(f"{HTML} is not built; run `make html` first")
    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def images(browser):
    return browser.execute_script(
        "return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth]);")


@pytest.mark.parametrize("chapter", paths.chapters())
def test_chapter_page_renders_with_all_figures(server, browser, chapter):
    browser.get(f"{server}/notebooks/{chapter}.html")
    title = browser.title
    assert "ReLU Networks, Reproduced" in title
    heading = browser.execute_script(
        "const h = document.querySelector('article h1, main h1'); return h ? h.textContent : '';")
    assert heading.strip(), "the chapter page has no heading"
    assert heading.strip().rstrip("#").strip() in title
    imgs = [i for i in images(browser) if "/_images/" in i[0] or i[0].startswith("data:image")]
    assert imgs, f"{chapter} shows no figure"
    broken = [src[:80] for src, complete, width in imgs if not complete or width == 0]
    assert not broken, f"figures that did not load: {broken}"
    tables = browser.execute_script(
        "return Array.from(document.querySelectorAll('article table')).map(t => t.innerText);")
    verdicts = [t for t in tables if "verdict" in t and "we measured" in t]
    assert verdicts, f"{chapter}: the verdict table is not rendered as an HTML table"
    for c in records.load(records.committed_path(chapter))["claims"]:
        assert c["id"] in verdicts[-1] and c["verdict"] in verdicts[-1]


def test_dashboard_lists_every_chapters_claims(server, browser):
    browser.get(f"{server}/book/generated/dashboard.html")
    assert "Claims dashboard" in browser.title
    text = browser.find_element("tag name", "body").text
    for chapter in paths.chapters():
        rec = records.load(records.committed_path(chapter))
        for c in rec["claims"]:
            assert c["statement"][:40] in text, f"{chapter} {c['id']} missing from the dashboard"
            assert c["verdict"] in text


def test_status_page_shows_each_chapter(server, browser):
    browser.get(f"{server}/book/generated/status.html")
    text = browser.find_element("tag name", "body").text
    for chapter in paths.chapters():
        assert chapter in text
