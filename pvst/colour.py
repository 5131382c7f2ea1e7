"""Per-region colour-statistics transfer: the look of the style photo without a network.

Each region's colours are mapped by the linear optimal-transport map between two Gaussians
(Monge-Kantorovich; Pitié & Kokaram 2007): y = μ_s + T (x − μ_c) with
T = Σ_c^{-1/2} (Σ_c^{1/2} Σ_s Σ_c^{1/2})^{1/2} Σ_c^{-1/2}, which matches the mean and the full
3×3 covariance of the region's colours to those of its counterpart in the style photo. The
covariance decorrelates the channels, so no separate colour space is needed. The maps are
blended with feathered (Gaussian-blurred) region masks, so the output stays locally affine in
the content's colours, and so photographic, also across region borders.

With `steps` > 0 the Gaussian map is followed by that many rounds of iterative distribution
transfer (Pitié et al. 2005): in a random rotation of the colour space, each axis is mapped
through piecewise-linear quantile matching (`levels` pieces), so the whole distribution, not
only its first two moments, moves to the style's. Each step is a smooth function of the
colour alone, so the result stays a recolouring of the content.

It serves as the start of the optimisation (`stylize.init.first: colour`) and, with smoothing,
as the fast `colour` method. In a video the maps are fitted once on the pooled pixels of
sample frames, so every frame gets the same maps and the look does not flicker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from pvst.regions.labels import style_mask

# Covariance regularisation (colours in [0, 1]): keeps flat or tiny regions from being
# stretched by a near-singular Σ_c.
REGULARISATION = 1e-4
# At most this many pixels a side enter a fit (evenly strided; the statistics are stable).
MAX_FIT_PIXELS = 200_000


@dataclass(frozen=True)
class ColourMap:
    """y = matrix @ (x − source_mean) + target_mean on RGB in [0, 1], then each of `steps`:
    x ← R q(Rᵀx), with q mapping every rotated axis from its source to its target quantiles.
    Applied in float64 torch on the device of the colours (`apply`), or to NumPy arrays."""

    matrix: np.ndarray  # 3×3
    source_mean: np.ndarray  # 3
    target_mean: np.ndarray  # 3
    steps: tuple = ()  # (R 3×3, source quantiles L×3, target quantiles L×3)

    # the arrays as tensors, by (device, dtype): copied there once, not for every frame
    _tensors: dict = field(default_factory=dict, compare=False, repr=False)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """The map on colours x (…×3, float64, any device)."""
        where = (x.device, x.dtype)
        if where not in self._tensors:
            arrays = [self.matrix, self.source_mean, self.target_mean]
            arrays += [a for step in self.steps for a in step]
            self._tensors[where] = [torch.as_tensor(a, dtype=x.dtype).to(x.device) for a in arrays]
        matrix, source_mean, target_mean, *steps = self._tensors[where]
        y = (x - source_mean) @ matrix.T + target_mean
        if not steps:
            return y
        shape = y.shape
        y = y.reshape(-1, 3)
        for i in range(0, len(steps), 3):
            y = _quantile_step(y, *steps[i : i + 3])
        return y.reshape(shape)

    def __call__(self, rgb01: np.ndarray) -> np.ndarray:
        return self.apply(torch.from_numpy(np.asarray(rgb01, np.float64))).numpy()


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """np.interp in torch: piecewise linear through (xp, fp), xp increasing, constant
    beyond the ends."""
    xp, fp = xp.contiguous(), fp.contiguous()
    j = (torch.searchsorted(xp, x.contiguous(), right=True) - 1).clamp(0, len(xp) - 2)
    slope = (fp[1:] - fp[:-1]) / (xp[1:] - xp[:-1])
    y = slope[j] * (x - xp[j]) + fp[j]
    y = torch.where(x >= xp[-1], fp[-1], y)
    return torch.where(x < xp[0], fp[0], y)


def _quantile_step(x: torch.Tensor, rotation, src, dst) -> torch.Tensor:
    p = x @ rotation
    p = torch.stack([_interp(p[:, d], src[:, d], dst[:, d]) for d in range(3)], dim=1)
    return p @ rotation.T


IDENTITY = ColourMap(np.eye(3), np.zeros(3), np.zeros(3))


def _sqrt_and_inverse(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w, v = np.linalg.eigh(cov)
    w = np.clip(w, 1e-10, None)
    return (v * np.sqrt(w)) @ v.T, (v / np.sqrt(w)) @ v.T


def _subsample(pixels: np.ndarray) -> np.ndarray:
    step = max(1, len(pixels) // MAX_FIT_PIXELS)
    return pixels[::step].astype(np.float64)


def fit_map(source: np.ndarray, target: np.ndarray, steps: int = 0, levels: int = 32) -> ColourMap:
    """The linear optimal-transport map from `source` colours to `target` colours (N×3 and
    M×3, RGB in [0, 1]), refined by `steps` rounds of quantile matching."""
    a, b = _subsample(source.reshape(-1, 3)), _subsample(target.reshape(-1, 3))
    if len(a) < 2 or len(b) < 2:
        return IDENTITY
    reg = REGULARISATION * np.eye(3)
    cov_a, cov_b = np.cov(a.T) + reg, np.cov(b.T) + reg
    root_a, inv_root_a = _sqrt_and_inverse(cov_a)
    middle, _ = _sqrt_and_inverse(root_a @ cov_b @ root_a)
    gaussian = ColourMap(inv_root_a @ middle @ inv_root_a, a.mean(0), b.mean(0))
    if steps <= 0:
        return gaussian
    rng = np.random.default_rng(0)
    fractions = np.linspace(0.0, 1.0, levels + 1)
    # a tiny ramp keeps the source quantiles strictly increasing (np.interp needs it)
    ramp = np.linspace(0.0, 1e-6, levels + 1)[:, None]
    x = gaussian(a)
    found = []
    for _ in range(steps):
        q, r = np.linalg.qr(rng.normal(size=(3, 3)))
        rotation = q * np.sign(np.diag(r))
        src = np.maximum.accumulate(np.quantile(x @ rotation, fractions, axis=0), axis=0) + ramp
        dst = np.quantile(b @ rotation, fractions, axis=0)
        found.append((rotation, src, dst))
        step = [torch.from_numpy(np.ascontiguousarray(v)) for v in (x, rotation, src, dst)]
        x = _quantile_step(*step).numpy()
    return ColourMap(gaussian.matrix, gaussian.source_mean, gaussian.target_mean, tuple(found))


def fit_region_maps(
    contents: Iterable[tuple[np.ndarray, np.ndarray]],
    style: np.ndarray,
    style_labels: np.ndarray,
    used: list[int],
    steps: int = 0,
    whole: int | None = None,
) -> dict[int, ColourMap]:
    """One map per label in `used`, from the pooled pixels of (image, labels) pairs of the
    content (uint8 or [0, 1]) to the style photo's pixels of the same label (all of them for
    the `whole` label). A label that has no pixels on one side gets the map of the whole
    images."""
    pooled: dict[int, list[np.ndarray]] = {lab: [] for lab in used}
    everything = []
    for image, labels in contents:
        img = _unit(image)
        everything.append(_subsample(img.reshape(-1, 3)))
        for lab in used:
            pooled[lab].append(_subsample(img[labels == lab]))
    sty = _unit(style)
    overall = fit_map(np.concatenate(everything), sty.reshape(-1, 3), steps)
    maps = {}
    for lab in used:
        src = np.concatenate(pooled[lab]) if pooled[lab] else np.empty((0, 3))
        dst = sty[style_mask(style_labels, lab, whole)]
        maps[lab] = fit_map(src, dst, steps) if len(src) >= 16 and len(dst) >= 16 else overall
    return maps


def soft_weights(labels: np.ndarray, used: list[int], feather: float) -> np.ndarray:
    """K×H×W weights of the labels in `used` that sum to 1 at every pixel: each label's mask
    blurred by a Gaussian of `feather` × the long side (0 = hard masks)."""
    h, w = labels.shape
    sigma = feather * max(h, w)
    out = np.empty((len(used), h, w), np.float32)
    for k, lab in enumerate(used):
        m = (labels == lab).astype(np.float32)
        out[k] = cv2.GaussianBlur(m, (0, 0), sigma) if sigma > 0 else m
    total = out.sum(0)
    # pixels of no used label (dropped regions) keep the content: equal weights of all maps
    out[:, total < 1e-6] = 1.0 / max(len(used), 1)
    return out / np.maximum(out.sum(0), 1e-6)


def apply_maps(image: np.ndarray, weights: np.ndarray, maps: list[ColourMap]) -> np.ndarray:
    """Σ_k weights_k · map_k(image), clipped to [0, 1] (float64 H×W×3)."""
    img = torch.from_numpy(_unit(image))
    return apply_maps_tensor(img, torch.from_numpy(np.asarray(weights)), maps).numpy()


def apply_maps_tensor(
    image01: torch.Tensor, weights: torch.Tensor, maps: list[ColourMap]
) -> torch.Tensor:
    """`apply_maps` on the device of `image01` (H×W×3 float64 in [0, 1]; K×H×W weights)."""
    out = torch.zeros_like(image01)
    for w, cmap in zip(weights.to(image01), maps, strict=True):
        out += w[..., None] * cmap.apply(image01)
    return out.clamp(0.0, 1.0)


def transfer(
    content: np.ndarray,
    style: np.ndarray,
    labels: np.ndarray,
    style_labels: np.ndarray,
    used: list[int],
    feather: float,
    steps: int = 0,
    whole: int | None = None,
) -> np.ndarray:
    """Image mode: the content with each region's colours mapped to its style counterpart."""
    maps = fit_region_maps([(content, labels)], style, style_labels, used, steps, whole)
    return apply_maps(content, soft_weights(labels, used, feather), [maps[u] for u in used])


def _unit(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    return img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
