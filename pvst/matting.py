"""Levin et al.'s Matting Laplacian, Luan et al.'s photorealism term, and smoothing.

The Laplacian of an H×W image is (HW)×(HW) with, for radius r, a (4r+1)² neighbourhood per
pixel (25 for 3×3 windows). It is accumulated in a band layout — one H×W array per neighbour
offset, filled by whole-array slice additions over the windows — so a 1920×1080 frame (52 M
nonzeros) is built without the 81-entries-per-window coordinate list that would need gigabytes.

L is symmetric, so the bands of half the offsets hold all of it: `laplacian_bands` returns
those ((4r+1)² + 1) / 2 planes (13 for r = 1, 52 bytes a pixel in float32 against CSR's 200),
which is what the laplacian stage caches, and `BandLaplacian` multiplies by L on any torch
device from them with shifted, fused multiply-adds in place (two kernels an offset), no index
arrays and no copy of the image per neighbour.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import cv2
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pvst.errors import PvstError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def as_unit_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """float64 H×W×C in [0, 1] from uint8 or float input; grey becomes one channel, an alpha
    channel is dropped, NaN/Inf and values outside [0, 1] are errors."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise PvstError(f"{what}: expected H×W, H×W×3 or H×W×4, got shape {img.shape}")
    if img.shape[2] == 4:
        log.debug("%s: alpha channel ignored", what)
        img = img[..., :3]
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    img = img.astype(np.float64)
    if not np.isfinite(img).all():
        raise PvstError(f"{what}: contains NaN or infinite values")
    if img.min() < -1e-6 or img.max() > 1 + 1e-6:
        raise PvstError(
            f"{what}: float values must lie in [0, 1], found {img.min():.3g}..{img.max():.3g}"
        )
    return np.clip(img, 0.0, 1.0)


def matting_laplacian(
    image: np.ndarray, eps: float = 1e-7, radius: int = 1, strip: int = 64
) -> sp.csr_matrix:
    """The Matting Laplacian (float32 CSR) of an H×W×3 image in [0, 1] (or uint8).

    L_ij = Σ_{windows k ∋ i,j} δ_ij − (1 + (I_i − μ_k)ᵀ (Σ_k + ε/|w| I)⁻¹ (I_j − μ_k)) / |w|.
    Window statistics are computed in float64, `strip` rows of window centres at a time, so
    the working memory beyond the result stays small.
    """
    return bands_to_csr(laplacian_bands(image, eps, radius, strip), radius)


def half_offsets(radius: int) -> list[tuple[int, int]]:
    """The neighbour offsets (dy, dx) whose bands `laplacian_bands` keeps: the centre, then
    those after it in row-major order (each other offset is the mirror of one of these)."""
    span = 2 * radius
    every = [(dy, dx) for dy in range(-span, span + 1) for dx in range(-span, span + 1)]
    return every[len(every) // 2 :]


def laplacian_bands(
    image: np.ndarray, eps: float = 1e-7, radius: int = 1, strip: int = 64
) -> np.ndarray:
    """The Matting Laplacian as K×H×W float32 bands, K = ((4r+1)² + 1) / 2: plane k holds
    L[p, p + d_k] for the offsets d_k of `half_offsets` (zero where p + d_k is outside)."""
    img = as_unit_image(image)
    h, w, _ = img.shape
    size = 2 * radius + 1
    if h < size or w < size:
        raise PvstError(f"image of {w}×{h} is smaller than one {size}×{size} window")
    span = 2 * radius
    bands = np.zeros((len(half_offsets(radius)), h, w), np.float32)
    for y0 in range(0, h - span, strip):
        rows = min(strip, h - span - y0)
        _accumulate(img[y0 : y0 + rows + span], eps, radius, bands[:, y0 : y0 + rows + span])
    return bands


def bands_to_csr(half: np.ndarray, radius: int) -> sp.csr_matrix:
    """The CSR matrix of bands from `laplacian_bands` (the same values)."""
    span = 2 * radius
    _, h, w = half.shape
    size = 2 * span + 1
    bands = np.zeros((size * size, h, w), np.float32)
    bands[size * size // 2 :] = half
    for i, (dy, dx) in enumerate(half_offsets(radius)[1:], start=1):
        # L[p, p − d] = L[p − d, p]: the mirrored band is the kept one shifted by d
        mirror = bands[size * size // 2 - i]
        mirror[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = half[
            i, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
        ]
    return _bands_to_csr(bands.reshape(size, size, h, w), h, w, span)


def _inverse(m: np.ndarray) -> np.ndarray:
    """Inverses of a stack of symmetric c×c matrices (closed form for c = 3: no LAPACK call
    per window)."""
    if m.shape[-1] != 3:
        return np.linalg.inv(m)
    a, b, c = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    d, e, f = m[..., 1, 1], m[..., 1, 2], m[..., 2, 2]
    co = np.empty_like(m)
    co[..., 0, 0] = d * f - e * e
    co[..., 0, 1] = co[..., 1, 0] = c * e - b * f
    co[..., 0, 2] = co[..., 2, 0] = b * e - c * d
    co[..., 1, 1] = a * f - c * c
    co[..., 1, 2] = co[..., 2, 1] = b * c - a * e
    co[..., 2, 2] = a * d - b * b
    det = a * co[..., 0, 0] + b * co[..., 0, 1] + c * co[..., 0, 2]
    return co / det[..., None, None]


def _accumulate(img: np.ndarray, eps: float, radius: int, bands: np.ndarray) -> None:
    """Add the contributions of all windows centred in `img`'s inner rows to the half bands."""
    h, w, c = img.shape
    size = 2 * radius + 1
    n = size * size
    span = 2 * radius
    hw, ww = h - span, w - span
    chans = np.ascontiguousarray(img.transpose(2, 0, 1))  # channel-first: contiguous planes
    views = [chans[:, dy : dy + hw, dx : dx + ww] for dy in range(size) for dx in range(size)]
    mean = sum(views) / n
    cov = np.empty((hw, ww, c, c))
    for i in range(c):
        for j in range(i, c):
            cov[..., i, j] = cov[..., j, i] = (
                sum(v[i] * v[j] for v in views) / n - mean[i] * mean[j]
            )
    cov += (eps / n) * np.eye(c)
    inv = _inverse(cov)
    del cov
    centred = [v - mean for v in views]  # each c × hw × ww
    projected = [
        np.stack([sum(x[i] * inv[..., i, j] for i in range(c)) for j in range(c)]) for x in centred
    ]
    del inv
    positions = [(a // size, a % size) for a in range(n)]
    for a, (ay, ax) in enumerate(positions):
        for b in range(a, n):
            by, bx = positions[b]
            pa, cb = projected[a], centred[b]
            value = pa[0] * cb[0]
            for k in range(1, c):
                value += pa[k] * cb[k]
            value += 1.0
            value /= -n
            if a == b:
                value += 1.0
            # b follows a in row-major order, so offset b − a is one of the kept half; L is
            # symmetric, so entry (b, a) needs no write of its own
            bands[(by - ay) * (2 * span + 1) + bx - ax, ay : ay + hw, ax : ax + ww] += value


def _bands_to_csr(bands: np.ndarray, h: int, w: int, span: int) -> sp.csr_matrix:
    """CSR from band arrays; offsets in (dy, dx) order give sorted column indices per row."""
    offsets = [(dy, dx) for dy in range(-span, span + 1) for dx in range(-span, span + 1)]
    ys, xs = np.divmod(np.arange(h * w, dtype=np.int32), w)
    keep = np.empty((h * w, len(offsets)), bool)  # row-major: each row's entries stay sorted
    for k, (dy, dx) in enumerate(offsets):
        keep[:, k] = (ys + dy >= 0) & (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w)
    del ys, xs
    values = bands.reshape(len(offsets), h * w).T[keep]
    del bands
    steps = np.array([dy * w + dx for dy, dx in offsets], np.int32)
    indices = (np.arange(h * w, dtype=np.int32)[:, None] + steps[None, :])[keep]
    indptr = np.zeros(h * w + 1, np.int64)
    np.cumsum(keep.sum(1), out=indptr[1:])
    return sp.csr_matrix((values, indices, indptr), shape=(h * w, h * w))


# -- the photorealism term ---------------------------------------------------------------------
def energy(laplacian: sp.spmatrix, image01: np.ndarray) -> float:
    """Σ_c V_cᵀ L V_c for an H×W×C image in [0, 1] (NumPy, for metrics and tests)."""
    v = image01.reshape(-1, image01.shape[-1]).astype(np.float64)
    return float((v * (laplacian @ v)).sum())


class BandLaplacian:
    """L on a torch device from its half bands: `lap @ v` for v of N×C (pixels × channels),
    as Σ_d band_d ⊙ shift_d(V) over all offsets, the mirrored ones from the kept bands."""

    def __init__(self, half: np.ndarray, radius: int, device: str | torch.device = "cpu") -> None:
        import torch

        self.bands = torch.from_numpy(np.ascontiguousarray(half, np.float32)).to(device)
        self.offsets = half_offsets(radius)
        self.shape = (half.shape[1], half.shape[2])

    def __matmul__(self, v: torch.Tensor) -> torch.Tensor:
        import torch

        h, w = self.shape
        x = v.t().reshape(-1, h, w)
        y = self.bands[0] * x
        for band, (dy, dx) in zip(self.bands[1:], self.offsets[1:], strict=True):
            # rows p (y0:y1, x0:x1) whose neighbour p + d lies inside
            y0, y1, x0, x1 = max(-dy, 0), h - max(dy, 0), max(-dx, 0), w - max(dx, 0)
            inner = band[y0:y1, x0:x1]
            here = x[:, y0:y1, x0:x1], y[:, y0:y1, x0:x1]
            there = (
                x[:, y0 + dy : y1 + dy, x0 + dx : x1 + dx],
                y[:, y0 + dy : y1 + dy, x0 + dx : x1 + dx],
            )
            # L[p, p + d] V[p + d] on rows p, and its mirror L[q, q − d] V[q − d] on rows
            # q = p + d: one fused multiply-add each, in place (two ops an offset)
            here[1].addcmul_(inner, there[0])
            there[1].addcmul_(inner, here[0])
        return torch.reshape(y, (y.shape[0], -1)).t()


def _photorealism_function():
    import torch

    class Photorealism(torch.autograd.Function):
        """λ Σ_c V_cᵀ L V_c with the explicit gradient 2λ L V (L symmetric)."""

        @staticmethod
        def forward(ctx, v: torch.Tensor, lap: torch.Tensor, weight: float) -> torch.Tensor:
            lv = lap @ v
            ctx.save_for_backward(lv)
            ctx.weight = weight
            return weight * (v * lv).sum()

        @staticmethod
        def backward(ctx, grad_out: torch.Tensor):
            (lv,) = ctx.saved_tensors
            return 2.0 * ctx.weight * grad_out * lv, None, None

    return Photorealism


_FUNCTION = None


def photorealism_loss(
    image01: torch.Tensor, laplacian: BandLaplacian | torch.Tensor, weight: float = 1.0
):
    """λ Σ_c V_cᵀ L V_c for a C×H×W (or 1×C×H×W) tensor in [0, 1]; differentiable. `laplacian`
    is anything with `L @ V` for V of N×C (a BandLaplacian; a dense tensor in tests).

    The gradient, 2λ L V, is computed in the forward pass and reused, so a step costs one
    product with L.
    """
    global _FUNCTION
    if _FUNCTION is None:
        _FUNCTION = _photorealism_function()
    img = image01[0] if image01.dim() == 4 else image01
    c = img.shape[0]
    v = img.reshape(c, -1).t()  # N × C, pixel order matches the Laplacian's rows
    return _FUNCTION.apply(v.contiguous(), laplacian, float(weight))


# -- smoothing post-processes ------------------------------------------------------------------
def smooth_closed_form(
    laplacian: sp.spmatrix,
    stylized01: np.ndarray,
    strength: float,
    x0: np.ndarray | None = None,
    tol: float = 1e-6,
    maxiter: int = 500,
) -> tuple[np.ndarray, int]:
    """Solve (I + λL) R = Y per channel by Jacobi-preconditioned conjugate gradients.

    `x0` (e.g. the previous frame's result, warped) warm-starts the solve. Returns (R clipped
    to [0, 1], the largest iteration count over the channels).
    """
    y = stylized01.reshape(-1, stylized01.shape[-1]).astype(np.float64)
    n = y.shape[0]
    a = sp.identity(n, format="csr") + strength * sp.csr_matrix(laplacian, dtype=np.float64)
    precond = sp.diags(1.0 / a.diagonal())
    start = None if x0 is None else x0.reshape(y.shape).astype(np.float64)
    out = np.empty_like(y)
    worst = 0
    for ch in range(y.shape[1]):
        count = [0]

        def tick(_xk, count=count):
            count[0] += 1

        sol, info = spla.cg(
            a,
            y[:, ch],
            x0=None if start is None else start[:, ch],
            rtol=tol,
            maxiter=maxiter,
            M=precond,
            callback=tick,
        )
        if info > 0:
            log.warning("smoothing: CG stopped after %d iterations short of rtol %g", info, tol)
        out[:, ch] = sol
        worst = max(worst, count[0])
    return np.clip(out.reshape(stylized01.shape), 0.0, 1.0), worst


def local_affine(
    content01: np.ndarray,
    stylized01: np.ndarray,
    radius: int = 1,
    eps: float = 1e-4,
    smoothing: str = "edge",
    smooth_radius: int = 7,
    edge_sigma: float = 0.05,
) -> np.ndarray:
    """Fit the best affine colour map (3×3 plus offset) from content to stylized in every
    (2r+1)² window, average the maps of the windows covering each pixel, and apply them to the
    content: the output is locally an affine function of the content's colours.

    `smoothing="box"` averages the maps over the window (He et al.'s guided filter with a colour
    guide); `"edge"` averages them with an edge-preserving filter guided by the content (as
    Luan et al.'s local affine smoothing), over `smooth_radius` with colour sigma `edge_sigma`.
    """
    i = np.ascontiguousarray(content01, dtype=np.float32)
    y = np.ascontiguousarray(stylized01, dtype=np.float32)
    k = (2 * radius + 1, 2 * radius + 1)
    box = lambda x: cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mi, my = box(i), box(y)
    cov_ii = np.empty((*i.shape[:2], 3, 3), np.float32)
    cov_iy = np.empty((*i.shape[:2], 3, 3), np.float32)
    for a in range(3):
        for b in range(3):
            cov_ii[..., a, b] = box(i[..., a] * i[..., b]) - mi[..., a] * mi[..., b]
            cov_iy[..., a, b] = box(i[..., a] * y[..., b]) - mi[..., a] * my[..., b]
    coef = np.linalg.solve(cov_ii + eps * np.eye(3, dtype=np.float32), cov_iy)  # H×W×3×3
    offset = my - np.einsum("...a,...ab->...b", mi, coef)
    maps = np.ascontiguousarray(np.concatenate([coef.reshape(*i.shape[:2], 9), offset], -1))
    if smoothing == "box":
        smoothed = np.stack([box(maps[..., c]) for c in range(maps.shape[-1])], axis=-1)
    elif smoothing == "edge":
        smoothed = np.stack(
            [
                cv2.ximgproc.jointBilateralFilter(
                    i, np.ascontiguousarray(maps[..., c]), -1, edge_sigma, smooth_radius
                )
                for c in range(maps.shape[-1])
            ],
            axis=-1,
        )
    else:
        raise PvstError(f"unknown smoothing '{smoothing}' (box or edge)")
    out = np.einsum("...a,...ab->...b", i, smoothed[..., :9].reshape(*i.shape[:2], 3, 3))
    return np.clip(out + smoothed[..., 9:], 0.0, 1.0)


def smooth_guided(
    content01: np.ndarray, stylized01: np.ndarray, radius: int = 4, eps: float = 1e-3
) -> np.ndarray:
    """Fast approximation of the closed-form smoothing: a guided filter of the stylized image
    with the content as (colour) guide."""
    return local_affine(content01, stylized01, radius, eps, smoothing="box")


def smooth_local_affine(
    content01: np.ndarray,
    stylized01: np.ndarray,
    radius: int = 1,
    eps: float = 1e-4,
    edge_radius: int = 7,
    edge_sigma: float = 0.05,
) -> np.ndarray:
    """DPST-style local affine smoothing: affine colour maps of 3×3 windows, averaged
    edge-aware along the content, applied to the content."""
    return local_affine(content01, stylized01, radius, eps, "edge", edge_radius, edge_sigma)
