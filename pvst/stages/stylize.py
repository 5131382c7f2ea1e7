"""Stylize stage: the video driver.

Frames are stylized in time order; the temporal chain restarts at every scene cut, so the
shots are independent: `chunks` jobs (`--part I/N`) each stylize whole shots, side by side on
several GPUs or cluster nodes, and `--merge` joins their parts in frame order. Each
finished frame is saved at once (atomically) in a partial folder next to the artifact, so a
killed run resumes from the last finished frame and gives the same frames as an uninterrupted
one. Ruder et al.'s multi-pass mode alternates the direction over the clip, blending every
frame's start with its warped neighbour. The artifact holds the stylized `frames` (what
assemble encodes) and, per frame, the loss history, evaluations, seconds and retries.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import shutil
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pvst import colour, losses, matting, regions, stylize
from pvst.atomic import atomic_path, check_space
from pvst.device import pick_device, set_cpu_threads, set_numerics
from pvst.logs import progress
from pvst.params import StylizeParams
from pvst.pipeline import store
from pvst.pipeline.job import Job
from pvst.pipeline.plan import recorded
from pvst.stages import segment as segment_stage
from pvst.stages.flow import FlowSet
from pvst.stages.frames import Frames
from pvst.stages.laplacian import Laplacians
from pvst.stages.parts import open_parts, shot_range
from pvst.stages.segment import Segmentation
from pvst.warp import warp_torch

log = logging.getLogger(__name__)
STAGE = "stylize"
PART = "stylize-part"
INPUTS = ("frames", "flow", "laplacian", "segment", "style")


def partial_dir(out: str | Path, key: str = "", part: bool = False) -> Path:
    """Where the finished frames of an unfinished run wait: beside the artifact; for a part,
    one folder for every part of the same key, so that frames outlive a changed part count
    and a part redone after a killed workflow (whose output Snakemake deleted) resumes them."""
    out = Path(out)
    if part:
        return out.with_name(f".{STAGE}-{key or 'parts'}.partial")
    return out.with_name(f".{out.name}.partial")


class Checkpoints:
    """Finished frames of an interrupted run: one .npz per (pass, frame), written atomically.
    A checkpoint that cannot be read (a forged or damaged file) is set aside with a warning
    and its frame redone."""

    def __init__(self, out: str | Path, key: str, params: dict, part: bool = False) -> None:
        self.dir = partial_dir(out, key, part)
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
        with atomic_path(meta_file) as tmp:  # parts start side by side: never a half-written file
            Path(tmp).write_text(json.dumps(meta))
        for f in sorted(self.dir.glob("p*_*.npz")):
            try:
                with np.load(f) as z:
                    missing = {"x", "losses", "seconds", "retried", "terms"} - set(z.files)
                    if missing or z["x"].ndim != 3:
                        raise ValueError(f"no {', '.join(sorted(missing)) or 'frame'} in it")
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                log.warning("%s: unreadable checkpoint (%s); its frame is redone", f, exc)
                f.unlink(missing_ok=True)

    def _path(self, p: int, t: int) -> Path:
        return self.dir / f"p{p}_{t:06d}.npz"

    def has(self, p: int, t: int) -> bool:
        return self._path(p, t).is_file()

    def save(self, p: int, t: int, result: stylize.StylizedFrame) -> None:
        with atomic_path(self._path(p, t)) as tmp, open(tmp, "wb") as f:
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


def run(job: Job, *, stop_after: int | None = None) -> dict:
    """The stage: stylize every frame of `frames` with the `style` photo (its regions from
    `segment`, its temporal terms from `flow`, its photorealism from `laplacian` when λ > 0);
    or the shots of `job.part` only; or merge the parts of `job.merge`. Returns a summary of
    the frames stylized now (empty for a merge).

    The artifact records the parameters that decide its frames (not execution settings such
    as the device). `stop_after` (frames) exists for tests of resuming: the run stops as if
    killed after that many newly finished frames."""
    set_cpu_threads(job.threads or job.params.threads)
    inputs = {r: str(job.input(r) or "") for r in INPUTS}  # as the artifact records them
    if job.merge:
        _merge(list(job.merge), job.out, job.params, job.key, inputs)
        return {}
    summary = _stylize(inputs, job.out, job.params, job.key, stop_after, job.part)
    log.info(
        "stylized %d frames (%d resumed), %d evaluations, %.1f s; redone after NaN: %s",
        summary["stylized"],
        summary["resumed"],
        summary["evaluations"],
        summary["seconds"],
        summary["retried"] or "none",
    )
    return summary


def _stylize(
    inputs: dict[str, str],
    out: str,
    params: StylizeParams,
    key: str,
    stop_after: int | None,
    part: tuple[int, int] | None,
) -> dict:
    """Stylize the frames of the clip, or with `part` (i, n), 0-based, the shots of part i of
    n; `inputs` holds a file for every role of INPUTS ("" for an unused laplacian)."""
    frames_path, flow_path, laplacian_path, segment_path, style_path = map(inputs.get, INPUTS)
    record = recorded(STAGE, params)
    device = pick_device(params.device)
    set_numerics(params.tf32)
    torch.manual_seed(params.seed)
    passes = max(1, params.multipass.passes)
    summary = {"stylized": 0, "evaluations": 0, "seconds": 0.0, "retried": [], "resumed": 0}
    with (
        Frames(frames_path) as frames,
        FlowSet(flow_path) as flows,
        Segmentation(segment_path) as seg,
        contextlib.ExitStack() as opened,
    ):
        n, size = len(frames), frames.size
        t0, t1 = (0, n) if part is None else shot_range(n, flows.cuts, *part)
        span = range(t0, t1)
        attrs = {
            "fps": frames.fps,
            "count": n,
            "size": size,
            "cuts": json.dumps(flows.cuts),
            "passes": passes,
            "device": str(device),
        }
        if part is not None:
            attrs.update(t0=t0, t1=t1, part=part[0], parts=part[1])
        if not span:  # a part that got no shot
            log.info("part %d/%d: no shot starts near its share of the clip", part[0] + 1, part[1])
            _write(out, PART, record, key, inputs, attrs, 0, [])
            return summary
        laps = opened.enter_context(Laplacians(laplacian_path)) if laplacian_path else None
        clip = _Clip.prepare(frames, flows, seg, laps, style_path, params, device)
        pixels = len(span) * size[0] * size[1]  # checkpoints of float32 RGB, then uint8 frames
        check_space(out, pixels * 3 * (4 * passes + 1), f"the stylized frames of {len(span)}")
        # made once the inputs are known good: a refused run leaves no folder behind
        ckpt = Checkpoints(out, key, record, part is not None)
        log.info(
            "stylizing %s of %d×%d on %s: %d pass(es), labels %s, cuts at %s",
            f"{n} frames"
            if part is None
            else f"frames {t0}..{t1 - 1} (part {part[0] + 1}/{part[1]})",
            *size,
            device,
            passes,
            [seg.names[u] for u in clip.used],
            flows.cuts or "none",
        )
        newly = 0
        for p in range(passes):
            forward = p % 2 == 0
            order = list(span if forward else reversed(span))
            todo = [t for t in order if not ckpt.has(p, t)]
            with _ReadAhead(functools.partial(clip.read, forward=forward), todo) as ahead:
                for t in progress(order, len(span), f"stylize pass {p + 1}/{passes}", "frame"):
                    if ckpt.has(p, t):
                        x = torch.from_numpy(ckpt.load(p, t)["x"])[None].to(device)
                        clip.remember(t, x)
                        summary["resumed"] += 1
                        continue
                    if stop_after is not None and newly >= stop_after:
                        return summary
                    clip.check_memory(t)
                    res = clip.stylize(t, p, forward, ahead.get(t))
                    ckpt.save(p, t, res)
                    clip.remember(t, res.x)
                    newly += 1
                    _count(summary, t, p, passes, res)
            clip.next_pass()
        records = (_checkpointed(ckpt, passes, t) for t in span)
        _write(out, STAGE if part is None else PART, record, key, inputs, attrs, len(span), records)
    if part is None:  # a part's frames are kept until the merge has them
        ckpt.remove()
    return summary


def _count(summary: dict, t: int, p: int, passes: int, res: stylize.StylizedFrame) -> None:
    """Add a newly stylized frame to the run's summary (and log the optimisation's effort)."""
    summary["stylized"] += 1
    summary["evaluations"] += res.evaluations
    summary["seconds"] += res.seconds
    if res.retried:
        summary["retried"].append(t)
    if res.losses:  # the colour method runs no optimisation
        memory = ""
        if res.x.is_cuda:  # what the part holds on the GPU, frame after frame
            gib = 2**30
            memory = (
                f", GPU memory {torch.cuda.memory_allocated(res.x.device) / gib:.2f} GiB "
                f"allocated, {torch.cuda.max_memory_allocated(res.x.device) / gib:.2f} GiB peak"
            )
        log.info(
            "frame %d%s: %d evaluations, loss %.4g → %.4g, %.2f s%s%s",
            t,
            f" (pass {p + 1})" if passes > 1 else "",
            res.evaluations,
            res.losses[0],
            res.losses[-1],
            res.seconds,
            ", retried with Adam" if res.retried else "",
            memory,
        )


# Read each frame's inputs one frame ahead, in a background thread (False: in turn, in the
# main thread; the frames are the same either way, tested).
READ_AHEAD = True


@dataclass
class _FrameInputs:
    """What one frame's optimisation reads from the artifacts, as host arrays."""

    content: np.ndarray  # uint8 H×W×3
    masks: np.ndarray  # K×H×W, the content's region masks of the style loss
    colour_weights: np.ndarray | None  # K×H×W, where the colour maps are used
    bands: np.ndarray | None  # the Laplacian's, where λ > 0
    # forward: (j, flow t → t−j, weight) of each valid pair; backward: the flow t → t+1
    flows: list = field(default_factory=list)


class _ReadAhead:
    """Reads the inputs of the frames `todo`, in that order, one frame ahead of the one being
    optimised: the HDF5 reads and mask blurs of frame t+1 overlap the optimisation of t."""

    def __init__(self, read: Callable[[int], _FrameInputs], todo: list[int]) -> None:
        self.read = read
        self.following = dict(itertools.pairwise(todo))  # frame -> the next to read
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="read-ahead") if READ_AHEAD else None
        self.pending: dict[int, Future] = {}
        if todo:
            self._submit(todo[0])

    def _submit(self, t: int) -> None:
        if self.pool is not None and t not in self.pending:
            self.pending[t] = self.pool.submit(self.read, t)

    def get(self, t: int) -> _FrameInputs:
        if t in self.following:
            self._submit(self.following[t])
        future = self.pending.pop(t, None)
        return future.result() if future is not None else self.read(t)

    def __enter__(self) -> _ReadAhead:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Clip:
    """What stylizing a clip's frames reads (inputs, network, style targets, colour maps) and
    the frames stylized so far. Only those that a temporal term can still reach (the last
    `reach` frames) stay on the device; with several passes the others wait on the host for
    the next pass (`previous_pass`), so the device memory a part holds does not grow with its
    length."""

    frames: Frames
    flows: FlowSet
    seg: Segmentation
    laps: Laplacians | None
    params: StylizeParams
    device: torch.device
    vgg: object | None
    targets: object | None
    used: list[int]
    maps: list | None
    shot_starts: set[int]
    near: dict = field(init=False)  # frame -> 1×3×H×W on the device: this pass's reachable
    far: dict = field(init=False)  # frame -> on the host: this pass's others (multipass)
    previous_pass: dict = field(init=False)  # frame -> on the host

    def __post_init__(self) -> None:
        self.near, self.far, self.previous_pass = {}, {}, {}

    @property
    def reach(self) -> int:
        """How many frames back (or ahead, in a backward pass) a temporal term looks."""
        return max(self.flows.long_term or [1])

    def remember(self, t: int, x: torch.Tensor) -> None:
        """Frame t is done: keep it on the device while a temporal term can reach it."""
        self.near[t] = x
        for k in [k for k in self.near if abs(k - t) > self.reach]:
            old = self.near.pop(k)
            if self.params.multipass.passes > 1:
                self.far[k] = old.cpu()

    def stylized(self, t: int) -> torch.Tensor | None:
        """Frame t of this pass on the device, if a temporal term can reach it."""
        return self.near.get(t)

    def next_pass(self) -> None:
        """This pass's frames become the next pass's starts (on the host)."""
        self.previous_pass = {**self.far, **{k: v.cpu() for k, v in self.near.items()}}
        self.near, self.far = {}, {}

    def check_memory(self, t: int) -> None:
        """Before each frame: what a frame's optimisation needs and the frames held, against
        what is free now (another process may have taken memory since the start)."""
        if self.vgg is None:
            return
        w, h = self.frames.size
        what = f"{self.frames.path} frame {t}"
        stylize.check_memory(h, w, self.params, self.device, what, self.reach, loaded=True)

    @classmethod
    def prepare(
        cls,
        frames: Frames,
        flows: FlowSet,
        seg: Segmentation,
        laps: Laplacians | None,
        style_path: str | Path,
        params: StylizeParams,
        device: torch.device,
    ) -> _Clip:
        """Load the network, the style photo's targets per region and the colour maps."""
        from pvst.vgg import load_vgg19

        optimising = params.method == "optimise"  # the fast colour method needs no network
        vgg = load_vgg19(params.vgg, params.pooling, device) if optimising else None
        size = frames.size
        held = max(flows.long_term or [1])
        stylize.check_memory(size[1], size[0], params, device, str(frames.path), held)
        # the style photo at the frames' long side, or at `style_size`
        fit = (params.style_size,) * 2 if params.style_size else size
        style = segment_stage.style_at_working_size(style_path, fit)
        used = seg.used_labels()
        style_labels = regions.resize_labels(seg.style_labels, style.shape[:2])
        targets = None
        if optimising:
            style_layers = list(losses.active(params.style_layers))
            targets = stylize.style_targets(
                vgg, style, seg.style_masks(style_labels, used), style_layers, device
            )
        maps = None
        if params.method == "colour" or "colour" in (params.init.first, params.init.later):
            n = len(frames)
            picks = np.unique(np.linspace(0, n - 1, min(n, params.colour.sample_frames)))
            fitted = colour.fit_region_maps(
                ((frames[int(t)], seg.labels(int(t))) for t in picks),
                style,
                style_labels,
                used,
                params.colour.steps,
                seg.whole,
            )
            maps = [fitted[u] for u in used]
            log.info("colour maps fitted per region on %d frames", len(picks))
        shot_starts = {0, *flows.cuts}
        return cls(frames, flows, seg, laps, params, device, vgg, targets, used, maps, shot_starts)

    def read(self, t: int, forward: bool) -> _FrameInputs:
        """Frame t's inputs from the artifacts (host work: run one frame ahead)."""
        params = self.params
        labels = self.seg.labels(t)
        weights = None
        if self.maps is not None:
            weights = colour.soft_weights(labels, self.used, params.colour.feather)
        bands = None
        if self.laps and params.lambda_ > 0 and self.vgg is not None:
            bands = self.laps.bands(t)
        flows: list = []
        if self.vgg is not None:
            if forward:
                flows = self.flows.temporal_terms(t)
            elif t + 1 < len(self.frames) and self.flows.valid(t + 1, 1):
                flows = [(1, *self.flows.forward(t + 1))]
        masks = regions.label_masks(labels, self.used)
        return _FrameInputs(self.frames[t], masks, weights, bands, flows)

    def stylize(self, t: int, p: int, forward: bool, inputs: _FrameInputs) -> stylize.StylizedFrame:
        """Frame t in pass p (forward or backward over the clip), from its inputs."""
        params, device = self.params, self.device
        coloured = None
        if self.maps is not None:  # on the frame's device
            image = torch.from_numpy(inputs.content).to(device, torch.float64) / 255.0
            weights = torch.from_numpy(inputs.colour_weights).to(device)
            coloured = colour.apply_maps_tensor(image, weights, self.maps)
        if self.vgg is None:
            return stylize.colour_only(coloured, device, 0.0)
        temporal, init = self._temporal_and_init(t, p, forward, inputs, coloured)
        lap = None
        if inputs.bands is not None:
            lap = matting.BandLaplacian(inputs.bands, self.laps.radius, device)
        objective = stylize.Objective(
            self.vgg,
            params,
            stylize.content_target(inputs.content, coloured, params),
            self.targets,
            inputs.masks,
            temporal,
            lap,
        )
        if p > 0:
            budget = params.multipass.iterations
        elif t in self.shot_starts:
            budget = params.iterations.first
        else:
            budget = params.iterations.later
        return stylize.optimise(objective, init, budget, params, what=f"frame {t}")

    def _temporal_and_init(
        self,
        t: int,
        p: int,
        forward: bool,
        inputs: _FrameInputs,
        coloured: torch.Tensor | None,
    ) -> tuple[stylize.Temporal, torch.Tensor]:
        """The temporal terms of frame t in pass p, and where its optimisation starts."""
        params, device = self.params, self.device
        first = params.init.first

        def start(how: str) -> torch.Tensor:
            return stylize.initial(inputs.content, how, coloured, params.seed + t, device)

        temporal = stylize.Temporal()
        neighbour = None  # (warped neighbour, its weight) used for the initialisation
        if forward:
            for j, flow, weight in inputs.flows:
                earlier = self.stylized(t - j)
                if earlier is None:
                    continue
                fl = torch.from_numpy(flow).to(device).permute(2, 0, 1)[None]
                warped = warp_torch(earlier, fl)
                w = torch.from_numpy(weight).to(device)
                temporal.warped.append(warped)
                temporal.weights.append(w)
                temporal.pair_weights.append(1.0 if j == 1 else params.long_term_weight)
                if j == 1:
                    neighbour = (warped, w)
        elif inputs.flows and self.stylized(t + 1) is not None:
            ((_, flow, weight),) = inputs.flows  # t → t+1 on frame t's pixels
            fl = torch.from_numpy(flow).to(device).permute(2, 0, 1)[None]
            warped = warp_torch(self.stylized(t + 1), fl)
            w = torch.from_numpy(weight).to(device)
            temporal.warped.append(warped)
            temporal.weights.append(w)
            temporal.pair_weights.append(1.0)
            neighbour = (warped, w)

        if p > 0 and t in self.previous_pass:
            init = self.previous_pass[t].to(device)
            if neighbour is not None:
                blend = params.multipass.blend * neighbour[1]
                init = blend * neighbour[0] + (1 - blend) * init
            return temporal, init.clone()
        first_of_shot = t in self.shot_starts or neighbour is None
        how = first if first_of_shot else params.init.later
        if how == "warped":  # not first of shot, so there is a neighbour
            # disoccluded and inconsistent pixels start from the (colour-transferred) content
            fill = start("colour" if first == "colour" else "content")
            w = neighbour[1]
            return temporal, w * neighbour[0] + (1 - w) * fill
        return temporal, start(how)


def _checkpointed(ckpt: Checkpoints, passes: int, t: int) -> tuple:
    """Frame t's record from the checkpoints: (frame, loss history of every pass, seconds,
    retried, the last pass's loss terms)."""
    records = [ckpt.load(p, t) for p in range(passes)]
    x = records[-1]["x"]
    return (
        np.clip(np.rint(x.transpose(1, 2, 0)), 0, 255).astype(np.uint8),
        np.concatenate([r["losses"] for r in records]),
        sum(float(r["seconds"]) for r in records),
        any(bool(r["retried"]) for r in records),
        json.loads(str(records[-1]["terms"])),
    )


def _write(
    out, stage: str, record: dict, key: str, inputs: dict, attrs: dict, count: int, records
) -> None:
    """Write a stylize artifact (or part) from `count` per-frame records in frame order."""
    w, h = attrs["size"]
    losses, offsets, seconds, retried, terms = [], [0], [], [], []
    with store.create(out, stage, record, key, inputs=inputs) as f:
        ds = store.create_stack(f, "frames", (count, h, w, 3), np.uint8)  # 0: a part, no shot
        for i, (frame, hist, secs, redone, term) in enumerate(records):
            ds[i] = frame
            losses.append(hist)
            offsets.append(offsets[-1] + len(hist))
            seconds.append(secs)
            retried.append(redone)
            terms.append(term)
        evals = np.diff(np.asarray(offsets, np.int64))
        store.write_array(
            f, "loss_history", np.concatenate([np.zeros(0), *losses]).astype(np.float32)
        )
        store.write_array(f, "loss_offsets", np.asarray(offsets, np.int64))
        store.write_array(f, "evaluations", evals)
        store.write_array(f, "seconds", np.asarray(seconds, np.float64))
        store.write_array(f, "retried", np.asarray(retried, bool))
        store.set_attrs(f, **attrs, terms=json.dumps(terms))
    log.info(
        "wrote %s: %d frames, %d evaluations in %.1f s", out, count, int(evals.sum()), sum(seconds)
    )


def _merge(
    parts: list[str | Path], out: str | Path, params: StylizeParams, key: str, inputs: dict
) -> None:
    """Join part artifacts (each whole shots) into the stylize artifact, in frame order."""
    record = recorded(STAGE, params)
    with Frames(inputs["frames"]) as frames:
        n = len(frames)
    opened = open_parts(parts, PART, record, n, out)
    try:
        first = opened[0].attrs
        devices = sorted({str(f.attr("device")) for f in opened})
        attrs = {k: first[k] for k in ("fps", "count", "cuts", "passes")}
        attrs.update(size=tuple(int(v) for v in first["size"]), device=", ".join(devices))
        _write(out, STAGE, record, key, inputs, attrs, n, _part_records(opened))
    finally:
        for f in opened:
            f.close()
    shutil.rmtree(partial_dir(parts[0], key, part=True), ignore_errors=True)


def _part_records(opened) -> object:
    for f in opened:
        offsets = f.array("loss_offsets")
        history = f.array("loss_history")
        seconds, retried = f.array("seconds"), f.array("retried")
        terms = json.loads(f.attr("terms"))
        for i in range(len(seconds)):
            yield (
                f.array("frames", i),
                history[offsets[i] : offsets[i + 1]],
                float(seconds[i]),
                bool(retried[i]),
                terms[i],
            )


class Stylized(Frames):
    """Read access to a stylize artifact: its frames and the optimisation's per-frame records.

    `stage=None` opens any artifact holding frames; only a stylize artifact has records."""

    def __init__(self, path: str | Path, stage: str | None = STAGE) -> None:
        super().__init__(path, stage)

    @property
    def has_records(self) -> bool:
        """Whether the optimisation's per-frame records are there (frames alone are not)."""
        return self.has("evaluations")

    def loss_history(self, t: int) -> np.ndarray:
        off = self.dataset("loss_offsets")
        return self.array("loss_history", slice(int(off[t]), int(off[t + 1])))

    @property
    def evaluations(self) -> np.ndarray:
        return self.array("evaluations")

    @property
    def seconds(self) -> np.ndarray:
        return self.array("seconds")

    @property
    def retried(self) -> np.ndarray:
        return self.array("retried")

    def terms(self) -> list[dict]:
        return json.loads(self.attr("terms"))

    def effort(self) -> dict:
        """The optimisation's time and evaluations per frame, when it recorded them."""
        if not self.has_records:
            return super().effort()
        seconds = self.seconds
        return {
            "seconds_per_frame": float(seconds.mean()),
            "evaluations_per_frame": float(self.evaluations.mean()),
            "seconds_total": float(seconds.sum()),
            "frames_redone_after_nan": int(self.retried.sum()),
        }
