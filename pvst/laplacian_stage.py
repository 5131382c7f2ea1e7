"""Laplacian stage: one Matting Laplacian per frame (float32 CSR), computed in parallel parts.

The artifact holds group `L/{t:06d}` (data, indices, indptr, shape) for every frame t.
"""

from __future__ import annotations

import logging
from pathlib import Path

import scipy.sparse as sp

from pvst import matting, store
from pvst.frames import Frames
from pvst.logs import progress
from pvst.parts import open_parts, part_range

log = logging.getLogger(__name__)
STAGE = "laplacian"
PART = "laplacian-part"


def _name(t: int) -> str:
    return f"L/{t:06d}"


def compute_part(
    frames_path: str | Path, out: str | Path, params: dict, part: int, parts: int, key: str = ""
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
            params["eps"],
            params["radius"],
        )
        with store.create(out, PART, params, key, inputs={"frames": str(frames_path)}) as f:
            f.attrs.update(t0=t0, t1=t1, part=part, parts=parts, count=n)
            f.create_group("L")
            for t in progress(range(t0, t1), t1 - t0, f"laplacian {part + 1}/{parts}", "frame"):
                lap = matting.matting_laplacian(frames[t], params["eps"], params["radius"])
                store.write_csr(f, _name(t), lap)
    log.info("wrote %s", out)
    return t0, t1


def merge(
    frames_path: str | Path, parts: list[str | Path], out: str | Path, params: dict, key: str = ""
) -> None:
    """Join the parts into the laplacian artifact (compressed chunks are copied as they are)."""
    with Frames(frames_path) as frames:
        n, size = len(frames), frames.size
    opened = open_parts(parts, PART, params, n, out)
    try:
        with store.create(out, STAGE, params, key, inputs={"frames": str(frames_path)}) as f:
            f.attrs.update(count=n, size=size)
            group = f.create_group("L")
            for part in opened:
                for name in part["L"]:
                    part.copy(part[f"L/{name}"], group, name)
    finally:
        for part in opened:
            part.close()
    log.info("wrote %s: %d Laplacians of %d×%d", out, n, *size)


class Laplacians(store.Artifact):
    """Read access to a laplacian artifact."""

    def __init__(self, path: str | Path, params: dict | None = None) -> None:
        super().__init__(path, STAGE, params)
        self.count = int(self._f.attrs["count"])

    def __getitem__(self, t: int) -> sp.csr_matrix:
        return store.read_csr(self._f[_name(t)])

    def __len__(self) -> int:
        return self.count
