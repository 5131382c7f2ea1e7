"""Refine stage (videos, optional): every frame's result refined at the output size.

The working-size result is rendered onto the source frame at the refinement's size (the clip's
own, at most `stylize.refine.max_size` on the long side), then `stylize.refine.video`
evaluations of the full objective run there, started from that render: content, segmented
style (the style photo seen at the same long side), photorealism (the Laplacian of the frame at
that size) and a temporal term to the previous refined frame, warped by the working-size
flow enlarged. The artifact holds the refined `frames` and the source frames they were made
from (`content`), so the products render from this pair exactly as they would from the
working-size one. Finished frames are saved as they come, so a killed run resumes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from pvst import losses, matting, media, regions, render, stylize
from pvst.device import pick_device, set_cpu_threads, set_numerics
from pvst.logs import progress
from pvst.pipeline import store
from pvst.pipeline.job import Job
from pvst.pipeline.plan import recorded
from pvst.stages.flow import FlowSet
from pvst.stages.frames import Frames
from pvst.stages.render import Source
from pvst.stages.segment import Segmentation
from pvst.stages.stylize import Checkpoints
from pvst.warp import warp_torch

log = logging.getLogger(__name__)
STAGE = "refine"
# The render that starts each frame's refinement: the render section's defaults (the start
# is part of the refine stage's result, so it does not follow a changed render section).
START_RADIUS, START_EPS = 3, 1e-3


def refine_size(source_size: tuple[int, int], max_size: int) -> tuple[int, int]:
    """The clip's own size (even sides), or its long side brought down to `max_size`."""
    w, h = source_size
    return render.output_size(w, h, "source" if max(w, h) <= max_size else max_size)


def run(job: Job, *, stop_after: int | None = None) -> int:
    """The stage: refine every frame of a `result` (the optimised frames of `frames`) at the
    output size of the `video` clip; returns the number refined now (not resumed).
    `stop_after` exists for tests of resuming (the run stops as if killed)."""
    from pvst.vgg import load_vgg19

    roles = ("result", "frames", "flow", "segment", "style", "video")
    result_path, frames_path, flow_path, segment_path, style_path, clip = map(job.inputs.get, roles)
    out, params, key = job.out, job.params, job.key
    set_cpu_threads(job.threads or params.threads)

    started = time.perf_counter()
    record = recorded(STAGE, params)
    device = pick_device(params.device)
    set_numerics(params.tf32)
    torch.manual_seed(params.seed)
    once = replace(params, two_stage=False)  # the full objective from the start
    ckpt = Checkpoints(out, key, record)
    inputs = {
        "result": str(result_path),
        "frames": str(frames_path),
        "flow": str(flow_path),
        "segment": str(segment_path),
        "style": str(style_path),
        "video": str(clip),
    }
    with (
        Frames(result_path, stage=None) as result,
        Frames(frames_path) as frames,
        FlowSet(flow_path) as flows,
        Segmentation(segment_path) as seg,
    ):
        source = Source.of(clip, frames)
        w, h = refine_size(source.size, params.refine.max_size)
        stylize.check_memory(h, w, params, device, f"{clip} refined at {w}×{h}")
        vgg = load_vgg19(params.vgg, params.pooling, device)
        # the style photo at the frames' long side, as image mode sees it
        style = media.resize_long_side(media.read_style_photo(style_path), max(w, h))
        used = seg.used_labels()
        style_labels = regions.resize_labels(seg.style_labels, style.shape[:2])
        layers = list(losses.active(params.style_layers))
        targets = stylize.style_targets(
            vgg, style, seg.style_masks(style_labels, used), layers, device
        )
        n = len(frames)
        log.info(
            "refining %d frames of %s at %d×%d on %s: %d evaluations a frame",
            n,
            result_path,
            w,
            h,
            device,
            params.refine.video,
        )
        previous: torch.Tensor | None = None
        newly = 0
        for t, full in enumerate(progress(source.frames((w, h)), n, "refine", "frame")):
            if ckpt.has(0, t):
                previous = torch.from_numpy(ckpt.load(0, t)["x"])[None].to(device)
                continue
            if stop_after is not None and newly >= stop_after:
                return newly
            small, out_t = frames[t], result[t]
            if out_t.shape != small.shape:
                out_t = media.resize_image(out_t, frames.size)
            start = render.render(
                render.as_tensor(small, device),
                render.as_tensor(out_t, device),
                render.as_tensor(full, device),
                START_RADIUS,
                START_EPS,
            )
            labels = regions.resize_labels(seg.labels(t), (h, w))
            lap = None
            if params.lambda_ > 0:
                lap = matting.BandLaplacian(matting.laplacian_bands(full), 1, device)
            temporal = _temporal(flows, t, previous, (w, h), device) if params.gamma else None
            objective = stylize.Objective(
                vgg, params, full, targets, regions.label_masks(labels, used), temporal, lap
            )
            res = stylize.optimise(
                objective, start * 255.0, params.refine.video, once, what=f"refine {t}"
            )
            ckpt.save(0, t, res)
            previous = res.x
            newly += 1
        _write(out, record, key, inputs, ckpt, source, (w, h), time.perf_counter() - started)
    ckpt.remove()
    return newly


def _temporal(
    flows: FlowSet,
    t: int,
    previous: torch.Tensor | None,
    size: tuple[int, int],
    device: torch.device,
) -> stylize.Temporal | None:
    """The previous refined frame warped onto frame t by the working-size flow, enlarged (its
    vectors scaled with it), with the flow's consistency weights; None at a shot's start."""
    if previous is None or t == 0 or not flows.valid(t, 1):
        return None
    flow, weight = flows.backward(t, 1)
    w, h = size
    fh, fw = flow.shape[:2]
    big = cv2.resize(np.asarray(flow, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    big *= np.array([w / fw, h / fh], np.float32)
    mask = cv2.resize(np.asarray(weight, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    fl = torch.from_numpy(big).to(device).permute(2, 0, 1)[None]
    return stylize.Temporal([warp_torch(previous, fl)], [torch.from_numpy(mask).to(device)], [1.0])


def _write(
    out: str | Path,
    record: dict,
    key: str,
    inputs: dict,
    ckpt: Checkpoints,
    source: Source,
    size: tuple[int, int],
    seconds: float,
) -> None:
    """The artifact: the refined frames and the source frames at their size. The source is
    decoded once more here rather than kept in the checkpoints: a decode costs a fraction of
    a second a frame, a frame's refinement minutes, and the checkpoints stay small."""
    w, h = size
    n = source.count
    evaluations, per_frame = np.zeros(n, np.int64), np.zeros(n, np.float64)
    with store.create(out, STAGE, record, key, inputs=inputs) as f:
        refined = store.create_stack(f, "frames", (n, h, w, 3), np.uint8)
        content = store.create_stack(f, "content", (n, h, w, 3), np.uint8)
        for t, full in enumerate(source.frames(size)):
            saved = ckpt.load(0, t)
            refined[t] = np.clip(np.rint(saved["x"].transpose(1, 2, 0)), 0, 255).astype(np.uint8)
            content[t] = full
            evaluations[t] = len(saved["losses"])
            per_frame[t] = float(saved["seconds"])
        store.write_array(f, "evaluations", evaluations)
        store.write_array(f, "seconds", per_frame)
        store.set_attrs(
            f, fps=float(source.fps), count=n, size=size, seconds=seconds, video=str(source.clip)
        )
    log.info("wrote %s: %d frames of %d×%d", out, n, w, h)
