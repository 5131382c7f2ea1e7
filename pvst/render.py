"""The working-size result carried to every pixel of the full-size frame.

The optimisation runs at the working size; what a user gets back is their clip at its own
size. Between the working-size frame I and its stylized result Y, a local affine colour map is
fitted in every (2r+1)² window (Y ≈ Aᵀ I + b, He et al.'s guided filter with a colour guide,
the model the Matting Laplacian favours), averaged over the windows that cover a pixel,
enlarged bilinearly and applied to the full-size frame: the look comes from the optimisation,
the detail from the full-size frame (He and Sun's fast guided filter).

Where a window is nearly flat its map is poorly determined; the ridge term ε pulls it towards
the frame's global affine map, not towards zero as the plain guided filter does, so fine
texture that the working size cannot see is kept with the frame's look instead of flattened.
A result equal to its frame gives back the full-size frame.

One code for every device: torch on the device the stylize stage uses.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pvst.errors import PvstError
from pvst.stylize import to_image, to_tensor


def output_size(width: int, height: int, size: str | int) -> tuple[int, int]:
    """(width, height) of the output: `source` keeps the clip's size (an odd side loses its
    last row or column, which H.264 in yuv420p cannot hold); a number is the long side, aspect
    kept, both sides even."""
    if size == "source":
        return width - width % 2, height - height % 2
    if not isinstance(size, int) or size < 2:
        raise PvstError(f"render.size: expected 'source' or a long side in pixels, got {size!r}")
    scale = size / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def as_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 H×W×3 to a 1×3×H×W float32 tensor in [0, 1] on `device`."""
    return to_tensor(image, torch.device(device)).div_(255.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """A 1×3×H×W tensor in [0, 1] to uint8 H×W×3 (rounded, clipped)."""
    return to_image(x * 255.0)


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over (2r+1)² windows, windows cut at the border (each mean over its own pixels)."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def fit_maps(
    content: torch.Tensor, result: torch.Tensor, radius: int = 2, eps: float = 1e-3
) -> torch.Tensor:
    """Local affine maps from `content` to `result` (both 1×3×h×w in [0, 1]): 1×12×h×w, the
    3×3 matrix A (row-major, output channel fastest) then the offset b, each averaged over
    the windows covering the pixel."""
    if content.shape != result.shape:
        raise PvstError(
            f"render: frame {tuple(content.shape)} and result {tuple(result.shape)} differ"
        )
    _, _, h, w = content.shape
    # centred on the frame's means: the covariances below lose no precision in float32
    ci = content - content.mean(dim=(2, 3), keepdim=True)
    cy = result - result.mean(dim=(2, 3), keepdim=True)
    eye = torch.eye(3, device=content.device, dtype=content.dtype)
    # the global affine map: the prior of poorly determined windows
    fi, fy = ci[0].reshape(3, -1), cy[0].reshape(3, -1)
    n = fi.shape[1]
    glob = torch.linalg.solve(fi @ fi.T / n + 1e-6 * eye, fi @ fy.T / n)  # 3×3, out = Aᵀ i
    # window statistics: means and the 3×3 covariances cov(I, I), cov(I, Y) per pixel
    mi, my = _box(ci, radius), _box(cy, radius)
    pairs_ii = torch.cat([ci[:, a : a + 1] * ci for a in range(3)], 1)  # 1×9×h×w
    pairs_iy = torch.cat([ci[:, a : a + 1] * cy for a in range(3)], 1)
    cov_ii = _box(pairs_ii, radius) - torch.cat([mi[:, a : a + 1] * mi for a in range(3)], 1)
    cov_iy = _box(pairs_iy, radius) - torch.cat([mi[:, a : a + 1] * my for a in range(3)], 1)
    cov_ii = cov_ii[0].permute(1, 2, 0).reshape(h, w, 3, 3)
    cov_iy = cov_iy[0].permute(1, 2, 0).reshape(h, w, 3, 3)
    a = torch.linalg.solve(cov_ii + eps * eye, cov_iy + eps * glob)  # h×w×3×3
    b = my[0].permute(1, 2, 0) - torch.einsum("hwa,hwab->hwb", mi[0].permute(1, 2, 0), a)
    # back from the centred frame: y = Aᵀ(i − μ_i) + b + μ_y
    mean_i = content.mean(dim=(2, 3))[0]
    mean_y = result.mean(dim=(2, 3))[0]
    b = b + mean_y - torch.einsum("a,hwab->hwb", mean_i, a)
    maps = torch.cat([a.reshape(h, w, 9), b], -1).permute(2, 0, 1)[None]
    return _box(maps, radius)


def apply_maps(maps: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """The maps (1×12×h×w) enlarged bilinearly to `frame`'s size (1×3×H×W in [0, 1]) and
    applied to it: out_c = Σ_a A_ac·frame_a + b_c, clipped to [0, 1]."""
    size = frame.shape[2:]
    if maps.shape[2:] != size:
        maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    out = maps[:, 9:12].clone()
    for a in range(3):
        out.addcmul_(maps[:, 3 * a : 3 * a + 3], frame[:, a : a + 1])
    return out.clamp_(0.0, 1.0)


def render(
    content: torch.Tensor,
    result: torch.Tensor,
    frame: torch.Tensor,
    radius: int = 2,
    eps: float = 1e-3,
) -> torch.Tensor:
    """`frame` (full size) given the look that `result` gives `content` (working size)."""
    return apply_maps(fit_maps(content, result, radius, eps), frame)


def render_image(
    content: np.ndarray,
    result: np.ndarray,
    frame: np.ndarray,
    radius: int = 2,
    eps: float = 1e-3,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """`render` of uint8 H×W×3 images on `device`, back as uint8."""
    return to_uint8(
        render(
            as_tensor(content, device),
            as_tensor(result, device),
            as_tensor(frame, device),
            radius,
            eps,
        )
    )
