"""Stylize stage: the video driver.

Frames are stylized in time order; the temporal chain restarts at every scene cut. Each
finished frame is saved at once (atomically) in a partial folder next to the artifact, so a
killed run resumes from the last finished frame and gives the same frames as an uninterrupted
one. Ruder et al.'s multi-pass mode alternates the direction over the clip, blending every
frame's start with its warped neighbour. The artifact holds the stylized `frames` (what
assemble encodes) and, per frame, the loss history, evaluations, seconds and retries.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from pvst import colour, matting, segment_stage, segmentation, store, stylize
from pvst.flow_stage import FlowSet
from pvst.frames import Frames
from pvst.laplacian_stage import Laplacians
from pvst.logs import progress
from pvst.segment_stage import Segmentation
from pvst.warp import warp_torch

log = logging.getLogger(__name__)
STAGE = "stylize"


def partial_dir(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(f".{out.name}.partial")


class Checkpoints:
    """Finished frames of an interrupted run: one .npz per (pass, frame), written atomically."""

    def __init__(self, out: str | Path, key: str, params: dict) -> None:
        self.dir = partial_dir(out)
        meta = {"key": key, "params": store.canonical(params)}
        meta_file = self.dir / "meta.json"
        if self.dir.exists():
            try:
                same = json.loads(meta_file.read_text()) == meta
            except (OSError, ValueError):
                same = False
            if not same:
                log.info("%s: left by a run with other parameters; starting afresh", self.dir)
                shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        meta_file.write_text(json.dumps(meta))

    def _path(self, p: int, t: int) -> Path:
        return self.dir / f"p{p}_{t:06d}.npz"

    def has(self, p: int, t: int) -> bool:
        return self._path(p, t).is_file()

    def save(self, p: int, t: int, result: stylize.FrameResult) -> None:
        with store.atomic_path(self._path(p, t)) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                x=result.x[0].cpu().numpy().astype(np.float32),
                losses=np.asarray(result.losses, np.float32),
                seconds=result.seconds,
                retried=result.retried,
                terms=json.dumps(result.terms),
            )

    def load(self, p: int, t: int) -> dict:
        with np.load(self._path(p, t)) as z:
            return {k: z[k] for k in z.files}

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def run(
    frames_path: str | Path,
    flow_path: str | Path,
    laplacian_path: str | Path | None,
    segment_path: str | Path,
    style_path: str | Path,
    out: str | Path,
    params: dict,
    key: str = "",
    record: dict | None = None,
    stop_after: int | None = None,
) -> dict:
    """Stylize every frame; returns a summary.

    `params` is the whole stylize section; `record` what the artifact records as its
    parameters (without execution settings such as the device; default all of `params`).
    `stop_after` (frames) exists for tests of resuming: the run stops as if killed after that
    many newly finished frames."""
    record = params if record is None else record
    from pvst.vgg import load_vgg19

    device = stylize.pick_device(params["device"])
    torch.manual_seed(params["seed"])
    optimising = params["method"] == "optimise"  # the fast colour method needs no network
    vgg = load_vgg19(params["vgg"], params["pooling"], device) if optimising else None
    style_layers = [k for k, v in params["style_layers"].items() if v > 0]
    passes = max(1, params["multipass"]["passes"])
    ckpt = Checkpoints(out, key, record)
    summary = {"frames": 0, "evaluations": 0, "seconds": 0.0, "retried": [], "resumed": 0}
    newly = 0
    with (
        Frames(frames_path) as frames,
        FlowSet(flow_path) as flows,
        Segmentation(segment_path) as seg,
    ):
        laps = Laplacians(laplacian_path) if laplacian_path else None
        n, size = len(frames), frames.size
        stylize.check_memory(size[1], size[0], params, device, str(frames_path))
        style = segment_stage.style_at_working_size(style_path, size)
        if params["style_size"]:
            style = segment_stage.style_at_working_size(style_path, (params["style_size"],) * 2)
        used = seg.used_labels()
        style_labels = segmentation.resize_labels(seg.style_labels, style.shape[:2])
        targets = None
        if optimising:
            targets = stylize.style_targets(
                vgg, style, seg.style_masks(style_labels, used), style_layers, device
            )
        log.info(
            "stylizing %d frames of %d×%d on %s: %d pass(es), labels %s, cuts at %s",
            n,
            *size,
            device,
            passes,
            [seg.names[u] for u in used],
            flows.cuts or "none",
        )
        maps = None
        if params["method"] == "colour" or "colour" in params["init"].values():
            picks = np.unique(np.linspace(0, n - 1, min(n, params["colour"]["sample_frames"])))
            fitted = colour.fit_region_maps(
                ((frames[int(t)], seg.labels(int(t))) for t in picks),
                style,
                style_labels,
                used,
                params["colour"]["steps"],
                seg.whole,
            )
            maps = [fitted[u] for u in used]
            log.info("colour maps fitted per region on %d frames", len(picks))
        shot_starts = {0, *flows.cuts}
        xs: list[torch.Tensor | None] = [None] * n
        previous_pass: list[torch.Tensor | None] = [None] * n
        for p in range(passes):
            forward = p % 2 == 0
            order = range(n) if forward else range(n - 1, -1, -1)
            bar = progress(order, n, f"stylize pass {p + 1}/{passes}", "frame")
            for t in bar:
                if ckpt.has(p, t):
                    xs[t] = torch.from_numpy(ckpt.load(p, t)["x"])[None].to(device)
                    summary["resumed"] += 1
                    continue
                if stop_after is not None and newly >= stop_after:
                    if laps:
                        laps.close()
                    return summary
                content = frames[t]
                coloured = None
                if maps is not None:
                    weights = colour.soft_weights(seg.labels(t), used, params["colour"]["feather"])
                    coloured = colour.apply_maps(content, weights, maps)
                if not optimising:
                    res = stylize.colour_only(coloured, device, 0.0)
                    ckpt.save(p, t, res)
                    xs[t] = res.x
                    newly += 1
                    summary["frames"] += 1
                    continue
                temporal, init = _temporal_and_init(
                    t,
                    p,
                    forward,
                    content,
                    coloured,
                    xs,
                    previous_pass,
                    flows,
                    shot_starts,
                    params,
                    device,
                    n,
                )
                lam_needed = params["lambda"] > 0
                lap = matting.to_torch(laps[t], device) if (laps and lam_needed) else None
                objective = stylize.Objective(
                    vgg,
                    params,
                    stylize.content_target(content, coloured, params),
                    targets,
                    segment_stage.masks(seg.labels(t), used),
                    temporal,
                    lap,
                )
                if p > 0:
                    budget = params["multipass"]["iterations"]
                elif t in shot_starts:
                    budget = params["iterations"]["first"]
                else:
                    budget = params["iterations"]["later"]
                res = stylize.optimise(objective, init, budget, params, what=f"frame {t}")
                ckpt.save(p, t, res)
                xs[t] = res.x
                newly += 1
                summary["frames"] += 1
                summary["evaluations"] += res.evaluations
                summary["seconds"] += res.seconds
                if res.retried:
                    summary["retried"].append(t)
                log.info(
                    "frame %d%s: %d evaluations, loss %.4g → %.4g, %.2f s%s",
                    t,
                    f" (pass {p + 1})" if passes > 1 else "",
                    res.evaluations,
                    res.losses[0],
                    res.losses[-1],
                    res.seconds,
                    ", retried with Adam" if res.retried else "",
                )
            previous_pass = list(xs)
        _finish(
            out,
            frames,
            ckpt,
            passes,
            record,
            key,
            flows.cuts,
            inputs={
                "frames": str(frames_path),
                "flow": str(flow_path),
                "laplacian": str(laplacian_path or ""),
                "segment": str(segment_path),
                "style": str(style_path),
            },
            device=str(device),
        )
        if laps:
            laps.close()
    ckpt.remove()
    return summary


def _temporal_and_init(
    t,
    p,
    forward,
    content,
    coloured,
    xs,
    previous_pass,
    flows: FlowSet,
    shot_starts,
    params,
    device,
    n,
):
    """The temporal terms of frame t in pass p, and where its optimisation starts."""
    first = params["init"]["first"]

    def start(how: str) -> torch.Tensor:
        return stylize.initial(content, how, coloured, params["seed"] + t, device)

    temporal = stylize.Temporal()
    neighbour = None  # (warped neighbour, its weight) used for the initialisation
    if forward:
        for j, flow, weight in flows.temporal_terms(t):
            if xs[t - j] is None:
                continue
            fl = torch.from_numpy(flow).to(device).permute(2, 0, 1)[None]
            warped = warp_torch(xs[t - j], fl)
            w = torch.from_numpy(weight).to(device)
            temporal.warped.append(warped)
            temporal.weights.append(w)
            temporal.pair_weights.append(1.0 if j == 1 else params["long_term_weight"])
            if j == 1:
                neighbour = (warped, w)
    elif t + 1 < n and flows.valid(t + 1, 1) and xs[t + 1] is not None:
        flow, weight = flows.forward(t + 1)  # t → t+1 on frame t's pixels
        fl = torch.from_numpy(flow).to(device).permute(2, 0, 1)[None]
        warped = warp_torch(xs[t + 1], fl)
        w = torch.from_numpy(weight).to(device)
        temporal.warped.append(warped)
        temporal.weights.append(w)
        temporal.pair_weights.append(1.0)
        neighbour = (warped, w)

    if p > 0 and previous_pass[t] is not None:
        init = previous_pass[t]
        if neighbour is not None:
            blend = params["multipass"]["blend"] * neighbour[1]
            init = blend * neighbour[0] + (1 - blend) * init
        return temporal, init.clone()
    first_of_shot = t in shot_starts or neighbour is None
    how = first if first_of_shot else params["init"]["later"]
    if how == "warped":  # not first of shot, so there is a neighbour
        # disoccluded and inconsistent pixels start from the (colour-transferred) content
        fill = start("colour" if first == "colour" else "content")
        w = neighbour[1]
        return temporal, w * neighbour[0] + (1 - w) * fill
    return temporal, start(how)


def _finish(
    out,
    frames: Frames,
    ckpt: Checkpoints,
    passes: int,
    record: dict,
    key: str,
    cuts: list[int],
    inputs: dict,
    device: str,
) -> None:
    """Write the artifact from the last pass's frames and every pass's records."""
    n, (w, h) = len(frames), frames.size
    last = passes - 1
    losses, offsets, evals, seconds, retried, terms = [], [0], [], [], [], []
    with store.create(out, STAGE, record, key, inputs=inputs) as f:
        ds = store.create_stack(f, "frames", (n, h, w, 3), np.uint8)
        for t in range(n):
            records = [ckpt.load(p, t) for p in range(passes)]
            x = records[last]["x"]
            ds[t] = np.clip(np.rint(x.transpose(1, 2, 0)), 0, 255).astype(np.uint8)
            hist = np.concatenate([r["losses"] for r in records])
            losses.append(hist)
            offsets.append(offsets[-1] + len(hist))
            evals.append(len(hist))
            seconds.append(sum(float(r["seconds"]) for r in records))
            retried.append(any(bool(r["retried"]) for r in records))
            terms.append(json.loads(str(records[last]["terms"])))
        store.write_array(f, "loss_history", np.concatenate(losses).astype(np.float32))
        store.write_array(f, "loss_offsets", np.asarray(offsets, np.int64))
        store.write_array(f, "evaluations", np.asarray(evals, np.int64))
        store.write_array(f, "seconds", np.asarray(seconds, np.float64))
        store.write_array(f, "retried", np.asarray(retried, bool))
        f.attrs.update(
            fps=frames.fps,
            count=n,
            size=(w, h),
            cuts=json.dumps(cuts),
            passes=passes,
            device=device,
            terms=json.dumps(terms),
        )
    log.info(
        "wrote %s: %d frames, %d evaluations in %.1f s",
        out,
        n,
        int(sum(evals)),
        float(sum(seconds)),
    )


class Stylized(store.Artifact):
    """Read access to a stylize artifact's per-frame records."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, STAGE)

    def loss_history(self, t: int) -> np.ndarray:
        off = self._f["loss_offsets"]
        return self._f["loss_history"][int(off[t]) : int(off[t + 1])]

    @property
    def evaluations(self) -> np.ndarray:
        return self._f["evaluations"][()]

    @property
    def seconds(self) -> np.ndarray:
        return self._f["seconds"][()]

    @property
    def retried(self) -> np.ndarray:
        return self._f["retried"][()]

    def terms(self) -> list[dict]:
        return json.loads(self._f.attrs["terms"])
