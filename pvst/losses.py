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

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from pvst.vgg import LAYERS


def active(weights: Mapping[str, float]) -> dict[str, float]:
    """The layers of a layer-weight mapping that take part: a weight of 0 leaves a layer out
    (sections merge, so a variant can only switch a layer off by giving it 0)."""
    return {name: w for name, w in weights.items() if w > 0}


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of C×H×W (or 1×C×H×W) features, normalised by C·H·W."""
    f = features.reshape(features.shape[-3], -1)
    return (f @ f.t()) / f.numel()


def mask_pyramid(masks: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
    """Label masks (K×H×W) carried down VGG19 to each of `layers`, as the feature maps go:
    a 3×3 average at every convolution, halved at every pooling (DPST)."""
    if not layers:
        return {}
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


class _Grams(torch.autograd.Function):
    """A Aᵀ for a batch of matrices (K×C×N → K×C×C) with a one-matmul backward:
    d(A Aᵀ) = (dG + dGᵀ) A."""

    @staticmethod
    def forward(ctx, a: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a)
        return a @ a.transpose(-1, -2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (a,) = ctx.saved_tensors
        return (grad + grad.transpose(-1, -2)) @ a


class MaskSupport:
    """For K masks (K×H×W) at one layer: the pixels where each is nonzero and their values
    there, as K rows of one length (padded with pixel 0 at weight 0), and the mask means.
    Masks stay fixed while a frame is optimised, so the masked Grams are computed over each
    label's own pixels, all labels in one gather and one batched product."""

    def __init__(self, masks: torch.Tensor) -> None:
        flat = masks.reshape(masks.shape[0], -1)
        self.size = flat.shape[1]
        self.means = flat.mean(1)
        self.index: torch.Tensor | None = None  # K×L pixel indices; None: one all-ones mask
        self.values: torch.Tensor | None = None  # K×L
        if flat.shape[0] == 1 and bool((flat == 1).all()):
            return
        inside = flat > 1e-6
        counts = inside.sum(1)
        longest = max(int(counts.max()), 1)  # the one sync, once a frame
        # each label's own pixels first, in pixel order (a stable sort of "outside")
        self.index = torch.argsort((~inside).to(torch.uint8), dim=1, stable=True)[:, :longest]
        kept = torch.arange(longest, device=flat.device) < counts[:, None]
        self.values = torch.gather(flat, 1, self.index) * kept


def masked_grams(
    features: torch.Tensor, masks: torch.Tensor | MaskSupport
) -> tuple[torch.Tensor, torch.Tensor]:
    """(K×C×C Grams of the features under each of K masks, the K mask means).

    G_j = Gram(F ⊙ M_j) / (C·H·W·mean(M_j)); a mask that is empty here gives a zero Gram.
    """
    support = masks if isinstance(masks, MaskSupport) else MaskSupport(masks)
    c = features.shape[-3]
    f = features.reshape(c, -1)
    if support.index is None:
        a = f[None]
    else:
        k, n = support.index.shape
        picked = f.index_select(1, support.index.reshape(-1)).view(c, k, n)
        a = (picked * support.values[None]).transpose(0, 1)  # K×C×L
    norm = float(c * support.size) * support.means.clamp_min(1e-8)
    return _Grams.apply(a) / norm[:, None, None], support.means


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
