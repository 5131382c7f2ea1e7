"""Backward warping with bilinear sampling, in NumPy and in torch (same result).

`warp(image, flow)` returns out(x) = image(x + flow(x)): with the backward flow of frame t
(t → t−j), it brings frame t−j into the place of frame t. Samples falling outside the image
mix in zeros, as torch's grid_sample does with padding_mode="zeros".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily: flow jobs must not pay for it
    import torch


def warp_numpy(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Warp an H×W or H×W×C image by an H×W×2 flow (x, y in pixels); float64 input stays
    float64, anything else is computed in float32."""
    img = np.asarray(image)
    img = img.astype(np.float64 if img.dtype == np.float64 else np.float32, copy=False)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[..., None]
    h, w = img.shape[:2]
    if flow.shape != (h, w, 2):
        raise ValueError(f"flow of shape {flow.shape} does not fit an image of {h}×{w}")
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    x = gx + flow[..., 0]
    y = gy + flow[..., 1]
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    out = np.zeros_like(img)
    for dy, dx, wgt in (
        (0, 0, (1 - fx) * (1 - fy)),
        (0, 1, fx * (1 - fy)),
        (1, 0, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        xi, yi = x0 + dx, y0 + dy
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        vals = img[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
        out += np.where(inside[..., None], vals, 0) * wgt
    return out[..., 0] if squeeze else out


def sampling_grid(flow: torch.Tensor) -> torch.Tensor:
    """grid_sample's normalised grid (B×H×W×2, align_corners=True) for a B×2×H×W flow."""
    import torch

    _b, _, h, w = flow.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, device=flow.device, dtype=flow.dtype),
        torch.arange(w, device=flow.device, dtype=flow.dtype),
        indexing="ij",
    )
    x = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    y = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    return torch.stack((x, y), dim=-1)


def warp_torch(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Warp a B×C×H×W (or C×H×W) tensor by a B×2×H×W (or 2×H×W) flow; differentiable."""
    import torch.nn.functional as F

    squeeze = image.dim() == 3
    if squeeze:
        image, flow = image[None], flow[None]
    if flow.shape[-2:] != image.shape[-2:] or flow.shape[1] != 2:
        raise ValueError(f"flow of shape {tuple(flow.shape)} does not fit {tuple(image.shape)}")
    out = F.grid_sample(
        image,
        sampling_grid(flow.to(image.dtype)),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    )
    return out[0] if squeeze else out
