"""Measures of a stylized video (definitions in DESIGN.md; units in every output).

- Warping error (Lai et al. 2018): for consecutive frames t, t+1 with forward flow F (computed
  on the *input* frames by an estimator other than the stylizer's) and the non-occluded mask M
  of the same forward/backward test, E = Σ_x M ‖O_t(x) − O_{t+1}(x + F(x))‖² / Σ_x M, on RGB in
  [0, 1] (the squared norm sums the three channels), averaged over the pairs within shots.
- Edge SSIM: SSIM between the Sobel edge magnitudes of content and output (1 = same edges).
- Gram distance: ‖G(output) − G(style)‖_F / ‖G(style)‖_F per VGG19 layer, averaged over
  layers; overall (plain Grams) and per label (DPST's masked Grams).
- Photorealism: Σ_c V_cᵀ L V_c / N, the Matting-Laplacian energy of the output per pixel,
  with L the input frame's Laplacian and V in [0, 1] (0 for a locally affine recolouring).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from pvst.warp import warp_numpy

UNITS = {
    "warping_error": "mean over frame pairs of Σ M‖O_t − warp(O_t+1)‖² / Σ M, RGB in [0, 1] "
    "(range 0..3, 0 = perfectly stable)",
    "edge_ssim": "SSIM of Sobel edge magnitudes, content vs output (range −1..1, 1 = same edges)",
    "gram_distance": "‖G(output) − G(style)‖_F / ‖G(style)‖_F, averaged over VGG19 layers "
    "(0 = the style's statistics)",
    "photorealism": "Σ_c VᵀLV per pixel, V in [0, 1], L the input's Matting Laplacian "
    "(0 = locally affine in the input's colours)",
}


def pair_warping_error(
    o_t: np.ndarray, o_next: np.ndarray, flow: np.ndarray, mask: np.ndarray
) -> float:
    """One pair's warping error; frames uint8 or float in [0, 1], flow t → t+1 on frame t."""
    a = _unit(o_t)
    b = warp_numpy(_unit(o_next), flow)
    m = mask.astype(np.float64)
    if m.sum() == 0:
        return float("nan")
    return float((m * ((a - b) ** 2).sum(-1)).sum() / m.sum())


def warping_error(frames: Sequence[np.ndarray], flows) -> tuple[float, int]:
    """(mean warping error over the valid pairs, their number). `flows` is a FlowSet of the
    input frames made with blur_sigma 0, so its masks are the hard non-occluded masks."""
    errors = []
    for t in range(len(frames) - 1):
        if not flows.valid(t + 1, 1):
            continue
        fwd, weights = flows.forward(t + 1)  # t → t+1 on frame t's pixels
        e = pair_warping_error(frames[t], frames[t + 1], fwd, weights > 0.5)
        if np.isfinite(e):
            errors.append(e)
    return (float(np.mean(errors)) if errors else float("nan")), len(errors)


def edges(image: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the grey image, in [0, ~4]."""
    grey = cv2.cvtColor(_unit(image).astype(np.float32), cv2.COLOR_RGB2GRAY)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return np.hypot(gx, gy)


def edge_ssim(content: np.ndarray, output: np.ndarray) -> float:
    """SSIM between the edge maps of content and output (data range 4: Sobel on [0, 1])."""
    from skimage.metrics import structural_similarity

    a, b = edges(content), edges(output)
    return float(structural_similarity(a, b, data_range=4.0))


def gram_distance(features: dict, style_features: dict, masks=None, style_masks=None) -> float:
    """Relative Frobenius distance of (masked) Gram matrices, averaged over layers."""
    import torch

    from pvst import losses

    out = []
    with torch.no_grad():
        for name, f in features.items():
            s = style_features[name]
            if masks is None:
                g, gs = losses.gram(f), losses.gram(s)
            else:
                g = losses.masked_grams(f, masks[name])[0][0]
                gs = losses.masked_grams(s, style_masks[name])[0][0]
            out.append(float(torch.linalg.norm(g - gs) / torch.linalg.norm(gs).clamp_min(1e-12)))
    return float(np.mean(out))


def photorealism(laplacian, output: np.ndarray) -> float:
    """Matting-Laplacian energy of the output per pixel."""
    from pvst import matting

    v = _unit(output)
    return matting.energy(laplacian, v) / (v.shape[0] * v.shape[1])


def _unit(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    return img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
