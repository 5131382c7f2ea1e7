"""Smooth stage: the post-process of the stylized frames (stylize.postprocess), an artifact of
its own so that changing it never reruns the optimisation."""

from __future__ import annotations

import contextlib
import json
import logging
import time

import numpy as np

from pvst import stylize
from pvst.errors import PvstError
from pvst.logs import progress
from pvst.pipeline import store
from pvst.pipeline.job import Job
from pvst.pipeline.plan import recorded
from pvst.stages.frames import Frames
from pvst.stages.laplacian import Laplacians

log = logging.getLogger(__name__)
STAGE = "smooth"


def run(job: Job) -> None:
    """The stage: smooth every frame of `stylize` by stylize.postprocess (a closed-form solve,
    with the frames' `laplacian`, starts from the previous frame's result, except at cuts)."""
    stylize_path, frames_path = job.inputs["stylize"], job.inputs["frames"]
    laplacian_path, out, params, key = job.input("laplacian"), job.out, job.params, job.key
    if params.method == "closed_form" and not laplacian_path:
        raise PvstError("postprocess closed_form needs the frames' Laplacians")
    started = time.perf_counter()
    inputs = {"stylize": str(stylize_path), "frames": str(frames_path)}
    if laplacian_path:
        inputs["laplacian"] = str(laplacian_path)
    with contextlib.ExitStack() as opened:
        styled = opened.enter_context(Frames(stylize_path, stage="stylize"))
        frames = opened.enter_context(Frames(frames_path))
        laps = opened.enter_context(Laplacians(laplacian_path)) if laplacian_path else None
        f = opened.enter_context(
            store.create(out, STAGE, recorded(STAGE, params), key, inputs=inputs)
        )
        n, (w, h) = len(styled), styled.size
        cuts = set(styled.cuts)
        log.info("smoothing %d frames of %d×%d (%s)", n, w, h, params.method)
        ds = store.create_stack(f, "frames", (n, h, w, 3), np.uint8)
        previous = None
        for t in progress(range(n), n, "smooth", "frame"):
            lap = laps[t] if params.method == "closed_form" else None
            image = stylize.postprocess(
                styled[t], frames[t], params, lap, None if t in cuts else previous
            )
            ds[t] = previous = image
        store.set_attrs(
            f,
            fps=styled.fps,
            count=n,
            size=(w, h),
            cuts=json.dumps(sorted(cuts)),
            seconds=time.perf_counter() - started,
        )
    log.info("wrote %s", out)
