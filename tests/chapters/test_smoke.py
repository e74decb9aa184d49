"""Every chapter at ``smoke``: it runs within budget and its verdicts agree with the full run.

The executed copies land in ``build/notebooks/`` where the nbval step re-runs them.
"""

import pytest

from relubook.pipeline import paths, records
from relubook.pipeline.runner import run_chapter

#: Budget of a smoke run on 2 CPU cores (DESIGN.md: at most 60 s).
SMOKE_BUDGET_S = 60


@pytest.mark.parametrize("chapter", paths.chapters())
def test_smoke_run(chapter):
    res = run_chapter(chapter, "smoke", progress=False)
    smoke = records.load(res.record)
    assert smoke["profile"] == "smoke"
    assert smoke["wall_s"] <= SMOKE_BUDGET_S, f"{chapter} smoke took {smoke['wall_s']} s"
    full = records.load(records.committed_path(chapter))
    full_verdicts = {c["id"]: c for c in full["claims"]}
    assert set(full_verdicts) == {c["id"] for c in smoke["claims"]}, "smoke and full claim ids differ"
    disagree = [
        f"{c['id']}: smoke {c['verdict']!r} vs full {full_verdicts[c['id']]['verdict']!r}"
        for c in smoke["claims"]
        if not (c.get("full_only") or full_verdicts[c["id"]].get("full_only"))
        and c["verdict"] != full_verdicts[c["id"]]["verdict"]
    ]
    assert not disagree, "smoke verdicts disagree with the committed full run: " + "; ".join(disagree)
    for c in smoke["claims"]:
        if c.get("full_only"):
            assert len(c["full_only"]) > 10, f"{c['id']} is full-only without a reason"
