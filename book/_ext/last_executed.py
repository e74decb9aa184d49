"""Sphinx extension: a "last executed" line under the title of every chapter page.

For each document ``notebooks/NN_slug``, the line is read from the chapter's committed record
``data/claims/NN_slug.json`` (with :func:`relubook.pipeline.records.load`, which validates it)
and inserted as the first paragraph after the chapter's title, with the class
``last-executed``::

    Last executed 2026-12-01 21:18 UTC · profile full · seed 0 · 11.1 min
    (record data/claims/05_relu_inr.json)

It is added by the build, not by a notebook cell, so the notebooks (and nbval) are unchanged.
A missing or invalid record gives "No valid record (...)" and never fails the build. The record
is a dependency of its page: editing it rebuilds the page.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from docutils import nodes

CHAPTER_DOC = re.compile(r"^notebooks/(\d\d_[A-Za-z0-9_]+)$")
CLASS = "last-executed"


def _record_path(app, chapter: str) -> Path:
    from relubook.pipeline import records

    return records.committed_path(chapter, Path(app.srcdir))


def _wall(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def _date(iso: str) -> str:
    d = datetime.fromisoformat(iso)  # "2026-12-01T21:18:08Z" (Python >= 3.11 reads the Z)
    if d.tzinfo is not None:
        d = d.astimezone(UTC)
    return d.strftime("%Y-%m-%d %H:%M UTC")


def last_executed_text(chapter: str, path: Path, root: Path) -> str:
    """The line shown under a chapter's title (never raises)."""
    from relubook.pipeline import records

    shown = records.display_path(path, root)
    try:
        rec = records.load(path)
        return (f"Last executed {_date(rec['date'])} · profile {rec['profile']} · "
                f"seed {rec['seed']} · {_wall(float(rec['wall_s']))} (record {shown})")
    except Exception as e:  # noqa: BLE001  (a bad record must not break the build)
        reason = str(e).split("\n")[0]
        if shown not in reason:
            reason = f"{shown}: {reason}" if reason else shown
        return f"No valid record ({reason})"


def _note_dependency(app, doctree) -> None:
    m = CHAPTER_DOC.match(app.env.docname)
    if m:
        app.env.note_dependency(str(_record_path(app, m.group(1))))


def _insert(app, doctree, docname: str) -> None:
    m = CHAPTER_DOC.match(docname)
    if not m:
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not section.children or not isinstance(section[0], nodes.title):
        return
    text = last_executed_text(m.group(1), _record_path(app, m.group(1)), Path(app.srcdir))
    section.insert(1, nodes.paragraph(text, text, classes=[CLASS]))


def setup(app):
    app.connect("doctree-read", _note_dependency)
    app.connect("doctree-resolved", _insert)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
