"""The generated pages (dashboard, status, run times) on toy records in a temporary repository."""

import json

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell, new_notebook
from relubook.pipeline import claims, pages, records
from relubook.pipeline.freshness import Status

H = "0" * 64


def toy_claims():
    return [
        claims.Claim("C1", "the mean is small", "Thm 1: |mean| < 1",
                     (claims.below("|mean|", 0.1, 1.0),)),
        claims.Claim("C2", "the literal bound holds", "Prop 2: always",
                     (claims.at_most("corrected gap", 0.01, 0.05),),
                     refutation=claims.above("literal gap", 2.0, 1.0)),
        claims.Claim("C3", "a second estimate agrees", "Sec 4",
                     (claims.at_most("err a", 0.5, 0.1), claims.at_most("err b", 0.01, 0.1))),
        claims.Claim("K1", "our engine agrees with autograd", "not in the paper",
                     (claims.at_most("max abs diff", 1e-13, 1e-10),), kind="book"),
    ]


def toy_record(chapter="01_toy", profile="full", wall_s=90.0, date="2026-11-22T16:00:00Z",
               cs=None):
    return {"chapter": chapter, "profile": profile, "seed": 0, "overrides": {}, "config": {},
            "date": date, "wall_s": wall_s, "code_hash": H, "lib_hash": H, "lib_modules": {},
            "versions": {"python": "3.11.7"}, "machine": "x86_64, 2 CPU cores", "numbers": {},
            "claims": [c.to_dict() for c in (cs or toy_claims())]}


def write_notebook(root, chapter, *markdown):
    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=[new_markdown_cell(m) for m in markdown])
    nbformat.write(nb, root / "notebooks" / f"{chapter}.ipynb")


def write_record(path, rec):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records.validate(rec)), encoding="utf-8")


@pytest.fixture
def repo(tmp_path):
    write_notebook(tmp_path, "01_toy", "# A toy chapter\n\nIntro.",
                   "(ch01-c1)=\n## C1: the mean is small", "(ch01-k1)=\n## K1: engine check",
                   "## C2: no label yet")
    write_notebook(tmp_path, "02_other", "# Another chapter")
    return tmp_path


def test_badges_name_each_verdict():
    assert pages.badge("reproduced") == "{bdg-success}`reproduced`"
    assert pages.badge("not reproduced") == "{bdg-danger}`not reproduced`"
    assert set(pages.BADGE) == set(claims.VERDICTS)
    with pytest.raises(ValueError, match="valid: reproduced"):
        pages.badge("mostly")


def test_counts_exclude_the_books_own_checks():
    rec = toy_record()
    assert pages.verdict_counts(rec) == {"reproduced": 1, "refined": 1, "partly": 1}
    assert [c["id"] for c in pages.book_checks(rec)] == ["K1"]
    assert [c["id"] for c in pages.paper_claims(rec)] == ["C1", "C2", "C3"]


def test_claim_labels_are_read_from_the_notebook(repo):
    assert pages.claim_labels("01_toy", repo) == {"ch01-c1", "ch01-k1"}
    assert pages.claim_labels("02_other", repo) == set()
    assert pages.claim_labels("09_missing", repo) == set()
    assert pages.chapter_title("01_toy", repo) == "A toy chapter"
    assert pages.chapter_title("09_missing", repo) == "09_missing"


def test_links_use_the_label_when_present_else_the_chapter():
    labels = {"ch01-c1"}
    assert pages.claim_link("01_toy", "C1", labels) == "{ref}`C1 <ch01-c1>`"
    assert pages.claim_link("01_toy", "C2", labels) == "{doc}`C2 </notebooks/01_toy>`"


def test_checks_cell_shows_each_check_measured_and_rule():
    c1, c2, c3, _ = toy_record()["claims"]
    assert pages.checks_cell(c1) == "pass: \\|mean\\| = 0.1 (&lt; 1)"
    cell = pages.checks_cell(c2)
    assert cell.startswith("counter-example pass: literal gap = 2 (> 1)<br>")
    assert cell.endswith("pass: corrected gap = 0.01 (≤ 0.05)")
    assert pages.checks_cell(c3) == "FAIL: err a = 0.5 (≤ 0.1)<br>pass: err b = 0.01 (≤ 0.1)"
    old = {"id": "C9", "measured": "m = 3", "rule": "m > 2", "verdict": "reproduced"}
    assert pages.checks_cell(old) == "m = 3 (m > 2)"


def test_dashboard_opens_with_a_summary_of_the_papers_claims(repo):
    sts = [Status("01_toy", True, [], toy_record()),
           Status("02_other", False, ["no record at data/claims/02_other.json"], None)]
    md = pages.dashboard(repo, sts)
    lines = md.splitlines()
    header = next(i for i, l in enumerate(lines) if l.startswith("| chapter | claims |"))
    assert "{bdg-success}`reproduced`" in lines[header]
    # chapter | claims | reproduced | partly | not reproduced | refined | own checks
    assert lines[header + 2] == "| {doc}`Chapter 1 </notebooks/01_toy>` | 3 | 1 | 1 | 0 | 1 | 1 |"
    assert lines[header + 3].startswith("| {doc}`Chapter 2 </notebooks/02_other>` "
                                        "(no valid record) | – |")
    assert lines[header + 4] == "| **all chapters** | **3** | **1** | **1** | **0** | **1** | **1** |"
    glance = next(l for l in lines if l.startswith("- {doc}`1. A toy chapter"))
    assert glance.startswith("- {doc}`1. A toy chapter </notebooks/01_toy>`: "
                             "{ref}`C1 <ch01-c1>` {bdg-success}`reproduced`, "
                             "{doc}`C2 </notebooks/01_toy>` {bdg-info}`refined`, ")
    assert glance.endswith("; the book's own checks (not counted): {ref}`K1 <ch01-k1>` "
                           "{bdg-success}`reproduced`")
    assert ("- {doc}`2. Another chapter </notebooks/02_other>`: no valid committed record yet."
            in lines)
    # The summary comes before the first chapter's detail section.
    assert md.index("**all chapters**") < md.index("## 1. A toy chapter")


def test_dashboard_details_list_checks_and_keep_the_books_checks_apart(repo):
    md = pages.dashboard(repo, [Status("01_toy", False, ["code cells changed"], toy_record())])
    assert "**Stale:** code cells changed." in md
    assert "(stale)" in md
    paper, book = md.split("The book's own checks (not counted as reproductions):")
    assert "| C1 | the mean is small | Thm 1: \\|mean\\| &lt; 1 | pass: \\|mean\\| = 0.1" in paper
    assert "| C3 |" in paper and "{bdg-warning}`partly` |" in paper
    assert "K1" not in paper.split("## 1. A toy chapter")[1]
    assert "| K1 | our engine agrees with autograd |" in book


def test_full_only_is_marked(repo):
    cs = [claims.Claim("C1", "s", "p", (claims.below("x", 0, 1),), full_only="needs width")]
    md = pages.dashboard(repo, [Status("01_toy", True, [], toy_record(cs=cs))])
    assert "{bdg-success}`reproduced` (full-only) |" in md


def test_timings_come_from_the_records(repo):
    assert pages.timings(repo).startswith(
        "Run times, read from the run records when this page was built: no chapter has a valid "
        "committed `full` record yet; no `smoke` run is recorded in this checkout yet")
    write_record(records.committed_path("01_toy", repo), toy_record(wall_s=75.0))
    write_record(records.committed_path("02_other", repo),
                 toy_record("02_other", wall_s=803.4, date="2026-11-23T10:00:00Z"))
    write_record(records.build_path("01_toy", "smoke", repo),
                 toy_record(profile="smoke", wall_s=5.5, date="2026-12-01T19:59:29Z"))
    text = pages.timings(repo)
    assert ("the committed `full` runs took 1.2–13.4 min a chapter, recorded 2026-11-22 to "
            "2026-11-23, x86_64, 2 CPU cores") in text
    assert ("the last `smoke` runs in this checkout took 6 s a chapter (1 of 2 chapters), "
            "recorded 2026-12-01, x86_64, 2 CPU cores") in text
    assert "Without a valid committed record" not in text


def test_timings_name_a_missing_or_invalid_record(repo):
    write_record(records.committed_path("01_toy", repo), toy_record(wall_s=75.0))
    bad = records.committed_path("02_other", repo)
    bad.write_text("{not json", encoding="utf-8")
    text = pages.timings(repo)
    assert "took 1.2 min a chapter (1 of 2 chapters)" in text
    assert "Without a valid committed record: `02_other`." in text


def test_write_pages_writes_the_four_generated_files(repo):
    written = pages.write_pages(repo)
    assert [p.name for p in written] == ["dashboard.md", "status.md", "seeds.md", "timings.md"]
    assert all(p.parent == repo / "book" / "generated" and p.read_text() for p in written)
