"""Optical flow: estimators behind one function, consistency masks, long-term weights, cuts.

Flow arrays are H×W×2 float32 in pixels, (x, y) order; `flow_ab` goes from frame a to frame b,
so a(p) ≈ b(p + flow_ab(p)). OpenCV estimators take grayscale; RAFT (torchvision) needs the
user's weights file and is the only estimator that imports torch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from pvst.errors import PvstError
from pvst.params import FlowCuts
from pvst.warp import warp_numpy

log = logging.getLogger(__name__)

METHODS = ("deepflow", "dis", "tvl1", "farneback", "raft")
Estimator = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    for name, f in (("frame_a", a), ("frame_b", b)):
        if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
            raise PvstError(f"{name}: expected uint8 RGB H×W×3, got {f.dtype} {f.shape}")
    if a.shape != b.shape:
        raise PvstError(f"frames of different sizes: {a.shape[:2]} and {b.shape[:2]}")
    if min(a.shape[:2]) < 8:
        raise PvstError(f"frames of {a.shape[1]}×{a.shape[0]} are too small for optical flow")


def _opencv(calc: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Estimator:
    def estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(calc(_gray(a), _gray(b)), dtype=np.float32)

    return estimate


DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def make_estimator(method: str = "deepflow", **params) -> Estimator:
    """An estimator (a, b) -> flow a→b, built once and reused across pairs."""
    if method == "deepflow":
        algo = cv2.optflow.createOptFlow_DeepFlow()
        return _opencv(lambda a, b: algo.calc(a, b, None))
    if method == "dis":
        algo = cv2.DISOpticalFlow_create(DIS_PRESETS[params.get("preset", "medium")])
        return _opencv(lambda a, b: algo.calc(a, b, None))
    if method == "tvl1":
        algo = cv2.optflow.DualTVL1OpticalFlow_create(
            tau=params.get("tau", 0.25),
            lambda_=params.get("lambda", 0.15),
            theta=params.get("theta", 0.3),
            nscales=params.get("scales", 5),
            warps=params.get("warps", 5),
            epsilon=params.get("epsilon", 0.01),
        )
        return _opencv(lambda a, b: algo.calc(a, b, None))
    if method == "farneback":
        p = {
            "pyr_scale": 0.5,
            "levels": 5,
            "winsize": 15,
            "iterations": 3,
            "poly_n": 7,
            "poly_sigma": 1.5,
            **params,
        }
        return _opencv(
            lambda a, b: cv2.calcOpticalFlowFarneback(
                a,
                b,
                None,
                p["pyr_scale"],
                p["levels"],
                p["winsize"],
                p["iterations"],
                p["poly_n"],
                p["poly_sigma"],
                0,
            )
        )
    if method == "raft":
        return _raft_estimator(**params)
    raise PvstError(f"unknown flow method '{method}' (known: {', '.join(METHODS)})")


def estimate_flow(
    frame_a: np.ndarray, frame_b: np.ndarray, method: str = "deepflow", **params
) -> np.ndarray:
    """Flow from frame_a to frame_b (uint8 RGB H×W×3) as H×W×2 float32 pixels."""
    _check_pair(frame_a, frame_b)
    return _cached_estimator(method, tuple(sorted(params.items())))(frame_a, frame_b)


@cache
def _cached_estimator(method: str, params: tuple) -> Estimator:
    return make_estimator(method, **dict(params))


# -- RAFT ----------------------------------------------------------------------------------------
def load_raft(weights: str | Path | None, model: str = "large", device: str = "cpu"):
    """torchvision's RAFT with the weights in a user's file (a state dict or a dict with one)."""
    from torchvision.models.optical_flow import raft_large, raft_small

    from pvst.weights import load_checked, read_state

    if model not in ("large", "small"):
        raise PvstError(f"flow.raft.model must be 'large' or 'small', not {model!r}")
    if not weights or not Path(weights).is_file():
        raise PvstError(
            f"{weights}: RAFT weights file not found. RAFT needs torchvision's raft_{model} "
            "weights (e.g. raft_large_C_T_SKHT_V2-ff5fadd5.pth) saved where flow.raft.weights "
            "points; pvst downloads nothing."
        )
    net = (raft_large if model == "large" else raft_small)(weights=None, progress=False)
    load_checked(net, read_state(weights, f"RAFT-{model}"), weights, f"RAFT-{model}")
    return net.eval().to(device)


RAFT_MIN_SIDE = 128  # its correlation pyramid needs feature maps of at least 16 (input / 8)


def _raft_padded(n: int) -> int:
    return max(RAFT_MIN_SIDE, -(-n // 8) * 8)


def raft_flow(net, a: np.ndarray, b: np.ndarray, iterations: int = 12) -> np.ndarray:
    """RAFT flow a→b. RAFT needs sides that are multiples of 8 and at least 128: frames are
    padded (edge pixels repeated) to that and the flow cropped back."""
    import torch
    import torch.nn.functional as F

    h, w = a.shape[:2]
    device = next(net.parameters()).device

    def prep(f: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(f)).to(device).permute(2, 0, 1)[None]
        t = t.float() / 127.5 - 1.0
        return F.pad(t, (0, _raft_padded(w) - w, 0, _raft_padded(h) - h), mode="replicate")

    with torch.inference_mode():
        flows = net(prep(a), prep(b), num_flow_updates=iterations)
    return flows[-1][0, :, :h, :w].permute(1, 2, 0).cpu().numpy().astype(np.float32)


def _raft_estimator(weights=None, model="large", iterations=12, device="auto") -> Estimator:
    from pvst.device import pick_device

    net = load_raft(weights, model, pick_device(device))
    return lambda a, b: raft_flow(net, a, b, iterations)


# -- consistency -------------------------------------------------------------------------------
def consistency(
    flow: np.ndarray, opposite: np.ndarray, blur_sigma: float = 0.8
) -> tuple[np.ndarray, np.ndarray]:
    """Ruder et al.'s consistency weights of `flow` (t→s) checked against `opposite` (s→t).

    Returns (weights in [0, 1] on frame t's pixels, the boolean mask before the blur). Zero
    where the round trip does not come back (disocclusion), at motion boundaries, and where
    the flow leaves the frame.
    """
    h, w = flow.shape[:2]
    back = warp_numpy(opposite, flow)  # ŵ(x + w(x))
    d2 = ((flow + back) ** 2).sum(-1)
    occluded = d2 > 0.01 * ((flow**2).sum(-1) + (back**2).sum(-1)) + 0.5
    uy, ux = np.gradient(flow[..., 0])
    vy, vx = np.gradient(flow[..., 1])
    boundary = ux**2 + uy**2 + vx**2 + vy**2 > 0.01 * (flow**2).sum(-1) + 0.002
    gy, gx = np.mgrid[0:h, 0:w]
    tx, ty = gx + flow[..., 0], gy + flow[..., 1]
    outside = (tx < 0) | (tx > w - 1) | (ty < 0) | (ty > h - 1)
    ok = ~(occluded | boundary | outside)
    weights = ok.astype(np.float32)
    if blur_sigma > 0:
        weights = cv2.GaussianBlur(weights, (0, 0), blur_sigma)
    return weights, ok


def long_term_weights(masks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Closest-first long-term weights: c_j ← max(c_j − Σ_{k<j} c_k, 0), masks ordered by j."""
    out, total = [], None
    for c in masks:
        out.append(c if total is None else np.maximum(c - total, 0.0))
        total = c.copy() if total is None else total + c
    return out


# -- scene cuts --------------------------------------------------------------------------------
def colour_distance(a: np.ndarray, b: np.ndarray, bins: int = 8) -> float:
    """1 − intersection of the frames' joint RGB histograms: 0 same colours, 1 disjoint."""

    def hist(f: np.ndarray) -> np.ndarray:
        q = (f.reshape(-1, 3) // (256 // bins)).astype(np.int64)
        idx = (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]
        return np.bincount(idx, minlength=bins**3) / len(idx)

    return float(1.0 - np.minimum(hist(a), hist(b)).sum())


def explained_fraction(
    prev: np.ndarray, cur: np.ndarray, backward: np.ndarray, ok: np.ndarray, tolerance: float
) -> float:
    """Share of frame t's pixels that the flow explains: consistent, and the previous frame
    warped into place matches within `tolerance` (0–255) in every channel.

    A scene cut collapses it even when the estimator returns a smooth, self-consistent flow
    across the cut (DeepFlow returns nearly zero flow there).
    """
    warped = warp_numpy(prev.astype(np.float32), backward)
    close = np.abs(warped - cur.astype(np.float32)).max(-1) < tolerance
    return float((ok & close).mean())


def is_cut(explained: float, colour: float, cuts: FlowCuts) -> bool:
    """A shot boundary: the flow explains little of the new frame, or the colours jump."""
    return explained < cuts.min_explained or colour > cuts.max_colour
