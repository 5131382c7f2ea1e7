"""Measures of a stylized image or video (definitions in DESIGN.md; units in every output).

The four image measures follow the reference scorer of the development pairs
(`dpst-dev/score.py`) to the letter, so that pvst's numbers and its agree:

- Edge SSIM: SSIM between the Sobel gradient magnitudes of content and output (grey = the mean
  of R, G, B; data range the larger maximum of the two maps). 1 = the same edges.
- Gram distance: ‖G_a − G_b‖_F / (‖G_a‖_F + ‖G_b‖_F) per VGG19 layer (relu1_1…relu4_1),
  averaged over layers, in [0, 1]; per region, each feature map is weighted by the region's
  mask (bilinear to the map's size) and the Gram divided by the mask's sum, and regions are
  averaged by their share of the content.
- Colour distance: sliced Wasserstein distance of RGB colours in [0, 1] (64 directions, at
  most 20 000 pixels a side, seed 0), per region, averaged by share.
- Photorealism: Σ_c V_cᵀ L V_c / (3N), the Matting-Laplacian energy of the output per pixel
  and channel, with L the content's Laplacian (ε 1e-7, 3×3) and V in [0, 1] (0 for a locally
  affine recolouring).
- Warping error (Lai et al. 2018): for consecutive frames t, t+1 with forward flow F (computed
  on the *input* frames by an estimator other than the stylizer's) and the non-occluded mask M
  of the same forward/backward test, E = Σ_x M ‖O_t(x) − O_{t+1}(x + F(x))‖² / Σ_x M, on RGB in
  [0, 1] (the squared norm sums the three channels), averaged over the pairs within shots.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pvst.warp import warp_numpy

GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")

UNITS = {
    "warping_error": "mean over frame pairs of Σ M‖O_t − warp(O_t+1)‖² / Σ M, RGB in [0, 1] "
    "(range 0..3, 0 = perfectly stable)",
    "edge_ssim": "SSIM of Sobel edge magnitudes, content vs output (range −1..1, 1 = same edges)",
    "gram_distance": "‖G(output) − G(style)‖ / (‖G(output)‖ + ‖G(style)‖), Frobenius, averaged "
    "over VGG19 relu1_1…relu4_1 (range 0..1, 0 = the style's statistics)",
    "colour_distance": "sliced Wasserstein distance of RGB colours in [0, 1] to the style photo's "
    "(0 = the same colour distribution)",
    "photorealism": "Σ_c VᵀLV per pixel and channel, V in [0, 1], L the input's Matting "
    "Laplacian (0 = locally affine in the input's colours)",
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
    """Sobel gradient magnitude of the mean of R, G, B (skimage's normalised Sobel)."""
    from skimage.filters import sobel

    return sobel(_unit(image).mean(-1))


def edge_ssim(content: np.ndarray, output: np.ndarray) -> float:
    """SSIM between the edge maps of content and output."""
    from skimage.metrics import structural_similarity

    a, b = edges(content), edges(output)
    return float(structural_similarity(a, b, data_range=max(a.max(), b.max(), 1e-6)))


def gram_distance(features: dict, style_features: dict, mask=None, style_mask=None) -> float:
    """Symmetric relative Frobenius distance of (masked) Gram matrices, averaged over layers.

    `features` and `style_features` map layer names to 1×C×H×W activations; `mask` and
    `style_mask` (H×W arrays in [0, 1] at image size, or None) select a region of each."""
    import torch

    dists = []
    with torch.no_grad():
        for name, f in features.items():
            a = _gram(f, mask)
            b = _gram(style_features[name], style_mask)
            dists.append(float((a - b).norm() / (a.norm() + b.norm()).clamp_min(1e-12)))
    return float(np.mean(dists))


def _gram(f, mask):
    import torch
    import torch.nn.functional as F

    c = f.shape[1]
    if mask is None:
        f2 = f[0].reshape(c, -1)
        return f2 @ f2.T / f2.shape[1]
    m = torch.as_tensor(np.asarray(mask, np.float32), device=f.device)[None, None]
    m = F.interpolate(m, size=f.shape[2:], mode="bilinear")
    f2 = (f[0] * m[0]).reshape(c, -1)
    return f2 @ f2.T / max(float(m.sum()), 1.0)


def colour_distance(a: np.ndarray, b: np.ndarray, directions: int = 64) -> float:
    """Sliced Wasserstein distance between two sets of RGB colours (…×3, uint8 or [0, 1])."""
    rng = np.random.default_rng(0)
    a, b = _unit(a).reshape(-1, 3), _unit(b).reshape(-1, 3)
    k = min(len(a), len(b), 20000)
    a, b = a[rng.choice(len(a), k, False)], b[rng.choice(len(b), k, False)]
    dirs = rng.normal(size=(directions, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return float(np.mean([np.abs(np.sort(a @ v) - np.sort(b @ v)).mean() for v in dirs]))


def photorealism(laplacian, output: np.ndarray) -> float:
    """Matting-Laplacian energy of the output per pixel and channel."""
    from pvst import matting

    v = _unit(output)
    return matting.energy(laplacian, v) / v.size


def image_measures(
    vgg,
    content: np.ndarray,
    style: np.ndarray,
    output: np.ndarray,
    regions: list[tuple[np.ndarray, np.ndarray]] | None = None,
    laplacian=None,
) -> dict[str, float]:
    """The four image measures of one output (images uint8 or [0, 1], output at the content's
    size). `regions` pairs a content mask with a style mask (bool, each at its image's size);
    regions are averaged by their share of the content. None = the whole images."""
    import torch

    from pvst import matting

    def feats(img):
        x = torch.from_numpy(_unit(img).astype(np.float32)).permute(2, 0, 1)[None]
        with torch.no_grad():
            return vgg(x, list(GRAM_LAYERS))

    lap = matting.matting_laplacian(content) if laplacian is None else laplacian
    res = {"edge_ssim": edge_ssim(content, output), "photorealism": photorealism(lap, output)}
    fo, fs = feats(output), feats(style)
    out01, style01 = _unit(output), _unit(style)
    pairs = regions or [(None, None)]
    share = np.array([1.0 if m is None else float(np.mean(m)) for m, _ in pairs])
    share = share / share.sum()
    gram = colour = 0.0
    for w, (m, sm) in zip(share, pairs, strict=True):
        gram += w * gram_distance(fo, fs, m, sm)
        a = out01.reshape(-1, 3) if m is None else out01[m]
        b = style01.reshape(-1, 3) if sm is None else style01[sm]
        colour += w * colour_distance(a, b)
    res["gram_distance"], res["colour_distance"] = float(gram), float(colour)
    return res


def _unit(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    return img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
