"""Committed chapters are fresh, executed at ``full``, error-free and in the table of contents;
their seed-robustness files (``data/seeds``) exist and describe the current code."""

import pytest
import yaml

from relubook.pipeline import freshness, paths, seeds


@pytest.mark.parametrize("chapter", paths.chapters())
def test_committed_chapter_is_fresh(chapter):
    st = freshness.chapter_status(chapter)
    assert st.fresh, f"{chapter} is stale: " + "; ".join(st.reasons) + \
        f" -- run `relubook run {chapter} --profile full`"
    assert st.record["profile"] == "full"
    assert all(c["verdict"] for c in st.record["claims"])


@pytest.mark.parametrize("chapter", paths.chapters())
def test_committed_seeds_files_are_fresh(chapter):
    """``smoke`` at >= 5 seeds for every chapter, ``full`` at >= 3 where the full run is short
    (checked against the code, without re-running anything)."""
    bad = seeds.problems(chapter)
    assert not bad, f"{chapter}: " + "; ".join(bad)


def test_every_chapter_is_in_the_toc():
    toc = yaml.safe_load((paths.repo_root() / "_toc.yml").read_text())
    files = {ch["file"] for part in toc["parts"] for ch in part["chapters"]}
    assert {f"notebooks/{c}" for c in paths.chapters()} <= files


def test_there_is_at_least_one_chapter():
    assert paths.chapters(), "no chapter notebooks found in notebooks/"


def test_editing_a_science_module_stales_exactly_its_chapters(tmp_path):
    """On a copy of this repository: touch one module, and only its importers go stale."""
    import json
    import shutil

    root = paths.repo_root()
    for sub in ("lib", "notebooks", "data"):
        shutil.copytree(root / sub, tmp_path / sub, ignore=shutil.ignore_patterns("__pycache__"))
    before = {s.chapter: s.fresh for s in freshness.all_status(tmp_path)}
    users: dict[str, set[str]] = {}
    for chapter in paths.chapters(tmp_path):
        rec = json.loads((tmp_path / "data" / "claims" / f"{chapter}.json").read_text())
        for mod in rec["lib_modules"]:
            users.setdefault(mod, set()).add(chapter)
    shared = {m for m, u in users.items() if len(u) == len(before)}
    science = sorted(m for m in users if m not in shared)
    assert science, "no chapter-specific lib module found"
    for mod in science:
        f = tmp_path / "lib" / mod
        original = f.read_text()
        f.write_text(original + "\n# edited\n")
        after = {s.chapter for s in freshness.all_status(tmp_path) if not s.fresh}
        f.write_text(original)
        expected = {c for c in users[mod] if before[c]}
        assert after == expected | {c for c, ok in before.items() if not ok}, mod
