"""Segmentation stage: matched label maps for every frame and for the style photo.

The artifact holds `labels` (uint8 N×H×W, the frames) and `style_labels` (uint8, the style
photo resized to the frames' long side), with attributes `names` (what each label is),
`style_fractions`, and `fallbacks` (content labels the style lacks → the style label used
instead, or −1 where the label is dropped from the style loss). Automatic regions also carry
`matches` (each region's fit with its style counterpart) and `whole`: the label of the regions
without a good counterpart, whose style side is the whole photo (−1: none).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np

from pvst import media, segmentation
from pvst.device import pick_device
from pvst.errors import ArtifactError, PvstError
from pvst.logs import progress
from pvst.params import SegmentationParams
from pvst.pipeline import store
from pvst.pipeline.plan import recorded
from pvst.regions import apply_fallbacks, apply_matches, masks
from pvst.stages.flow import FlowSet
from pvst.stages.frames import Frames

log = logging.getLogger(__name__)
STAGE = "segment"


def style_at_working_size(style_path: str | Path, frame_size: tuple[int, int]) -> np.ndarray:
    """The style photo resized so its long side equals the frames' long side."""
    style = media.read_style_photo(style_path)
    h, w = style.shape[:2]
    media.check_thin(style_path, w, h, "style photo", max(frame_size))
    return media.resize_long_side(style, max(frame_size))


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


def _cost_labels(frames: Frames, flows: FlowSet, cost_fn, params: SegmentationParams) -> np.ndarray:
    n = len(frames)
    w, h = frames.size
    min_pixels = int(params.min_region * w * h)
    labels = np.zeros((n, h, w), np.int64)
    unit = None
    for t in progress(range(n), n, "segment", "frame"):
        costs = cost_fn(frames[t])
        if unit is None:
            unit = _margin(costs)
        previous = weights = None
        if t > 0 and flows.valid(t, 1):
            bwd, weights = flows.backward(t, 1)
            previous = segmentation.warp_labels(labels[t - 1], bwd)
        raw = _stabilised(costs, previous, weights, params.stability * unit)
        labels[t] = segmentation.merge_small_regions(raw, min_pixels)
    return labels


EVERY_FRAME = -1


# A keyframe mask's name: its frame index, optionally after a word (000045.png, mask_45.png).
KEYFRAME = r"(?:\w*?[_-])?(\d+)\.png"


def _keyframes(source: str, n: int, size: tuple[int, int]) -> dict[int, np.ndarray]:
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


def propagate(keys: dict[int, np.ndarray], flows: FlowSet, n: int) -> np.ndarray:
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
    for t in range(n):
        options = [o for o in (ahead[t], behind[t]) if o is not None]
        dist, labels = min(options, key=lambda o: o[0])
        out[t] = labels
        shot = [c for c in flows.cuts if min(t, t - dist) < c <= max(t, t + dist)]
        crossed.update(shot)
    if crossed:
        log.warning(
            "masks were carried across scene cuts at frames %s: give a keyframe mask in every shot",
            sorted(crossed),
        )
    return out


def run(
    frames_path: str | Path,
    flow_path: str | Path,
    style_path: str | Path,
    out: str | Path,
    params: SegmentationParams,
    key: str = "",
) -> dict:
    """Segment every frame and the style photo; returns the fallbacks applied."""
    method = params.method
    with Frames(frames_path) as frames, FlowSet(flow_path) as flows:
        n, size = len(frames), frames.size
        style = style_at_working_size(style_path, size)
        style_size = (style.shape[1], style.shape[0])
        nearest, preferred = None, None
        log.info("segmenting %d frames of %d×%d and %s (%s)", n, *size, style_path, method)
        if method == "none":
            names = ["all"]
            labels = np.zeros((n, size[1], size[0]), np.int64)
            style_labels = np.zeros(style.shape[:2], np.int64)
        elif method == "masks":
            spec = params.masks
            if not spec.style or not spec.content:
                raise PvstError(
                    "segmentation.masks needs both `content` (a PNG or a folder of "
                    "PNGs) and `style` (a PNG) for method: masks"
                )
            names = list(segmentation.COLOUR_NAMES)
            style_labels = segmentation.read_colour_mask(spec.style, style_size)
            keys = _keyframes(spec.content, n, size)
            if EVERY_FRAME in keys:
                labels = np.repeat(keys[EVERY_FRAME][None], n, axis=0)
            else:
                labels = propagate(keys, flows, n)
        elif method == "auto":
            from pvst.vgg import load_vgg19

            auto = params.auto
            device = pick_device(auto.device)
            vgg = load_vgg19(auto.vgg, device=device)
            picks = np.linspace(0, n - 1, min(n, auto.sample_frames)).round().astype(int)
            clusters = segmentation.JointClusters(auto, vgg, device).fit(
                style, [frames[int(t)] for t in picks], seed=auto.seed
            )
            names = [f"region{i}" for i in range(auto.regions)]
            labels = _cost_labels(frames, flows, clusters.costs, params)
            style_labels = segmentation.merge_small_regions(
                clusters.costs(style).argmin(-1),
                int(params.min_region * style.shape[0] * style.shape[1]),
            )
            nearest = clusters.nearest_centres()
        elif method == "semantic":
            sem = params.semantic
            device = pick_device(sem.device)
            net = segmentation.load_semantic(sem.weights, sem.model, device)
            names = list(segmentation.VOC_CLASSES)
            labels = _cost_labels(
                frames, flows, lambda f: -segmentation.semantic_scores(net, f, device), params
            )
            style_labels = segmentation.merge_small_regions(
                segmentation.semantic_scores(net, style, device).argmax(-1),
                int(params.min_region * style.shape[0] * style.shape[1]),
            )
            preferred = 0  # background
        else:
            raise PvstError(f"unknown segmentation method '{method}'")

        labels, fallbacks, style_fractions = apply_fallbacks(
            labels, style_labels, names, params, nearest, preferred
        )
        whole, matches = None, []
        if method == "auto":
            samples = [(frames[int(t)], labels[int(t)]) for t in picks]
            labels, names, whole, matches = apply_matches(
                labels, style_labels, style_fractions, names, samples, style, vgg, auto, device
            )
            if whole is not None:
                style_fractions[whole] = 1.0
    if len(names) > 255:
        raise ArtifactError("more than 255 labels")
    with store.create(
        out,
        STAGE,
        recorded(STAGE, params),
        key,
        inputs={"frames": str(frames_path), "flow": str(flow_path), "style": str(style_path)},
    ) as f:
        store.write_array(f, "labels", labels.astype(np.uint8), chunks=(1, size[1], size[0]))
        store.write_array(f, "style_labels", style_labels.astype(np.uint8))
        store.set_attrs(
            f,
            names=json.dumps(names),
            method=method,
            count=n,
            fallbacks=json.dumps({str(k): v for k, v in fallbacks.items()}),
            style_fractions=json.dumps({str(k): v for k, v in style_fractions.items()}),
            whole=-1 if whole is None else whole,
            matches=json.dumps([m.__dict__ for m in matches]),
        )
    log.info(
        "wrote %s: labels %s in the frames, %s in the style photo",
        out,
        sorted({names[v] for v in np.unique(labels)}),
        sorted(names[k] for k in style_fractions),
    )
    return fallbacks


class Segmentation(store.Artifact):
    """Read access to a segment artifact."""

    def __init__(self, path: str | Path, params: dict | None = None) -> None:
        super().__init__(path, STAGE, params)
        self.names: list[str] = json.loads(self.attr("names"))
        self.fallbacks = {int(k): v for k, v in json.loads(self.attr("fallbacks")).items()}
        self.style_fractions = {
            int(k): v for k, v in json.loads(self.attr("style_fractions")).items()
        }
        self.style_labels = self.array("style_labels").astype(np.int64)
        self.count = int(self.attr("count"))
        whole = int(self.attr("whole", -1))
        self.whole: int | None = None if whole < 0 else whole
        self.matches = [
            segmentation.RegionMatch(**m) for m in json.loads(self.attr("matches", "[]"))
        ]

    def labels(self, t: int) -> np.ndarray:
        return self.array("labels", t).astype(np.int64)

    def used_labels(self, min_fraction: float = 0.0) -> list[int]:
        """Labels that take part in the style loss: in the style photo and not dropped."""
        return sorted(
            lab
            for lab, f in self.style_fractions.items()
            if f > min_fraction and self.fallbacks.get(lab, 0) >= 0
        )

    def style_masks(self, style_labels: np.ndarray, used: list[int]) -> np.ndarray:
        """The style photo's masks of `used` (for `style_labels` at the size in use)."""
        return masks(style_labels, used, self.whole)


def preview_rows(frames: Frames, seg: Segmentation, style: np.ndarray):
    """Yield frame overlay | style overlay (at the frame's height), per frame."""
    from pvst.stages.assemble import fit_height, label

    colours = segmentation.label_colours(seg.names)
    w, h = frames.size
    styled = segmentation.overlay(style, seg.style_labels, colours)
    caption = "style regions" if seg.whole is None else "style regions + whole photo"
    panel = label(fit_height(styled, h, max_width=2 * w), caption)
    for t in range(len(frames)):
        row = np.concatenate(
            [
                label(segmentation.overlay(frames[t], seg.labels(t), colours), "frame regions"),
                panel,
            ],
            axis=1,
        )
        yield row[:, : row.shape[1] - row.shape[1] % 2]
