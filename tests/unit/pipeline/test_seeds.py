"""Seed robustness (relubook.pipeline.seeds): files, resuming, freshness, flipping verdicts."""

import json
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from toy import make_toy_repo  # noqa: E402

from relubook.pipeline import cli, pages, runs, seeds  # noqa: E402
from relubook.pipeline.runner import run_chapter  # noqa: E402

#: A toy claim whose verdict flips with the seed by construction: reproduced at even seeds.
FLIP_CELL = ('run.claim("C1", statement="the seed is even", paper="-",\n'
             '          checks=[claims.true("seed is even", seed % 2 == 0)])\n'
             'run.claim("C2", statement="mean is small", paper="0",\n'
             '          checks=[claims.below("|mean|", abs(m), 1.0)])\n'
             'run.finish()')


def entry(seed, verdict_c1, value):
    return {"seed": seed, "code_hash": "h", "lib_modules": {}, "wall_s": 1.0, "date": "",
            "claims": [{"id": "C1", "kind": "paper", "verdict": verdict_c1, "full_only": None,
                        "checks": [{"name": "err", "value": value, "op": "<=",
                                    "threshold": 0.1, "unit": "", "passed": value <= 0.1}]},
                       {"id": "C2", "kind": "paper", "verdict": "reproduced",
                        "full_only": None, "checks": []}]}


@pytest.mark.parametrize("text, out", [("0-4", [0, 1, 2, 3, 4]), ("0,2,7", [0, 2, 7]),
                                       ("0-2,9", [0, 1, 2, 9]), ("3", [3])])
def test_parse_seeds(text, out):
    assert seeds.parse_seeds(text) == out


@pytest.mark.parametrize("text", ["", "a", "4-2", "-1", "0..4"])
def test_parse_seeds_names_what_is_valid(text):
    with pytest.raises(ValueError, match="0-4"):
        seeds.parse_seeds(text)


def test_a_claim_that_flips_between_seeds_is_reported_seed_dependent():
    verdicts = ["reproduced", "not reproduced", "reproduced", "reproduced", "not reproduced"]
    values = [0.05, 0.3, 0.02, 0.08, 0.2]
    summary = {c["id"]: c for c in seeds.summarise(
        {s: entry(s, v, x) for s, (v, x) in enumerate(zip(verdicts, values))})}
    c1, c2 = summary["C1"], summary["C2"]
    assert not c1["robust"] and c2["robust"]
    assert seeds.robustness_text(c1) == "3/5 seeds: not reproduced at seeds 1, 4"
    assert seeds.robustness_text(c2) == "5/5 seeds"
    # against the verdict of another seed the minority changes
    assert seeds.robustness_text(c1, "not reproduced") == "2/5 seeds: reproduced at seeds 0, 2, 3"
    (k,) = c1["checks"]
    assert (k["min"], k["median"], k["max"]) == (0.02, 0.08, 0.3)
    assert seeds.spread_text(k).endswith("passes at 3/5 seeds")


@pytest.fixture
def flip_repo(tmp_path, monkeypatch):
    nb_path = make_toy_repo(tmp_path)
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[-1].source = FLIP_CELL
    nbformat.write(nb, nb_path)
    monkeypatch.setenv("RELUBOOK_ROOT", str(tmp_path))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    return tmp_path


def test_seeds_end_to_end_flip_table_and_pages(flip_repo, capsys):
    assert cli.main(["seeds", "00", "--profile", "smoke", "--seeds", "0-3", "--jobs", "2",
                     "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "verdict depends on the seed: C1" in out
    data = seeds.load("00_toy", "smoke", flip_repo)
    assert data["seeds"] == [0, 1, 2, 3]
    c1 = next(c for c in data["claims"] if c["id"] == "C1")
    assert c1["verdicts"] == {"0": "reproduced", "1": "not reproduced", "2": "reproduced",
                              "3": "not reproduced"}
    assert seeds.status("00_toy", "smoke", flip_repo).fresh
    # a chapter run's verdict table shows the robustness next to each verdict
    res = run_chapter("00", "smoke", seed=1, progress=False)
    text = json.dumps(nbformat.read(res.notebook, as_version=4).cells[-1].outputs)
    assert "2/4 seeds: reproduced at seeds 0, 2" in text
    assert "Verdicts that depend on the seed" in text
    page = pages.seeds_page(flip_repo)
    assert "(seeds-ch00-c1)=" in page and "(seed-dependent)" in page
    assert "| smoke | seed is even |" in page


def test_an_interrupted_run_keeps_finished_seeds_and_resumes(flip_repo):
    calls = []

    def worker(chapter, profile, seed, root):
        calls.append(seed)
        if seed == 2 and calls.count(2) == 1:
            raise KeyboardInterrupt
        rec = run_chapter(chapter, profile, seed, out=Path(root) / "build" / f"s{seed}",
                          record=Path(root) / "build" / f"s{seed}" / "r.json", progress=False)
        return seeds.entry_from_record(json.loads(rec.record.read_text()))

    with pytest.raises(KeyboardInterrupt):
        seeds.run_seeds("00_toy", "smoke", [0, 1, 2], jobs=1, progress=False, root=flip_repo,
                        worker=worker, log=lambda s: None)
    assert seeds.load("00_toy", "smoke", flip_repo)["seeds"] == [0, 1]
    seeds.run_seeds("00_toy", "smoke", [0, 1, 2], jobs=1, progress=False, root=flip_repo,
                    worker=worker, log=lambda s: None)
    assert calls == [0, 1, 2, 2]  # the resumed run ran only seed 2
    assert seeds.load("00_toy", "smoke", flip_repo)["seeds"] == [0, 1, 2]
    # a code change stales every entry: the file is reported stale, and re-run in full
    nb_path = flip_repo / "notebooks" / "00_toy.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[-2].source += "\nm = m + 0.0"
    nbformat.write(nb, nb_path)
    st = seeds.status("00_toy", "smoke", flip_repo)
    assert not st.fresh and "code cells changed" in st.reasons[0]
    assert any("smoke seeds" in p for p in seeds.problems("00_toy", flip_repo))
    assert cli.main(["check"]) == 1
    _, note = seeds.robustness("00_toy", "smoke", root=flip_repo)
    assert "ran on other code" in note


def test_missing_seeds_files_are_problems_and_runs_note_it(flip_repo):
    assert seeds.problems("00_toy", flip_repo) == [
        "no smoke seeds file (relubook seeds 00 --profile smoke --seeds 0-4)"]
    r = runs.start("00_toy", profile="smoke")
    rob, spreads, note = r.seed_robustness([])
    assert rob == {} and spreads == {} and "no other seed has been run" in note
