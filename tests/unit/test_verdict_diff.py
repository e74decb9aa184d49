"""The verdict diff that the weekly regeneration puts in its pull request's body."""
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".github" / "scripts" / "verdict_diff.py"
spec = importlib.util.spec_from_file_location("verdict_diff", SCRIPT)
vd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vd)


def rec(**verdicts):
    return {"chapter": "x", "claims": [{"id": k, "verdict": v} for k, v in verdicts.items()]}


def test_only_changed_verdicts_are_listed():
    old = {"01_a": rec(C1="reproduced", C2="partly", C10="reproduced"), "02_b": rec(C1="partly")}
    new = {"01_a": rec(C1="reproduced", C2="not reproduced", C10="refined"),
           "02_b": rec(C1="partly")}
    assert vd.diff(old, new) == [
        "- `01_a` C2: partly → not reproduced",
        "- `01_a` C10: reproduced → refined",
    ]


def test_new_and_removed_claims_and_records():
    old = {"01_a": rec(C1="reproduced", C2="partly"), "03_c": rec(C1="partly")}
    new = {"01_a": rec(C1="reproduced", C3="reproduced"), "02_b": rec(C1="partly")}
    assert vd.diff(old, new) == [
        "- `01_a` C2: partly → (claim removed)",
        "- `01_a` C3: (new claim) → reproduced",
        "- `02_b` C1: (new claim) → partly",
        "- `03_c`: record removed",
    ]


def test_no_change():
    assert vd.diff({"01_a": rec(C1="partly")}, {"01_a": rec(C1="partly")}) == []


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_against_a_git_revision(tmp_path, capsys):
    claims = tmp_path / "data" / "claims"
    claims.mkdir(parents=True)
    (claims / "01_a.json").write_text(json.dumps(rec(C1="reproduced", C2="partly")))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(git + ["add", "."], cwd=tmp_path, check=True)
    subprocess.run(git + ["commit", "-qm", "base"], cwd=tmp_path, check=True)
    assert vd.main(["--repo", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "No verdict changed."
    (claims / "01_a.json").write_text(json.dumps(rec(C1="partly", C2="partly")))
    assert vd.main(["--repo", str(tmp_path), "--base", "HEAD"]) == 0
    assert capsys.readouterr().out.strip() == "- `01_a` C1: reproduced → partly"


def test_on_the_committed_records():
    # The script reads the real records' format (and prints nothing for an unchanged tree).
    old = vd.load_tree(ROOT / "data" / "claims")
    assert old and all(vd.verdicts(r) for r in old.values())
    assert vd.diff(old, old) == []
