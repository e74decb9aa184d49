"""The shared figure style (core.plotting): sizes for the text column, fonts, colours."""

import matplotlib

matplotlib.use("Agg")
import io  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.image import imread  # noqa: E402
from relubook.core import plotting  # noqa: E402


def test_figure_fits_the_column_and_fonts_are_legible():
    plotting.use()
    fig, ax = plotting.figure(3, 2)
    assert ax.shape == (2, 3)
    for a in ax.ravel():
        a.plot([0, 1], [0, 1], label="case")
        a.set_xlabel("x")
    plotting.legend_outside(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    width_px = imread(buf).shape[1]
    assert width_px <= 650  # the figure column of the rendered book is 660 px wide
    sizes = [matplotlib.rcParams[k] for k in ("xtick.labelsize", "ytick.labelsize",
                                              "legend.fontsize", "axes.labelsize", "font.size")]
    assert min(float(s) for s in sizes) >= plotting.MIN_FONT_PT


def test_case_colors_are_stable_and_distinct():
    a = plotting.case_colors(["a", "b", "c"])
    assert a == plotting.case_colors(["a", "b", "c", "a"])
    assert len(set(a.values())) == 3
    with pytest.raises(ValueError, match="ordered_colors"):
        plotting.case_colors(range(len(plotting.PALETTE) + 1))
    assert len(plotting.ordered_colors(7)) == 7


def test_bad_arguments_name_what_is_valid():
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        plotting.figure(width=1.5)
    fig, _ = plotting.figure()
    with pytest.raises(ValueError, match="'top' or 'right'"):
        plotting.legend_outside(fig, where="left")
    with pytest.raises(ValueError, match="no labelled"):
        plotting.legend_outside(fig)
    plt.close(fig)


def test_shared_norm_spans_all_maps():
    n = plotting.shared_norm([[1, 2], [3, 4]], [[0.5, 25]])
    assert (n.vmin, n.vmax) == (0.5, 25.0)
    assert plotting.shared_norm([[1, 10]], log=True).vmin == 1.0
