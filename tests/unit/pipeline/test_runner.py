"""The papermill runner and the CLI, end to end on a toy chapter in a temporary repository."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from toy import LIB, make_toy_repo  # noqa: E402

from relubook.pipeline import cli, freshness, records  # noqa: E402
from relubook.pipeline.runner import ChapterError, run_chapter  # noqa: E402


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
    assert {"relubook/pipeline/runs.py", "relubook/pipeline/profiles.py",
            "relubook/pipeline/__init__.py", "relubook/__init__.py"} <= set(rec["lib_modules"])
    assert not any(m.startswith(("relubook/core/", "relubook/topics/", "relubook/drivers/"))
                   for m in rec["lib_modules"]), "the toy chapter imports only the pipeline"
    nb = json.loads(res.notebook.read_text())
    cell = next(c for c in nb["cells"] if "run.config_table()" in "".join(c["source"]))
    shown = "".join(cell["outputs"][0]["data"]["text/plain"])
    assert shown.splitlines()[2:4] == ["n        1000   100", "fail     False  ="]
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
        # A well-formed JSON file whose fields have the wrong type fails both commands, with
        # the file and the field, not a formatting error.
        rec = json.loads(good)
        rec["wall_s"] = "3"
        f.write_text(json.dumps(rec))
        msg = "data/claims/00_toy.json: wall_s: '3' is not of type 'number'"
        assert cli.main(["claims"]) == 2
        assert capsys.readouterr().err.strip() == f"relubook: error: {msg}"
        assert cli.main(["check"]) == 1
        assert msg in capsys.readouterr().out
        # A typed verdict is refused.
        rec = json.loads(good)
        rec["claims"][0]["verdict"] = "refined"
        f.write_text(json.dumps(rec))
        assert cli.main(["claims"]) == 2
        assert ("claims[0].verdict: 'refined' is not the verdict its checks give "
                "('reproduced')") in capsys.readouterr().err
    finally:
        f.write_text(good)
    # the record is fresh again; what is missing now is the chapter's seeds files
    assert cli.main(["check"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("00_toy                   fresh   seeds: STALE")
    assert "no smoke seeds file (relubook seeds 00 --profile smoke --seeds 0-4)" in out


def test_cli_list_and_timings(toy, capsys):
    assert cli.main(["list"]) == 0
    assert "00_toy" in capsys.readouterr().out
    assert cli.main(["timings"]) == 0
    assert "00_toy" in capsys.readouterr().out


def test_pages_are_generated_from_records(toy):
    run_chapter("00", "full", progress=False)
    from relubook.pipeline import pages
    written = pages.write_pages(toy)
    dash = written[0].read_text()
    assert "A toy chapter" in dash and "| C1 | mean is small |" in dash
    assert "fresh" in written[1].read_text()
    rec = json.loads(records.committed_path("00_toy", toy).read_text())
    assert rec["wall_s"] >= 0


def test_cli_deps_reads_the_committed_record(toy, capsys):
    run_chapter("00", "full", progress=False)
    assert cli.main(["deps"]) == 0
    out = capsys.readouterr().out
    assert "relubook/pipeline/runs.py" in out and "00_toy" in out
    for name in ("relubook/pipeline/runs.py", "pipeline/runs.py", "pipeline.runs",
                 "relubook.pipeline.runs", "runs"):
        assert cli.main(["deps", name]) == 0
        assert capsys.readouterr().out.splitlines() == [
            "relubook/pipeline/runs.py: imported by 1 chapter(s)", "  00_toy"]
    assert cli.main(["deps", "core.mlp"]) == 2
    assert "valid modules: relubook/__init__.py" in capsys.readouterr().err


def test_two_chapters_run_concurrently_in_one_repo(tmp_path):
    """What ``pytest -n 2`` does with the smoke runs: two processes, one repository."""
    for name in ("01_one", "02_two"):
        make_toy_repo(tmp_path, name)
    pythonpath = [str(LIB)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "RELUBOOK_ROOT": str(tmp_path), "TQDM_DISABLE": "1",
           "PYTHONPATH": os.pathsep.join(pythonpath)}
    procs = [subprocess.Popen([sys.executable, "-m", "relubook", "run", name, "--profile", "smoke",
                               "--quiet"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for name in ("01", "02")]
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    for name in ("01_one", "02_two"):
        rec = records.load(records.build_path(name, "smoke", tmp_path))
        assert rec["chapter"] == name and rec["config"]["n"] == 100
        assert (tmp_path / "build" / "notebooks" / f"{name}.smoke.ipynb").is_file()
    # each run executed its own scratch copy (named by chapter, profile, seed and process)
    # and removed it
    assert not list((tmp_path / "build" / "tmp").iterdir())


#: A cell that tells the test the kernel is busy (its pid, in a file), then sleeps.
SLEEP_CELL = ("import os, pathlib, time\n"
              "mark = pathlib.Path(os.environ['RELUBOOK_TEST_MARK'])\n"
              "mark.with_suffix('.tmp').write_text(str(os.getpid()))\n"
              "os.replace(mark.with_suffix('.tmp'), mark)\n"
              "time.sleep(600)")


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")
@pytest.mark.timeout(300)
def test_ctrl_c_prints_one_line_kills_the_kernel_and_commits_nothing(tmp_path):
    """Ctrl-C in a terminal: SIGINT to the CLI's process group while a cell runs."""
    nb_path = make_toy_repo(tmp_path)
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.insert(len(nb.cells) - 1, nbformat.v4.new_code_cell(SLEEP_CELL))
    nbformat.write(nb, nb_path)
    before = nb_path.read_bytes()
    mark = tmp_path / "kernel.pid"
    pythonpath = [str(LIB)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "RELUBOOK_ROOT": str(tmp_path), "TQDM_DISABLE": "1",
           "RELUBOOK_TEST_MARK": str(mark), "PYTHONPATH": os.pathsep.join(pythonpath)}
    proc = subprocess.Popen([sys.executable, "-m", "relubook", "run", "00", "--profile", "full"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 200
        while not mark.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the kernel never reached the sleeping cell"
            time.sleep(0.1)
        kernel = int(mark.read_text())
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert "relubook: interrupted; committed notebooks and records are unchanged" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert nb_path.read_bytes() == before
    assert not records.committed_path("00_toy", tmp_path).exists()
    deadline = time.monotonic() + 30
    while _running(kernel):
        assert time.monotonic() < deadline, f"kernel {kernel} survived the interrupt"
        time.sleep(0.1)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
