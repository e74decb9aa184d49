"""Unit tests of relubook.core.training: the exp_decay schedule and the batched Adam loop."""

import math

import pytest
import torch

from relubook.core.training import adam, exp_decay

D = torch.float64


def test_exp_decay_closed_form():
    s = exp_decay(0.01, 100, 0.1)
    assert s(0) == pytest.approx(0.01, rel=1e-15)
    assert s(50) == pytest.approx(0.01 * math.sqrt(0.1), rel=1e-14)
    assert s(100) == pytest.approx(0.001, rel=1e-14)
    assert s(200) == pytest.approx(0.001, rel=1e-14)      # flat after the horizon
    assert s(25) == pytest.approx(0.01 * 0.1**0.25, rel=1e-14)
    assert exp_decay(2.0, 10)(10) == pytest.approx(0.2)       # default gamma 0.1
    vals = [s(t) for t in range(0, 101, 10)]
    assert all(a > b for a, b in zip(vals, vals[1:]))


@pytest.mark.parametrize("args", [(0.0, 10, 0.1), (-1.0, 10, 0.1), (0.1, 0, 0.1), (0.1, 10, 0.0),
                                  (0.1, 10, -0.5)])
def test_exp_decay_bad_arguments_raise(args):
    with pytest.raises(ValueError):
        exp_decay(*args)


def _quadratics(n=3, d=4, seed=0):
    """n independent quadratics 0.5 (p - c)^T A (p - c), A = diag(a), p (n, d)."""
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, d, generator=g, dtype=D) + 0.5
    c = torch.randn(n, d, generator=g, dtype=D)
    p0 = torch.randn(n, d, generator=g, dtype=D)
    return a, c, p0


def _loss(a, c, p):
    return 0.5 * (a * (p - c) ** 2).sum(-1)


def test_batched_adam_equals_separate_torch_adam_runs():
    a, c, p0 = _quadratics()
    p = p0.clone().requires_grad_()
    adam([p], lambda t: (_loss(a, c, p), None), steps=30, lr=0.05)
    for i in range(3):
        q = p0[i].clone().requires_grad_()
        opt = torch.optim.Adam([q], lr=0.05)
        for _ in range(30):
            opt.zero_grad()
            _loss(a[i], c[i], q).backward()
            opt.step()
        assert torch.allclose(p[i].detach(), q.detach(), rtol=0, atol=1e-13)
    # the losses went down (the comparison above is not between two untouched copies)
    assert torch.all(_loss(a, c, p.detach()) < _loss(a, c, p0))


def test_record_sees_losses_before_update_and_after_sees_each_step():
    a, c, p0 = _quadratics(n=2, d=3, seed=1)
    p = p0.clone().requires_grad_()
    seen, states, calls = [], [], []

    def record(t, per, aux):
        assert not per.requires_grad and not torch.is_grad_enabled()
        seen.append((t, per.clone(), aux))

    def after(t):
        calls.append(t)
        states.append(p.detach().clone())

    adam([p], lambda t: (_loss(a, c, p), f"aux{t}"), steps=5, lr=0.1, record=record, after=after)
    assert [s[0] for s in seen] == list(range(5)) and calls == list(range(5))
    assert [s[2] for s in seen] == [f"aux{t}" for t in range(5)]
    # record(t) describes the model after t updates: the initial point, then after(t-1)'s state
    assert torch.allclose(seen[0][1], _loss(a, c, p0), atol=0, rtol=1e-15)
    for t in range(1, 5):
        assert torch.allclose(seen[t][1], _loss(a, c, states[t - 1]), atol=0, rtol=1e-15)
    assert torch.equal(states[-1], p.detach())
    assert not torch.equal(states[0], p0)


def test_schedule_sets_the_learning_rate_of_each_step():
    a, c, p0 = _quadratics(n=2, d=3, seed=2)
    sched = exp_decay(0.2, 6, 0.01)
    p = p0.clone().requires_grad_()
    adam([p], lambda t: (_loss(a, c, p), None), steps=10, lr=123.0, schedule=sched)
    q = p0.clone().requires_grad_()
    opt = torch.optim.Adam([q], lr=1.0)
    for t in range(10):
        opt.param_groups[0]["lr"] = sched(t)
        opt.zero_grad()
        _loss(a, c, q).sum().backward()
        opt.step()
    assert torch.allclose(p.detach(), q.detach(), rtol=0, atol=1e-13)
    # and differs from a constant learning rate
    r = p0.clone().requires_grad_()
    adam([r], lambda t: (_loss(a, c, r), None), steps=10, lr=0.2)
    assert not torch.allclose(r.detach(), p.detach(), atol=1e-6)


def test_several_parameter_tensors_and_zero_steps():
    a, c, p0 = _quadratics(n=2, d=3, seed=3)
    u, v = p0[:, :1].clone().requires_grad_(), p0[:, 1:].clone().requires_grad_()
    adam([u, v], lambda t: (_loss(a, c, torch.cat([u, v], 1)), None), steps=0, lr=0.1)
    assert torch.equal(torch.cat([u, v], 1).detach(), p0)
    adam(iter([u, v]), lambda t: (_loss(a, c, torch.cat([u, v], 1)), None), steps=4, lr=0.1)
    w = p0.clone().requires_grad_()
    adam([w], lambda t: (_loss(a, c, w), None), steps=4, lr=0.1)
    assert torch.allclose(torch.cat([u, v], 1).detach(), w.detach(), atol=1e-14, rtol=0)


@pytest.mark.parametrize("steps, lr", [(-1, 0.1), (3, 0.0), (3, -0.1)])
def test_adam_bad_arguments_raise(steps, lr):
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError):
        adam([p], lambda t: ((p**2).sum().reshape(1), None), steps=steps, lr=lr)


def test_stop_ends_before_the_update_and_returns_the_updates_made():
    w = torch.tensor([3.0], dtype=torch.float64, requires_grad=True)
    seen = []

    def losses(t):
        return (w ** 2).sum().reshape(1), None

    def record(t, per, aux):
        seen.append(float(per[0]))

    done = adam([w], losses, 100, 0.1, record=record,
                stop=lambda t, per, aux: float(per[0]) < 4.0)
    assert done == len(seen) - 1 and done < 100
    assert seen[-1] < 4.0 <= seen[-2]
    assert float(w.detach() ** 2) == seen[-1]        # no update after the stopping step
    assert adam([w], losses, 3, 0.1) == 3
