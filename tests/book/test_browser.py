"""The rendered book in a real browser: headless Chromium, offline, over ``file://``.

Every page of the table of contents is loaded from ``_build/html`` with the network cut off
(every request goes to a dead proxy, loopback included). On each page the test waits for
MathJax to finish and checks that

* no http(s) request was made (the page, its scripts, fonts and MathJax are all local);
* math typesets wherever the page has math, with no MathJax error and no control character in
  the TeX; no raw TeX (``\\command``, ``$…$``) is left in the text outside math and code;
* every image in the article has a real ``alt`` text (not its file name) and loaded;
* every internal link resolves: the file exists in the build and the ``#anchor`` is an id
  on the target page.

Then the chapter pages must show their figures, their verdict table with the committed
verdicts and, directly under the title, when the committed record was executed (date, profile,
seed), the dashboard must count and link every chapter's claims, and the status page must
list every chapter.
"""

from __future__ import annotations

import datetime
import functools
import html.parser
import json
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from relubook.pipeline import claims, pages, paths, records

ROOT = paths.repo_root()
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
#: Where MathJax must come from: the copy that sphinx-mathjax-offline puts into the build.
MATHJAX = HTML / "_static" / "mathjax" / "tex-chtml.js"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="Debian's chromium and chromium-driver are not installed "
           "(make browser-deps installs them where apt-get is available)",
)


def toc_pages() -> list[str]:
    """Every document of ``_toc.yml``, in order (``book/intro``, ..., ``book/bibliography``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    out = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                out.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [re.sub(r"\.(md|ipynb)$", "", p) for p in out]


PAGES = toc_pages()


def page_url(page: str) -> str:
    return (HTML / f"{page}.html").as_uri()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (HTML / "index.html").exists():
        pytest.fail(f"{HTML} is not built; run `make html` first")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-default-apps", "--disable-extensions", "--disable-dev-shm-usage",
                 "--window-size=1280,900",
                 # No network: every request, loopback included, goes to a closed port.
                 "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(60)
    yield drv
    drv.quit()


# One script collects everything the checks need, after MathJax has finished.
WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
if (!window.MathJax) { done('none'); return; }
if (!(MathJax.startup && MathJax.startup.promise)) { done('not started'); return; }
MathJax.startup.promise.then(() => done('ok'), e => done('error: ' + e));
"""

COLLECT = r"""
const article = document.querySelector('article') || document.querySelector('main') || document.body;
const skip = 'mjx-container, code, pre, kbd, samp, script, style, textarea, .highlight';
const texts = [];
const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  if (n.parentElement && !n.parentElement.closest(skip)) texts.push(n.nodeValue);
}
const items = (window.MathJax && MathJax.startup && MathJax.startup.document)
  ? Array.from(MathJax.startup.document.math) : [];
const texOf = el => {
  const c = el.closest('mjx-container');
  const it = items.find(m => m.typesetRoot === c);
  return it ? it.math : (c ? c.textContent : el.textContent);
};
const ids = new Set(Array.from(document.querySelectorAll('[id]')).map(e => e.id));
document.querySelectorAll('a[name]').forEach(a => ids.add(a.getAttribute('name')));
return {
  title: document.title,
  heading: (article.querySelector('h1') || {textContent: ''}).textContent,
  mathjaxScripts: Array.from(document.scripts).map(s => s.src).filter(s => /mathjax/i.test(s)),
  mathNodes: document.querySelectorAll('.math').length,
  untypeset: Array.from(document.querySelectorAll('.math'))
    .filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 120)),
  mjx: document.querySelectorAll('mjx-container').length,
  merrors: Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))
    .map(e => [e.getAttribute('data-mjx-error') || e.textContent, texOf(e)]),
  tex: items.map(m => m.math),
  text: texts.join(''),
  images: Array.from(article.querySelectorAll('img')).map(i =>
    [i.getAttribute('src') || '', i.getAttribute('alt'), i.complete, i.naturalWidth]),
  column: (() => {
    const cs = getComputedStyle(article);
    return article.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  })(),
  figures: Array.from(article.querySelectorAll('img')).map(i => {
    const fig = i.closest('figure');
    const cap = fig ? fig.querySelector('figcaption') : null;
    return {src: (i.getAttribute('src') || '').slice(-60), natural: i.naturalWidth,
            rendered: i.getBoundingClientRect().width, inFigure: !!fig,
            caption: cap ? cap.innerText.trim().slice(0, 80) : null,
            figureId: fig ? fig.id : null};
  }),
  numrefs: Array.from(article.querySelectorAll('a.reference.internal'))
    .map(a => (a.getAttribute('href') || '').split('#').pop()),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => [a.getAttribute('href'), a.href]),
  ids: Array.from(ids),
  tables: Array.from(article.querySelectorAll('table')).map(t =>
    Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.innerText.trim()))),
  resources: performance.getEntriesByType('resource').map(e => e.name),
  location: location.href,
  lastExecuted: (() => {
    const h1 = article.querySelector('h1');
    const next = h1 ? h1.nextElementSibling : null;
    return {
      texts: Array.from(article.querySelectorAll('.last-executed')).map(e => e.innerText.trim()),
      underTitle: !!(next && next.classList.contains('last-executed')),
      next: next ? next.outerHTML.slice(0, 120) : null,
    };
  })(),
};
"""


@pytest.fixture(scope="module")
def visit(browser):
    """``visit(page)``: load a page once, wait for MathJax, and return what it shows."""

    @functools.cache
    def load(page: str) -> dict:
        f = HTML / f"{page}.html"
        if not f.is_file():
            pytest.fail(f"{page} is in _toc.yml but {f} was not built")
        browser.get_log("performance")  # drop what earlier pages logged
        browser.get(f.as_uri())
        state = browser.execute_async_script(WAIT_FOR_MATHJAX)
        facts = browser.execute_script(COLLECT)
        facts["mathjax"] = state
        facts["requests"] = sorted({
            m["params"]["request"]["url"]
            for m in (json.loads(e["message"])["message"] for e in browser.get_log("performance"))
            if m.get("method") == "Network.requestWillBeSent"})
        return facts

    return load


def _ext(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https", "ws", "wss", "ftp")


@pytest.mark.parametrize("page", PAGES)
def test_page_makes_no_network_request(visit, page):
    facts = visit(page)
    remote = sorted({u for u in facts["requests"] + facts["resources"] if _ext(u)})
    assert not remote, f"{page} requested from the network: {remote[:10]}"
    assert facts["requests"], "the performance log recorded no request at all (is it working?)"


#: TeX left as text: a control word such as ``\alpha``, or ``$…$`` that holds TeX syntax.
RAW_TEX = re.compile(r"\\[A-Za-z]+|\$+[^$\n]*?[\\^_{}][^$\n]*?\$+")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@pytest.mark.parametrize("page", PAGES)
def test_math_typesets_offline(visit, page):
    facts = visit(page)
    scripts = facts["mathjaxScripts"]
    if not (facts["mathNodes"] or scripts):
        return  # no math on this page: Sphinx loads MathJax only where there is some
    assert MATHJAX.is_file(), f"{MATHJAX} is missing: the build does not serve MathJax"
    assert scripts, f"{facts['mathNodes']} math node(s), but the page does not load MathJax"
    assert all(s == MATHJAX.as_uri() or s.startswith(MATHJAX.as_uri() + "?") for s in scripts), (
        f"MathJax is not the build's own copy: {scripts}")
    assert facts["mathjax"] == "ok", f"MathJax did not finish: {facts['mathjax']}"
    assert not facts["untypeset"], f"math left as TeX: {facts['untypeset'][:5]}"
    assert facts["mjx"] >= facts["mathNodes"], (
        f"{facts['mathNodes']} math node(s) but {facts['mjx']} typeset")
    assert not facts["merrors"], "MathJax errors (message, TeX): " + "; ".join(
        f"{msg!r} in {tex!r}" for msg, tex in facts["merrors"][:5])
    bad = [t for t in facts["tex"] if CONTROL.search(t)]
    assert not bad, f"control characters in TeX (an unescaped '\\b' or '\\t'?): {bad[:5]!r}"


@pytest.mark.parametrize("page", PAGES)
def test_no_raw_tex_outside_math(visit, page):
    text = visit(page)["text"]
    found = [text[max(m.start() - 30, 0):m.end() + 30].replace("\n", " ")
             for m in RAW_TEX.finditer(text)]
    assert not found, f"{len(found)} raw TeX fragment(s) in the text, e.g. {found[:5]}"
    ctrl = sorted({hex(ord(c)) for c in CONTROL.findall(text)})
    assert not ctrl, f"control characters in the text: {ctrl}"


@pytest.mark.parametrize("page", PAGES)
def test_images_have_alt_text_and_load(visit, page):
    missing, placeholder, broken = [], [], []
    for src, alt, complete, width in visit(page)["images"]:
        name = src.rsplit("/", 1)[-1]
        if not (alt or "").strip():
            missing.append(src[:80])
        elif name and alt.strip().rsplit("/", 1)[-1] == name:
            placeholder.append(name[:40])  # Sphinx's default alt is the image's own path
        if not complete or width == 0:
            broken.append(src[:80])
    assert not missing, f"images without alt text: {missing}"
    assert not placeholder, (
        f"{len(placeholder)} image(s) whose alt text is only their file name, e.g. "
        f"{placeholder[:3]}; give each figure an alt text (cell metadata "
        "mystnb: {image: {alt: ...}})")
    assert not broken, f"images that did not load: {broken}"


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])


@functools.cache
def ids_of(path: Path) -> frozenset[str]:
    p = _Ids()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(p.ids)


def link_problem(href: str, url: str, here: Path, here_ids: set[str]) -> str | None:
    """Why an internal link does not resolve (None when it does, or is not internal)."""
    if not href or href == "#" or href.startswith(("mailto:", "javascript:", "data:")):
        return None
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None  # external links are not followed offline
    target = Path(unquote(parts.path))
    try:
        target.relative_to(HTML)
    except ValueError:
        return f"{href}: points outside the built book ({target})"
    if target.is_dir():
        target = target / "index.html"
    if not target.exists():
        return f"{href}: {target.relative_to(HTML)} does not exist"
    frag = unquote(parts.fragment)
    if frag:
        ids = here_ids if target == here else (ids_of(target) if target.suffix == ".html" else None)
        if ids is not None and frag not in ids:
            return f"{href}: no id {frag!r} on {target.relative_to(HTML)}"
    return None


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(visit, page):
    facts = visit(page)
    here = HTML / f"{page}.html"
    here_ids = set(facts["ids"]) | ids_of(here)
    problems = sorted({p for href, url in facts["links"]
                       if (p := link_problem(href, url, here, here_ids))})
    assert not problems, f"{len(problems)} broken internal link(s): {problems[:10]}"


def committed(chapter: str) -> dict:
    try:
        return records.load(records.committed_path(chapter))
    except records.RecordError as e:
        pytest.fail(f"{chapter}: no valid committed record to compare the page with: {e}")


def _verdict_of(cell: str) -> str:
    return cell.replace("*", "").split(" (")[0].strip()


@pytest.mark.parametrize("chapter", paths.chapters())
def test_chapter_page_shows_its_figures_and_verdicts(visit, chapter):
    facts = visit(f"notebooks/{chapter}")
    assert "ReLU Networks, Reproduced" in facts["title"]
    heading = facts["heading"].strip().rstrip("#").strip()
    assert heading, "the chapter page has no heading"
    assert heading in facts["title"]
    figures = [i for i in facts["images"] if "_images/" in i[0] or i[0].startswith("data:image")]
    assert figures, f"{chapter} shows no figure"
    rec = committed(chapter)
    verdict_tables = [t for t in facts["tables"] if t and "verdict" in [c.lower() for c in t[0]]
                      and any("measured" in c for c in t[0])]
    rows = [r for t in verdict_tables for r in t[1:]]
    assert rows, f"{chapter}: the verdict table is not rendered as an HTML table"
    for c in rec["claims"]:
        shown = [r for r in rows if r and r[0] == c["id"]]
        assert shown, f"{chapter}: {c['id']} is not in the verdict table"
        assert any(c["verdict"] in (_verdict_of(x) for x in r[1:]) for r in shown), (
            f"{chapter}: {c['id']} is shown as {shown[0][1:]}, the record says {c['verdict']!r}")


@pytest.mark.parametrize("chapter", paths.chapters())
def test_chapter_page_shows_when_it_was_last_executed(visit, chapter):
    """The line that book/_ext/last_executed.py puts under the title, from the record."""
    shown = visit(f"notebooks/{chapter}")["lastExecuted"]
    assert shown["texts"], f"{chapter}: the page has no .last-executed line (is the extension on?)"
    assert len(shown["texts"]) == 1, f"{chapter}: {len(shown['texts'])} .last-executed lines"
    assert shown["underTitle"], (
        f"{chapter}: .last-executed is not directly under the title; next is {shown['next']!r}")
    text = shown["texts"][0]
    rec = committed(chapter)
    when = datetime.datetime.fromisoformat(rec["date"])
    date = when.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert text.startswith("Last executed "), f"{chapter}: {text!r}"
    assert date in text, f"{chapter}: shows {text!r}, the record's date is {date}"
    assert f"profile {rec['profile']}" in text, (
        f"{chapter}: shows {text!r}, the record's profile is {rec['profile']!r}")
    assert f"seed {rec['seed']}" in text, f"{chapter}: shows {text!r}, the seed is {rec['seed']}"
    assert f"data/claims/{chapter}.json" in text


def test_dashboard_counts_and_links_every_chapters_claims(visit):
    facts = visit("book/generated/dashboard")
    assert "Claims dashboard" in facts["title"]
    summary, *details = facts["tables"]
    head = [h.lower() for h in summary[0]]
    links = {unquote(url) for _, url in facts["links"]}
    for chapter in paths.chapters():
        rec = committed(chapter)
        no = paths.chapters().index(chapter) + 1  # the book's chapter number (toc order)
        row = next((r for r in summary if re.match(rf"Chapter {no}\b", r[0])), None)
        assert row, f"chapter {no} is not in the dashboard's summary table"
        counts = pages.verdict_counts(rec)
        for v in claims.VERDICTS:
            assert row[head.index(v)] == str(counts.get(v, 0)), f"chapter {no}: count of {v!r}"
        assert row[head.index("claims")] == str(len(pages.paper_claims(rec)))
        assert row[head.index("own checks")] == str(len(pages.book_checks(rec)))
        labels = pages.claim_labels(chapter)
        for c in rec["claims"]:
            label = claims.section_label(chapter, c["id"])
            if label in labels:
                assert (HTML / "notebooks" / f"{chapter}.html").as_uri() + "#" + label in links, (
                    f"the dashboard does not link {chapter} {c['id']} to its section")
            assert any(r and r[0] == c["id"] and _verdict_of(r[col]) == c["verdict"]
                       for t in details if t and "verdict" in t[0]
                       for col in [t[0].index("verdict")] for r in t[1:]), (
                f"{chapter} {c['id']} ({c['verdict']}) is not in the dashboard's tables")


def test_status_page_shows_each_chapter(visit):
    text = visit("book/generated/status")["text"]
    for chapter in paths.chapters():
        assert chapter in text


def test_reproduce_page_states_the_recorded_times(visit):
    def norm(t: str) -> str:  # Sphinx's smart quotes, and any run of white space
        return " ".join(t.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
                        .split())

    text = norm(visit("book/reproduce")["text"])
    expected = re.sub(r"\{doc\}`[^`]*`", "", norm(pages.timings()))
    # The prose between the code spans (the text checked here leaves out code).
    for piece in expected.split("`")[::2]:
        piece = piece.strip(" ;.,()")
        if piece:
            assert piece in text, (f"the reproduce page does not say {piece!r} (the records "
                                   "changed since the book was built? `make html` rebuilds it)")


@pytest.mark.parametrize("chapter", paths.chapters())
def test_chapter_figures_fit_the_column_and_have_numbered_captions(visit, chapter):
    """Each figure is shown at its natural size (never scaled down: its fonts stay >= 9 pt,
    see relubook.core.plotting), fits the text column, and has a numbered caption
    ("Fig. 5.2 ...") that the text refers to."""
    facts = visit(f"notebooks/{chapter}")
    no = paths.chapters().index(chapter) + 1  # Sphinx numbers the chapters in toc order
    col = facts["column"]
    too_wide, unnumbered, unreferenced = [], [], []
    for f in facts["figures"]:
        if f["natural"] > col + 1 or f["rendered"] > col + 1:
            too_wide.append(f"{f['src']}: {f['natural']} px natural, {f['rendered']:.0f} px "
                            f"shown, column {col:.0f} px")
        if not (f["inFigure"] and re.match(rf"Fig\. {no}\.\d+ \S", f["caption"] or "")):
            unnumbered.append(f"{f['src']}: caption {f['caption']!r}")
        elif f["figureId"] and f["figureId"] not in facts["numrefs"]:
            unreferenced.append(f["figureId"])
    assert facts["figures"], f"{chapter} shows no figure"
    assert not too_wide, ("figures wider than the text column (make them with "
                          f"relubook.core.plotting.figure): {too_wide}")
    assert not unnumbered, ("figures without a numbered caption (cell metadata "
                            f"mystnb.figure.caption and .name): {unnumbered}")
    assert not unreferenced, f"figures the text never refers to ({{numref}}): {unreferenced}"
