"""Frames stage: decode a clip into a frames artifact (uint8 N×H×W×3 RGB) at working size."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from pvst import media
from pvst.atomic import check_space
from pvst.errors import ArtifactError, MediaError
from pvst.logs import progress
from pvst.params import FramesParams
from pvst.pipeline import store
from pvst.pipeline.job import Job
from pvst.pipeline.plan import recorded

log = logging.getLogger(__name__)
STAGE = "frames"
# Frames a decode may fall short of the index's count without the clip being damaged (an edit
# list, a last frame shown for less than its interval).
SHORT_DECODE = 2


def run(job: Job) -> int:
    """The stage: decode the clip `job.inputs["video"]` per the frames section (size, upscale,
    start, max_frames, step) into `job.out`; returns the number of frames written."""
    return _extract(job.inputs["video"], job.out, job.params, job.key)


def _extract(video_file: str | Path, out: str | Path, params: FramesParams, key: str) -> int:
    """Decode `video_file` into `out`. Nothing is left at `out` if anything fails."""
    info = media.probe(video_file)
    timing = media.timing(video_file, info=info)
    src_w, src_h = info.display_size
    w, h = media.working_size(src_w, src_h, params.size, params.upscale)
    media.check_thin(video_file, src_w, src_h, "clip", max(w, h))
    start, step, limit = params.start, params.step, params.max_frames
    # what the header promises (a truncated file's packets stop early, its index does not)
    promised = round(info.duration * info.fps) if info.duration else timing.frames
    expected = max(0, math.ceil((max(promised, timing.frames) - start) / step))
    if limit:
        expected = min(expected, limit)
    log.info(
        "decoding %s (%s, %d×%d at %.3g fps%s) to %d×%d, frames from %d every %d%s",
        video_file,
        info.codec,
        src_w,
        src_h,
        timing.fps,
        ", variable rate: taken on a constant-rate grid at its average" if timing.variable else "",
        w,
        h,
        start,
        step,
        f", at most {limit}" if limit else "",
    )
    if info.streams > 1:
        log.info(
            "%s: has %d video streams; reading stream %d of them (%s)",
            video_file,
            info.streams,
            info.stream + 1,
            "the one marked default" if info.stream else "the first; none is marked default",
        )
    if media.has_alpha(info.pixel_format):
        log.info(
            "%s: %s frames have transparency: composited on white", video_file, info.pixel_format
        )
    check_space(out, expected * w * h * 3, f"{expected} frames of {w}×{h}")
    record = recorded(STAGE, params)
    with store.create(out, STAGE, record, key, inputs={"video": str(video_file)}) as f:
        ds = store.create_stack(f, "frames", (0, h, w, 3), np.uint8, growing=True)
        n = 0
        rate = timing.rate if timing.variable else None
        frames = media.read_frames(
            video_file, (w, h), start=start, count=limit, step=step, rate=rate, info=info
        )
        for frame in progress(frames, expected, "frames", "frame"):
            ds.resize(n + 1, axis=0)
            ds[n] = frame
            n += 1
        if n == 0:
            raise MediaError(
                f"{video_file}: no frames decoded (the clip is empty, or start={start} lies "
                "past its end)"
            )
        if n < expected - SHORT_DECODE:
            raise MediaError(
                f"{video_file}: its index promises {expected} frames here but only {n} decode "
                "(the file is truncated or damaged); repair or re-export it, or keep what "
                f"decodes with frames.max_frames: {n}"
            )
        store.write_array(f, "source_index", start + step * np.arange(n, dtype=np.int64))
        store.set_attrs(
            f,
            fps=timing.fps / step,
            source_fps=timing.fps,
            rate=f"{timing.rate.numerator}/{timing.rate.denominator}",
            variable_rate=timing.variable,
            source_size=(src_w, src_h),
            size=(w, h),
            count=n,
            video=str(video_file),
        )
    log.info("wrote %s: %d frames of %d×%d", out, n, w, h)
    return n


def save(
    path: str | Path,
    frames: np.ndarray,
    fps: float,
    stage: str = STAGE,
    params: dict | None = None,
    key: str = "",
    inputs: dict[str, str] | None = None,
) -> None:
    """Write an N×H×W×3 uint8 array as an artifact that Frames can read."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise ArtifactError(
            f"{path}: frames must be uint8 N×H×W×3, got {frames.dtype} {frames.shape}"
        )
    with store.create(path, stage, params or {}, key, inputs) as f:
        store.write_array(f, "frames", frames, chunks=(1, *frames.shape[1:]))
        store.set_attrs(f, fps=fps, count=len(frames), size=(frames.shape[2], frames.shape[1]))


class Frames(store.OpenArtifact):
    """Read access to any artifact holding a 'frames' dataset (frames, stylized, translated)."""

    def __init__(
        self, path: str | Path, stage: str | None = STAGE, params: dict | None = None
    ) -> None:
        super().__init__(path, stage, params)
        if not self.has("frames"):
            self.close()
            raise ArtifactError(f"{path}: has no 'frames' dataset")
        self.data = self.dataset("frames")
        self.fps = float(self.attr("fps", 25.0))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.data.shape[2]), int(self.data.shape[1])

    @property
    def cuts(self) -> list[int]:
        """Frames that start a shot (recorded by stages after the flow; [] when not)."""
        return [int(t) for t in json.loads(self.attr("cuts", "[]"))]

    def effort(self) -> dict:
        """The time the stage that made these frames recorded, per frame and in all."""
        seconds = self.attr("seconds")
        if seconds is None:
            return {}
        seconds = float(seconds)
        return {"seconds_per_frame": seconds / int(self.attr("count")), "seconds_total": seconds}

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __getitem__(self, index: int | slice) -> np.ndarray:
        return self.data[index]

    def __iter__(self):
        for i in range(len(self)):
            yield self.data[i]
