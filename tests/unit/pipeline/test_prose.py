"""Unit tests of relubook.pipeline.prose (glue without display, plain Python values)."""

import numpy as np

from relubook.pipeline import prose


def test_glue_passes_plain_values_and_no_display(monkeypatch):
    seen = []
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda k, v, display=True: seen.append((k, v, display)))
    prose.glue({"a": np.float64(0.5)}, b=np.int64(3), c="text")
    assert seen == [("a", 0.5, False), ("b", 3, False), ("c", "text", False)]
    assert type(seen[0][1]) is float and type(seen[1][1]) is int
