"""Regions of the segmented style loss: which part of the style photo each part of a frame
takes its look from. One file per method, the table of methods here, for the segment stage
and image mode alike:

- `none` (one region: the whole photo), in labels.py, with what every method shares;
- `masks`: DPST's colour-coded PNGs, for every frame or keyframes carried along the flow;
- `auto`: joint clusters of VGG19 features, colour and position of the photo and the frames;
- `semantic`: a torchvision model with the user's weights;
- `match`: the photo's own regions carried to the frames by dense deep-feature correspondence.

A method labels a sequence of frames (a clip, with its flows; or one image, flows None) and
the style photo. Adding a method is a file here, its entry in METHODS and in the schema's enum.
torch is imported only by the methods that run a network (the command line imports this
table).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvst.errors import PvstError
from pvst.params import SegmentationParams
from pvst.regions import auto, masks, match, semantic
from pvst.regions.labels import (
    WHOLE,
    Found,
    fallback_map,
    label_masks,
    merge_small_regions,
    one_region,
    resize_labels,
    style_mask,
    warp_labels,
)
from pvst.regions.masks import COLOUR_NAMES, read_colour_mask
from pvst.regions.preview import label_colours, overlay

__all__ = [
    "COLOUR_NAMES",
    "METHODS",
    "WHOLE",
    "Found",
    "Regions",
    "apply_fallbacks",
    "fallback_map",
    "find",
    "label_colours",
    "label_masks",
    "merge_small_regions",
    "overlay",
    "read_colour_mask",
    "resize_labels",
    "segment_image",
    "style_mask",
    "warp_labels",
]

log = logging.getLogger(__name__)

METHODS: dict[str, Callable[..., Found]] = {
    "none": one_region,
    "masks": masks.find,
    "auto": auto.find,
    "semantic": semantic.find,
    "match": match.find,
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


def apply_fallbacks(
    labels: np.ndarray,
    style_labels: np.ndarray,
    names: list[str],
    params: SegmentationParams,
    nearest: dict[int, list[int]] | None = None,
    preferred: int | None = None,
) -> tuple[np.ndarray, dict[int, int], dict[int, float]]:
    """Give content labels that the style photo lacks their fallback (or −1: dropped) and say
    so. Returns (labels, fallbacks, the style's label fractions)."""
    style_fractions = {
        int(lab): float(c) / style_labels.size
        for lab, c in zip(*np.unique(style_labels, return_counts=True), strict=True)
    }
    if params.fallback == "largest":
        nearest, preferred = None, None
    mapping = fallback_map(
        {int(v) for v in np.unique(labels)},
        style_fractions,
        params.min_style_fraction,
        nearest,
        preferred,
    )
    labels = labels.copy()
    fallbacks = {}
    for lab, target in mapping.items():
        if params.fallback == "drop":
            fallbacks[lab] = -1
            what = "dropped from the style loss"
        else:
            fallbacks[lab] = target
            labels[labels == lab] = target
            what = f"styled like '{names[target]}'"
        log.warning(
            "label '%s' is in the content but not (enough) in the style photo: %s", names[lab], what
        )
    return labels, fallbacks, style_fractions


@dataclass
class Regions:
    """Image mode's regions: content and style label maps, what each label is, the fallbacks
    applied, and the label whose style side is the whole photo (None if no such label)."""

    labels: np.ndarray
    style_labels: np.ndarray
    names: list[str]
    fallbacks: dict[int, int]
    whole: int | None = None

    def used(self) -> list[int]:
        """Labels that take part in the style loss."""
        present = {int(v) for v in np.unique(self.style_labels)}
        if self.whole is not None:
            present.add(self.whole)
        return sorted(v for v in present if self.fallbacks.get(v, 0) >= 0)

    def style_masks(self) -> np.ndarray:
        return label_masks(self.style_labels, self.used(), self.whole)

    def masks(self) -> np.ndarray:
        return label_masks(self.labels, self.used())


def segment_image(
    content: np.ndarray,
    style: np.ndarray,
    params: SegmentationParams,
    content_mask: str | Path | None = None,
    style_mask: str | Path | None = None,
) -> Regions:
    """Labels of one content image and the style photo (image mode): colour masks when both are
    given, else the configured method (the segment stage's table, on a clip of one frame)."""
    if content_mask or style_mask:
        if not (content_mask and style_mask):
            raise PvstError("give both --content-mask and --style-mask, or neither")
        given = dataclasses.replace(params.masks, content=str(content_mask), style=str(style_mask))
        params = dataclasses.replace(params, method="masks", masks=given)
    found = find([content], None, style, params)
    labels, fallbacks, style_fractions = apply_fallbacks(
        found.labels[0], found.style_labels, found.names, params, found.nearest, found.preferred
    )
    names, whole = found.names, None
    if found.matcher is not None:  # automatic regions: judge every match
        vgg, device, _ = found.matcher
        labels, names, whole, _ = auto.apply_matches(
            labels,
            found.style_labels,
            style_fractions,
            names,
            [(content, labels)],
            style,
            vgg,
            params.auto,
            device,
        )
    return Regions(labels, found.style_labels, names, fallbacks, whole)
