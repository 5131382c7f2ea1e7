"""Render: a working-size result carried to the output size, frame by frame, from the source.

Nothing at the output size is cached: a 10 s clip at 1920×1080 is 1.5 GB of raw frames, while
rendering one costs a fraction of a second (README, "Output size"). Every product (the video,
its side-by-side, its GIF, the output-size metrics) streams: the source is decoded at the
output size one frame at a time, aligned to the working-size frames (the same start, step,
count and presentation times), each frame is rendered on the device and handed on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from pvst import media, render
from pvst.device import pick_device
from pvst.errors import ArtifactError, MediaError
from pvst.params import RenderParams
from pvst.stages.frames import Frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """The clip behind a frames artifact: where its frames sit in the clip and how to decode
    the same frames at another size."""

    clip: Path
    size: tuple[int, int]  # as shown: pixel aspect and rotation applied
    timing: media.Timing
    start: int
    step: int
    count: int
    audio: tuple[str, ...]

    @classmethod
    def of(cls, clip: str | Path, frames: Frames) -> Source:
        info = media.probe(clip)
        index = frames.array("source_index") if frames.has("source_index") else None
        if index is None or len(index) == 0:
            raise ArtifactError(f"{frames.path}: has no source_index (not a frames artifact?)")
        step = int(index[1] - index[0]) if len(index) > 1 else 1
        made_from = frames.attr("source_size")
        if made_from is not None and tuple(int(v) for v in made_from) != info.display_size:
            was = "×".join(str(int(v)) for v in made_from)
            raise ArtifactError(
                f"{clip}: is {info.display_size[0]}×{info.display_size[1]}, but {frames.path} "
                f"holds frames of a {was} clip ({frames.attr('video', '?')}): give the clip the "
                "frames were extracted from"
            )
        return cls(
            Path(clip),
            info.display_size,
            media.timing(clip),
            int(index[0]),
            step,
            len(frames),
            info.audio,
        )

    @property
    def fps(self) -> Fraction:
        """The frame rate of the kept frames."""
        return self.timing.rate / self.step

    def soundtrack(self) -> media.Soundtrack | None:
        """The clip's audio under the kept frames: from the first kept frame for as long as
        they last (with step > 1 the frames are fewer per second, the sound unchanged)."""
        if not self.audio:
            return None
        start = float(self.start / self.timing.rate)
        return media.Soundtrack(self.clip, start, float(self.count / self.fps), self.audio)

    def frames(self, size: tuple[int, int]) -> Iterator[np.ndarray]:
        """The kept frames at `size` (an odd side of the clip's own size is cropped)."""
        w, h = size
        decode = self.size if (w, h) == render.output_size(*self.size, "source") else size
        rate = self.timing.rate if self.timing.variable else None
        frames = media.read_frames(
            self.clip, decode, start=self.start, count=self.count, step=self.step, rate=rate
        )
        n = 0
        for frame in frames:
            n += 1
            yield frame[:h, :w]
        if n != self.count:
            raise MediaError(
                f"{self.clip}: gave {n} frames from frame {self.start} every {self.step}, but "
                f"its frames artifact holds {self.count} (did the clip change since?)"
            )


def output_size(source: Source, params: RenderParams) -> tuple[int, int]:
    """The size the products of this clip have (render.size)."""
    size = render.output_size(*source.size, params.size)
    if params.size == "source" and size != source.size:
        log.info(
            "%s is %d×%d: its last %s left out (H.264 in yuv420p needs even sides)",
            source.clip,
            *source.size,
            "row and column are"
            if size[0] < source.size[0] and size[1] < source.size[1]
            else "column is"
            if size[0] < source.size[0]
            else "row is",
        )
    return size


def rendered(
    result: Frames,
    frames: Frames,
    source: Source,
    params: RenderParams,
    size: tuple[int, int] | None = None,
    every: int = 1,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(source frame, rendered frame) at the output size (or `size`), frame by frame (every
    `every`-th frame only).

    A result at another size than its frames (the CycleGAN's multiples of 4) is first brought
    to the frames' size; at the frames' own size the result is the output, as it is. A refined
    result carries the source frames it was made from (`content`): those are its pair."""
    if len(result) != len(frames):
        raise ArtifactError(
            f"{result.path} has {len(result)} frames but its input {frames.path} has {len(frames)}"
        )
    device = pick_device(params.device)
    size = size or output_size(source, params)
    pair = result.dataset("content") if result.has("content") else frames.data
    small_size = (int(pair.shape[2]), int(pair.shape[1]))
    log.info(
        "rendering %d frames of %d×%d at %d×%d from %s on %s (radius %d, ε %g)",
        len(frames),
        *small_size,
        *size,
        source.clip,
        device,
        params.radius,
        params.eps,
    )
    for t, full in enumerate(source.frames(size)):
        if t % every:
            continue
        small, out = pair[t], result[t]
        if out.shape != small.shape:
            out = media.resize_image(out, small_size)
        if tuple(size) == small_size:
            yield full, out
            continue
        yield full, render.render_image(small, out, full, params.radius, params.eps, device)
