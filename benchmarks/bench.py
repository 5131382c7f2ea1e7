"""pvst benchmarks: time named stages at given sizes over repeated runs.

    python benchmarks/bench.py                       # every case at its default sizes
    python benchmarks/bench.py decode encode --sizes 256 512 --repeat 5 --json out.json

Each case × size runs in a fresh process, so its peak memory is its own. Reports the median and
spread (min, max) of the timed runs, the peak resident memory of the process and how much of it
the case added over its set-up, CUDA peak memory on a GPU, and the device. Times are per call of
the case; `unit` says what one call is (a frame, an iteration, …).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import CASES


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {len(os.sched_getaffinity(0))} cores"


def rss_mb() -> float:
    """Current resident memory of this process in MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_child(name: str, size: int, device: str, repeat: int) -> dict:
    """Run one case in this process and return its measurements."""
    case = CASES[name]
    fn, meta = case.setup(size, device)
    fn()  # warm-up: caches, lazy imports, allocator, cuDNN autotuning
    sync = _sync(device)
    sync()
    base = rss_mb()
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "case": name,
        "size": size,
        "device": device,
        "device_name": device_name(device),
        "unit": case.unit,
        "repeat": repeat,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "peak_rss_mb": round(peak, 1),
        "added_mb": round(max(0.0, peak - base), 1),
        **meta,
    }
    if device.startswith("cuda"):
        import torch

        out["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def _sync(device: str):
    if device.startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return lambda: None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("cases", nargs="*", help=f"cases (default all): {', '.join(CASES)}")
    parser.add_argument("--sizes", type=int, nargs="+", help="sizes (default: each case's own)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--child", nargs=3, metavar=("CASE", "SIZE", "DEVICE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()

    if args.child:
        name, size, device = args.child
        print(json.dumps(run_child(name, int(size), device, args.repeat)))
        return 0

    names = args.cases or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    rows = []
    print(
        f"{'case':<22}{'size':>6}  {'median':>10}  {'min':>10}  {'max':>10}  "
        f"{'peak MiB':>9}  {'added':>7}  unit"
    )
    for name in names:
        for size in args.sizes or CASES[name].sizes:
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    name,
                    str(size),
                    args.device,
                    "--repeat",
                    str(args.repeat),
                ],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                print(f"{name:<22}{size:>6}  failed: {proc.stderr.strip().splitlines()[-1:]}")
                rows.append({"case": name, "size": size, "error": proc.stderr[-2000:]})
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{name:<22}{size:>6}  {row['median_s']:>9.4f}s  {row['min_s']:>9.4f}s  "
                f"{row['max_s']:>9.4f}s  {row['peak_rss_mb']:>9.0f}  {row['added_mb']:>7.0f}  "
                f"{row['unit']}"
            )
    ok = [r for r in rows if "median_s" in r]
    for r in ok:
        if r["case"] == "stylize-iteration":
            bare = [b for b in ok if b["case"] == "vgg-bare" and b["size"] == r["size"]]
            if bare:
                r["overhead_vs_vgg"] = r["median_s"] / bare[0]["median_s"] - 1
                print(
                    f"loss machinery at {r['size']}²: +{100 * r['overhead_vs_vgg']:.0f}% over "
                    "a bare VGG19 forward + backward to relu4_2"
                )
    if ok:
        print(f"device: {ok[0]['device_name']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
