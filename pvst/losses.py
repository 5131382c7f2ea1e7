"""The terms of the paper's total loss (Eq. 6), on images in 0..255 RGB units.

Scales follow the reference implementations, so that the paper's weights (α = 5, β = 100,
γ = 200, λ = 10⁴) mean what they meant there:
  content      α Σ_l w_l · mean((F_l(x) − F_l(p))²)                       (Gatys; neural-style)
  style        β Σ_l w_l Σ_j mean(M_j^x) · mean((G_j(x) − G_j(a))²),
               G_j(·) = Gram(F ⊙ M_j) / (C·H·W·mean(M_j))                 (Luan et al., DPST)
  temporal     γ Σ_j w_j · (1/D) Σ c_j ⊙ (x − warp(x_{t−j}))², D = 3·H·W    (Ruder et al.)
  photorealism (λ/2) Σ_c V_cᵀ L V_c with V = x/255: its gradient λ L V / 255 is the one
               Luan et al.'s code applies                                  (DPST)
  tv           τ_v · ½ Σ (∂x² + ∂y²)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pvst.vgg import LAYERS


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of C×H×W (or 1×C×H×W) features, normalised by C·H·W."""
    f = features.reshape(features.shape[-3], -1)
    return (f @ f.t()) / f.numel()


def mask_pyramid(masks: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
    """Label masks (K×H×W) carried down VGG19 to each of `layers`, as the feature maps go:
    a 3×3 average at every convolution, halved at every pooling (DPST)."""
    wanted = set(layers)
    last = max(LAYERS.index(name) for name in layers)
    m = masks[:, None]
    out = {}
    for name in LAYERS[: last + 1]:
        if name.startswith("conv"):
            m = F.avg_pool2d(m, 3, stride=1, padding=1, count_include_pad=False)
        elif name.startswith("pool"):
            m = F.avg_pool2d(m, 2)
        if name in wanted:
            out[name] = m[:, 0]
    return out


class _Gram(torch.autograd.Function):
    """F Fᵀ with a one-matmul backward: d(F Fᵀ) = (dG + dGᵀ) F."""

    @staticmethod
    def forward(ctx, f: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(f)
        return f @ f.t()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (f,) = ctx.saved_tensors
        return (grad + grad.t()) @ f


class MaskSupport:
    """For K masks (K×H×W) at one layer: the pixels where each is nonzero, their values there,
    and the mask means. Masks stay fixed while a frame is optimised, so the masked Grams are
    computed over each label's own pixels only (about H·W in all instead of K·H·W)."""

    def __init__(self, masks: torch.Tensor) -> None:
        flat = masks.reshape(masks.shape[0], -1)
        self.size = flat.shape[1]
        self.means = flat.mean(1)
        # None where a mask is 1 everywhere (nothing to gather or weigh)
        self.index, self.values = [], []
        for row in flat:
            if bool((row == 1).all()):
                self.index.append(None)
                self.values.append(None)
            else:
                idx = torch.nonzero(row > 1e-6).reshape(-1)
                self.index.append(idx)
                self.values.append(row[idx])


def masked_grams(
    features: torch.Tensor, masks: torch.Tensor | MaskSupport
) -> tuple[torch.Tensor, torch.Tensor]:
    """(K×C×C Grams of the features under each of K masks, the K mask means).

    G_j = Gram(F ⊙ M_j) / (C·H·W·mean(M_j)); a mask that is empty here gives a zero Gram.
    """
    support = masks if isinstance(masks, MaskSupport) else MaskSupport(masks)
    c = features.shape[-3]
    f = features.reshape(c, -1)
    norm = float(c * support.size)
    grams = []
    for idx, vals, mean in zip(support.index, support.values, support.means, strict=True):
        fm = f if idx is None else f.index_select(1, idx) * vals
        grams.append(_Gram.apply(fm) / (norm * mean.clamp_min(1e-8)))
    return torch.stack(grams), support.means


def content_loss(features: dict, targets: dict, weights: dict) -> torch.Tensor:
    return sum(w * F.mse_loss(features[name], targets[name]) for name, w in weights.items())


def style_loss(
    features: dict, target_grams: dict, content_masks: dict, weights: dict
) -> torch.Tensor:
    """Segmented style loss; `target_grams[layer]` is K×C×C for the same K labels as the
    content masks (K×H×W or their MaskSupport; one all-ones mask gives the plain Gatys
    style loss)."""
    total = 0.0
    for name, w in weights.items():
        g, means = masked_grams(features[name], content_masks[name])
        per_label = ((g - target_grams[name]) ** 2).mean(dim=(1, 2))
        total = total + w * (means * per_label).sum()
    return total


def temporal_loss(
    x: torch.Tensor,
    warped: list[torch.Tensor],
    weights: list[torch.Tensor],
    pair_weights: list[float],
) -> torch.Tensor:
    """Ruder et al.'s short- and long-term temporal loss; `weights` are H×W consistency
    weights (long-term ones already made closest-first)."""
    total = 0.0
    d = x.numel()
    for w_img, c, k in zip(warped, weights, pair_weights, strict=True):
        total = total + k * (c * (x - w_img) ** 2).sum() / d
    return total


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    return 0.5 * ((dx**2).sum() + (dy**2).sum())
