"""Committed chapters are fresh, executed at ``full``, error-free and in the table of contents."""

import pytest
import yaml

from relubook import freshness, paths


@pytest.mark.parametrize("chapter", paths.chapters())
def test_committed_chapter_is_fresh(chapter):
    st = freshness.chapter_status(chapter)
    assert st.fresh, f"{chapter} is stale: " + "; ".join(st.reasons) + \
        f" -- run `relubook run {chapter} --profile full`"
    assert st.record["profile"] == "full"
    assert all(c["verdict"] for c in st.record["claims"])


def test_every_chapter_is_in_the_toc():
    toc = yaml.safe_load((paths.repo_root() / "_toc.yml").read_text())
    files = {ch["file"] for part in toc["parts"] for ch in part["chapters"]}
    assert {f"notebooks/{c}" for c in paths.chapters()} <= files


def test_there_is_at_least_one_chapter():
    assert paths.chapters(), "no chapter notebooks found in notebooks/"
