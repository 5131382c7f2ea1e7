"""Flow stage: pairs (t−j, t) in parallel parts, merged into one artifact with scene cuts.

For every frame t and every j in `long_term` with t−j ≥ 0, the artifact holds, at index t of
group `j{j}`:
  backward       flow t → (t−j)           on frame t's pixels (warps frame t−j onto frame t)
  mask_backward  consistency of backward  on frame t's pixels, uint8 0..255
  valid          t−j ≥ 0 and no scene cut in (t−j, t]
and for j = 1 only (what multi-pass stylization and the previews read):
  forward        flow (t−1) → t           on frame t−1's pixels
  mask_forward   consistency of forward   on frame t−1's pixels
Flows are stored as float16 (under 1/64 px error for motions under 32 px) and read as float32.
`cuts` lists the frames that start a new shot; `stats/*` the per-frame evidence for them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from pvst import flow
from pvst.atomic import check_space
from pvst.errors import ArtifactError
from pvst.logs import progress
from pvst.params import FlowCuts, FlowParams
from pvst.pipeline import store
from pvst.pipeline.job import Job
from pvst.pipeline.plan import recorded
from pvst.stages.frames import Frames
from pvst.stages.parts import open_parts, part_range, run_parted

log = logging.getLogger(__name__)
STAGE = "flow"
PART = "flow-part"
FLOW_DTYPE = np.float16


def pair_datasets(j: int) -> tuple[str, ...]:
    """Datasets stored for pairs at distance j."""
    return (
        ("backward", "mask_backward", "forward", "mask_forward")
        if j == 1
        else ("backward", "mask_backward")
    )


def _shape_dtype(name: str, h: int, w: int, n: int) -> tuple[tuple[int, ...], type]:
    if name in ("forward", "backward"):
        return (n, h, w, 2), FLOW_DTYPE
    return (n, h, w), np.uint8


STATS = ("consistent", "explained", "colour")


def _method_params(params: FlowParams) -> dict:
    """The chosen method's own settings (deepflow has none)."""
    own = getattr(params, params.method, None)
    return own.to_dict() if own is not None else {}


def _to_u8(mask: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(mask * 255), 0, 255).astype(np.uint8)


def _compute_part(
    frames_path: str | Path,
    out: str | Path,
    params: FlowParams,
    part: int,
    parts: int,
    key: str = "",
) -> tuple[int, int]:
    """Estimate the pairs of frames [t0, t1) of part `part` and write them to `out`."""
    js = sorted(params.long_term)
    estimate = flow.make_estimator(params.method, **_method_params(params))
    with Frames(frames_path) as frames:
        n, (w, h) = len(frames), frames.size
        t0, t1 = part_range(n, part, parts)
        log.info(
            "flow part %d/%d: frames %d..%d of %d, %s, j in %s",
            part + 1,
            parts,
            t0,
            t1 - 1,
            n,
            params.method,
            js,
        )
        per_pixel = sum(5 * len(pair_datasets(j)) // 2 for j in js)  # float16 flow, uint8 mask
        check_space(out, (t1 - t0) * h * w * per_pixel, f"the flow of {t1 - t0} frames")
        record = recorded(STAGE, params)
        with store.create(out, PART, record, key, inputs={"frames": str(frames_path)}) as f:
            store.set_attrs(f, t0=t0, t1=t1, part=part, parts=parts, count=n)
            groups = {
                j: {
                    name: store.create_stack(f, f"j{j}/{name}", *_shape_dtype(name, h, w, t1 - t0))
                    for name in pair_datasets(j)
                }
                for j in js
            }
            stats = {s: np.full(t1 - t0, np.nan, np.float32) for s in STATS}
            cache: dict[int, np.ndarray] = {}

            def frame(i: int) -> np.ndarray:
                if i not in cache:
                    cache[i] = frames[i]
                return cache[i]

            for t in progress(range(t0, t1), t1 - t0, f"flow {part + 1}/{parts}", "frame"):
                for j in js:
                    if t - j < 0:
                        continue
                    a, b = frame(t - j), frame(t)
                    fwd, bwd = estimate(a, b), estimate(b, a)
                    m_bwd, ok = flow.consistency(bwd, fwd, params.blur_sigma)
                    ds = groups[j]
                    i = t - t0
                    ds["backward"][i], ds["mask_backward"][i] = bwd, _to_u8(m_bwd)
                    if j == 1:
                        m_fwd, _ = flow.consistency(fwd, bwd, params.blur_sigma)
                        ds["forward"][i], ds["mask_forward"][i] = fwd, _to_u8(m_fwd)
                        _record_stats(stats, i, a, b, bwd, ok, params.cuts.tolerance)
                for old in [k for k in cache if k < t - max(js)]:
                    del cache[old]
            if 1 not in js:  # cuts need consecutive pairs even when the loss does not
                for t in range(max(t0, 1), t1):
                    a, b = frame(t - 1), frame(t)
                    bwd, fwd = estimate(b, a), estimate(a, b)
                    _, ok = flow.consistency(bwd, fwd, 0)
                    _record_stats(stats, t - t0, a, b, bwd, ok, params.cuts.tolerance)
            for s, values in stats.items():
                store.write_array(f, f"stats/{s}", values)
    log.info("wrote %s", out)
    return t0, t1


def _record_stats(
    stats: dict[str, np.ndarray],
    i: int,
    a: np.ndarray,
    b: np.ndarray,
    bwd: np.ndarray,
    ok: np.ndarray,
    tolerance: float,
) -> None:
    """The evidence for a cut between frames a and b (pair i of a part), into `stats`."""
    stats["consistent"][i] = ok.mean()
    stats["explained"][i] = flow.explained_fraction(a, b, bwd, ok, tolerance)
    stats["colour"][i] = flow.colour_distance(a, b)


def detect_cuts(stats: dict[str, np.ndarray], cuts: FlowCuts) -> list[int]:
    """Frames t ≥ 1 that start a new shot."""
    return [
        t
        for t in range(1, len(stats["explained"]))
        if flow.is_cut(float(stats["explained"][t]), float(stats["colour"][t]), cuts)
    ]


def _merge(
    frames_path: str | Path,
    parts: list[str | Path],
    out: str | Path,
    params: FlowParams,
    key: str = "",
) -> list[int]:
    """Join the parts into the flow artifact, find the scene cuts and drop pairs across them."""
    js = sorted(params.long_term)
    record = recorded(STAGE, params)
    with Frames(frames_path) as frames:
        n, (w, h) = len(frames), frames.size
    check_space(out, sum(Path(p).stat().st_size for p in parts), "the merged flow")
    opened = open_parts(parts, PART, record, n, out)
    try:
        stats = {s: np.concatenate([f.array(f"stats/{s}") for f in opened]) for s in STATS}
        cuts = detect_cuts(stats, params.cuts)
        starts = np.zeros(n, bool)
        starts[cuts] = True
        with store.create(out, STAGE, record, key, inputs={"frames": str(frames_path)}) as f:
            store.set_attrs(f, count=n, long_term=js, method=params.method, size=(w, h))
            store.write_array(f, "cuts", np.asarray(cuts, np.int64))
            for s, values in stats.items():
                store.write_array(f, f"stats/{s}", values)
            for j in js:
                valid = np.array(
                    [t - j >= 0 and not starts[t - j + 1 : t + 1].any() for t in range(n)]
                )
                store.write_array(f, f"j{j}/valid", valid)
                for name in pair_datasets(j):
                    dst = store.create_stack(f, f"j{j}/{name}", *_shape_dtype(name, h, w, n))
                    for part in opened:
                        t0, t1 = int(part.attr("t0")), int(part.attr("t1"))
                        src = part.dataset(f"j{j}/{name}")
                        for t in range(t0, t1):
                            value = src[t - t0]
                            if name.startswith("mask") and not valid[t]:
                                value = np.zeros_like(value)
                            dst[t] = value
    finally:
        for f in opened:
            f.close()
    log.info("wrote %s: %d frames, scene cuts at %s", out, n, cuts or "none")
    return cuts


def run(job: Job) -> tuple[int, int] | list[int]:
    """The stage: flow pairs, consistency masks and scene cuts of `job.inputs["frames"]`; one
    part (the frames range it computed), the merge (the scene cuts), or both in turn."""
    return run_parted(job, _compute_part, _merge)


class FlowSet(store.OpenArtifact):
    """Read access to a flow artifact, as the stylizer and the previews use it."""

    def __init__(self, path: str | Path, params: dict | None = None) -> None:
        super().__init__(path, STAGE, params)
        self.long_term = [int(j) for j in self.attr("long_term")]
        self.cuts = [int(t) for t in self.array("cuts")]
        self.count = int(self.attr("count"))
        self._valid = {j: self.array(f"j{j}/valid") for j in self.long_term}

    def valid(self, t: int, j: int) -> bool:
        return bool(j in self._valid and 0 <= t < self.count and self._valid[j][t])

    def backward(self, t: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(flow t → t−j, its consistency weights in [0, 1]) on frame t's pixels."""
        return (
            self.array(f"j{j}/backward", t).astype(np.float32),
            self.array(f"j{j}/mask_backward", t).astype(np.float32) / 255.0,
        )

    def forward(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(flow t−1 → t, its consistency weights) on frame t−1's pixels."""
        return (
            self.array("j1/forward", t).astype(np.float32),
            self.array("j1/mask_forward", t).astype(np.float32) / 255.0,
        )

    def temporal_terms(self, t: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(j, backward flow, long-term weight) for the valid pairs ending at t, closest first."""
        js = [j for j in self.long_term if self.valid(t, j)]
        flows, masks = [], []
        for j in js:
            fl, m = self.backward(t, j)
            flows.append(fl)
            masks.append(m)
        return list(zip(js, flows, flow.long_term_weights(masks), strict=True))

    def stats(self) -> dict[str, np.ndarray]:
        return {s: self.array(f"stats/{s}") for s in STATS}


# -- previews ----------------------------------------------------------------------------------
def flow_to_rgb(fl: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-wheel image of a flow: hue is the direction, saturation the magnitude."""
    mag, ang = cv2.cartToPolar(fl[..., 0], fl[..., 1], angleInDegrees=True)
    scale = max_magnitude or max(float(np.percentile(mag, 99)), 1e-6)
    hsv = np.zeros((*fl.shape[:2], 3), np.uint8)
    hsv[..., 0] = (ang / 2).astype(np.uint8)
    hsv[..., 1] = np.clip(mag / scale * 255, 0, 255).astype(np.uint8)
    hsv[..., 2] = 255
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def preview_rows(frames: Frames, flows: FlowSet, j: int = 1):
    """Yield frame | backward flow t→t−j (colour wheel) | consistency weights, per frame."""
    if j not in flows.long_term:
        raise ArtifactError(f"{flows.path}: has no pairs at distance j={j} ({flows.long_term})")
    mags = [
        np.percentile(np.hypot(*flows.backward(t, j)[0].transpose(2, 0, 1)), 99)
        for t in range(0, flows.count, max(1, flows.count // 20))
        if flows.valid(t, j)
    ]
    scale = max(float(np.median(mags)) if mags else 1.0, 1e-3)
    w, h = frames.size
    for t in range(flows.count):
        if flows.valid(t, j):
            fl, m = flows.backward(t, j)
            colour = flow_to_rgb(fl, scale)
            mask = np.repeat((m * 255).astype(np.uint8)[..., None], 3, axis=2)
        else:
            colour = np.zeros((h, w, 3), np.uint8)
            mask = np.zeros((h, w, 3), np.uint8)
        yield np.concatenate([frames[t], colour, mask], axis=1)
