"""Where to compute: one reading of every `device` setting (auto, cpu, cuda, cuda:N, mps)."""

from __future__ import annotations

import torch

from pvst.errors import PvstError


def pick_device(name: str) -> torch.device:
    """cpu, cuda, or auto (cuda when there is one); cuda without CUDA is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PvstError(
            f"device '{name}' was asked for but CUDA is not available here (torch "
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
