"""Assemble stage: a result as the user's clip (at the output size, with its timing and its
sound), as the side-by-side of input, result and style photo, or as a GIF.

With the source clip (`clip`) every frame is rendered at the output size (pvst.stages.render);
without it, the frames of any frame-holding artifact are encoded as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from pvst import media
from pvst.errors import ArtifactError
from pvst.logs import progress
from pvst.params import AssembleParams, RenderParams
from pvst.pipeline.job import Job
from pvst.stages.frames import Frames
from pvst.stages.render import Source, output_size, rendered

log = logging.getLogger(__name__)
# The side-by-side is kept at most this wide (4K UHD): wider rows play in few browsers.
SIDE_BY_SIDE_WIDTH = 3840


def run(job: Job) -> int | None:
    """The product: the result `art` as `job.out`, a GIF (.gif), the side-by-side of the input
    `frames`, the result and the `style` photo (options `side_by_side`, `caption`), or the
    video; rendered at the output size from the `video` clip when there is one (with `frames`,
    the working-size frames the result was made from), else the frames encoded as they are."""
    result, frames, clip = job.inputs["art"], job.input("frames"), job.input("video")
    if Path(job.out).suffix.lower() == ".gif":
        return _to_gif(result, job.out, job.params, frames, clip, job.render)
    if job.options.get("side_by_side"):
        caption = job.options.get("caption", "output")
        style = job.input("style")
        return _to_side_by_side(
            result, frames, style, job.out, job.params, caption, clip, job.render
        )
    return _to_video(result, job.out, job.params, frames, clip, job.render)


def _to_video(
    result_path: str | Path,
    out: str | Path,
    params: AssembleParams,
    frames_path: str | Path | None = None,
    clip: str | Path | None = None,
    render_params: RenderParams | None = None,
) -> int:
    """Encode a result as H.264 mp4: rendered at the output size from `clip`, at the clip's
    frame timing and with its sound; or, without a clip, the artifact's frames as they are."""
    with Frames(result_path, stage=None) as result:
        if clip is None:
            log.info(
                "encoding %d frames of %s to %s at %.3g fps",
                len(result),
                result_path,
                out,
                result.fps,
            )
            return _encode(out, result, len(result), result.fps, params, "encode")
        with Frames(frames_path) as frames:
            source = Source.of(clip, frames)
            rows = (image for _, image in rendered(result, frames, source, render_params))
            sound = source.soundtrack()
            log.info(
                "writing %s at %d×%d, %s fps, %s",
                out,
                *output_size(source, render_params),
                source.fps,
                _sound(sound),
            )
            return _encode(out, rows, len(frames), source.fps, params, "render", sound)


def _sound(sound: media.Soundtrack | None) -> str:
    if sound is None:
        return "no sound (the clip has none)"
    how = "copied" if sound.copied else "re-encoded to AAC (mp4 cannot hold it)"
    return (
        f"its sound ({', '.join(sound.codecs)}, {how}) from {sound.start:.3f} s for "
        f"{sound.duration:.3f} s"
    )


def _encode(
    out: str | Path,
    rows: Iterable[np.ndarray],
    count: int,
    fps,
    params: AssembleParams,
    what: str,
    sound: media.Soundtrack | None = None,
) -> int:
    """Write rows (H×W×3 uint8) as H.264 mp4 with the assemble section's quality."""
    n = media.write_video(
        out,
        progress(rows, count, what, "frame"),
        fps,
        crf=params.crf,
        preset=params.preset,
        audio=sound,
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


def panel_height(width: int, height: int, style: np.ndarray | None) -> int:
    """The height of a side-by-side's panels: the output's, lowered (to an even number) so the
    row stays within SIDE_BY_SIDE_WIDTH."""
    style_w = 0 if style is None else min(2 * width, style.shape[1] * height / style.shape[0])
    row = 2 * width + style_w
    if row <= SIDE_BY_SIDE_WIDTH:
        return height
    return max(2, int(height * SIDE_BY_SIDE_WIDTH / row) // 2 * 2)


def side_by_side_rows(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    size: tuple[int, int],
    style: np.ndarray | None,
    caption: str = "output",
) -> Iterator[np.ndarray]:
    """input | output (| style) rows from (input, output) frames of `size`, every panel at
    one height (see panel_height); both sides even."""
    w, h = size
    ph = panel_height(w, h, style)
    pw = max(2, round(w * ph / h))
    extra = [] if style is None else [label(fit_height(style, ph, max_width=2 * pw), "style")]
    for a, b in pairs:
        a, b = media.resize_image(a, (pw, ph)), media.resize_image(b, (pw, ph))
        row = np.concatenate([label(a, "input"), label(b, caption), *extra], axis=1)
        if row.shape[1] % 2:
            row = row[:, :-1]
        yield row


def _to_side_by_side(
    result_path: str | Path,
    frames_path: str | Path,
    style_file: str | Path | None,
    out: str | Path,
    params: AssembleParams,
    caption: str = "output",
    clip: str | Path | None = None,
    render_params: RenderParams | None = None,
) -> int:
    """Encode input | output | style (when a style photo is given) as one mp4: at the output
    size with the clip's timing and sound when `clip` is given, else the artifacts' frames."""
    style = media.read_image(style_file) if style_file else None
    with Frames(frames_path, stage=None) as frames, Frames(result_path, stage=None) as result:
        if len(frames) != len(result):
            raise ArtifactError(
                f"{result_path} has {len(result)} frames but its input {frames_path} has "
                f"{len(frames)}"
            )
        if clip is None:
            pairs = zip(frames, result, strict=True)
            rows = side_by_side_rows(pairs, result.size, style, caption)
            return _encode(out, rows, len(result), result.fps, params, "side-by-side")
        source = Source.of(clip, frames)
        pairs = rendered(result, frames, source, render_params)
        rows = side_by_side_rows(pairs, output_size(source, render_params), style, caption)
        sound = source.soundtrack()
        return _encode(out, rows, len(frames), source.fps, params, "side-by-side", sound)


def _to_gif(
    result_path: str | Path,
    out: str | Path,
    params: AssembleParams,
    frames_path: str | Path | None = None,
    clip: str | Path | None = None,
    render_params: RenderParams | None = None,
) -> None:
    """An animated GIF, `params.gif_fps` frames a second, `params.gif_width` wide (rendered at
    that size from `clip` when given)."""
    with Frames(result_path, stage=None) as result:
        if clip is None:
            keep = max(1, round(result.fps / params.gif_fps))
            media.write_gif(out, result[::keep], result.fps / keep, params.gif_width)
        else:
            with Frames(frames_path) as frames:
                source = Source.of(clip, frames)
                keep = max(1, round(float(source.fps) / params.gif_fps))
                full_w, full_h = output_size(source, render_params)
                gif_w = max(2, min(params.gif_width, full_w) // 2 * 2)
                size = (gif_w, max(2, round(full_h * gif_w / full_w / 2) * 2))
                pairs = rendered(result, frames, source, render_params, size, every=keep)
                images = (image for _, image in pairs)
                media.write_gif(out, images, source.fps / keep, params.gif_width)
    log.info("wrote %s", out)
