"""Where to compute: one reading of every `device` setting (auto, cpu, cuda, cuda:N, mps).

`auto` takes CUDA when torch can use it. On a machine that has NVIDIA GPUs which torch cannot
use (a driver older than the torch build needs, or a CPU-only torch), `auto` stops with the
reason instead of quietly running a GPU's work on the CPU; `cpu` says that this is meant.

`auto` and `cuda` mean "a GPU": the job takes the first visible GPU that no other pvst job
holds, by an exclusive lock on a file named after the GPU's UUID (released when the process
ends, however it ends), waiting while all are held; `cuda:N` means that one, unlocked. Under
SLURM the visible GPUs are the job's (CUDA_VISIBLE_DEVICES); a job given GPUs that it cannot
see is refused rather than let loose on the node's other GPUs.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import glob
import logging
import os
import re
import time
from pathlib import Path

import torch

from pvst.errors import PvstError

log = logging.getLogger(__name__)

# The oldest NVIDIA driver each CUDA major version runs on (NVIDIA's minor-version
# compatibility: any driver of at least this version runs every 12.x or 13.x build).
MIN_DRIVER = {11: 450, 12: 525, 13: 580}
DRIVER_VERSION_FILE = Path("/proc/driver/nvidia/version")
# Where the per-GPU locks live: one directory per machine, shared by every user's pvst jobs.
LOCK_DIR = Path(os.environ.get("PVST_GPU_LOCK_DIR", "/tmp/pvst-gpu-locks"))
WAIT_SECONDS = 5.0  # between tries while every GPU is held
_said: set[str] = set()
_held: dict[int, object] = {}  # visible index -> the open lock file (held until exit)


def _say(message: str) -> None:
    """Log which device was taken, once per process."""
    if message not in _said:
        _said.add(message)
        log.info(message)


def gpus_present() -> str | None:
    """What says this machine (or this job) has NVIDIA GPUs, or None: a SLURM GPU
    allocation, CUDA_VISIBLE_DEVICES naming devices, or NVIDIA device files."""
    for name in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS"):
        if os.environ.get(name, "").strip():
            return f"{name}={os.environ[name]}"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if visible and visible not in ("-1", "NoDevFound", "none"):
        return f"CUDA_VISIBLE_DEVICES={visible}"
    files = sorted(glob.glob("/dev/nvidia[0-9]*"))
    if files:
        return f"{len(files)} NVIDIA device file(s) ({', '.join(files[:2])})"
    return None


def driver_version() -> str | None:
    """The NVIDIA kernel driver's version, where the driver says it (Linux)."""
    try:
        text = DRIVER_VERSION_FILE.read_text()
    except OSError:
        return None
    found = re.search(r"Kernel Module\s+(?:for \S+\s+)?(\d+\.\d+(?:\.\d+)?)", text)
    return found.group(1) if found else None


def why_no_cuda() -> str:
    """Why torch cannot use this machine's GPUs, and what to do about it."""
    built = torch.version.cuda
    if not built:
        return (
            f"this torch ({torch.__version__}) is a CPU-only build; install a CUDA build "
            "(README: 'GPUs and drivers')"
        )
    major = int(built.split(".")[0])
    need = MIN_DRIVER.get(major)
    have = driver_version()
    need_text = f"NVIDIA driver {need} or newer" if need else "a recent NVIDIA driver"
    have_text = f"the driver here is {have}" if have else "no NVIDIA driver answers here"
    return (
        f"torch {torch.__version__} is built for CUDA {built}, which needs {need_text}, and "
        f"{have_text}; install a torch build for this driver (README: 'GPUs and drivers')"
    )


def pick_device(name: str) -> torch.device:
    """cpu, cuda (a free GPU), cuda:N, or auto (a free GPU when there is one); GPUs that torch
    cannot use, or cuda where there is none, are a clear error. Logs the device taken and why."""
    if name == "auto":
        if torch.cuda.is_available():
            return _take_gpu("device auto")
        evidence = gpus_present()
        if evidence:
            raise PvstError(
                f"device auto: this machine has GPUs ({evidence}) but torch cannot use them: "
                f"{why_no_cuda()}; or set the device to cpu to run on the CPU on purpose"
            )
        _say("device auto: cpu (no GPU on this machine)")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PvstError(
            f"device '{name}' was asked for but CUDA is not available here (torch "
            f"{torch.__version__}, built for CUDA {torch.version.cuda}): {why_no_cuda()}"
            if gpus_present()
            else f"device '{name}' was asked for but CUDA is not available here (torch "
            f"{torch.__version__}, built for CUDA {torch.version.cuda}); use device: auto or cpu"
        )
    if name == "cuda":
        return _take_gpu("device cuda")
    if name.startswith("cuda:"):
        index = int(name[5:])
        if index >= torch.cuda.device_count():
            raise PvstError(
                f"device '{name}' was asked for but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 … cuda:N−1)"
            )
        check_slurm_gpus()
        torch.cuda.set_device(index)
        _say(f"device {name}: as asked ({torch.cuda.get_device_name(index)}; not locked)")
        return torch.device("cuda", index)
    if name == "mps" and not torch.backends.mps.is_available():
        raise PvstError("device 'mps' was asked for but Apple's MPS is not available here")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise PvstError(f"'{name}' is not a device: use auto, cpu, cuda, cuda:N or mps") from exc


def check_slurm_gpus() -> None:
    """Refuse a SLURM job that was given GPUs but cannot tell which: without
    CUDA_VISIBLE_DEVICES it would see, and might take, the node's other GPUs."""
    given = (
        os.environ.get("SLURM_JOB_GPUS", "").strip()
        or os.environ.get("SLURM_STEP_GPUS", "").strip()
    )
    if given and not os.environ.get("CUDA_VISIBLE_DEVICES", "").strip():
        raise PvstError(
            f"this SLURM job was given GPU(s) {given} (SLURM_JOB_GPUS) but CUDA_VISIBLE_DEVICES "
            "is not set, so it would see every GPU of the node, other jobs' too; ask your "
            "administrators to constrain GPUs (gres), or set CUDA_VISIBLE_DEVICES=$SLURM_JOB_GPUS "
            "in the job"
        )


def gpu_ids() -> list[str]:
    """An identity for each visible CUDA device that is the same in every process on the
    machine (its UUID; CUDA_VISIBLE_DEVICES renumbers the indices)."""
    ids = []
    for i in range(torch.cuda.device_count()):
        uuid = getattr(torch.cuda.get_device_properties(i), "uuid", None)
        ids.append(f"GPU-{uuid}" if uuid is not None else f"index-{i}")
    return ids


def claim_gpu(ids: list[str], lock_dir: Path = LOCK_DIR, wait: float = WAIT_SECONDS) -> int:
    """The index of the first GPU in `ids` that no other process holds, now held by this one
    until it ends; waits while every one is held."""
    if _held:  # this process holds one already
        return next(iter(_held))
    lock_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # every user's jobs share the machine's GPUs
        lock_dir.chmod(0o1777)
    waited = False
    while True:
        for index, ident in enumerate(ids):
            path = lock_dir / f"{ident}.lock"
            try:
                handle = open(path, "a+")  # noqa: SIM115 (held open until the process ends)
            except OSError:
                handle = open(path)  # noqa: SIM115 (another user's file: a read lock works)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            with contextlib.suppress(OSError):  # who holds it, for whoever looks
                path.chmod(0o666)
                handle.truncate(0)
                handle.write(f"{os.getpid()}\n")
                handle.flush()
            _held[index] = handle
            return index
        if not waited:
            waited = True
            log.info("every GPU (%d) is held by another pvst job; waiting for one", len(ids))
        time.sleep(wait)


def _take_gpu(why: str) -> torch.device:
    check_slurm_gpus()
    index = claim_gpu(gpu_ids())
    torch.cuda.set_device(index)
    device = torch.device("cuda", index)
    _say(
        f"{why}: {device} ({torch.cuda.get_device_name(index)}; free GPU {index + 1} of "
        f"{torch.cuda.device_count()}, held until this job ends)"
    )
    return device


def set_cpu_threads(threads: int | None) -> None:
    """Cap torch's CPU threads (None or 0: torch's own choice)."""
    if threads:
        torch.set_num_threads(threads)


def set_numerics(tf32: bool) -> None:
    """How CUDA computes for an optimisation: cuDNN's deterministic algorithms (no autotuning
    that may pick another between runs), and TensorFloat-32 only when asked for."""
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32


def fast_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 convolutions faster than fp32: a CUDA GPU of compute
    capability 8.0 or newer, or a CPU with AVX-512 BF16 or AMX (oneDNN uses them)."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        return _cpu_has_bf16()
    return False


@functools.cache
def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.cache
def precision_for(name: str, device: torch.device) -> str:
    """The objective's number format, "fp32" or "bf16", for the setting `name` (fp32, bf16
    or auto) on `device`; says once what auto took and why."""
    if name != "auto":
        return name
    taken = "bf16" if fast_bf16(device) else "fp32"
    why = "fast bf16 here" if taken == "bf16" else "no fast bf16 here"
    _say(f"precision auto: {taken} on {device} ({why})")
    return taken
