"""Benchmark cases. Each `setup(size, device)` does the untimed preparation and returns the
callable to time plus metadata; `size` is the working size (long side, or side of a square)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pvst import media, samples

Setup = Callable[[int, str], tuple[Callable[[], object], dict]]


@dataclass
class Case:
    setup: Setup
    sizes: tuple[int, ...]
    unit: str


CASES: dict[str, Case] = {}


def case(name: str, sizes: tuple[int, ...], unit: str):
    def register(setup: Setup) -> Setup:
        CASES[name] = Case(setup, sizes, unit)
        return setup

    return register


N_FRAMES = 50


@case("decode", sizes=(256, 512), unit=f"{N_FRAMES} frames of bikes.mp4")
def decode(size: int, device: str):
    src = samples.source("bikes.mp4")
    info = media.probe(src)
    wh = media.working_size(*info.display_size, size, upscale=True)

    def run():
        for _ in media.read_frames(src, wh, count=N_FRAMES):
            pass

    return run, {"frame_size": list(wh), "frames": N_FRAMES}


@case("encode", sizes=(256, 512), unit=f"{N_FRAMES} frames, H.264 crf 18 medium")
def encode(size: int, device: str):
    src = samples.source("bikes.mp4")
    info = media.probe(src)
    wh = media.working_size(*info.display_size, size, upscale=True)
    frames = list(media.read_frames(src, wh, count=N_FRAMES))
    out = Path(tempfile.mkdtemp()) / "bench.mp4"

    def run():
        media.write_video(out, frames, 25, crf=18, preset="medium")

    return run, {"frame_size": list(wh), "frames": N_FRAMES}


def _bikes_pair(size: int):
    src = samples.source("bikes.mp4")
    info = media.probe(src)
    wh = media.working_size(*info.display_size, size, upscale=True)
    a, b = list(media.read_frames(src, wh, start=100, count=2))
    return a, b, wh


def _flow_case(method: str):
    def setup(size: int, device: str):
        from pvst import flow

        a, b, wh = _bikes_pair(size)
        params = {}
        if method.startswith("raft"):
            import torch
            from torchvision.models.optical_flow import raft_large, raft_small

            model = method.split("-")[1]
            net = (raft_large if model == "large" else raft_small)(weights=None)
            path = Path(tempfile.mkdtemp()) / "raft.pth"
            torch.save(net.state_dict(), path)  # random weights: the same speed as trained ones
            params = {"weights": str(path), "model": model, "device": device}
        est = flow.make_estimator(method.split("-")[0], **params)
        return (lambda: est(a, b)), {"frame_size": list(wh)}

    return setup


for _m in ("deepflow", "dis", "tvl1", "farneback", "raft-small", "raft-large"):
    case(f"flow-{_m}", sizes=(256, 512), unit="one flow estimate (a frame pair)")(_flow_case(_m))


@case("flow-consistency", sizes=(256, 512), unit="one consistency mask (Ruder et al.)")
def consistency_case(size: int, device: str):
    from pvst import flow

    a, b, wh = _bikes_pair(size)
    est = flow.make_estimator("dis")
    fwd, bwd = est(a, b), est(b, a)
    return (lambda: flow.consistency(bwd, fwd, 0.8)), {"frame_size": list(wh)}
