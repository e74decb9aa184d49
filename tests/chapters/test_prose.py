"""The chapters' prose and cells, read from the committed notebooks (fast: nothing is executed).

* Numbers in prose are glued, never typed: a decimal number (``0.19``, ``24.0``, ``2.6×``,
  ``1.75–2.4``) or a percentage (``5 %``, ``37%``) in a Markdown cell, outside math, code,
  roles (``{glue:text}`…```, ``{cite}`…```), link targets and label lines, is allowed only when
  it is one of the paper's own constants, listed in the notebook's metadata
  ``relubook.paper_constants``.
* No Markdown cell refers to notes the reader cannot see ("our notes", "the notes", ...).
* No raw control characters in Markdown; code lines of at most 100 characters; nbval is steered
  by cell tags (``nbval-check-output``, ``nbval-ignore-output``), not comment markers; every
  figure has alt text and a caption (``mystnb.image.alt``, ``mystnb.figure.caption``).
* Every ``{cite}`` key is in ``book/references.bib`` and every entry there is cited.

The helpers (:func:`prose`, :func:`typed_numbers`, ...) have their own tests at the end.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb")
                   if re.match(r"^\d\d_[a-z0-9_]+$", p.stem))
BOOK_PAGES = sorted((ROOT / "book").glob("*.md"))
BIB = ROOT / "book" / "references.bib"
MAX_CODE_LINE = 100

# ---- helpers ------------------------------------------------------------------------------

#: Fenced blocks whose body is not prose (dropped whole); other directives keep their body.
CODE_DIRECTIVES = {"code", "code-block", "code-cell", "sourcecode", "math", "raw",
                   "literalinclude", "bibliography", "eval-rst", "mermaid", "glue:figure",
                   "glue:math", "tableofcontents", "toctree"}

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,}|:{3,})\s*(?:\{(?P<name>[^}\s]+)\})?.*$")
_OPTION = re.compile(r"^\s*:[\w-]+:.*$")
_ROLE = re.compile(r"\{[\w:.+-]+\}`[^`]*`")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_DISPLAY_MATH = re.compile(r"\$\$.*?\$\$", re.DOTALL)
_ENV_MATH = re.compile(r"\\begin\{([a-zA-Z*]+)\}.*?\\end\{\1\}", re.DOTALL)
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)(?:\\.|[^$\\])+?(?<!\\)\$")
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_LINK_DEF = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
_AUTOLINK = re.compile(r"<[a-z]+://[^>]*>|\bhttps?://\S+")
_LABEL_LINE = re.compile(r"^\s*\([\w:.-]+\)=\s*$", re.MULTILINE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^>\n]*>")
_IDENTIFIER = re.compile(r"\barXiv[:\s]\s*\d{4}\.\d{4,5}(?:v\d+)?|\b10\.\d{4,9}/\S+", re.IGNORECASE)

#: A decimal number (a dotted run of digits) or a percentage, not glued to a word before it.
_NUMBER = re.compile(r"(?<![\w.])(?:\d+(?:\.\d+)+(?:[ \t\u00a0\u202f]?%)?|\d+[ \t\u00a0\u202f]?%)")
_NOTES = re.compile(r"\b(?:our notes|the notes|the note['’]s|see the note)\b", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NBVAL_MARKERS = ("# NBVAL_CHECK_OUTPUT", "# NBVAL_IGNORE_OUTPUT")


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def strip_fences(text: str) -> str:
    """Drop code fences (``` and ~~~, and directives such as ``{math}``); keep the body of
    prose directives (``{note}``, ``{figure}``, ``:::``) without their option lines."""
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        fence, name = m["fence"], m["name"]
        close = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body = []
        i += 1
        while i < len(lines) and not close.match(lines[i]):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        if name is None and fence[0] != ":" or (name or "").lower() in CODE_DIRECTIVES:
            continue
        out.extend(strip_fences("\n".join(ln for ln in body if not _OPTION.match(ln))).split("\n"))
    return "\n".join(out)


def prose(markdown: str) -> str:
    """The text a reader reads as prose: without math, code, roles, link targets, labels."""
    text = _COMMENT.sub(" ", strip_fences(markdown))
    for rx in (_ROLE, _CODE_SPAN, _DISPLAY_MATH, _ENV_MATH, _INLINE_MATH):
        text = rx.sub(" ", text)
    text = _LINK_TARGET.sub("]", text)
    for rx in (_LINK_DEF, _AUTOLINK, _LABEL_LINE, _TAG, _IDENTIFIER):
        text = rx.sub(" ", text)
    return text


def normalise(number: str) -> str:
    return re.sub(r"\s", "", number)


def typed_numbers(markdown: str, allowed=()) -> list[tuple[str, str]]:
    """``(number, snippet)`` for each decimal or percentage in the prose not in ``allowed``."""
    ok = {normalise(a) for a in allowed}
    text = prose(markdown)
    out = []
    for m in _NUMBER.finditer(text):
        if normalise(m.group()) in ok:
            continue
        snippet = " ".join(text[max(0, m.start() - 40):m.end() + 40].split())
        out.append((m.group(), snippet))
    return out


def notes_phrases(markdown: str) -> list[str]:
    return [m.group() for m in _NOTES.finditer(markdown)]


def control_chars(text: str) -> list[str]:
    return sorted({repr(c) for c in _CONTROL.findall(text)})


def cite_keys(text: str) -> set[str]:
    """Keys of every ``{cite}``, ``{cite:p}``, ``{cite:t}``, ... role in ``text``."""
    keys = set()
    for m in re.finditer(r"\{cite(?::\w+)?\}`([^`]*)`", text):
        keys |= {k.strip() for k in re.split(r"[,;]", m.group(1)) if k.strip()}
    return keys


def bib_keys(bib: str) -> set[str]:
    """Keys of the entries of a BibTeX file (``@type{key,``; not @string, @comment, ...)."""
    return {m.group(2) for m in re.finditer(r"@(\w+)\s*[{(]\s*([^,\s]+)\s*,", bib)
            if m.group(1).lower() not in ("string", "comment", "preamble")}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def cells(nb: dict, kind: str):
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == kind:
            yield i, cell


def paper_constants(nb: dict) -> list[str]:
    return [str(c) for c in (nb.get("metadata", {}).get("relubook", {}) or {})
            .get("paper_constants", [])]


def report(path: Path, problems: list[str], what: str) -> str:
    return f"{path.relative_to(ROOT)}: {len(problems)} {what}:\n  " + "\n  ".join(problems)


# ---- the chapters ---------------------------------------------------------------------------

chapter = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])


def test_there_are_chapters():
    assert NOTEBOOKS, "no chapter notebooks in notebooks/"


@chapter
def test_numbers_in_prose_are_glued(path):
    nb = load(path)
    allowed = paper_constants(nb)
    problems = [f"cell {i}: {num!r} in '…{snip}…'"
                for i, cell in cells(nb, "markdown")
                for num, snip in typed_numbers(source(cell), allowed)]
    assert not problems, report(path, problems, "typed number(s) in prose (glue them, or list "
                                "the paper's own constants in metadata relubook.paper_constants)")


@chapter
def test_prose_does_not_refer_to_notes(path):
    problems = [f"cell {i}: {phrase!r}" for i, cell in cells(load(path), "markdown")
                for phrase in notes_phrases(source(cell))]
    assert not problems, report(path, problems, "reference(s) to notes a reader has not got")


@chapter
def test_prose_types_no_book_chapter_number(path):
    """Sphinx numbers chapters by their place in _toc.yml: a typed "Chapter 17" goes wrong as
    soon as a chapter is inserted before it (refer to chapters with {doc} links)."""
    problems = [f"cell {i}: {m.group(0)!r}" for i, cell in cells(load(path), "markdown")
                for m in re.finditer(r"\b[Cc]hapter\s+\d+", source(cell))]
    assert not problems, report(path, problems, "typed chapter number(s)")


@chapter
def test_markdown_has_no_control_characters(path):
    problems = [f"cell {i}: {', '.join(cs)}" for i, cell in cells(load(path), "markdown")
                if (cs := control_chars(source(cell)))]
    assert not problems, report(path, problems, "Markdown cell(s) with raw control characters")


@chapter
def test_code_lines_fit(path):
    problems = []
    for i, cell in cells(load(path), "code"):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        for n, line in enumerate(source(cell).split("\n"), 1):
            if len(line) > MAX_CODE_LINE:
                problems.append(f"cell {i} line {n}: {len(line)} characters: {line[:60]}…")
    assert not problems, report(path, problems, f"code line(s) over {MAX_CODE_LINE} characters "
                                "(`make format`)")


@chapter
def test_nbval_is_steered_by_tags(path):
    problems = [f"cell {i}: {marker!r} (use the tag "
                f"{marker[2:].lower().replace('_', '-')})"
                for i, cell in cells(load(path), "code") for marker in _NBVAL_MARKERS
                if marker in source(cell)]
    assert not problems, report(path, problems, "nbval comment marker(s)")


@chapter
def test_figures_have_alt_text_and_a_caption(path):
    problems = []
    for i, cell in cells(load(path), "code"):
        if not any("image/png" in o.get("data", {}) for o in cell.get("outputs", [])):
            continue
        myst = cell.get("metadata", {}).get("mystnb", {}) or {}
        for key, field in (("image", "alt"), ("figure", "caption")):
            value = (myst.get(key) or {}).get(field)
            if not (isinstance(value, str) and value.strip()):
                problems.append(f"cell {i}: no mystnb.{key}.{field}")
    assert not problems, report(path, problems, "figure problem(s)")


def _cited() -> dict[str, set[str]]:
    where: dict[str, set[str]] = {}
    for path in NOTEBOOKS:
        for _, cell in cells(load(path), "markdown"):
            for k in cite_keys(source(cell)):
                where.setdefault(k, set()).add(str(path.relative_to(ROOT)))
    for path in BOOK_PAGES:
        for k in cite_keys(path.read_text(encoding="utf-8")):
            where.setdefault(k, set()).add(str(path.relative_to(ROOT)))
    return where


def test_every_citation_is_in_the_bibliography():
    keys = bib_keys(BIB.read_text(encoding="utf-8"))
    missing = {k: sorted(v) for k, v in _cited().items() if k not in keys}
    assert not missing, f"cited but not in {BIB.relative_to(ROOT)}: {missing}"


def test_every_bibliography_entry_is_cited():
    unused = sorted(bib_keys(BIB.read_text(encoding="utf-8")) - set(_cited()))
    assert not unused, (f"entries of {BIB.relative_to(ROOT)} that no chapter or page cites: "
                        f"{', '.join(unused)}")


# ---- the helpers ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "the slope is $0.5$ and $$x = 0.19$$ here",
    "$$\n\\alpha = 2.5\n$$",
    "glued: {glue:text}`c2_residual:.1e` and {glue:text}`x:.2f` and {glue}`y`",
    "cited {cite:p}`galanti2025lowrank` and {ref}`ch02-c1` and {numref}`fig-1.2`",
    "code `lr = 0.1` and ``a `b` 0.3``",
    "```python\nx = 0.25\n```",
    "~~~\n50 %\n~~~",
    "```{math}\n0.5\n```",
    "a [link](https://example.org/v1.2/page) and <https://x.org/3.4> and https://a.b/5.6",
    "(ch02-c1.5)=\n## C1",
    "arXiv:2106.09685 and arXiv 2301.12345v2 and doi 10.1007/s10.5",
    "<!-- 0.19 --> and <img src='a.png' width='50%'>",
    "\\begin{align} x &= 0.5 \\end{align}",
    "version v0.2 and L2.5",
    "integers 8×8, 500 epochs, ResNet-18",
])
def test_prose_ignores_math_code_roles_and_links(text):
    assert typed_numbers(text) == [], prose(text)


@pytest.mark.parametrize("text,found", [
    ("the slope is 0.19 here", ["0.19"]),
    ("it is 24.0 s", ["24.0"]),
    ("a 2.6× speed-up", ["2.6"]),
    ("between 1.75–2.4", ["1.75", "2.4"]),
    ("only 5 % and 37% and 12.5%", ["5 %", "37%", "12.5%"]),
    ("negative -0.3 too", ["0.3"]),
    ("Lemma 3.2 says", ["3.2"]),
    ("in bold **0.7** and (0.8)", ["0.7", "0.8"]),
    ("```{note}\n:class: tip\nThe error is 0.04.\n```", ["0.04"]),
    (":::{figure} a.png\n:width: 80%\nA caption with 0.9.\n:::", ["0.9"]),
    ("math $x$ then 0.6 then $y$", ["0.6"]),
    ("a \\$ sign and 0.1", ["0.1"]),
])
def test_typed_numbers_are_found(text, found):
    assert [n for n, _ in typed_numbers(text)] == found


def test_paper_constants_are_allowed_and_snippets_show_context():
    assert typed_numbers("Lemma 3.2 and 0.5 %", allowed=["3.2", "0.5%"]) == []
    [(num, snip)] = typed_numbers("the measured slope is 0.19 over all widths")
    assert num == "0.19" and snip == "the measured slope is 0.19 over all widths"


def test_notes_phrases():
    assert notes_phrases("As our notes say; see The Notes, the note's rule, see the note") == [
        "our notes", "The Notes", "the note's", "see the note"]
    assert notes_phrases("the notebook, see the notebook, footnotes, the noted result") == []


def test_control_chars():
    assert control_chars("a\x08b\x1bc\td\ne\r") == ["'\\x08'", "'\\x1b'"]


def test_cite_and_bib_keys():
    assert cite_keys("{cite:p}`a, b` and {cite}`c` and {cite:t}`d;e`") == {"a", "b", "c", "d", "e"}
    bib = "@article{x2020,\n title={T}}\n@InProceedings{ y_2, a=1}\n@string{s = 1}\n"
    assert bib_keys(bib) == {"x2020", "y_2"}
