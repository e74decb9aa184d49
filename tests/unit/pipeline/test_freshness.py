"""Freshness: editing a module stales exactly the chapters whose kernels imported it."""

import json

import pytest

from relubook.pipeline import claims, freshness, paths, records


SHARED = "relubook/core/mlp.py"
ALPHA = "relubook/topics/alpha.py"
BETA = "relubook/topics/beta.py"


def fake_repo(tmp_path):
    """Two chapters: A imports topics/alpha.py, B imports topics/beta.py; both core/mlp.py."""
    lib = tmp_path / "lib"
    for mod in (SHARED, ALPHA, BETA):
        (lib / mod).parent.mkdir(parents=True, exist_ok=True)
        (lib / mod).write_text(f"X = '{mod}'\n")
    uses = {"01_a": [SHARED, ALPHA], "02_b": [SHARED, BETA]}
    for ch, mods in uses.items():
        nb = {"cells": [{"cell_type": "code", "source": f"print('{ch}')", "metadata": {},
                         "outputs": [], "execution_count": 1}],
              "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        paths.atomic_write_text(tmp_path / "notebooks" / f"{ch}.ipynb", json.dumps(nb))
        hashes = records.module_hashes(mods, tmp_path)
        rec = {"chapter": ch, "profile": "full", "seed": 0, "wall_s": 1.0, "overrides": {},
               "config": {}, "date": "2026-01-01T00:00:00Z", "machine": "test", "numbers": {},
               "code_hash": records.code_hash(tmp_path / "notebooks" / f"{ch}.ipynb"),
               "lib_hash": records.combined_hash(hashes), "lib_modules": hashes, "versions": {},
               "claims": [claims.Claim("C1", "s", "p", (claims.true("ok", True),)).to_dict()]}
        paths.atomic_write_text(records.committed_path(ch, tmp_path), json.dumps(rec))
    return tmp_path


def states(root):
    return {s.chapter: s.fresh for s in freshness.all_status(root)}


def test_all_fresh_then_one_module_stales_one_chapter(tmp_path):
    root = fake_repo(tmp_path)
    assert states(root) == {"01_a": True, "02_b": True}
    (root / "lib" / BETA).write_text("X = 'changed'\n")
    assert states(root) == {"01_a": True, "02_b": False}
    st = freshness.chapter_status("02_b", root)
    assert st.reasons == ["relubook/topics/beta.py changed since the recorded run"]


def test_shared_module_stales_both(tmp_path):
    root = fake_repo(tmp_path)
    (root / "lib" / SHARED).write_text("X = 1\n")
    assert states(root) == {"01_a": False, "02_b": False}


def test_unimported_module_stales_nothing(tmp_path):
    root = fake_repo(tmp_path)
    (root / "lib" / "relubook" / "topics" / "gamma.py").write_text("new = 1\n")
    assert states(root) == {"01_a": True, "02_b": True}


def test_code_edit_error_output_and_missing_record(tmp_path):
    root = fake_repo(tmp_path)
    nbf = root / "notebooks" / "01_a.ipynb"
    nb = json.loads(nbf.read_text())
    nb["cells"][0]["outputs"] = [{"output_type": "error", "ename": "E", "evalue": "", "traceback": []}]
    nbf.write_text(json.dumps(nb))
    assert "1 cell(s) hold error outputs" in freshness.chapter_status("01_a", root).reasons
    nb["cells"][0]["source"] = "print('edited')"
    nbf.write_text(json.dumps(nb))
    assert any("code cells changed" in r for r in freshness.chapter_status("01_a", root).reasons)
    records.committed_path("02_b", root).unlink()
    st = freshness.chapter_status("02_b", root)
    assert not st.fresh and "no record" in st.reasons[0]


def test_smoke_record_is_not_fresh(tmp_path):
    root = fake_repo(tmp_path)
    f = records.committed_path("01_a", root)
    rec = json.loads(f.read_text())
    rec["profile"] = "smoke"
    f.write_text(json.dumps(rec))
    assert "not 'full'" in freshness.chapter_status("01_a", root).reasons[0]


def test_deleted_module_stales_its_chapter(tmp_path):
    root = fake_repo(tmp_path)
    (root / "lib" / ALPHA).unlink()
    assert freshness.chapter_status("01_a", root).reasons == [f"{ALPHA} no longer exists"]


def test_dependents_maps_each_module_to_its_chapters(tmp_path):
    root = fake_repo(tmp_path)
    deps = freshness.dependents(root)
    assert deps == {SHARED: ["01_a", "02_b"], ALPHA: ["01_a"], BETA: ["02_b"]}
    assert list(deps) == sorted(deps)


def test_dependents_skips_chapters_without_a_readable_record(tmp_path):
    root = fake_repo(tmp_path)
    records.committed_path("02_b", root).write_text("{corrupt")
    assert freshness.dependents(root) == {SHARED: ["01_a"], ALPHA: ["01_a"]}


MODULES = [SHARED, ALPHA, BETA, "relubook/__init__.py", "relubook/pipeline/__init__.py",
           "relubook/pipeline/runs.py", "relubook/drivers/runs.py"]


@pytest.mark.parametrize("name", ["relubook/core/mlp.py", "core/mlp.py", "core.mlp",
                                  "relubook.core.mlp", "mlp", "mlp.py", "core/mlp"])
def test_resolve_module_accepts_paths_dotted_names_and_unique_tails(name):
    assert freshness.resolve_module(name, MODULES) == SHARED


@pytest.mark.parametrize("name,path", [
    ("relubook", "relubook/__init__.py"), ("relubook/__init__.py", "relubook/__init__.py"),
    ("pipeline", "relubook/pipeline/__init__.py"),
    ("relubook/pipeline/__init__.py", "relubook/pipeline/__init__.py"),
    ("pipeline.runs", "relubook/pipeline/runs.py"), ("topics.beta", BETA)])
def test_resolve_module_packages_and_qualified_names(name, path):
    assert freshness.resolve_module(name, MODULES) == path


def test_resolve_module_ambiguous_and_unknown():
    with pytest.raises(ValueError, match="'runs' is ambiguous; it matches "
                                         "relubook/drivers/runs.py, relubook/pipeline/runs.py"):
        freshness.resolve_module("runs", MODULES)
    with pytest.raises(ValueError, match="no committed record imports a module 'gamma'; "
                                         r"valid modules: relubook/__init__.py, .*topics/beta.py"):
        freshness.resolve_module("gamma", MODULES)
    with pytest.raises(ValueError, match=r"valid modules: \(none\)"):
        freshness.resolve_module("mlp", [])
    with pytest.raises(ValueError, match="no committed record"):
        freshness.resolve_module("", MODULES)


def test_cli_deps(tmp_path, monkeypatch, capsys):
    from relubook.pipeline import cli

    root = fake_repo(tmp_path)
    monkeypatch.setenv("RELUBOOK_ROOT", str(root))
    assert cli.main(["deps"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["module", "n", "chapters"]
    assert [line.split(None, 2) for line in out[1:]] == [
        [SHARED, "2", "01_a, 02_b"], [ALPHA, "1", "01_a"], [BETA, "1", "02_b"]]
    assert cli.main(["deps", "core.mlp"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{SHARED}: imported by 2 chapter(s)", "  01_a", "  02_b"]
    assert cli.main(["deps", "nope"]) == 2
    assert f"valid modules: {SHARED}, {ALPHA}, {BETA}" in capsys.readouterr().err
    records.committed_path("02_b", root).unlink()
    assert cli.main(["deps", "beta"]) == 2
    captured = capsys.readouterr()
    assert "02_b is not counted: no record" in captured.err
