"""Assemble stage: frames artifacts become an mp4, a side-by-side mp4, or a GIF."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from pvst import media
from pvst.errors import ArtifactError
from pvst.logs import progress
from pvst.params import AssembleParams
from pvst.stages.frames import Frames

log = logging.getLogger(__name__)


def to_video(artifact: str | Path, out: str | Path, params: AssembleParams) -> int:
    """Encode the frames of any frame-holding artifact to H.264 mp4 at its frame rate."""
    with Frames(artifact, stage=None) as frames:
        log.info(
            "encoding %d frames of %s to %s at %.3g fps", len(frames), artifact, out, frames.fps
        )
        return _encode(out, frames, len(frames), frames.fps, params, "encode")


def _encode(
    out: str | Path, rows, count: int, fps: float, params: AssembleParams, what: str
) -> int:
    """Write rows (H×W×3 uint8) as H.264 mp4 with the assemble section's quality."""
    n = media.write_video(
        out, progress(rows, count, what, "frame"), fps, crf=params.crf, preset=params.preset
    )
    log.info("wrote %s (%d frames)", out, n)
    return n


def label(image: np.ndarray, text: str) -> np.ndarray:
    """Write a caption in the top-left corner on a dark band."""
    out = image.copy()
    scale = max(0.35, image.shape[0] / 400)
    thick = max(1, round(scale * 1.5))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(2, th // 3)
    band = out[: th + base + 2 * pad, : tw + 2 * pad]
    band[...] = (band * 0.4).astype(np.uint8)
    cv2.putText(
        out,
        text,
        (pad, th + pad),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        thick,
        cv2.LINE_AA,
    )
    return out


def fit_height(image: np.ndarray, height: int, max_width: int | None = None) -> np.ndarray:
    """Resize to a given height, keeping aspect (and at most max_width wide)."""
    h, w = image.shape[:2]
    new_w = max(2, round(w * height / h))
    if max_width:
        new_w = min(new_w, max_width)
    return media.resize_image(image, (new_w, height))


def side_by_side_frames(
    inputs: Frames, outputs: Frames, style: np.ndarray | None, caption: str = "output"
):
    """Yield input | output (| style) panels, all at the output's height."""
    if len(inputs) != len(outputs):
        raise ArtifactError(
            f"{outputs.path} has {len(outputs)} frames but its input {inputs.path} has "
            f"{len(inputs)}"
        )
    w, h = outputs.size
    extra = [] if style is None else [label(fit_height(style, h, max_width=2 * w), "style")]
    for a, b in zip(inputs, outputs, strict=True):
        a = media.resize_image(a, (w, h))
        row = np.concatenate([label(a, "input"), label(b, caption), *extra], axis=1)
        if row.shape[1] % 2:
            row = row[:, :-1]
        yield row


def to_side_by_side(
    input_artifact: str | Path,
    output_artifact: str | Path,
    style_file: str | Path | None,
    out: str | Path,
    params: AssembleParams,
    caption: str = "output",
) -> int:
    """Encode input | output | style (when a style photo is given) as one mp4."""
    style = media.read_image(style_file) if style_file else None
    with Frames(input_artifact, stage=None) as inputs, Frames(output_artifact, stage=None) as outs:
        rows = side_by_side_frames(inputs, outs, style, caption)
        return _encode(out, rows, len(outs), outs.fps, params, "side-by-side")


def to_gif(artifact: str | Path, out: str | Path, params: AssembleParams) -> None:
    """An animated GIF, resampled to `params.gif_fps` frames a second, `params.gif_width` wide."""
    with Frames(artifact, stage=None) as frames:
        keep = max(1, round(frames.fps / params.gif_fps))
        media.write_gif(out, frames[::keep], frames.fps / keep, params.gif_width)
    log.info("wrote %s", out)
