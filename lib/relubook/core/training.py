"""One training loop for models trained by autograd: Adam on a batch of independent networks.

The networks of a batch are independent, so the sum of their losses has, for each network,
that network's gradient: one backward pass of :math:`\\sum_i\\mathcal L_i` trains them all.
The learning rate follows an optional schedule :math:`\\eta_t` (e.g. :func:`exp_decay`,
the INR papers' :math:`\\eta\\,\\gamma^{\\min(t/T,1)}`).
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch

__all__ = ["adam", "exp_decay"]


def exp_decay(lr: float, horizon: int, decay: float = 0.1) -> Callable[[int], float]:
    """The schedule :math:`t\\mapsto\\eta\\,\\gamma^{\\min(t/T,1)}` (``decay`` γ, ``horizon`` T)."""
    if horizon < 1 or not lr > 0 or not decay > 0:
        raise ValueError(f"need horizon >= 1, lr > 0 and decay > 0, got {horizon}, {lr}, {decay}")
    return lambda t: lr * decay ** min(t / horizon, 1.0)


def adam(params: Iterable[torch.Tensor], losses: Callable[[int], tuple[torch.Tensor, object]],
         steps: int, lr: float, *, schedule: Callable[[int], float] | None = None,
         record: Callable[[int, torch.Tensor, object], None] | None = None,
         after: Callable[[int], None] | None = None,
         stop: Callable[[int, torch.Tensor, object], bool] | None = None) -> int:
    """``steps`` Adam steps (``torch.optim.Adam``, foreach) on a batch of networks, in place.

    Parameters
    ----------
    params
        The trainable tensors (leaf tensors with ``requires_grad``).
    losses
        ``losses(t)`` returns the per-network losses ``(n,)`` at step ``t`` and any auxiliary
        value (e.g. the model's output) that ``record`` wants.
    lr, schedule
        The learning rate, or a schedule ``t -> lr`` that overrides it at every step.
    record
        ``record(t, losses, aux)``, called under ``no_grad`` after the backward pass and before
        the update: what it records describes the model after ``t`` updates.
    after
        ``after(t)``, called after update ``t`` (the model has had ``t + 1`` updates), e.g. to
        evaluate every few steps.
    stop
        ``stop(t, losses, aux)``, called after ``record`` and before update ``t``: when it
        returns True training ends there, so the model is the one that ``losses`` describe.

    Returns
    -------
    The number of updates made (``steps`` unless ``stop`` ended training earlier).
    """
    if steps < 0 or not lr > 0:
        raise ValueError(f"need steps >= 0 and lr > 0, got {steps}, {lr}")
    params = list(params)
    opt = torch.optim.Adam(params, lr=lr, foreach=True)
    for t in range(steps):
        if schedule is not None:
            for grp in opt.param_groups:
                grp["lr"] = schedule(t)
        per, aux = losses(t)
        opt.zero_grad(set_to_none=True)
        per.sum().backward()
        with torch.no_grad():
            if record is not None:
                record(t, per.detach(), aux)
            if stop is not None and stop(t, per.detach(), aux):
                return t
        opt.step()
        if after is not None:
            after(t)
    return steps
