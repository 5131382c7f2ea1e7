"""What every region method shares: a method's findings, label maps along the flow and
their clean-up, labels the style photo lacks, the masks of the style loss, and pictures of
labels.

A label map is an H×W integer array; label i means the same region in the content frames and
in the style photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from pvst.errors import PvstError
from pvst.logs import progress
from pvst.params import SegmentationParams


@dataclass
class Found:
    """What a method finds: labels of every frame (T×H×W) and of the style photo, their
    names, and what the fallbacks and region matches need."""

    labels: np.ndarray
    style_labels: np.ndarray
    names: list[str]
    nearest: dict[int, list[int]] | None = None  # auto: each cluster's nearest (fallbacks)
    preferred: int | None = None  # semantic: where a label the style lacks goes (background)
    # auto: (network, device, sampled (frame, labels) pairs) for judging the matches
    matcher: tuple[Any, Any, list[int]] | None = None
    # match: per region, its share of the frames and of the photo, its mean match similarity
    stats: list[dict] = field(default_factory=list)


def _size(frames: Sequence[np.ndarray]) -> tuple[int, int]:
    h, w = frames[0].shape[:2]
    return w, h


def one_region(frames, flows, style, params: SegmentationParams) -> Found:
    """The `none` method: every pixel is one region, styled from the whole photo."""
    w, h = _size(frames)
    return Found(
        np.zeros((len(frames), h, w), np.int64), np.zeros(style.shape[:2], np.int64), ["all"]
    )


# -- label maps along the flow -----------------------------------------------------------------
def warp_labels(labels: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Carry a label map along a backward flow (nearest neighbour): out(x) = labels(x + w(x))."""
    h, w = labels.shape
    gy, gx = np.mgrid[0:h, 0:w]
    sx = np.clip(np.rint(gx + flow[..., 0]), 0, w - 1).astype(np.int64)
    sy = np.clip(np.rint(gy + flow[..., 1]), 0, h - 1).astype(np.int64)
    return labels[sy, sx]


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A label map resized to (height, width) with nearest neighbour."""
    if labels.shape == tuple(shape):
        return labels
    return cv2.resize(
        labels.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST
    ).astype(np.int64)


def merge_small_regions(labels: np.ndarray, min_pixels: int) -> np.ndarray:
    """Give every connected region smaller than `min_pixels` the label of the neighbour it
    touches most."""
    out = labels.copy()
    if min_pixels <= 1:
        return out
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(3):  # merging can leave new small pieces; a few rounds settle it
        changed = False
        for lab in np.unique(out):
            count, comp, stats, _ = cv2.connectedComponentsWithStats(
                (out == lab).astype(np.uint8), connectivity=4
            )
            for c in range(1, count):
                if stats[c, cv2.CC_STAT_AREA] >= min_pixels:
                    continue
                region = comp == c
                ring = cv2.dilate(region.astype(np.uint8), kernel).astype(bool) & ~region
                neighbours = out[ring]
                neighbours = neighbours[neighbours != lab]
                if neighbours.size:
                    out[region] = np.bincount(neighbours).argmax()
                    changed = True
        if not changed:
            break
    return out


def fallback_map(
    content_labels: set[int],
    style_fractions: dict[int, float],
    min_fraction: float,
    nearest: dict[int, list[int]] | None = None,
    preferred: int | None = None,
) -> dict[int, int]:
    """For every content label the style photo lacks (under `min_fraction` of its pixels), the
    style label to use instead: the first style label in `nearest[label]` (closest first), else
    `preferred`, else the style's largest label."""
    present = {lab for lab, f in style_fractions.items() if f >= min_fraction}
    if not present:
        raise PvstError("the style photo has no region large enough to take a style from")
    largest = max(present, key=lambda lab: style_fractions[lab])
    mapping = {}
    for lab in sorted(content_labels - present):
        choice = next((c for c in (nearest or {}).get(lab, []) if c in present), None)
        if choice is None:
            choice = preferred if preferred in present else largest
        mapping[lab] = choice
    return mapping


WHOLE = "whole style"  # the name of the label whose style side is the whole photo


def style_mask(style_labels: np.ndarray, label: int, whole: int | None = None) -> np.ndarray:
    """Where in the style photo label `label` takes its look from: its own pixels, or every
    pixel for the `whole` label."""
    if label == whole:
        return np.ones(style_labels.shape, bool)
    return style_labels == label


def label_masks(labels: np.ndarray, used: list[int], whole: int | None = None) -> np.ndarray:
    """Per-label float masks (L×H×W) of a label map, for the labels in `used`; on the style
    side (`whole` given), that label's mask is the whole photo."""
    return np.stack([style_mask(labels, lab, whole).astype(np.float32) for lab in used])


def guided(probs: np.ndarray, image: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Each channel of `probs` guided-filtered with the RGB image as guide."""
    g = image.astype(np.float32) / 255.0
    out = [cv2.ximgproc.guidedFilter(g, probs[..., k], radius, eps) for k in range(probs.shape[-1])]
    return np.stack(out, -1)


# -- labels from per-pixel costs, stable along the flow -------------------------------------------
def merged_style_labels(
    raw: np.ndarray, style: np.ndarray, params: SegmentationParams
) -> np.ndarray:
    """The style photo's labels with its regions under `min_region` of it merged away."""
    return merge_small_regions(raw, int(params.min_region * style.shape[0] * style.shape[1]))


def _stabilised(
    costs: np.ndarray, previous: np.ndarray | None, weights: np.ndarray | None, penalty: float
) -> np.ndarray:
    """Labels minimising the cost, plus `penalty` × consistency for leaving the label that the
    previous frame's labels, carried along the flow, give the pixel."""
    if previous is not None and penalty > 0:
        change = (
            penalty
            * weights[..., None]
            * (np.arange(costs.shape[-1])[None, None] != previous[..., None])
        )
        costs = costs + change
    return costs.argmin(-1)


def _margin(costs: np.ndarray) -> float:
    """The typical gap between the best and second-best label: the unit of the penalty."""
    part = np.partition(costs.reshape(-1, costs.shape[-1]), 1, axis=1)
    return float(np.median(part[:, 1] - part[:, 0])) + 1e-6


def cost_labels(frames, flows, cost_fn, params: SegmentationParams) -> np.ndarray:
    n = len(frames)
    w, h = _size(frames)
    min_pixels = int(params.min_region * w * h)
    labels = np.zeros((n, h, w), np.int64)
    unit = None
    for t in progress(range(n), n, "segment", "frame"):
        costs = cost_fn(frames[t])
        if unit is None:
            unit = _margin(costs)
        previous = weights = None
        if t > 0 and flows is not None and flows.valid(t, 1):
            bwd, weights = flows.backward(t, 1)
            previous = warp_labels(labels[t - 1], bwd)
        raw = _stabilised(costs, previous, weights, params.stability * unit)
        labels[t] = merge_small_regions(raw, min_pixels)
    return labels
