"""Where to compute: one reading of every `device` setting (auto, cpu, cuda, cuda:N, mps).

`auto` takes CUDA when torch can use it. On a machine that has NVIDIA GPUs which torch cannot
use (a driver older than the torch build needs, or a CPU-only torch), `auto` stops with the
reason instead of quietly running a GPU's work on the CPU; `cpu` says that this is meant.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from pathlib import Path

import torch

from pvst.errors import PvstError

log = logging.getLogger(__name__)

# The oldest NVIDIA driver each CUDA major version runs on (NVIDIA's minor-version
# compatibility: any driver of at least this version runs every 12.x or 13.x build).
MIN_DRIVER = {11: 450, 12: 525, 13: 580}
DRIVER_VERSION_FILE = Path("/proc/driver/nvidia/version")
_said: set[str] = set()


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
    """cpu, cuda, or auto (cuda when there is one); GPUs that torch cannot use, or cuda where
    there is none, are a clear error. Logs the device taken and why."""
    if name == "auto":
        if torch.cuda.is_available():
            device = torch.device("cuda")
            _say(f"device auto: {device} ({torch.cuda.get_device_name(device)}: CUDA is available)")
            return device
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
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise PvstError(
            f"device '{name}' was asked for but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 … cuda:N−1)"
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise PvstError("device 'mps' was asked for but Apple's MPS is not available here")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise PvstError(f"'{name}' is not a device: use auto, cpu, cuda, cuda:N or mps") from exc


def set_numerics(tf32: bool) -> None:
    """How CUDA computes for an optimisation: cuDNN's deterministic algorithms (no autotuning
    that may pick another between runs), and TensorFloat-32 only when asked for."""
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
