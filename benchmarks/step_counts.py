"""What one L-BFGS step of a frame's objective asks of the device: dispatched kernels (view
and metadata ops left out) and host syncs (scalar reads, `tolist`, data-dependent shapes),
in all and by term. Counted with a dispatch mode, so it runs on the CPU and says what a GPU
would be asked to launch.

    python benchmarks/step_counts.py [--size 64] [--device cpu] [--json FILE]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pvst import losses, matting, media, optim, stylize
from pvst.params import StylizeParams
from pvst.pipeline import config, samples

# ops whose result the host must wait for on a GPU
SYNC_OPS = {
    "aten._local_scalar_dense.default",  # item(), float(), bool(), int()
    "aten.nonzero.default",
    "aten.masked_select.default",
    "aten._unique2.default",
    "aten.repeat_interleave.Tensor",
}


class Counter(TorchDispatchMode):
    """Counts kernels and syncs dispatched inside the `with` block (`tolist` included)."""

    def __init__(self) -> None:
        super().__init__()
        self.kernels: collections.Counter[str] = collections.Counter()
        self.syncs = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        if name in SYNC_OPS:
            self.syncs += 1
        if not (func.is_view or name.startswith(("aten.detach", "aten._unsafe_view"))):
            self.kernels[name] += 1
        return func(*args, **(kwargs or {}))

    def __enter__(self):
        original = self._tolist = torch.Tensor.tolist

        def tolist(t: torch.Tensor):
            self.syncs += 1
            return original(t)

        torch.Tensor.tolist = tolist
        return super().__enter__()

    def __exit__(self, *exc):
        torch.Tensor.tolist = self._tolist
        return super().__exit__(*exc)

    @property
    def total(self) -> int:
        return sum(self.kernels.values())


def frame_problem(
    size: int | tuple[int, int], device: str = "cpu", **weights
) -> tuple[stylize.Objective, torch.Tensor]:
    """A frame's objective (`size`: a square's side, or width × height) as the stylize stage
    builds it: 3 labels (thirds of both pictures), 2 temporal terms, the Laplacian; `weights`
    override the defaults."""
    params = {**config.defaults("stylize"), **weights}
    w, h = (size, size) if isinstance(size, int) else size
    content = media.resize_image(media.read_image(samples.source("styles/chelsea.png")), (w, h))
    style = media.resize_image(media.read_image(samples.source("styles/rocket.jpg")), (w, h))
    dev = torch.device(device)
    from pvst.vgg import load_vgg19

    vgg = load_vgg19(device=dev)

    def thirds(h: int, w: int) -> np.ndarray:
        m = np.zeros((3, h, w), np.float32)
        for j, cols in enumerate(np.array_split(np.arange(w), 3)):
            m[j][:, cols] = 1
        return m

    p = StylizeParams.of(params)
    # the targets of the default layers, also when `weights` turn every style layer off
    layers = list(losses.active(config.defaults("stylize")["style_layers"]))
    targets = stylize.style_targets(vgg, style, thirds(h, w), layers, dev)
    x = stylize.to_tensor(content, dev)
    prev = torch.roll(x, shifts=2, dims=3)
    ones = torch.ones(content.shape[:2], device=dev)
    temporal = stylize.Temporal([prev, prev], [ones, 0.5 * ones], [1.0, 1.0])
    lap = matting.BandLaplacian(matting.laplacian_bands(content), 1, dev)
    obj = stylize.Objective(vgg, p, content, targets, thirds(h, w), temporal, lap)
    return obj, x


def per_evaluation(obj: stylize.Objective, x: torch.Tensor) -> Counter:
    """Kernels and syncs of one value and gradient of `obj` at x."""
    optim._value_and_grad(obj, x)  # warm: lazily built state stays out of the count
    with Counter() as c:
        optim._value_and_grad(obj, x)
    return c


def per_step(obj: stylize.Objective, x: torch.Tensor, steps: int = 6) -> tuple[float, float, int]:
    """(kernels a step, syncs a step, rejected trials) over `steps` L-BFGS steps after three."""
    opt = optim._LBFGS(obj, x, 100)
    for _ in range(3):
        opt.step()
    before = opt.rejected
    with Counter() as c:
        for _ in range(steps):
            opt.step()
    return c.total / steps, c.syncs / steps, opt.rejected - before


def by_term(size, device: str, measure: Callable[..., float]) -> dict[str, float]:
    """`measure(objective, x)` of VGG + content alone, and what each other term adds to it
    (style, temporal, photorealism), each from a frame problem with only that term on."""
    no_style = {k: 0.0 for k in config.defaults("stylize")["style_layers"]}
    off = {"style_layers": no_style, "beta": 0.0, "gamma": 0.0, "lambda": 0.0, "tv": 0.0}
    base = measure(*frame_problem(size, device, **off))
    parts = {"vgg + content": base}
    for term, keys in (
        ("style", ("style_layers", "beta")),
        ("temporal", ("gamma",)),
        ("photorealism", ("lambda",)),
    ):
        on = {k: v for k, v in off.items() if k not in keys}
        parts[term] = measure(*frame_problem(size, device, **on)) - base
    return parts


def report(size: int, device: str) -> dict:
    obj, x = frame_problem(size, device)
    full = per_evaluation(obj, x)
    kernels, syncs, rejected = per_step(obj, x)
    parts = by_term(size, device, lambda o, y: per_evaluation(o, y).total)
    return {
        "size": size,
        "device": device,
        "kernels_per_evaluation": full.total,
        "syncs_per_evaluation": full.syncs,
        "kernels_per_step": kernels,
        "syncs_per_step": syncs,
        "rejected_in_steps": rejected,
        "direction_and_line_search": kernels - full.total,
        "by_term": parts,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    r = report(args.size, args.device)
    print(
        f"step counts at {r['size']} px on {r['device']}: {r['kernels_per_step']:.0f} kernels and "
        f"{r['syncs_per_step']:.2f} syncs a step ({r['kernels_per_evaluation']} kernels, "
        f"{r['syncs_per_evaluation']} syncs an evaluation; direction and line search "
        f"{r['direction_and_line_search']:.0f})"
    )
    print("by term: " + ", ".join(f"{k} {v}" for k, v in r["by_term"].items()))
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
