"""Pictures of labels: a colour per label and labels over a picture (the segments preview,
the figures)."""

from __future__ import annotations

import numpy as np

from pvst.regions.masks import DPST_COLOURS

PALETTE = np.array(
    [
        [31, 119, 180],
        [44, 160, 44],
        [40, 40, 40],
        [240, 240, 240],
        [214, 39, 40],
        [255, 221, 0],
        [127, 127, 127],
        [23, 190, 207],
        [148, 103, 189],
        [255, 127, 14],
        [140, 86, 75],
        [227, 119, 194],
        [188, 189, 34],
        [0, 128, 128],
        [128, 0, 0],
    ],
    np.uint8,
)


def label_colours(names: list[str]) -> np.ndarray:
    """A colour per label: DPST colour names get their own colour."""
    out = []
    for i, name in enumerate(names):
        if name in DPST_COLOURS:
            out.append(np.round(np.asarray(DPST_COLOURS[name]) * 255).astype(np.uint8))
        else:
            out.append(PALETTE[i % len(PALETTE)])
    return np.stack(out) if out else np.zeros((0, 3), np.uint8)


def overlay(
    image: np.ndarray, labels: np.ndarray, colours: np.ndarray, alpha: float = 0.5
) -> np.ndarray:
    """Labels blended over the picture, with their borders drawn."""
    tint = colours[np.clip(labels, 0, len(colours) - 1)]
    out = (image * (1 - alpha) + tint * alpha).astype(np.uint8)
    edge = (np.diff(labels, axis=0, prepend=labels[:1]) != 0) | (
        np.diff(labels, axis=1, prepend=labels[:, :1]) != 0
    )
    out[edge] = 255
    return out
