"""A tiny chapter in a throw-away repository, for testing the pipeline end to end."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

LIB = Path(__file__).resolve().parents[1] / "lib"

TOY_CELLS = [
    ("md", "# A toy chapter\n\nOne claim, C1: the sample mean is small."),
    ("params", 'profile = "full"\nseed = 0\noverrides = {}'),
    ("code", 'from relubook.pipeline import runs, claims\n'
             'run = runs.start("00_toy", profile=profile, seed=seed, overrides=overrides)\n'
             'cfg = run.configure({"n": 1000, "fail": False}, smoke={"n": 100})\n'
             'run.config_table()'),
    ("code", 'if cfg["fail"]:\n    raise RuntimeError("asked to fail")\n'
             'm = float(run.rng.normal(size=cfg["n"]).mean())\nrun.number("mean", m)'),
    ("code", '# NBVAL_CHECK_OUTPUT\nrun.claim("C1", statement="mean is small", paper="0",'
             ' checks=[claims.below("|mean|", abs(m), 1.0)])\n'
             'run.finish()'),
]


def make_toy_repo(root: Path, name: str = "00_toy") -> Path:
    """Create ``root`` with ``lib`` (a link to the real one) and one toy chapter."""
    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    (root / "data" / "claims").mkdir(parents=True, exist_ok=True)
    if not (root / "lib").exists():
        os.symlink(LIB, root / "lib")
    cells = []
    for kind, src in TOY_CELLS:
        src = src.replace("00_toy", name)
        if kind == "md":
            cells.append(new_markdown_cell(src))
        elif kind == "params":
            cells.append(new_code_cell(src, metadata={"tags": ["parameters"]}))
        else:
            cells.append(new_code_cell(src))
    nb = new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    path = root / "notebooks" / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path
