"""Loading weights files that users bring (RAFT, CycleGAN, DeepLab, VGG19), with errors that
say what does not match instead of a deep library traceback."""

from __future__ import annotations

from pathlib import Path

from pvst.errors import PvstError


def read_state(path: str | Path, what: str) -> dict:
    """A state dict from a torch file (also one wrapped as {'state_dict': …} or {'model': …})."""
    import torch

    path = Path(path) if path else None
    if path is None or not path.is_file():
        raise PvstError(f"{path}: {what} weights file not found (pvst downloads nothing)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PvstError(
            f"{path}: not a PyTorch checkpoint that pvst can read ({type(exc).__name__}: {exc})"
        ) from None
    for wrapper in ("state_dict", "model", "params_ema", "params"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise PvstError(f"{path}: holds a {type(state).__name__}, not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_checked(net, state: dict, path: str | Path, what: str, ignore=()) -> None:
    """Load `state` into `net` after checking every key and shape; a PvstError lists the
    differences. Keys ending in any of `ignore` may be absent or extra."""
    expected = net.state_dict()
    skip = lambda k: any(k.endswith(s) for s in ignore)  # noqa: E731
    missing = [k for k in expected if k not in state and not skip(k)]
    extra = [k for k in state if k not in expected and not skip(k)]
    shapes = [
        f"{k}: file {tuple(state[k].shape)}, {what} {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or extra or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} tensors missing (e.g. {', '.join(missing[:3])})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {', '.join(extra[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} of another shape (e.g. {'; '.join(shapes[:2])})")
        raise PvstError(f"{path}: not {what} weights: " + "; ".join(parts))
    net.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
