"""Every figure of every committed chapter is made for the page (relubook.core.plotting).

The rendered check is the browser test's (the figure fits the text column, its caption is
numbered); this one reads the committed notebooks, so it runs without a browser: each PNG is
at most 650 px wide (shown at its natural size, so its fonts keep the style's >= 9 pt) and each
figure cell names its alt text, caption and label.
"""

import base64
import struct

import nbformat
import pytest

from relubook.pipeline import paths

#: The widest PNG the text column shows unscaled (plotting.TEXT_WIDTH * DPI plus padding).
MAX_WIDTH_PX = 650


def png_width(data: str) -> int:
    raw = base64.b64decode(data[:64])
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">I", raw[16:20])[0]


@pytest.mark.parametrize("chapter", paths.chapters())
def test_figures_fit_the_column_and_are_described(chapter):
    nb = nbformat.read(paths.notebooks_dir() / f"{chapter}.ipynb", as_version=4)
    wide, undescribed, n = [], [], 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        pngs = [o["data"]["image/png"] for o in cell.get("outputs", [])
                if "image/png" in o.get("data", {})]
        for data in pngs:
            n += 1
            w = png_width(data)
            if w > MAX_WIDTH_PX:
                wide.append(f"cell {i}: {w} px")
        if pngs:
            meta = cell.metadata.get("mystnb", {})
            if not (meta.get("image", {}).get("alt") and meta.get("figure", {}).get("caption")
                    and meta.get("figure", {}).get("name")):
                undescribed.append(f"cell {i}")
    assert n, f"{chapter} has no figure"
    assert not wide, (f"{chapter}: figures wider than {MAX_WIDTH_PX} px (use "
                      f"relubook.core.plotting.figure): {wide}")
    assert not undescribed, (f"{chapter}: figure cells without mystnb image.alt, figure.caption "
                             f"and figure.name: {undescribed}")
