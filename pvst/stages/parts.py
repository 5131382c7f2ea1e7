"""Stages split over frames: which frames a part computes, and opening the parts to merge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pvst.errors import ArtifactError
from pvst.pipeline import store
from pvst.pipeline.job import Job


def part_range(n: int, part: int, parts: int) -> tuple[int, int]:
    """Frames [t0, t1) that part `part` (0-based) of `parts` computes."""
    return n * part // parts, n * (part + 1) // parts


def open_parts(
    paths: list[str | Path], stage: str, params: dict, n: int, out: str | Path
) -> list[store.OpenArtifact]:
    """Open part artifacts sorted by first frame; they must cover frames 0..n−1 exactly."""
    opened = [store.OpenArtifact(p, stage, params=params) for p in paths]
    opened.sort(key=lambda f: (int(f.attr("t0")), int(f.attr("t1"))))
    covered = [(int(f.attr("t0")), int(f.attr("t1"))) for f in opened]
    edges = [0] + [b for _, b in covered]
    if [a for a, _ in covered] != edges[:-1] or edges[-1] != n:
        for f in opened:
            f.close()
        raise ArtifactError(f"{out}: the parts cover frames {covered}, not 0..{n - 1}")
    return opened


def shot_range(n: int, cuts: list[int], part: int, parts: int) -> tuple[int, int]:
    """Frames [t0, t1) that part `part` of `parts` stylizes: whole shots (a shot's temporal
    chain is sequential). The parts split the clip at the shot starts nearest to its even
    shares, so a part may get no frames (t0 == t1) when shots are long."""
    edges = sorted({0, n, *(c for c in cuts if 0 < c < n)})

    def edge(i: int) -> int:
        return min(edges, key=lambda s: (abs(s - n * i / parts), s))

    return edge(part), edge(part + 1)


def run_parted(job: Job, compute_part: Callable[..., Any], merge: Callable[..., Any]) -> Any:
    """Run a stage computed in parts: the job's part, the merge of the parts it lists, or (with
    neither) every part in turn, each to a temporary file, and their merge. `job.threads` caps
    OpenCV's threads.

    `compute_part(frames, out, params, part, parts, key)` and `merge(frames, parts, out,
    params, key)` are the stage's two steps."""
    if job.threads:
        import cv2

        cv2.setNumThreads(job.threads)
    frames = job.inputs["frames"]
    if job.part is not None:
        return compute_part(frames, job.out, job.params, *job.part, job.key)
    if job.merge:
        return merge(frames, list(job.merge), job.out, job.params, job.key)
    parts, out = job.params.chunks, Path(job.out)
    tmp_parts = [out.with_name(f".{out.stem}-{i + 1}of{parts}.part.h5") for i in range(parts)]
    try:
        for i, p in enumerate(tmp_parts):
            run_parted(replace(job, out=str(p), part=(i, parts)), compute_part, merge)
        return merge(frames, tmp_parts, job.out, job.params, job.key)
    finally:
        for p in tmp_parts:
            p.unlink(missing_ok=True)
