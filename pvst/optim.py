"""Minimisers for the stylization objective that stay on the device.

L-BFGS here tries the unit quasi-Newton step (as neural-style and Luan et al. ran Torch's
optim.lbfgs) but accepts it only with sufficient decrease (Armijo); otherwise it backtracks
along the same direction (quadratic interpolation, at most a 10× cut per try), and after a
run of failures restarts from steepest descent. So the iterate's loss never rises, a NaN or
Inf at a trial point is a rejected step rather than a ruined frame, and the result is the best
point seen: no budget, 3 evaluations or 1000, ends above the start. Its history and index
tensors live on the device; an evaluation reads four scalars back at once (the accept test:
slope, both losses, step length; one sync), and every `check_every` evaluations the host reads
the window of losses (one more) and stops early when the relative change stays under `tol`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)
# Seconds between progress lines inside one minimisation: often enough to see a long frame
# move, rarely enough for a job log.
REPORT_EVERY = 30.0

# what the minimisers minimise: a scalar loss of x, differentiable
LossFunction = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Outcome:
    x: torch.Tensor
    losses: list[float]  # one per evaluation of the objective
    evaluations: int
    converged: bool  # stopped because the loss stopped changing
    finite: bool  # the result and its loss are finite
    rejected: int = 0  # trial steps that did not decrease the loss (backtracked)


def _value_and_grad(objective: LossFunction, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_(True)
    loss = objective(x)
    (grad,) = torch.autograd.grad(loss, x)
    return loss.detach(), grad


class _LBFGS:
    """L-BFGS in the compact form of Byrd, Nocedal and Schnabel (1994):

        H g = γ g + S q − γ Y p,   p = R⁻¹ Sᵀg,   q = R⁻ᵀ((D + γ YᵀY) p − γ Yᵀg)

    with R the upper triangle of SᵀY in time order and D its diagonal. The m pairs live in one
    ring buffer [S; Y]; a step reads it twice (one product against [s, y, g] gives every dot
    product needed, one more gives the direction) and solves two m×m triangular systems,
    with no loop over the pairs. A pair with sᵀy ≤ 1e-10 is stored as zeros: no effect.
    """

    def __init__(self, objective: LossFunction, x0: torch.Tensor, history: int) -> None:
        self.objective = objective
        self.x = x0.detach().clone()
        n = self.x.numel()
        kw = {"device": x0.device, "dtype": x0.dtype}
        self.m = history
        self.buf = torch.zeros(2 * history, n, **kw)  # rows: s_0..s_{m-1}, y_0..y_{m-1}
        self.SY = torch.zeros(history, history, **kw)  # SY[i, j] = s_i · y_j (ring order)
        self.YY = torch.zeros(history, history, **kw)
        self.gamma = torch.ones((), **kw)
        self.k = 0
        loss, g = _value_and_grad(objective, self.x)
        self.g = g.reshape(-1)
        self.loss = self.first_loss = loss
        self.failures = 0  # rejected trials in a row
        self.rejected = 0
        self._steepest()

    def _steepest(self) -> None:
        """Forget the history; the next trial is steepest descent, at most unit length in the
        L1 sense (as Torch did)."""
        self._forget()
        self.d = -self.g
        self.t = self._steepest_length()

    def _forget(self) -> None:
        self.buf.zero_()
        self.SY.zero_()
        self.YY.zero_()
        self.gamma = torch.ones_like(self.gamma)
        self.k = 0

    def _steepest_length(self) -> torch.Tensor:
        return torch.clamp(1.0 / self.g.abs().sum().clamp_min(1e-12), max=1.0)

    def _direction(self, s: torch.Tensor, y: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Store the pair (s, y), then return −H g."""
        m = self.m
        ys = y @ s
        ok = ys > 1e-10
        s = torch.where(ok, s, torch.zeros_like(s))
        y = torch.where(ok, y, torch.zeros_like(y))
        i = self.k % m
        self.buf[i], self.buf[m + i] = s, y
        # 2m × 3 in one pass over the history (this operand layout gets the fast GEMM path)
        prods = self.buf @ torch.stack([s, y, g]).t()
        self.SY[:, i] = prods[:m, 1]  # s_j · y
        self.SY[i, :] = prods[m:, 0]  # s · y_j
        self.YY[:, i] = prods[m:, 1]
        self.YY[i, :] = prods[m:, 1]
        self.gamma = torch.where(ok, ys / (y @ y).clamp_min(1e-20), self.gamma)
        self.k += 1

        stored = min(self.k, m)
        newest = (self.k - 1) % m
        # oldest first, built on the device (a host list would be a copy and a sync)
        order = (torch.arange(stored, device=g.device) + (newest - stored + 1)) % m
        sy = self.SY[order][:, order]
        diag = torch.diagonal(sy)
        r = torch.triu(sy) + torch.diag((diag <= 0).to(sy.dtype))  # zero pairs: unit pivot
        a, b = prods[:m, 2][order], prods[m:, 2][order]
        p = torch.linalg.solve_triangular(r, a[:, None], upper=True)[:, 0]
        inner = diag * p + self.gamma * (self.YY[order][:, order] @ p) - self.gamma * b
        q = torch.linalg.solve_triangular(r.t(), inner[:, None], upper=False)[:, 0]
        coef = torch.zeros(2 * m, device=g.device, dtype=g.dtype)
        coef[order] = q
        coef[m + order] = -self.gamma * p
        return -(self.gamma * g + coef @ self.buf)  # the second pass

    def step(self) -> torch.Tensor:
        """One evaluation at the trial point; returns the iterate's loss after it."""
        slope = self.g @ self.d  # directional derivative along d (< 0 for descent)
        # not a descent direction: steepest descent instead, chosen on the device so that the
        # host learns of it with the accept test's scalars (the history is dropped below)
        descent = slope < 0
        self.d = torch.where(descent, self.d, -self.g)
        self.t = torch.where(descent, self.t, self._steepest_length())
        slope = torch.where(descent, slope, -(self.g @ self.g))
        x_new = self.x + self.t * self.d.view_as(self.x)
        loss, g_new = _value_and_grad(self.objective, x_new)
        g_new = g_new.reshape(-1)
        # the evaluation's one sync
        slope, f0, ft, t, went_down = torch.stack(
            [slope, self.loss, loss, self.t, descent.to(slope.dtype)]
        ).tolist()
        if not went_down:  # the trial was steepest descent already (chosen above)
            self._forget()
        if not ft <= f0 + 1e-4 * t * slope:  # also rejects NaN and Inf
            self.rejected += 1
            self.failures += 1
            if self.failures >= 8:
                self._steepest()
                self.t = self.t * 0.1 ** (self.failures - 7)
                return self.loss
            cut = 0.1
            if math.isfinite(ft):
                curvature = ft - f0 - t * slope
                if curvature > 0:
                    cut = min(max(-slope * t / (2 * curvature), 0.1), 0.5)
            self.t = self.t * cut
            return self.loss
        self.failures = 0
        self.d = self._direction((self.t * self.d).reshape(-1), g_new - self.g, g_new)
        self.t = torch.ones((), device=g_new.device, dtype=g_new.dtype)
        self.x, self.g, self.loss = x_new.detach(), g_new, loss
        return loss


class _Adam:
    """Adam that remembers its best point (it may wander above its start)."""

    def __init__(self, objective: LossFunction, x0: torch.Tensor, lr: float) -> None:
        self.objective = objective
        self.param = x0.detach().clone().requires_grad_(True)
        self.opt = torch.optim.Adam([self.param], lr=lr)
        self.first_loss = None
        self.x = x0.detach().clone()
        self.loss = torch.tensor(float("inf"), device=x0.device)
        self.rejected = 0

    def step(self) -> torch.Tensor:
        self.opt.zero_grad(set_to_none=True)
        loss = self.objective(self.param)
        loss.backward()
        with torch.no_grad():
            better = loss.detach() < self.loss  # False for NaN
            self.x = torch.where(better, self.param.detach(), self.x)
            self.loss = torch.where(better, loss.detach(), self.loss)
        self.opt.step()
        return loss.detach()


def minimise(
    objective: LossFunction,
    x0: torch.Tensor,
    evaluations: int,
    method: str = "lbfgs",
    history: int = 100,
    lr: float = 2.0,
    tol: float = 1e-4,
    check_every: int = 20,
    what: str = "frame",
) -> Outcome:
    """Minimise `objective` from `x0` with at most `evaluations` objective evaluations;
    a long run logs its progress every REPORT_EVERY seconds."""
    start = reported = time.perf_counter()
    if method == "lbfgs":
        opt = _LBFGS(objective, x0, history)
        used = 1
    elif method == "adam":
        opt = _Adam(objective, x0, lr)
        used = 0
    else:
        raise ValueError(f"unknown optimizer {method!r}")
    buffer = torch.empty(max(evaluations, 1), device=x0.device, dtype=torch.float32)
    if opt.first_loss is not None:
        buffer[0] = opt.first_loss
    converged = False
    finite = True
    last_checked = None
    while used < evaluations:
        chunk = min(check_every, evaluations - used)
        for _ in range(chunk):
            buffer[used] = opt.step()
            used += 1
        window = buffer[max(0, used - chunk - 1) : used].tolist()  # the one sync per chunk
        if not all(map(_finite, window)):
            finite = False
            break
        now = window[-1]
        clock = time.perf_counter()
        if clock - reported >= REPORT_EVERY and used < evaluations:
            reported = clock
            spent = clock - start
            log.info(
                "%s: %d/%d evaluations, loss %.4g, %.0f s, about %.0f s left",
                what,
                used,
                evaluations,
                now,
                spent,
                spent / used * (evaluations - used),
            )
        if last_checked is not None:
            change = abs(last_checked - now) / max(abs(last_checked), 1e-12) / chunk
            if change < tol:
                converged = True
                break
        last_checked = now
    x = opt.x.detach()
    if not (bool(torch.isfinite(x).all()) and _finite(float(opt.loss))):
        finite = False
    losses = buffer[:used].tolist()
    return Outcome(
        x=x,
        losses=losses,
        evaluations=used,
        converged=converged,
        finite=finite,
        rejected=opt.rejected,
    )


def _finite(v: float) -> bool:
    return v == v and abs(v) != float("inf")
