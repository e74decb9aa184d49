"""The ways of installing the book agree with ``requirements.txt``, the one list of exact pins.

* ``pyproject.toml``'s ``[project] dependencies`` are ranges, and each contains its pin;
* ``binder/requirements.txt`` (what repo2docker installs) pins exactly the same packages at
  the same versions and nothing else, and ``binder/postBuild`` installs the library with
  ``--no-deps``;
* the Colab cell of every chapter installs the pins, then the library with ``--no-deps``.
"""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from relubook.pipeline import paths

ROOT = paths.repo_root()
#: pip options that binder/requirements.txt may hold besides the pins (none installs anything).
BINDER_OPTIONS = {"--extra-index-url https://download.pytorch.org/whl/cpu"}


def requirement_lines(path) -> tuple[list[str], list[str]]:
    """(requirement lines, option lines) of a pip requirements file, comments dropped."""
    reqs, opts = [], []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        (opts if line.startswith("-") else reqs).append(line)
    return reqs, opts


def pins(path) -> dict[str, Version]:
    """``{canonical name: version}`` of a file that holds only ``name==version`` lines."""
    reqs, _ = requirement_lines(path)
    out: dict[str, Version] = {}
    for line in reqs:
        r = Requirement(line)
        (spec,) = r.specifier or [None]
        assert spec is not None and spec.operator == "==" and not r.extras and not r.marker \
            and not r.url and "*" not in spec.version, f"{path.name}: {line!r} is not name==version"
        name = canonicalize_name(r.name)
        assert name not in out, f"{path.name}: {r.name} is pinned twice"
        out[name] = Version(spec.version)
    return out


@pytest.fixture(scope="module")
def pinned() -> dict[str, Version]:
    _, opts = requirement_lines(ROOT / "requirements.txt")
    assert not opts, f"requirements.txt holds pip options {opts}: it should hold pins only"
    return pins(ROOT / "requirements.txt")


def test_pyproject_ranges_contain_the_pins(pinned):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    deps = project.get("dependencies", [])
    assert deps, "pyproject.toml declares no [project] dependencies"
    for line in deps:
        r = Requirement(line)
        name = canonicalize_name(r.name)
        assert name in pinned, f"pyproject depends on {r.name}, which requirements.txt does not pin"
        assert r.specifier, f"pyproject: {line!r} has no version range"
        assert r.specifier.contains(pinned[name], prereleases=True), (
            f"pyproject: {line!r} does not contain the pin {r.name}=={pinned[name]}")
        assert any(s.operator in ("<", "<=", "~=", "==") for s in r.specifier), (
            f"pyproject: {line!r} has no upper bound")


def test_pyproject_declares_what_the_library_imports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {canonicalize_name(Requirement(d).name) for d in project.get("dependencies", [])}
    for dist in ("numpy", "torch", "scipy", "matplotlib", "scikit-learn", "scikit-image",
                 "jsonschema", "papermill", "jupyter-client", "tqdm", "myst-nb"):
        assert dist in declared, f"pyproject.toml does not declare {dist}"


def test_binder_pins_equal_requirements(pinned):
    binder = ROOT / "binder" / "requirements.txt"
    assert binder.is_file(), "binder/requirements.txt is missing"
    _, opts = requirement_lines(binder)
    extra = [o for o in opts if o not in BINDER_OPTIONS]
    assert not extra, (f"binder/requirements.txt has pip options {extra}: it installs the pins "
                       "only (no -r, -e or other files)")
    got = pins(binder)
    missing = sorted(f"{n}=={v}" for n, v in pinned.items() if got.get(n) != v)
    beyond = sorted(f"{n}=={v}" for n, v in got.items() if pinned.get(n) != v)
    assert not missing and not beyond, (
        f"binder/requirements.txt differs from requirements.txt: lacks {missing}, adds {beyond} "
        "(regenerate it: see its header)")


def test_binder_installs_the_library_without_dependencies():
    post = ROOT / "binder" / "postBuild"
    assert post.is_file(), "binder/postBuild is missing"
    text = post.read_text(encoding="utf-8")
    assert text.startswith("#!"), "binder/postBuild needs a shebang line"
    assert re.search(r"pip install\b.*--no-deps\b.*-e \.(\s|$)", text), (
        "binder/postBuild does not run `pip install --no-deps -e .`")
    conda = [f for f in ("environment.yml", "Pipfile", "setup.py", "Project.toml", "install.R")
             if (ROOT / "binder" / f).exists()]
    assert not conda, f"binder/ holds {conda}: repo2docker would not use requirements.txt alone"


NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_chapter_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_colab_cell_installs_the_pins(name):
    nb = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{name} has no code cell"
    cell = code[0]
    src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    assert "remove-cell" in cell.get("metadata", {}).get("tags", []), (
        f"{name}: the first code cell (Colab setup) is not tagged remove-cell")
    assert '"google.colab" in sys.modules' in src, f"{name}: the first code cell is not the Colab cell"
    assert 'pip = [sys.executable, "-m", "pip", "install", "-q"]' in src
    reqs = 'subprocess.run(pip + ["-r", "/content/relubook/requirements.txt"], check=True)'
    lib = 'subprocess.run(pip + ["--no-deps", "-e", "/content/relubook"], check=True)'
    assert reqs in src, f"{name}: the Colab cell does not install requirements.txt's pins"
    assert lib in src, f"{name}: the Colab cell does not install the library with --no-deps"
    assert src.index(reqs) < src.index(lib), f"{name}: the library is installed before the pins"
