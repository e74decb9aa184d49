"""Generate the book's claims dashboard, status page and run-time sentence from the run records.

``relubook pages`` writes four files into ``book/generated/`` (git-ignored):

* ``dashboard.md``: a one-screen summary (a table of chapters by verdict counts, then every
  claim as a link to its section in its chapter), then one table of claims per chapter;
* ``status.md``: each chapter's committed run (profile, time, date, versions, freshness);
* ``seeds.md``: each claim's verdict at every seed and each check's spread over the seeds,
  from ``data/seeds`` (:mod:`relubook.pipeline.seeds`);
* ``timings.md``: the run-time sentence that ``book/reproduce.md`` includes, so the times it
  states are the recorded ones, never typed.

Only claims of kind ``"paper"`` are counted as reproductions; the book's own checks (kind
``"book"``) are listed apart. A record that is missing or does not validate is reported as
such, never guessed at.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import freshness, paths, records, seeds
from . import claims
from .claims import VERDICTS, section_label

__all__ = ["BADGE", "GENERATED", "badge", "book_checks", "chapter_title", "checks_cell",
           "claim_labels", "claim_link", "dashboard", "paper_claims", "seed_robustness", "seeds_page",
           "status", "timings",
           "verdict_counts", "write_pages"]

GENERATED = Path("book") / "generated"
#: sphinx-design badge role of each verdict.
BADGE = {"reproduced": "bdg-success", "partly": "bdg-warning", "not reproduced": "bdg-danger",
         "refined": "bdg-info"}

#: A MyST target line, ``(ch01-c1)=``, alone on its line.
_LABEL_RE = re.compile(r"^\(([A-Za-z0-9_.:-]+)\)=\s*$", re.MULTILINE)


def badge(verdict: str) -> str:
    """The sphinx-design badge of a verdict, e.g. ``{bdg-success}`reproduced```."""
    if verdict not in BADGE:
        raise ValueError(f"unknown verdict {verdict!r}; valid: {', '.join(BADGE)}")
    return f"{{{BADGE[verdict]}}}`{verdict}`"


def _markdown_cells(chapter: str, root: Path | None) -> list[str]:
    f = paths.notebooks_dir(root) / f"{chapter}.ipynb"
    try:
        nb = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = cell.get("source", "")
            out.append("".join(src) if isinstance(src, list) else src)
    return out


def chapter_title(chapter: str, root: Path | None = None) -> str:
    """The first Markdown heading of a chapter notebook (the chapter's name if it has none)."""
    for src in _markdown_cells(chapter, root):
        for line in src.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return chapter


def claim_labels(chapter: str, root: Path | None = None) -> set[str]:
    """The MyST labels (``(label)=`` lines) in a chapter notebook's Markdown cells."""
    return {m for src in _markdown_cells(chapter, root) for m in _LABEL_RE.findall(src)}


def claim_link(chapter: str, claim_id: str, labels: Iterable[str]) -> str:
    """A link to a claim's section (``{ref}``), or to its chapter while it lacks the label.

    The label is :func:`relubook.pipeline.claims.section_label`; a ``{ref}`` to a label the
    chapter does not define would fail the ``-n`` build, hence the ``{doc}`` fallback.
    """
    label = section_label(chapter, claim_id)
    if label in set(labels):
        return f"{{ref}}`{claim_id} <{label}>`"
    return f"{{doc}}`{claim_id} </notebooks/{chapter}>`"


def _esc(s: object) -> str:
    """Text safe in a Markdown table cell: no pipes, no line breaks, no raw HTML tags."""
    return str(s).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _kind(c: dict) -> str:
    return c.get("kind", "paper")


def paper_claims(rec: dict) -> list[dict]:
    """The claims of the paper in a record (kind ``"paper"``): the ones counted."""
    return [c for c in rec["claims"] if _kind(c) == "paper"]


def book_checks(rec: dict) -> list[dict]:
    """The book's own checks in a record (kind ``"book"``): shown, never counted."""
    return [c for c in rec["claims"] if _kind(c) == "book"]


def verdict_counts(rec: dict) -> Counter:
    """``{verdict: number}`` of the paper's claims only."""
    return Counter(c["verdict"] for c in paper_claims(rec))


def _mark(check: dict) -> str:
    return "pass" if check["passed"] else "FAIL"


def _cmp(check: dict) -> str:
    """The comparison of a recorded check, e.g. ``≤ 1e-12``."""
    return claims.comparison(check["op"], check["threshold"], check.get("unit", ""))


def checks_cell(c: dict) -> str:
    """A claim's checks as ``pass: measured (rule)`` items, one a line (``<br>``)."""
    items = []
    ref = c.get("refutation")
    if ref:
        items.append(f"counter-example {_mark(ref)}: {ref['measured']} ({_cmp(ref)})")
    items += [f"{_mark(k)}: {k['measured']} ({_cmp(k)})" for k in c.get("checks") or []]
    items += [f"planned rule, not applied, {_mark(k)}: {k['measured']} ({_cmp(k)})"
              for k in c.get("note_checks") or []]
    if not items:  # a record without checks: its measured and rule texts
        items = [f"{c['measured']} ({c['rule']})"]
    if c.get("detail"):
        items.append(f"detail: {c['detail']}")
    return "<br>".join(_esc(i) for i in items)


def _chapter_no(chapter: str, root: Path | None = None) -> int:
    """The chapter's number in the book: its place in the Chapters part of the table of
    contents (notebooks sorted by name), as Sphinx numbers it (``10_...`` may be chapter 6)."""
    return paths.chapters(root).index(chapter) + 1


def _doc(chapter: str, text: str) -> str:
    return f"{{doc}}`{text} </notebooks/{chapter}>`"


def _title_text(title: str) -> str:
    return title.replace("`", "'").replace("<", "&lt;")


def _summary(statuses: Sequence[freshness.Status], root: Path | None) -> list[str]:
    head = ["| chapter | claims | " + " | ".join(badge(v) for v in VERDICTS) + " | own checks |",
            "|---|" + "---:|" * (len(VERDICTS) + 2)]
    rows, glance = [], []
    total: Counter = Counter()
    n_claims = n_book = 0
    for st in statuses:
        no = _chapter_no(st.chapter, root)
        name = _doc(st.chapter, f"Chapter {no}")
        title = _doc(st.chapter, f"{no}. {_title_text(chapter_title(st.chapter, root))}")
        if st.record is None:
            rows.append(f"| {name} (no valid record) | – | "
                        + " | ".join("–" for _ in VERDICTS) + " | – |")
            glance.append(f"- {title}: no valid committed record yet.")
            continue
        stale = "" if st.fresh else " (stale)"
        counts = verdict_counts(st.record)
        paper, book = paper_claims(st.record), book_checks(st.record)
        total.update(counts)
        n_claims += len(paper)
        n_book += len(book)
        rows.append(f"| {name}{stale} | {len(paper)} | "
                    + " | ".join(str(counts.get(v, 0)) for v in VERDICTS) + f" | {len(book)} |")
        labels = claim_labels(st.chapter, root)
        line = f"- {title}{stale}: " + ", ".join(
            f"{claim_link(st.chapter, c['id'], labels)} {badge(c['verdict'])}" for c in paper)
        if book:
            line += "; the book's own checks (not counted): " + ", ".join(
                f"{claim_link(st.chapter, c['id'], labels)} {badge(c['verdict'])}" for c in book)
        glance.append(line)
    rows.append(f"| **all chapters** | **{n_claims}** | "
                + " | ".join(f"**{total.get(v, 0)}**" for v in VERDICTS) + f" | **{n_book}** |")
    return head + rows + ["", "Each claim, linked to its section:", ""] + glance


def seed_robustness(chapter: str, root: Path | None = None) -> tuple[dict[str, str], str]:
    """Each claim's robustness text for the dashboard (the ``full`` seeds file where there is
    one, else ``smoke``, marked so) and the profile used ("" when neither file exists)."""
    for profile in ("full", "smoke"):
        if seeds.file_path(chapter, profile, root).is_file():
            summary, _ = seeds.robustness(chapter, profile, root=root)
            tag = "" if profile == "full" else " (smoke)"
            return {cid: seeds.robustness_text(sm) + tag for cid, sm in summary.items()
                    if sm["verdicts"]}, profile
    return {}, ""


def _claims_table(chapter: str, group: list[dict], rob: dict[str, str] | None = None
                  ) -> list[str]:
    rob = rob or {}
    out = ["| claim | statement | the paper | checks: measured (rule) | verdict | seeds |",
           "|---|---|---|---|---|---|"]
    for c in group:
        v = badge(c["verdict"]) + (" (full-only)" if c.get("full_only") else "")
        r = (f"{{ref}}`{_esc(rob[c['id']])} <seeds-{section_label(chapter, c['id'])}>`"
             if c["id"] in rob else "not run")
        out.append(f"| {c['id']} | {_esc(c['statement'])} | {_esc(c['paper'])} | "
                   f"{checks_cell(c)} | {v} | {r} |")
    return out


def dashboard(root: Path | None = None,
              statuses: Sequence[freshness.Status] | None = None) -> str:
    """Markdown of every chapter's claims and verdicts (from ``data/claims``).

    ``statuses`` (default: :func:`relubook.pipeline.freshness.all_status`) gives each
    chapter's freshness and committed record; titles and section labels are read from the
    chapter notebooks under ``root``.
    """
    if statuses is None:
        statuses = freshness.all_status(root)
    out = ["# Claims dashboard", "",
           ("The verdicts that each chapter's checks gave in its committed `full` run "
           "(`data/claims/*.json`). Only the papers' claims are counted; the book's own checks "
           "(cross-checks of our code, observations the paper does not make) are listed apart, "
           "never as reproductions. *Refined*: the literal statement fails on a counter-example "
           "we show, and a corrected statement holds. *Seeds*: how many of the seeds the chapter "
           "was re-run at (`relubook seeds`) give the same verdict; each links to the spread of "
           "the claim's checks on the {doc}`seed robustness page </book/generated/seeds>`."), ""]
    out += _summary(statuses, root) + [""]
    for st in statuses:
        no = _chapter_no(st.chapter, root)
        out += [f"## {no}. {chapter_title(st.chapter, root)}", "",
                f"Chapter: {{doc}}`/notebooks/{st.chapter}`."
                + ("" if st.fresh else " **Stale:** " + _esc("; ".join(st.reasons)) + "."), ""]
        if st.record is None:
            out += ["No valid committed record yet.", ""]
            continue
        rob, _ = seed_robustness(st.chapter, root)
        out += _claims_table(st.chapter, paper_claims(st.record), rob) + [""]
        book = book_checks(st.record)
        if book:
            out += ["The book's own checks (not counted as reproductions):", ""]
            out += _claims_table(st.chapter, book, rob) + [""]
    return "\n".join(out)


def _id_key(claim_id: str) -> tuple[str, int]:
    """C2 before C10: the letters, then the number."""
    head = claim_id.rstrip("0123456789")
    return head, int(claim_id[len(head):] or 0)


def _seeds_state(chapter: str, root: Path | None) -> str:
    parts = []
    for profile, excuse in seeds.required(chapter, root).items():
        st = seeds.status(chapter, profile, root)
        if not st.exists:
            parts.append(f"{profile}: not run" + (f" ({excuse})" if excuse else " (required)"))
        elif st.fresh:
            parts.append(f"{profile}: seeds {seeds.ranges(st.seeds)}, fresh")
        else:
            parts.append(f"{profile}: seeds {seeds.ranges(st.seeds)}, stale ("
                         + _esc("; ".join(st.reasons)) + ")")
    return "; ".join(parts)


def seeds_page(root: Path | None = None) -> str:
    """Markdown: each claim's verdict at every seed and each check's spread (``data/seeds``)."""
    out = ["# Seed robustness", "",
           ("Every chapter is re-run at several seeds (`relubook seeds NN --profile smoke "
            "--seeds 0-4`; at `full` for the chapters whose full run takes under "
            f"{seeds.FULL_SEEDS_LIMIT_S / 60:.0f} minutes). For each claim: its verdict at each "
            "seed, and for each check the spread of the measured value over the seeds (min, "
            "median, max) next to the check's rule. A claim whose verdict is not the same at "
            "every seed is *seed-dependent*: its chapter says so. Only seeds run on the "
            "chapter's current code are counted."), ""]
    for chapter in paths.chapters(root):
        no = _chapter_no(chapter, root)
        out += [f"## {no}. {_title_text(chapter_title(chapter, root))}", "",
                (f"Chapter: {{doc}}`/notebooks/{chapter}`. Seeds files: "
                 f"{_seeds_state(chapter, root)}."), ""]
        by_profile = {}
        for profile in ("smoke", "full"):
            if seeds.file_path(chapter, profile, root).is_file():
                by_profile[profile] = seeds.robustness(chapter, profile, root=root)[0]
        ids = sorted({cid for sm in by_profile.values() for cid in sm}, key=_id_key)
        for cid in ids:
            out += [f"(seeds-{section_label(chapter, cid)})=", f"### {cid}", ""]
            out += ["| profile | verdict at each seed | robustness |", "|---|---|---|"]
            for profile, sm in by_profile.items():
                if cid not in sm:
                    continue
                vs = ", ".join(f"{s}: {v}" for s, v in sorted(sm[cid]["verdicts"].items(),
                                                            key=lambda kv: int(kv[0])))
                flag = "" if sm[cid]["robust"] else " (seed-dependent)"
                out.append(f"| {profile} | {vs} | {seeds.robustness_text(sm[cid])}{flag} |")
            out += ["", "| profile | check | rule | min | median | max | passes |",
                    "|---|---|---|---:|---:|---:|---:|"]
            for profile, sm in by_profile.items():
                for k in sm.get(cid, {}).get("checks", []):
                    rule = claims.comparison(k["op"], k["threshold"], k["unit"])
                    n_pass = sum(bool(v) for v in k["passed"].values())
                    lo, med, hi = ((claims.fmt(k[x]) for x in ("min", "median", "max"))
                                   if "min" in k else ("–", "–", "–"))
                    out.append(f"| {profile} | {_esc(k['name'])} | {_esc(rule)} | {lo} | {med} | "
                               f"{hi} | {n_pass}/{len(k['passed'])} |")
            out.append("")
    return "\n".join(out) + "\n"


def _verdict_summary(rec: dict) -> str:
    counts = verdict_counts(rec)
    text = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts.get(v))
    n_book = len(book_checks(rec))
    return text + (f"; {n_book} own check(s), not counted" if n_book else "")


def status(root: Path | None = None) -> str:
    """Markdown of each chapter's committed run: profile, time, date, versions, freshness."""
    out = ["# Status", "",
           ("One row per chapter, read from its committed record. *Fresh* means the notebook's "
           "code cells and every `lib` module its kernel imported still hash to what the record "
           "holds; `make book` re-executes a stale chapter before rendering. Wall times are those of "
           "the recorded run on the machine it names; a run that shared its cores with other work "
           "took longer, so read them as upper bounds."), "",
           "| chapter | run | wall time | date (UTC) | versions | state | seeds files |",
           "|---|---|---|---|---|---|---|"]
    for st in freshness.all_status(root):
        r = st.record
        if r is None:
            out.append(f"| {st.chapter} | – | – | – | – | stale: {_esc(st.reasons[0])} | "
                       f"{_seeds_state(st.chapter, root)} |")
            continue
        v = r["versions"]
        versions = ", ".join(f"{k} {v[k].split('+')[0]}" for k in ("python", "torch", "numpy") if k in v)
        state = "fresh" if st.fresh else "stale: " + _esc("; ".join(st.reasons))
        date = r.get("date", "–").replace("T", " ")[:16]
        out.append(f"| {{doc}}`{st.chapter} </notebooks/{st.chapter}>` | {r['profile']}, seed "
                   f"{r['seed']} | {r['wall_s'] / 60:.1f} min | {date} | {versions}; "
                   f"{_esc(r.get('machine', ''))} | {state} | {_seeds_state(st.chapter, root)} |")
    smoke = _smoke_records(root)
    out += ["", "## Smoke runs in this checkout", ""]
    if not smoke:
        out.append("None yet: `make test` runs every chapter at `smoke` and fills this table.")
    else:
        out += ["| chapter | wall time | verdicts of the paper's claims |", "|---|---|---|"]
        for r in smoke:
            out.append(f"| {r['chapter']} | {r['wall_s']:.0f} s | {_verdict_summary(r)} |")
    return "\n".join(out) + "\n"


def _smoke_records(root: Path | None) -> list[dict]:
    """The valid smoke records in ``build/claims`` of the book's chapters."""
    out = []
    for c in paths.chapters(root):
        try:
            out.append(records.load(records.build_path(c, "smoke", root)))
        except records.RecordError:
            continue
    return out


def _full_records(root: Path | None) -> tuple[list[dict], list[str]]:
    """The valid committed records, and the chapters that lack one."""
    found, missing = [], []
    for c in paths.chapters(root):
        try:
            found.append(records.load(records.committed_path(c, root)))
        except records.RecordError:
            missing.append(c)
    return found, missing


def _span(values: list[float], unit: str, scale: float = 1.0, digits: int = 0) -> str:
    lo, hi = min(values) / scale, max(values) / scale
    a, b = f"{lo:.{digits}f}", f"{hi:.{digits}f}"
    return f"{a} {unit}" if a == b else f"{a}–{b} {unit}"


def _provenance(recs: list[dict]) -> str:
    dates = sorted({r["date"][:10] for r in recs if r.get("date")})
    machines = sorted({r["machine"] for r in recs if r.get("machine")})
    when = (dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}") if dates else ""
    return ", ".join(x for x in (when, "; ".join(machines)) if x)


def timings(root: Path | None = None) -> str:
    """The run-time sentence of ``book/reproduce.md``, computed from the records.

    The ``full`` times come from the committed records (``data/claims``), the ``smoke`` times
    from the smoke records of this checkout (``build/claims``, written by ``make test``). A
    chapter without a valid record is named, never counted.
    """
    n = len(paths.chapters(root))
    full, missing = _full_records(root)
    smoke = _smoke_records(root)
    parts = []
    if full:
        counted = "" if len(full) == n else f" ({len(full)} of {n} chapters)"
        parts.append(f"the committed `full` runs took {_span([r['wall_s'] for r in full], 'min', 60, 1)}"
                     f" a chapter{counted}, recorded {_provenance(full)}")
    else:
        parts.append("no chapter has a valid committed `full` record yet")
    if smoke:
        counted = "" if len(smoke) == n else f" ({len(smoke)} of {n} chapters)"
        parts.append(f"the last `smoke` runs in this checkout took "
                     f"{_span([r['wall_s'] for r in smoke], 's')} a chapter{counted}, "
                     f"recorded {_provenance(smoke)}")
    else:
        parts.append("no `smoke` run is recorded in this checkout yet (`make test` runs every "
                     "chapter at `smoke`)")
    text = "Run times, read from the run records when this page was built: " + "; ".join(parts) + "."
    if full and missing:
        text += " Without a valid committed record: " + ", ".join(f"`{c}`" for c in missing) + "."
    text += (" Each chapter's wall times are on the {doc}`status page </book/generated/status>`; "
             "`relubook timings` prints them for your machine, and `make test` prints its own "
             "total time when it ends.")
    return text + "\n"


def write_pages(root: Path | None = None) -> list[Path]:
    """Write ``book/generated/{dashboard,status,seeds,timings}.md``; return their paths."""
    base = (root or paths.repo_root()) / GENERATED
    written = []
    for name, text in (("dashboard.md", dashboard(root)), ("status.md", status(root)),
                       ("seeds.md", seeds_page(root)), ("timings.md", timings(root))):
        paths.atomic_write_text(base / name, text)
        written.append(base / name)
    return written
