"""Laplacian stage: one Matting Laplacian per frame, computed in parallel parts.

The artifact holds dataset `L/{t:06d}` for every frame t: the K×H×W float32 half bands of
`matting.laplacian_bands` (13 planes for radius 1), the exact compact form of the symmetric
matrix; `Laplacians.bands` gives them for the device, `Laplacians[t]` the CSR matrix.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from pvst import matting
from pvst.atomic import check_space
from pvst.logs import progress
from pvst.params import LaplacianParams
from pvst.pipeline import store
from pvst.pipeline.job import Job
from pvst.pipeline.plan import recorded
from pvst.stages.frames import Frames
from pvst.stages.parts import open_parts, part_range, run_parted

log = logging.getLogger(__name__)
STAGE = "laplacian"
PART = "laplacian-part"


def _name(t: int) -> str:
    return f"L/{t:06d}"


def _compute_part(
    frames_path: str | Path,
    out: str | Path,
    params: LaplacianParams,
    part: int,
    parts: int,
    key: str = "",
) -> tuple[int, int]:
    """Build the Laplacians of frames [t0, t1) of part `part` and write them to `out`."""
    with Frames(frames_path) as frames:
        n = len(frames)
        t0, t1 = part_range(n, part, parts)
        log.info(
            "laplacian part %d/%d: frames %d..%d of %d (eps %g, radius %d)",
            part + 1,
            parts,
            t0,
            t1 - 1,
            n,
            params.eps,
            params.radius,
        )
        w, h = frames.size
        planes = ((4 * params.radius + 1) ** 2 + 1) // 2  # matting.laplacian_bands' K
        check_space(out, (t1 - t0) * planes * h * w * 4, f"the Laplacians of {t1 - t0} frames")
        record = recorded(STAGE, params)
        with store.create(out, PART, record, key, inputs={"frames": str(frames_path)}) as f:
            store.set_attrs(f, t0=t0, t1=t1, part=part, parts=parts, count=n)
            for t in progress(range(t0, t1), t1 - t0, f"laplacian {part + 1}/{parts}", "frame"):
                bands = matting.laplacian_bands(frames[t], params.eps, params.radius)
                store.write_array(f, _name(t), bands, chunks=(1, *bands.shape[1:]))
    log.info("wrote %s", out)
    return t0, t1


def _merge(
    frames_path: str | Path,
    parts: list[str | Path],
    out: str | Path,
    params: LaplacianParams,
    key: str = "",
) -> None:
    """Join the parts into the laplacian artifact (compressed chunks are copied as they are)."""
    with Frames(frames_path) as frames:
        n, size = len(frames), frames.size
    record = recorded(STAGE, params)
    check_space(out, sum(Path(p).stat().st_size for p in parts), "the merged Laplacians")
    opened = open_parts(parts, PART, record, n, out)
    try:
        with store.create(out, STAGE, record, key, inputs={"frames": str(frames_path)}) as f:
            store.set_attrs(f, count=n, size=size, radius=params.radius)
            for part in opened:
                for name in part.names("L"):
                    store.copy_dataset(part, f"L/{name}", f)
    finally:
        for part in opened:
            part.close()
    log.info("wrote %s: %d Laplacians of %d×%d", out, n, *size)


def run(job: Job) -> tuple[int, int] | None:
    """The stage: the Matting Laplacian of every frame of `job.inputs["frames"]`; one part (the
    frames range it computed), the merge, or both in turn."""
    return run_parted(job, _compute_part, _merge)


class Laplacians(store.OpenArtifact):
    """Read access to a laplacian artifact."""

    def __init__(self, path: str | Path, params: dict | None = None) -> None:
        super().__init__(path, STAGE, params)
        self.count = int(self.attr("count"))
        self.radius = int(self.attr("radius"))

    def bands(self, t: int) -> np.ndarray:
        """Frame t's half bands (K×H×W float32), for `matting.BandLaplacian`."""
        return self.array(_name(t))

    def __getitem__(self, t: int) -> sp.csr_matrix:
        return matting.bands_to_csr(self.bands(t), self.radius)

    def __len__(self) -> int:
        return self.count
