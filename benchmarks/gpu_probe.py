"""The measurements of `device_check.sh`, one per subcommand, each printing `summary: ` lines
(what goes into the check's summary) and a JSON record on its last line.

    python benchmarks/gpu_probe.py env
    python benchmarks/gpu_probe.py step --size 512 --device cuda      (also 1920x1080)
    python benchmarks/gpu_probe.py determinism --size 512 --device cuda
    python benchmarks/gpu_probe.py concurrent --procs 1 2 4 --size 512 --seconds 20
    python benchmarks/gpu_probe.py host --size 1920x1080 --device cuda

Sizes are a square's side or WIDTHxHEIGHT. On a CPU (`--device cpu`) everything runs too,
small, so the script itself is tested where there is no GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import step_counts

from pvst import colour, optim, stylize
from pvst.device import set_numerics
from pvst.params import StylizeParams
from pvst.pipeline import config

GIB = 2**30


def say(line: str) -> None:
    print(f"summary: {line}", flush=True)


def size_of(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return (int(w), int(h or w))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def env(_args) -> dict:
    """Driver, torch, CUDA, cuDNN, TF32 flags, the devices this process sees."""
    from pvst.device import driver_version

    rec = {
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "driver": driver_version(),
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "devices": [],
    }
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        rec["devices"].append(
            {
                "name": p.name,
                "memory_gib": round(p.total_memory / GIB, 1),
                "cc": f"{p.major}.{p.minor}",
            }
        )
    say(
        f"torch {rec['torch']} (CUDA build {rec['cuda_build']}, cuDNN {rec['cudnn']}), driver "
        f"{rec['driver']}, CUDA available: {rec['cuda_available']}"
    )
    say(
        f"TF32 defaults: matmul {rec['tf32_matmul']}, cuDNN {rec['tf32_cudnn']}, float32 matmul "
        f"precision {rec['float32_matmul_precision']}; CUDA_VISIBLE_DEVICES="
        f"{rec['CUDA_VISIBLE_DEVICES']}; devices: "
        + (
            ", ".join(f"{d['name']} {d['memory_gib']} GiB cc {d['cc']}" for d in rec["devices"])
            or "none"
        )
    )
    return rec


def _timed_evaluation(obj, x, device, repeat: int = 5) -> float:
    optim._value_and_grad(obj, x)
    times = []
    for _ in range(repeat):
        sync(device)
        start = time.perf_counter()
        optim._value_and_grad(obj, x)
        sync(device)
        times.append(time.perf_counter() - start)
    return min(times)  # the least disturbed by anything else running


def step(args) -> dict:
    """One L-BFGS step of the full objective: syncs, wall and GPU time, breakdown, memory."""
    device = torch.device(args.device)
    w, h = size_of(args.size)
    set_numerics(False)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        free0, total = torch.cuda.mem_get_info(device)
    obj, x = step_counts.frame_problem((w, h), args.device)
    opt = optim._LBFGS(obj, x, 100)
    for _ in range(3):
        opt.step()
    n = args.steps
    # host syncs a step
    if device.type == "cuda":
        torch.cuda.set_sync_debug_mode("warn")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(n):
                opt.step()
        torch.cuda.set_sync_debug_mode(0)
        syncs = sum("synchroniz" in str(c.message) for c in caught) / n
    else:
        with step_counts.Counter() as counter:
            for _ in range(n):
                opt.step()
        syncs = counter.syncs / n
    # wall time against the GPU's own time (events) and its busy time (kernels, profiler)
    sync(device)
    start = time.perf_counter()
    if device.type == "cuda":
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
    for _ in range(n):
        opt.step()
    if device.type == "cuda":
        end.record()
    sync(device)
    wall = (time.perf_counter() - start) / n
    rec = {"size": [w, h], "device": str(device), "syncs_per_step": syncs, "wall_s": wall}
    if device.type == "cuda":
        rec["event_s"] = begin.elapsed_time(end) / 1000 / n
        activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
        with torch.profiler.profile(activities=activities) as prof:
            for _ in range(3):
                opt.step()
            sync(device)
        kernels = sum(e.self_device_time_total for e in prof.key_averages()) / 1e6 / 3
        rec["kernel_s"] = kernels
        rec["busy_fraction"] = kernels / wall if wall > 0 else None
        rec["peak_allocated_gib"] = torch.cuda.max_memory_allocated(device) / GIB
        rec["peak_reserved_gib"] = torch.cuda.max_memory_reserved(device) / GIB
        free1, _ = torch.cuda.mem_get_info(device)
        used = (total - free1) - torch.cuda.memory_reserved(device)
        rec["context_and_others_gib"] = used / GIB
        rec["before_start_used_gib"] = (total - free0) / GIB
    params = StylizeParams.of(config.defaults("stylize"))
    rec["estimate_gib"] = stylize.estimate_bytes(h, w, params, held=2) / GIB
    # the breakdown: each term's share of an evaluation, and the optimiser's own work
    parts = step_counts.by_term((w, h), args.device, lambda o, y: _timed_evaluation(o, y, device))
    evaluation = _timed_evaluation(obj, x, device)
    parts["direction and line search"] = wall - evaluation
    rec["evaluation_s"] = evaluation
    rec["breakdown_s"] = parts
    line = f"step {w}x{h} on {device}: {wall * 1000:.1f} ms wall, {syncs:.2f} syncs"
    if device.type == "cuda":
        line += (
            f", events {rec['event_s'] * 1000:.1f} ms, kernels {kernels * 1000:.1f} ms "
            f"(busy {rec['busy_fraction']:.0%})"
        )
    say(line)
    say(
        "  breakdown (ms): "
        + ", ".join(f"{k} {v * 1000:.1f}" for k, v in parts.items())
        + f"; one evaluation {evaluation * 1000:.1f}"
    )
    if device.type == "cuda":
        say(
            f"  memory: peak allocated {rec['peak_allocated_gib']:.2f} GiB, reserved "
            f"{rec['peak_reserved_gib']:.2f} GiB, context and others "
            f"{rec['context_and_others_gib']:.2f} GiB; the check's estimate "
            f"{rec['estimate_gib']:.2f} GiB"
        )
    return rec


def _frame(obj, x, evaluations: int, device) -> tuple[torch.Tensor, float, float]:
    sync(device)
    start = time.perf_counter()
    out = optim.minimise(obj, x, evaluations, tol=0)
    sync(device)
    return out.x, out.losses[-1], time.perf_counter() - start


def determinism(args) -> dict:
    """The same frame twice with the stage's settings (deterministic cuDNN, no TF32), then
    with cuDNN free to choose, then with TF32: equal? loss difference? time?"""
    device = torch.device(args.device)
    w, h = size_of(args.size)
    obj, x = step_counts.frame_problem((w, h), args.device)
    n = args.evaluations
    set_numerics(False)
    a, la, ta = _frame(obj, x, n, device)
    b, _, _ = _frame(obj, x, n, device)
    rec = {
        "size": [w, h],
        "evaluations": n,
        "same_twice": bool(torch.equal(a, b)),
        "deterministic_s": ta,
        "loss": la,
    }
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
    c, lc, tc = _frame(obj, x, n, device)
    c2, _, _ = _frame(obj, x, n, device)
    rec.update(free_s=tc, free_same_twice=bool(torch.equal(c, c2)), free_loss_diff=lc - la)
    set_numerics(True)
    d, ld, td = _frame(obj, x, n, device)
    set_numerics(False)
    rec.update(
        tf32_s=td,
        tf32_loss_rel=(ld - la) / abs(la),
        tf32_max_level=float((d - a).abs().max()),
    )
    say(
        f"determinism {w}x{h}, {n} evaluations: same twice {rec['same_twice']} "
        f"({ta:.2f} s); cuDNN free: same twice {rec['free_same_twice']}, {tc:.2f} s, loss "
        f"difference {rec['free_loss_diff']:.3g}; TF32: {td:.2f} s, loss "
        f"{rec['tf32_loss_rel']:+.2e} relative, largest pixel change "
        f"{rec['tf32_max_level']:.2f} levels"
    )
    return rec


def worker(args) -> dict:
    """Evaluations a second of one process stepping for `seconds` (concurrency's worker)."""
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    obj, x = step_counts.frame_problem(size_of(args.size), args.device)
    opt = optim._LBFGS(obj, x, 100)
    opt.step()
    sync(device)
    start, done = time.perf_counter(), 0
    while time.perf_counter() - start < args.seconds:
        opt.step()
        done += 1
    sync(device)
    return {"evaluations": done, "seconds": time.perf_counter() - start}


def concurrent(args) -> dict:
    """1, 2, 4 … processes stepping on one GPU at once: evaluations a second in all."""
    rec = {}
    for n in args.procs:
        cmd = [
            sys.executable,
            __file__,
            "worker",
            "--size",
            args.size,
            "--device",
            args.device,
            "--seconds",
            str(args.seconds),
        ]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(n)]
        runs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        rate = sum(r["evaluations"] / r["seconds"] for r in runs)
        rec[n] = rate
        say(f"{n} process(es) on {args.device} at {args.size}: {rate:.1f} evaluations/s in all")
    return rec


def host(args) -> dict:
    """A frame's host work at this size: what the read-ahead thread does (HDF5 reads of the
    Laplacian bands, 2 flows and masks, labels; 3 labels' colour weights), and the colour
    maps on the host (before) against on the device (now, on the critical path)."""
    import h5py

    device = torch.device(args.device)
    w, h = size_of(args.size)
    rng = np.random.default_rng(0)
    labels = np.zeros((h, w), np.int64)
    labels[:, w // 3 :] = 1
    labels[:, 2 * w // 3 :] = 2
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inputs.h5"
        with h5py.File(path, "w") as f:
            for name, shape, dtype in (
                ("bands", (2, 13, h, w), np.float32),
                ("flow", (2, 2, h, w, 2), np.float32),
                ("mask", (2, 2, h, w), np.uint8),
                ("labels", (2, h, w), np.uint8),
            ):
                data = (rng.random(shape) * 200).astype(dtype)
                f.create_dataset(name, data=data, chunks=(1, *shape[1:]))
        start = time.perf_counter()
        with h5py.File(path) as f:
            f["bands"][1], f["flow"][1], f["mask"][1], f["labels"][1]
        read = time.perf_counter() - start
    content = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    defaults = config.defaults("stylize")["colour"]
    src, dst = rng.random((5000, 3)), rng.random((3000, 3)) ** 2
    maps = [colour.fit_map(src, dst, defaults["steps"]) for _ in range(3)]
    start = time.perf_counter()
    weights = colour.soft_weights(labels, [0, 1, 2], defaults["feather"])
    blur = time.perf_counter() - start
    start = time.perf_counter()
    colour.apply_maps(content, weights, maps)
    on_host = time.perf_counter() - start
    times = []
    for _ in range(3):
        sync(device)
        start = time.perf_counter()
        image = torch.from_numpy(content).to(device, torch.float64) / 255.0
        colour.apply_maps_tensor(image, torch.from_numpy(weights).to(device), maps)
        sync(device)
        times.append(time.perf_counter() - start)
    on_device = min(times)
    rec = {
        "size": [w, h],
        "read_s": read,
        "colour_weights_s": blur,
        "maps_host_s": on_host,
        "maps_device_s": on_device,
    }
    say(
        f"host work a frame at {w}x{h}: reads {read:.2f} s and colour weights {blur:.2f} s (in "
        f"the read-ahead thread now); colour maps {on_host:.2f} s on the host (before) vs "
        f"{on_device:.3f} s on {device} (now)"
    )
    return rec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("env")
    for name in ("step", "determinism", "worker", "concurrent", "host"):
        p = sub.add_parser(name)
        p.add_argument("--size", default="512")
        p.add_argument("--device", default="cuda")
        p.add_argument("--steps", type=int, default=10)
        p.add_argument("--evaluations", type=int, default=30)
        p.add_argument("--seconds", type=float, default=20.0)
        p.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    rec = {
        "env": env,
        "step": step,
        "determinism": determinism,
        "worker": worker,
        "concurrent": concurrent,
        "host": host,
    }[args.what](args)
    print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
