"""One figure style for every chapter, sized for the book's text column.

The rendered book shows a figure in a column about 660 CSS pixels wide. A figure made with
:func:`figure` is at most :data:`TEXT_WIDTH` inches wide at :data:`DPI` dots per inch, so its
PNG (with the padding of the inline backend's tight bounding box, at most 650 px) is shown at
its natural size, never scaled down, and a font of ``s`` points is drawn ``s * DPI / 72``
pixels high: the style's smallest font (:data:`MIN_FONT_PT` = 9 pt) stays legible on the page.

Conventions the helpers enforce:

* **one colour per case** across all panels of a figure: :func:`case_colors` gives each case
  label a fixed colour from a colour-blind-safe palette (Okabe & Ito), the same for the same
  list of cases wherever it is called;
* **legends outside the data**: :func:`legend_outside` puts one legend for the whole figure
  above or to the right of the panels (constrained layout makes room for it);
* curves that may coincide get distinct line styles and markers (:data:`LINESTYLES`,
  :data:`MARKERS`) so that neither hides the other.

Call :func:`use` once (the chapter's setup cell does) before the first figure.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "DPI",
    "LINESTYLES",
    "MARKERS",
    "MIN_FONT_PT",
    "PALETTE",
    "STYLE",
    "TEXT_WIDTH",
    "case_colors",
    "figure",
    "legend_outside",
    "ordered_colors",
    "shared_norm",
    "use",
]

#: Width of a full-column figure, in inches (at :data:`DPI`, with the tight bounding box's
#: padding, at most 650 px).
TEXT_WIDTH = 6.4
#: Dots per inch of the inline PNGs.
DPI = 100
#: The smallest font size the style uses, in points.
MIN_FONT_PT = 9.0
#: Okabe & Ito's colour-blind-safe qualitative palette (black last, for references).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000")
#: Line styles to cycle through when curves may lie on top of each other.
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))
#: Markers to cycle through with :data:`LINESTYLES`.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

#: The matplotlib settings :func:`use` applies.
STYLE: dict[str, Any] = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.figsize": (TEXT_WIDTH, 0.62 * TEXT_WIDTH),
    "figure.constrained_layout.use": True,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.pad_inches": 0.05,
    "font.size": 10.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 10.0,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": 10.0,
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
    "axes.grid": True,
    "grid.alpha": 0.25,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 4.5,
    "legend.frameon": False,
    "image.cmap": "viridis",
    "axes.formatter.limits": (-3, 4),
    "axes.formatter.use_mathtext": True,
}


def use() -> None:
    """Apply :data:`STYLE` to matplotlib (after the inline backend, whose defaults it replaces)."""
    mpl.rcParams.update(STYLE)


def figure(ncols: int = 1, nrows: int = 1, *, width: float = 1.0, height: float | None = None,
           panel_aspect: float = 0.75, **subplot_kw: Any):
    """A figure ``width`` × :data:`TEXT_WIDTH` inches wide with a grid of panels.

    Args:
        ncols, nrows: the panel grid.
        width: the fraction of the text column the figure spans (0 < width ≤ 1).
        height: total height in inches; default ``nrows`` × panel width × ``panel_aspect``
            (with a floor of 1.6 in per row so that labels fit).
        **subplot_kw: passed to :func:`matplotlib.pyplot.subplots` (``sharex``, ``sharey``,
            ``subplot_kw``, ``gridspec_kw``, ...).

    Returns:
        ``(fig, axes)`` with ``axes`` always a 2-D array of shape ``(nrows, ncols)``.
    """
    if not 0 < width <= 1:
        raise ValueError(f"width is a fraction of the text column, in (0, 1]; got {width}")
    if ncols < 1 or nrows < 1:
        raise ValueError(f"ncols and nrows must be >= 1; got {ncols}, {nrows}")
    w = width * TEXT_WIDTH
    if height is None:
        height = nrows * max(1.6, w / ncols * panel_aspect)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w, height), squeeze=False,
                             layout="constrained", **subplot_kw)
    return fig, axes


def case_colors(cases: Sequence[Hashable]) -> dict[Hashable, str]:
    """A fixed colour for each case: the i-th distinct case gets :data:`PALETTE` [i].

    Use the returned mapping in every panel of a figure so that a case keeps its colour.

    Raises:
        ValueError: more distinct cases than the palette has colours (use
            :func:`ordered_colors` for an ordered family, or markers and line styles).
    """
    distinct = list(dict.fromkeys(cases))
    if len(distinct) > len(PALETTE):
        raise ValueError(f"{len(distinct)} cases but the palette has {len(PALETTE)} colours; "
                         "for an ordered family (widths, depths) use ordered_colors")
    return {c: PALETTE[i] for i, c in enumerate(distinct)}


def ordered_colors(n: int, cmap: str = "viridis", lo: float = 0.0, hi: float = 0.85) -> list:
    """``n`` colours evenly spaced along a sequential map, for an ordered family of cases.

    The default range stops short of viridis' pale yellow end, which vanishes on white.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    return [mpl.colormaps[cmap](t) for t in np.linspace(lo, hi, n)]


def legend_outside(fig, handles=None, labels=None, *, where: str = "top", ncols: int | None = None,
                   title: str | None = None, **kw: Any):
    """One legend for the whole figure, outside every panel (``where``: "top" or "right").

    With no ``handles`` the labelled artists of all axes are collected, each label once.
    """
    if where not in ("top", "right"):
        raise ValueError(f"where must be 'top' or 'right'; got {where!r}")
    if handles is None:
        seen: dict[str, Any] = {}
        for ax in fig.axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if not lab.startswith("_"):
                    seen.setdefault(lab, h)
        labels, handles = list(seen), list(seen.values())
    if not handles:
        raise ValueError("no labelled artists to put in a legend")
    if where == "top":
        loc = "outside upper center"
        ncols = ncols or min(len(handles), 4)
    else:
        loc = "outside right upper"
        ncols = ncols or 1
    return fig.legend(handles, labels, loc=loc, ncols=ncols, title=title, **kw)


def shared_norm(*arrays, log: bool = False):
    """One colour scale for several heat maps: a Normalize (or LogNorm) over all finite values."""
    vals = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])
    vals = vals[np.isfinite(vals)]
    if log:
        vals = vals[vals > 0]
    if vals.size == 0:
        raise ValueError("no finite values to scale")
    cls = mpl.colors.LogNorm if log else mpl.colors.Normalize
    return cls(vmin=float(vals.min()), vmax=float(vals.max()))
