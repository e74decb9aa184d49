"""Freshness: editing a module stales exactly the chapters whose kernels imported it."""

import json

from relubook import freshness, paths, records


def fake_repo(tmp_path):
    """Two chapters: A imports relubook/alpha.py, B imports relubook/beta.py; both the core."""
    lib = tmp_path / "lib" / "relubook"
    lib.mkdir(parents=True)
    for mod in ("core", "alpha", "beta"):
        (lib / f"{mod}.py").write_text(f"X = '{mod}'\n")
    uses = {"01_a": ["relubook/core.py", "relubook/alpha.py"],
            "02_b": ["relubook/core.py", "relubook/beta.py"]}
    for ch, mods in uses.items():
        nb = {"cells": [{"cell_type": "code", "source": f"print('{ch}')", "metadata": {},
                         "outputs": [], "execution_count": 1}],
              "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        paths.atomic_write_text(tmp_path / "notebooks" / f"{ch}.ipynb", json.dumps(nb))
        hashes = records.module_hashes(mods, tmp_path)
        rec = {"chapter": ch, "profile": "full", "seed": 0, "wall_s": 1.0,
               "code_hash": records.code_hash(tmp_path / "notebooks" / f"{ch}.ipynb"),
               "lib_hash": records.combined_hash(hashes), "lib_modules": hashes, "versions": {},
               "claims": [{"id": "C1", "statement": "s", "paper": "p", "measured": "m",
                           "rule": "r", "verdict": "reproduced"}]}
        paths.atomic_write_text(records.committed_path(ch, tmp_path), json.dumps(rec))
    return tmp_path


def states(root):
    return {s.chapter: s.fresh for s in freshness.all_status(root)}


def test_all_fresh_then_one_module_stales_one_chapter(tmp_path):
    root = fake_repo(tmp_path)
    assert states(root) == {"01_a": True, "02_b": True}
    (root / "lib" / "relubook" / "beta.py").write_text("X = 'changed'\n")
    assert states(root) == {"01_a": True, "02_b": False}
    st = freshness.chapter_status("02_b", root)
    assert st.reasons == ["relubook/beta.py changed since the recorded run"]


def test_shared_module_stales_both(tmp_path):
    root = fake_repo(tmp_path)
    (root / "lib" / "relubook" / "core.py").write_text("X = 1\n")
    assert states(root) == {"01_a": False, "02_b": False}


def test_unimported_module_stales_nothing(tmp_path):
    root = fake_repo(tmp_path)
    (root / "lib" / "relubook" / "gamma.py").write_text("new = 1\n")
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
