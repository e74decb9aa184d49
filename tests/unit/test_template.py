"""The chapter template (``templates/chapter.ipynb``) keeps the chapter spine of DESIGN.md."""

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates" / "chapter.ipynb"

#: DESIGN.md: "a code cell past ~20 lines of logic belongs in lib".
MAX_CODE_LINES = 20


@pytest.fixture(scope="module")
def nb():
    notebook = nbformat.read(TEMPLATE, as_version=4)
    nbformat.validate(notebook)
    return notebook


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def headings(nb):
    return [m.group(1).strip() for c in nb.cells if c.cell_type == "markdown"
            for m in re.finditer(r"^#{1,6}\s+(.+)$", c.source, flags=re.M)]


def test_valid_nbformat_4(nb):
    assert nb.nbformat == 4
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_one_parameters_cell_with_profile_seed_overrides(nb):
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    assert params[0].cell_type == "code"
    names = {}
    exec(compile(params[0].source, "<parameters>", "exec"), {}, names)
    assert names == {"profile": "full", "seed": 0, "overrides": {}}


def test_setup_cell_starts_the_run(nb):
    cells = code_cells(nb)
    setup = cells[cells.index(next(c for c in cells if "parameters" in c.metadata.get("tags", [])))
                  + 1]
    assert "hide-input" in setup.metadata.get("tags", [])
    assert "from relubook.pipeline import" in setup.source
    assert "runs.start(" in setup.source
    assert re.search(r"run\.configure\(\s*full=", setup.source)
    assert "smoke=" in setup.source


def test_last_code_cell_finishes_the_run(nb):
    lines = [ln.strip() for ln in code_cells(nb)[-1].source.splitlines()]
    assert "run.finish()" in lines


def test_claims_verdicts_reproducibility_headings(nb):
    found = headings(nb)
    assert found[0].startswith("Chapter NN:")
    for name in ("Claims", "Verdicts", "Reproducibility"):
        assert name in found, f"no heading {name!r} in {found}"
    order = [found.index(n) for n in ("Claims", "Verdicts", "Reproducibility")]
    assert order == sorted(order)


def test_every_claim_is_recorded(nb):
    text = "\n".join(c.source for c in code_cells(nb))
    claim_sections = [h.split(":")[0] for h in headings(nb) if re.match(r"C\d+:", h)]
    assert claim_sections == ["C1", "C2"]
    for cid in claim_sections:
        assert f'run.claim("{cid}"' in text
        # each claim section carries the label the verdict table links to
        assert any(c.source.startswith(f"(chNN-{cid.lower()})=") for c in nb.cells
                   if c.cell_type == "markdown")
    # verdicts come from named checks, never from a typed word or a boolean
    assert "checks=" in text and "verdict=" not in text and "claims.between(" in text


def test_figures_have_alt_text_and_captions(nb):
    plots = [c for c in code_cells(nb) if "plt.show()" in c.source]
    assert plots
    for c in plots:
        assert c.metadata["mystnb"]["image"]["alt"] and c.metadata["mystnb"]["figure"]["caption"]


def test_no_nbval_comment_markers(nb):
    assert not any("# NBVAL_" in c.source for c in code_cells(nb))


def test_code_cells_are_short_python(nb):
    for i, c in enumerate(code_cells(nb)):
        n = len(c.source.splitlines())
        assert n <= MAX_CODE_LINES, f"code cell {i} has {n} lines (at most {MAX_CODE_LINES})"
        ast.parse(c.source)


def test_not_a_chapter():
    from relubook.pipeline import paths

    assert paths.CHAPTER_RE.match(TEMPLATE.stem) is None
    assert TEMPLATE.parent.resolve() != paths.notebooks_dir(ROOT).resolve()
    assert TEMPLATE.stem not in paths.chapters(ROOT)


def test_excluded_from_the_book():
    config = (ROOT / "_config.yml").read_text(encoding="utf-8")
    exclude = re.search(r"^exclude_patterns:\s*\[(.*)\]", config, flags=re.M)
    assert exclude and '"templates"' in exclude.group(1)
    assert "templates/" not in (ROOT / "_toc.yml").read_text(encoding="utf-8")
