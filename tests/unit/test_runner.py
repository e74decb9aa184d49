"""The papermill runner and the CLI, end to end on a toy chapter in a temporary repository."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from toy import make_toy_repo  # noqa: E402

from relubook import cli, freshness, records  # noqa: E402
from relubook.runner import ChapterError, run_chapter  # noqa: E402


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    make_toy_repo(root)
    mp = pytest.MonkeyPatch()
    mp.setenv("RELUBOOK_ROOT", str(root))
    mp.setenv("TQDM_DISABLE", "1")
    yield root
    mp.undo()


def test_smoke_writes_a_build_copy_and_record(toy):
    res = run_chapter("00", "smoke", progress=False)
    assert res.notebook == toy / "build" / "notebooks" / "00_toy.smoke.ipynb"
    rec = records.load(res.record)
    assert rec["profile"] == "smoke" and rec["config"]["n"] == 100
    assert rec["claims"][0]["verdict"] == "reproduced"
    assert "relubook/runs.py" in rec["lib_modules"]
    assert not records.committed_path("00_toy", toy).exists()


def test_full_commits_and_failed_run_keeps_previous(toy):
    res = run_chapter("00_toy", "full", progress=False)
    assert res.committed and freshness.chapter_status("00_toy", toy).fresh
    before_nb = (toy / "notebooks" / "00_toy.ipynb").read_bytes()
    before_rec = records.committed_path("00_toy", toy).read_bytes()
    with pytest.raises(ChapterError, match="RuntimeError: asked to fail"):
        run_chapter("toy", "full", overrides={"fail": True}, progress=False)
    assert (toy / "notebooks" / "00_toy.ipynb").read_bytes() == before_nb
    assert records.committed_path("00_toy", toy).read_bytes() == before_rec
    assert freshness.chapter_status("00_toy", toy).fresh


def test_a_rerun_is_deterministic(toy):
    a = records.load(run_chapter("00", "smoke", seed=3, progress=False).record)
    b = records.load(run_chapter("00", "smoke", seed=3, progress=False).record)
    assert a["numbers"] == b["numbers"] and a["claims"] == b["claims"]


@pytest.mark.parametrize("argv,msg", [
    (["run", "42", "--profile", "smoke"], "unknown chapter '42'; valid chapters: 00_toy"),
    (["run", "00", "--profile", "fast"], "unknown profile 'fast'; valid profiles: smoke, full"),
    (["run", "00", "--profile", "smoke", "--set", "widht=3"], "unknown parameter 'widht'"),
    (["run", "00", "--profile", "smoke", "--set", "n=2.5"], "parameter 'n' must be int"),
    (["run", "00", "--profile", "smoke", "--set", "n"], "--set takes KEY=VALUE"),
    (["run", "00", "--profile", "smoke", "--seed", "-1"], "seed must be in"),
])
def test_cli_bad_input_exits_2_with_a_clear_message(toy, capsys, argv, msg):
    assert cli.main(argv) == 2
    assert msg in capsys.readouterr().err


def test_cli_corrupt_and_missing_records(toy, capsys):
    run_chapter("00", "full", progress=False)
    f = records.committed_path("00_toy", toy)
    good = f.read_text()
    try:
        f.write_text("{not json")
        assert cli.main(["claims"]) == 2
        assert "corrupt" in capsys.readouterr().err
        assert cli.main(["check"]) == 1
        assert "corrupt" in capsys.readouterr().out
        f.unlink()
        assert cli.main(["claims"]) == 2
        assert "no record" in capsys.readouterr().err
    finally:
        f.write_text(good)
    assert cli.main(["check"]) == 0


def test_cli_list_and_timings(toy, capsys):
    assert cli.main(["list"]) == 0
    assert "00_toy" in capsys.readouterr().out
    assert cli.main(["timings"]) == 0
    assert "00_toy" in capsys.readouterr().out


def test_pages_are_generated_from_records(toy):
    run_chapter("00", "full", progress=False)
    from relubook import pages
    written = pages.write_pages(toy)
    dash = written[0].read_text()
    assert "A toy chapter" in dash and "| C1 | mean is small |" in dash
    assert "fresh" in written[1].read_text()
    rec = json.loads(records.committed_path("00_toy", toy).read_text())
    assert rec["wall_s"] >= 0
