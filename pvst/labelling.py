"""The segmentation methods, one table for the segment stage and image mode alike.

A method labels a sequence of frames (a clip, or one image) and the style photo: `none` (one
region), `masks` (DPST colour-coded PNGs: one for every frame, or keyframes carried along the
flow), `auto` (joint clusters of VGG19 features, colour and position, kept stable along the
flow) and `semantic` (a torchvision model with the user's weights). Adding a method is an
entry in the schema's enum and one function here. A clip's `flows` give each frame's labels
the previous frame's carried along the flow; one image has none. torch is imported only by
the methods that run a network (the command line imports this table).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pvst import segmentation
from pvst.errors import PvstError
from pvst.logs import progress
from pvst.params import SegmentationParams

log = logging.getLogger(__name__)


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


def _none(frames, flows, style, params: SegmentationParams) -> Found:
    w, h = _size(frames)
    return Found(
        np.zeros((len(frames), h, w), np.int64), np.zeros(style.shape[:2], np.int64), ["all"]
    )


def _masks(frames, flows, style, params: SegmentationParams) -> Found:
    spec = params.masks
    if not spec.style or not spec.content:
        raise PvstError(
            "segmentation.masks needs both `content` (a PNG or a folder of "
            "PNGs) and `style` (a PNG) for method: masks"
        )
    n, size = len(frames), _size(frames)
    style_labels = segmentation.read_colour_mask(spec.style, (style.shape[1], style.shape[0]))
    keys = keyframes(spec.content, n, size)
    if EVERY_FRAME in keys:
        labels = np.repeat(keys[EVERY_FRAME][None], n, axis=0)
    else:
        labels = propagate(keys, flows, n)
    return Found(labels, style_labels, list(segmentation.COLOUR_NAMES))


def _auto(frames, flows, style, params: SegmentationParams) -> Found:
    from pvst.device import pick_device
    from pvst.vgg import load_vgg19

    auto = params.auto
    device = pick_device(auto.device)
    vgg = load_vgg19(auto.vgg, device=device)
    n = len(frames)
    picks = [int(t) for t in np.linspace(0, n - 1, min(n, auto.sample_frames)).round()]
    clusters = segmentation.JointClusters(auto, vgg, device).fit(
        style, [frames[t] for t in picks], seed=auto.seed
    )
    return Found(
        _cost_labels(frames, flows, clusters.costs, params),
        _style_labels(clusters.costs(style).argmin(-1), style, params),
        [f"region{i}" for i in range(auto.regions)],
        nearest=clusters.nearest_centres(),
        matcher=(vgg, device, picks),
    )


def _semantic(frames, flows, style, params: SegmentationParams) -> Found:
    from pvst.device import pick_device

    sem = params.semantic
    device = pick_device(sem.device)
    net = segmentation.load_semantic(sem.weights, sem.model, device)

    def costs(image: np.ndarray) -> np.ndarray:
        return -segmentation.semantic_scores(net, image, device)

    return Found(
        _cost_labels(frames, flows, costs, params),
        _style_labels(segmentation.semantic_scores(net, style, device).argmax(-1), style, params),
        list(segmentation.VOC_CLASSES),
        preferred=0,  # background
    )


def _match(frames, flows, style, params: SegmentationParams) -> Found:
    from pvst import correspondence
    from pvst.device import pick_device
    from pvst.vgg import load_vgg19

    p = params.match
    device = pick_device(p.device)
    vgg = load_vgg19(p.vgg, device=device)
    regions = correspondence.style_regions(style, vgg, p, device)
    log.info(
        "style photo: %d region(s) (silhouette by count: %s)",
        regions.k,
        ", ".join(f"{k}: {v:.3f}" for k, v in regions.silhouettes.items()) or "none",
    )
    if regions.k == 1:  # nothing in the photo separates: one region, nothing to match
        return _none(frames, flows, style, params)
    similarity: list[np.ndarray] = []

    def costs(image: np.ndarray) -> np.ndarray:
        found = correspondence.votes(image, regions, vgg, p, device)
        similarity.append(found.similarity)
        return -found.probs

    labels = _cost_labels(frames, flows, costs, params)
    style_labels = _style_labels(regions.labels, style, params)
    names = [f"region{i}" for i in range(regions.k)]
    stats = []
    for lab in range(regions.k):
        where = labels == lab
        sims = [s[w].mean() for s, w in zip(similarity, where, strict=True) if w.any()]
        stats.append(
            {
                "label": lab,
                "frames": float(where.mean()),
                "style": float((style_labels == lab).mean()),
                "similarity": float(np.mean(sims)) if sims else None,
            }
        )
        log.info(
            "%s: %.0f%% of the frames, %.0f%% of the style photo, mean match similarity %s",
            names[lab],
            100 * stats[-1]["frames"],
            100 * stats[-1]["style"],
            f"{np.mean(sims):.3f}" if sims else "-",
        )
    return Found(labels, style_labels, names, stats=stats)


METHODS: dict[str, Callable[..., Found]] = {
    "none": _none,
    "masks": _masks,
    "auto": _auto,
    "semantic": _semantic,
    "match": _match,
}


def find(
    frames: Sequence[np.ndarray], flows, style: np.ndarray, params: SegmentationParams
) -> Found:
    """Labels of `frames` (a clip's, with its flows; or one image's, flows None) and of the
    style photo (at the frames' long side) by the configured method."""
    method = METHODS.get(params.method)
    if method is None:
        raise PvstError(f"unknown segmentation method '{params.method}'")
    return method(frames, flows, style, params)


def _style_labels(raw: np.ndarray, style: np.ndarray, params: SegmentationParams) -> np.ndarray:
    return segmentation.merge_small_regions(
        raw, int(params.min_region * style.shape[0] * style.shape[1])
    )


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


def _cost_labels(frames, flows, cost_fn, params: SegmentationParams) -> np.ndarray:
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
            previous = segmentation.warp_labels(labels[t - 1], bwd)
        raw = _stabilised(costs, previous, weights, params.stability * unit)
        labels[t] = segmentation.merge_small_regions(raw, min_pixels)
    return labels


EVERY_FRAME = -1


# A keyframe mask's name: its frame index, optionally after a word (000045.png, mask_45.png).
KEYFRAME = r"(?:\w*?[_-])?(\d+)\.png"


def keyframes(source: str, n: int, size: tuple[int, int]) -> dict[int, np.ndarray]:
    """Content masks by frame index; one PNG (not a folder) is every frame's (EVERY_FRAME)."""
    path = Path(source)
    if path.is_file():
        return {EVERY_FRAME: segmentation.read_colour_mask(path, size)}
    if not path.is_dir():
        raise PvstError(
            f"{path}: content masks not found (a PNG for every frame, or a folder "
            "of PNGs named by frame index, e.g. 000000.png, 000045.png)"
        )
    keys = {}
    past = []
    entries = [f for f in sorted(path.iterdir()) if f.is_file() and not f.name.startswith(".")]
    others = [f.name for f in entries if f.suffix.lower() != ".png"]
    if others:
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        raise PvstError(
            f"{path}: a keyframe folder holds PNG masks named by frame index (000000.png, …); "
            f"it also holds {', '.join(others[:5])}{more}, which are not PNG: convert them to "
            "PNG or move them out"
        )
    unnamed = [f.name for f in entries if not re.fullmatch(KEYFRAME, f.name, re.IGNORECASE)]
    if unnamed:
        log.warning("%s: %s not named by frame index; ignored", path, ", ".join(unnamed[:5]))
    for f in entries:
        m = re.fullmatch(KEYFRAME, f.name, re.IGNORECASE)
        if m:
            t = int(m.group(1))
            if t >= n:
                log.warning("%s: frame %d is past the clip's %d frames; ignored", f, t, n)
                past.append(f.name)
                continue
            keys[t] = segmentation.read_colour_mask(f, size)
    if not keys and past:
        raise PvstError(
            f"{path}: every mask ({', '.join(past[:5])}) names a frame past the clip's end "
            f"(it has {n} frames, 000000 to {n - 1:06d})"
        )
    if not keys:
        raise PvstError(f"{path}: no mask PNGs named by frame index (e.g. 000000.png)")
    return keys


def propagate(keys: dict[int, np.ndarray], flows, n: int) -> np.ndarray:
    """Label maps for all frames from masks of some keyframes, each frame taking the nearest
    keyframe in time and following the flow from it frame by frame."""
    first = next(iter(keys.values()))
    out = np.zeros((n, *first.shape), np.int64)
    ahead = [None] * n  # (distance, labels) carried forward from earlier keyframes
    behind = [None] * n
    for t in range(n):
        if t in keys:
            ahead[t] = (0, keys[t])
        elif t > 0 and ahead[t - 1] is not None:
            bwd, _ = flows.backward(t, 1)
            ahead[t] = (ahead[t - 1][0] + 1, segmentation.warp_labels(ahead[t - 1][1], bwd))
    for t in range(n - 1, -1, -1):
        if t in keys:
            behind[t] = (0, keys[t])
        elif t < n - 1 and behind[t + 1] is not None:
            fwd, _ = flows.forward(t + 1)  # flow t → t+1 on frame t's pixels
            behind[t] = (behind[t + 1][0] + 1, segmentation.warp_labels(behind[t + 1][1], fwd))
    crossed = set()
    cuts = flows.cuts if flows is not None else []
    for t in range(n):
        options = [o for o in (ahead[t], behind[t]) if o is not None]
        dist, labels = min(options, key=lambda o: o[0])
        out[t] = labels
        crossed.update(c for c in cuts if min(t, t - dist) < c <= max(t, t + dist))
    if crossed:
        log.warning(
            "masks were carried across scene cuts at frames %s: give a keyframe mask in every shot",
            sorted(crossed),
        )
    return out
