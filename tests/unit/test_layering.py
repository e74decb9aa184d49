"""The library's layers (DESIGN.md), checked on the code itself.

* ``core`` and ``topics`` never import ``pipeline`` or ``drivers``; ``core`` never imports
  ``topics``; ``pipeline`` imports none of ``core``, ``topics``, ``drivers``. Checked at run
  time: each module is imported alone (in a child of a fresh interpreter that has loaded
  only third-party packages) and ``sys.modules`` is read, so indirect imports count too.
* Package ``__init__`` files import nothing (a record lists exactly the modules a kernel used).
* Every module defines ``__all__``; no module imports a private name from another.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "lib"
PKG = LIB / "relubook"

#: What each layer must not import (directly or through another module).
FORBIDDEN = {
    "core": ("relubook.pipeline", "relubook.topics", "relubook.drivers"),
    "topics": ("relubook.pipeline", "relubook.drivers"),
    "pipeline": ("relubook.core", "relubook.topics", "relubook.drivers"),
}


def dotted(path: Path) -> str:
    rel = path.relative_to(LIB).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def layer_modules(layer: str) -> list[str]:
    return sorted(dotted(p) for p in (PKG / layer).glob("*.py") if p.name != "__init__.py")


def all_files() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(tree: ast.AST) -> list[ast.stmt]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


RUNTIME = [m for layer in FORBIDDEN for m in layer_modules(layer)]


def third_party() -> list[str]:
    """Top-level names of the non-relubook packages the library imports (numpy, torch, ...)."""
    names = set()
    for f in all_files():
        for n in _imports(ast.parse(f.read_text())):
            if isinstance(n, ast.Import):
                names |= {a.name.split(".")[0] for a in n.names}
            elif n.level == 0 and n.module:
                names.add(n.module.split(".")[0])
    return sorted(names - {"relubook", "__future__"} - set(sys.stdlib_module_names))


#: One fresh interpreter imports the third-party packages once (they are slow to import and
#: cannot import relubook), then imports each relubook module in a forked child of its own,
#: so no module sees another's imports.
PROBE = """
import importlib, json, os, sys, traceback
mods, deps = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for d in deps:
    try:
        importlib.import_module(d)
    except Exception:
        pass
assert not [m for m in sys.modules if m == "relubook" or m.startswith("relubook.")]
out = {}
for mod in mods:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            importlib.import_module(mod)
            res = {"ok": True, "mods": sorted(m for m in sys.modules if m.startswith("relubook."))}
        except BaseException:
            res = {"ok": False, "error": traceback.format_exc()}
        with os.fdopen(w, "w") as f:
            f.write(json.dumps(res))
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        text = f.read()
    os.waitpid(pid, 0)
    out[mod] = json.loads(text) if text else {"ok": False, "error": "the child died"}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def imported() -> dict[str, dict]:
    """``{module: {"ok": True, "mods": [relubook modules loaded]} or {"ok": False, "error"}}``."""
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    pythonpath = [str(LIB)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    argv = [sys.executable, "-c", PROBE, json.dumps(RUNTIME), json.dumps(third_party())]
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, cwd=LIB.parent)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_there_are_modules_to_check():
    assert layer_modules("pipeline") and RUNTIME


@pytest.mark.parametrize("module", RUNTIME)
def test_module_imports_only_the_layers_it_may(imported, module):
    res = imported[module]
    assert res["ok"], f"`import {module}` failed:\n{res['error'][-3000:]}"
    mods = res["mods"]
    layer = module.split(".")[1]
    bad = sorted(m for m in mods if m.startswith(FORBIDDEN[layer]))
    assert not bad, f"{module} ({layer}) imports {', '.join(bad)}"


def test_package_inits_import_nothing():
    bad = []
    for f in all_files():
        if f.name == "__init__.py":
            bad += [f"{f.relative_to(LIB)}:{n.lineno}" for n in _imports(ast.parse(f.read_text()))]
    assert not bad, "package __init__ files must import nothing: " + ", ".join(bad)


def _defines_all(tree: ast.Module) -> bool:
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return True
    return False


def test_every_module_defines_all():
    """Package ``__init__`` files (which import nothing) and ``__main__`` are exempt."""
    bad = [str(f.relative_to(LIB)) for f in all_files()
           if f.name not in ("__init__.py", "__main__.py")
           and not _defines_all(ast.parse(f.read_text()))]
    assert not bad, "modules without __all__: " + ", ".join(bad)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_module_imports_a_private_name_of_another():
    bad = []
    for f in all_files():
        for n in _imports(ast.parse(f.read_text())):
            if isinstance(n, ast.ImportFrom) and (n.level > 0 or (n.module or "").split(".")[0]
                                                  == "relubook"):
                src = "." * n.level + (n.module or "")
                bad += [f"{f.relative_to(LIB)}:{n.lineno} imports {a.name} from {src}"
                        for a in n.names if _private(a.name)]
    assert not bad, "private names imported across modules: " + "; ".join(bad)
