"""Matched regions of a content image and a style photo: colour masks, automatic clusters or
one region; labels the style lacks fall back to another; automatic regions without a good
counterpart take the whole photo's look."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvst import segmentation
from pvst.errors import PvstError
from pvst.params import SegmentationAuto, SegmentationParams

log = logging.getLogger(__name__)


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
    mapping = segmentation.fallback_map(
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
        return masks(self.style_labels, self.used(), self.whole)

    def masks(self) -> np.ndarray:
        return masks(self.labels, self.used())


def apply_matches(
    labels: np.ndarray,
    style_labels: np.ndarray,
    style_fractions: dict[int, float],
    names: list[str],
    samples: list[tuple[np.ndarray, np.ndarray]],
    style: np.ndarray,
    vgg,
    auto: SegmentationAuto,
    device: str = "cpu",
) -> tuple[np.ndarray, list[str], int | None, list[segmentation.RegionMatch]]:
    """Check every content region's style counterpart (automatic regions) and give the regions
    without a good one a shared label whose style side is the whole photo. `style_fractions`
    are apply_fallbacks's; `samples` are (frame, its labels) pairs to measure features on.
    Returns (labels, names, the whole-photo label or None, the matches)."""
    layer = auto.layer
    ids, counts = np.unique(labels, return_counts=True)
    content_fractions = {int(v): float(c) / labels.size for v, c in zip(ids, counts, strict=True)}
    feats = [segmentation.pixel_features(img, vgg, layer, device) for img, _ in samples]
    content_means, _ = segmentation.mean_features(feats, [lab for _, lab in samples])
    style_feats = segmentation.pixel_features(style, vgg, layer, device)
    style_means, style_whole = segmentation.mean_features([style_feats], [style_labels])
    for lab in content_fractions:  # a label in no sampled frame: judge it by the whole frames
        content_means.setdefault(lab, sum(content_means.values()) / max(len(content_means), 1))
    matches = segmentation.match_regions(
        content_fractions,
        content_means,
        style_fractions,
        style_means,
        style_whole,
        auto.match.area_ratio,
        auto.match.margin,
    )
    names = list(names)
    for m in matches:
        log.info("region %s", m.describe(names))
    poor = [m.label for m in matches if not m.kept]
    if not poor:
        return labels, names, None, matches
    whole = len(names)
    names.append(segmentation.WHOLE)
    labels = np.where(np.isin(labels, poor), whole, labels)
    log.info(
        "%s take the whole style photo's look (no good counterpart in it)",
        ", ".join(names[p] for p in poor),
    )
    return labels, names, whole, matches


def segment_image(
    content: np.ndarray,
    style: np.ndarray,
    params: SegmentationParams,
    content_mask: str | Path | None = None,
    style_mask: str | Path | None = None,
) -> Regions:
    """Labels of one content image and the style photo (image mode): colour masks when both are
    given, else the configured method (the segment stage's table, on a clip of one frame)."""
    from pvst import labelling

    if content_mask or style_mask:
        if not (content_mask and style_mask):
            raise PvstError("give both --content-mask and --style-mask, or neither")
        given = dataclasses.replace(params.masks, content=str(content_mask), style=str(style_mask))
        params = dataclasses.replace(params, method="masks", masks=given)
    found = labelling.find([content], None, style, params)
    labels, fallbacks, style_fractions = apply_fallbacks(
        found.labels[0], found.style_labels, found.names, params, found.nearest, found.preferred
    )
    names, whole = found.names, None
    if found.matcher is not None:  # automatic regions: judge every match
        vgg, device, _ = found.matcher
        labels, names, whole, _ = apply_matches(
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


def masks(labels: np.ndarray, used: list[int], whole: int | None = None) -> np.ndarray:
    """Per-label float masks (L×H×W) of a label map, for the labels in `used`; on the style
    side (`whole` given), that label's mask is the whole photo."""
    return np.stack(
        [segmentation.style_mask(labels, lab, whole).astype(np.float32) for lab in used]
    )
