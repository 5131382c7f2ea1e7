"""Segmentation stage: matched label maps for every frame and for the style photo.

The artifact holds `labels` (uint8 N×H×W, the frames) and `style_labels` (uint8, the style
photo resized to the frames' long side), with attributes `names` (what each label is),
`style_fractions`, and `fallbacks` (content labels the style lacks → the style label used
instead, or −1 where the label is dropped from the style loss). Automatic regions also carry
`matches` (each region's fit with its style counterpart) and `whole`: the label of the regions
without a good counterpart, whose style side is the whole photo (−1: none). Matched regions
(`match`) carry `region_stats`: each region's share of the frames and of the photo and the
mean similarity of its matches.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from pvst import media, regions
from pvst.errors import ArtifactError
from pvst.pipeline import store
from pvst.pipeline.job import Job
from pvst.pipeline.plan import recorded
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


def run(job: Job) -> dict:
    """The stage: label every frame of `frames` (its `flow` keeps the labels steady) and the
    `style` photo by the segmentation section's method; returns the fallbacks applied."""
    frames_path, flow_path, style_path = (job.inputs[r] for r in ("frames", "flow", "style"))
    out, params, key = job.out, job.params, job.key
    method = params.method
    with Frames(frames_path) as frames, FlowSet(flow_path) as flows:
        n, size = len(frames), frames.size
        style = style_at_working_size(style_path, size)
        log.info("segmenting %d frames of %d×%d and %s (%s)", n, *size, style_path, method)
        found = regions.find(frames, flows, style, params)
        names = found.names
        labels, fallbacks, style_fractions = regions.apply_fallbacks(
            found.labels, found.style_labels, names, params, found.nearest, found.preferred
        )
        style_labels = found.style_labels
        whole, matches = None, []
        if found.matcher is not None:  # automatic regions: judge every match
            vgg, device, picks = found.matcher
            samples = [(frames[t], labels[t]) for t in picks]
            labels, names, whole, matches = regions.auto.apply_matches(
                labels,
                style_labels,
                style_fractions,
                names,
                samples,
                style,
                vgg,
                params.auto,
                device,
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
            region_stats=json.dumps(found.stats),
        )
    log.info(
        "wrote %s: labels %s in the frames, %s in the style photo",
        out,
        sorted({names[v] for v in np.unique(labels)}),
        sorted(names[k] for k in style_fractions),
    )
    return fallbacks


class Segmentation(store.OpenArtifact):
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
            regions.auto.RegionMatch(**m) for m in json.loads(self.attr("matches", "[]"))
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
        return regions.label_masks(style_labels, used, self.whole)


def preview_rows(frames: Frames, seg: Segmentation, style: np.ndarray):
    """Yield frame overlay | style overlay (at the frame's height), per frame."""
    from pvst.stages.assemble import fit_height, label

    colours = regions.label_colours(seg.names)
    w, h = frames.size
    styled = regions.overlay(style, seg.style_labels, colours)
    caption = "style regions" if seg.whole is None else "style regions + whole photo"
    panel = label(fit_height(styled, h, max_width=2 * w), caption)
    for t in range(len(frames)):
        row = np.concatenate(
            [
                label(regions.overlay(frames[t], seg.labels(t), colours), "frame regions"),
                panel,
            ],
            axis=1,
        )
        yield row[:, : row.shape[1] - row.shape[1] % 2]
