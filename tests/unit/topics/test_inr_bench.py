"""Unit tests of relubook.topics.inr_bench: the paper's formulation, the GEMM shapes, the rows."""

import pytest
import torch

from relubook.topics import bw_inr as inr
from relubook.topics import inr_bench as bench


def test_paper_psi_equals_the_definition():
    t = torch.linspace(-1, 4, 5001, dtype=torch.float64)
    assert torch.allclose(bench.paper_psi(t), inr.psi_relu(t), rtol=0, atol=1e-13)


@pytest.mark.parametrize("kind", inr.MODELS)
def test_paper_model_has_the_book_models_parameters(kind):
    spec = inr.Spec(kind, 16, 3, (9.0,), 2 if kind == "pe" else 0)
    paper = bench.PaperINR(spec, 2, 3)
    n_paper = sum(p.numel() * (2 if p.is_complex() else 1) for p in paper.parameters())
    assert n_paper == inr.INR(spec, 2, 3).n_params()
    assert paper(inr.grid(4, 5)).shape == (20, 3)
    shapes = bench.gemm_shapes(spec, 2, 3)
    assert len(shapes) == 4 and shapes[-1][1] == 3
    assert [s[2] for s in shapes] == [kind == "wire" and i > 0 for i in range(4)]


def test_step_programs_update_and_reject_unknown():
    spec = inr.Spec("bw", 8, 2, (3.0,))
    for form in ("book", "paper"):
        step = bench.step_program("bw", form, spec, 8)
        step()
        step()
    with pytest.raises(ValueError, match="valid"):
        bench.step_program("bw", "jax", spec, 8)


def test_benchmark_rows_and_table():
    rows = bench.benchmark(["relu", "bw"], size=8, width=4, layers=2, reps=2)
    assert [r.kind for r in rows] == ["relu", "bw"]
    for r in rows:
        assert r.book_ms > 0 and r.paper_ms > 0 and r.gemm_ms > 0 and r.compile_s >= 0
        assert r.speedup == pytest.approx(r.paper_ms / r.book_ms)
        assert r.gemm_share == pytest.approx(r.gemm_ms / r.book_ms)
        assert r.ceiling == pytest.approx(r.paper_ms / r.gemm_ms)
    text = bench.format_table(rows)
    assert "speed-up" in text and text.count("\n") == 4 and text.startswith("one training step at 8x8")
    with pytest.raises(ValueError, match="reps"):
        bench.benchmark(["bw"], reps=0)
