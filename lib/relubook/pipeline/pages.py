"""Generate the book's claims dashboard and status page from the committed run records."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from . import freshness, paths, records

__all__ = ["BADGE", "GENERATED", "badge", "chapter_title", "dashboard", "status", "write_pages"]

GENERATED = Path("book") / "generated"
#: sphinx-design badge role of each verdict.
BADGE = {"reproduced": "bdg-success", "partly": "bdg-warning", "not reproduced": "bdg-danger",
         "refined": "bdg-info"}


def badge(verdict: str) -> str:
    return f"{{{BADGE[verdict]}}}`{verdict}`"


def chapter_title(chapter: str, root: Path | None = None) -> str:
    """The first Markdown heading of a chapter notebook."""
    nb = json.loads((paths.notebooks_dir(root) / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return chapter


def _esc(s: object) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def dashboard(root: Path | None = None) -> str:
    """Markdown of every chapter's claims and verdicts (from ``data/claims``)."""
    out = ["# Claims dashboard", "",
           "Every claim of every chapter, with the verdict its notebook computed in the committed "
           "`full` run (`data/claims/*.json`). Verdicts: " + ", ".join(badge(v) for v in BADGE)
           + " (*refined*: the literal statement fails on a counter-example we show, and a "
           "corrected statement holds).", ""]
    total: Counter = Counter()
    sections = []
    for st in freshness.all_status(root):
        title = chapter_title(st.chapter, root)
        sections += [f"## {title}", "",
                     f"Chapter: {{doc}}`/notebooks/{st.chapter}`. "
                     + ("" if st.fresh else "**Stale:** " + "; ".join(st.reasons) + "."), ""]
        if st.record is None:
            sections += ["No committed record yet.", ""]
            continue
        sections += ["| claim | statement | the paper | we measured | verdict |",
                     "|---|---|---|---|---|"]
        for c in st.record["claims"]:
            total[c["verdict"]] += 1
            sections.append(f"| {c['id']} | {_esc(c['statement'])} | {_esc(c['paper'])} | "
                            f"{_esc(c['measured'])} | {badge(c['verdict'])} |")
        sections.append("")
    summary = ", ".join(f"{n} {badge(v)}" for v, n in sorted(total.items())) or "no claims yet"
    return "\n".join(out + [f"**In all:** {summary}.", ""] + sections)


def status(root: Path | None = None) -> str:
    """Markdown of each chapter's committed run: profile, time, date, versions, freshness."""
    out = ["# Status", "",
           "One row per chapter, read from its committed record. *Fresh* means the notebook's "
           "code cells and every `lib` module its kernel imported still hash to what the record "
           "holds; `make book` re-executes a stale chapter before rendering. Wall times are those of "
           "the recorded run on the machine it names; a run that shared its cores with other work "
           "took longer, so read them as upper bounds.", "",
           "| chapter | run | wall time | date (UTC) | versions | state |",
           "|---|---|---|---|---|---|"]
    for st in freshness.all_status(root):
        r = st.record
        if r is None:
            out.append(f"| {st.chapter} | – | – | – | – | stale: {_esc(st.reasons[0])} |")
            continue
        v = r["versions"]
        versions = ", ".join(f"{k} {v[k].split('+')[0]}" for k in ("python", "torch", "numpy") if k in v)
        state = "fresh" if st.fresh else "stale: " + _esc("; ".join(st.reasons))
        date = r.get("date", "–").replace("T", " ")[:16]
        out.append(f"| {{doc}}`{st.chapter} </notebooks/{st.chapter}>` | {r['profile']}, seed "
                   f"{r['seed']} | {r['wall_s'] / 60:.1f} min | {date} | {versions}; "
                   f"{_esc(r.get('machine', ''))} | {state} |")
    smoke = sorted(paths.build_dir(root).glob("claims/*.smoke.json"))
    out += ["", "## Smoke runs in this checkout", ""]
    if not smoke:
        out.append("None yet: `make test` runs every chapter at `smoke` and fills this table.")
    else:
        out += ["| chapter | wall time | verdicts |", "|---|---|---|"]
        for f in smoke:
            try:
                r = records.load(f)
            except records.RecordError:
                continue
            counts = Counter(c["verdict"] for c in r["claims"])
            out.append(f"| {r['chapter']} | {r['wall_s']:.0f} s | "
                       + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + " |")
    return "\n".join(out) + "\n"


def write_pages(root: Path | None = None) -> list[Path]:
    """Write ``book/generated/dashboard.md`` and ``status.md``; return their paths."""
    base = (root or paths.repo_root()) / GENERATED
    written = []
    for name, text in (("dashboard.md", dashboard(root)), ("status.md", status(root))):
        paths.atomic_write_text(base / name, text)
        written.append(base / name)
    return written
