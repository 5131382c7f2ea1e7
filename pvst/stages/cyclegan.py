"""CycleGAN stage: every frame through a generator (the paper's baseline)."""

from __future__ import annotations

import logging
import time

import numpy as np

from pvst import media
from pvst.cyclegan import load_generator, multiple_of, translate
from pvst.device import pick_device
from pvst.logs import progress
from pvst.pipeline.job import Job
from pvst.pipeline.plan import recorded
from pvst.pipeline.store import create, create_stack, set_attrs
from pvst.stages.frames import Frames

log = logging.getLogger(__name__)
STAGE = "cyclegan"


def run(job: Job) -> None:
    """The stage: every frame of `frames` through the generator of `checkpoint`, at the
    working size rounded to a multiple of 4."""
    frames_path, checkpoint = job.inputs["frames"], job.inputs["checkpoint"]
    out, params, key = job.out, job.params, job.key
    started = time.perf_counter()
    device = pick_device(params.device)
    net = load_generator(checkpoint, device)
    with Frames(frames_path) as frames:
        n, size = len(frames), frames.size
        w, h = multiple_of(size, params.multiple)
        log.info("translating %d frames at %d×%d with %s on %s", n, w, h, checkpoint, device)
        with create(
            out,
            STAGE,
            recorded(STAGE, params),
            key,
            inputs={"frames": str(frames_path), "checkpoint": str(checkpoint)},
        ) as f:
            ds = create_stack(f, "frames", (n, h, w, 3), np.uint8)
            batch = params.batch
            for i in progress(range(0, n, batch), -(-n // batch), "cyclegan", "batch"):
                chunk = np.stack(
                    [media.resize_image(frames[t], (w, h)) for t in range(i, min(n, i + batch))]
                )
                ds[i : i + len(chunk)] = translate(net, chunk, batch)
            set_attrs(
                f,
                fps=frames.fps,
                count=n,
                size=(w, h),
                device=str(device),
                seconds=time.perf_counter() - started,
            )
    log.info("wrote %s", out)
