"""Numbers for the prose: values a chapter computed, glued (myst-nb) so the text cites them.

``prose.glue(c3_gap=gap, c3_verdict=claim.verdict)`` glues each value under its name without
displaying it; the markdown then writes ``{glue:text}`c3_gap:.2f```. NumPy and torch scalars
are turned into plain Python numbers first, so the format spec applies to them.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["glue"]


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v


def glue(values: Mapping[str, Any] | None = None, /, **named: Any) -> None:
    """Glue every value of ``values`` and of the keyword arguments under its name."""
    from myst_nb import glue as _glue

    for key, value in {**dict(values or {}), **named}.items():
        _glue(key, _plain(value), display=False)
