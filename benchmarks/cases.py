"""Benchmark cases. Each `setup(size, device)` does the untimed preparation and returns the
callable to time plus metadata; `size` is the working size (long side, or side of a square)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvst import losses, media
from pvst.pipeline import samples

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


def _photo(size: int) -> np.ndarray:
    """The astronaut photo at size×size, or 1920×1080 for size 1920 (a full-HD frame)."""
    wh = (1920, 1080) if size == 1920 else (size, size)
    return media.resize_image(media.read_image(samples.source("styles/astronaut.png")), wh)


@case("laplacian-build", sizes=(512, 1920), unit="one Matting Laplacian (pvst)")
def laplacian_build(size: int, device: str):
    from pvst import matting

    img = _photo(size)
    return (lambda: matting.matting_laplacian(img)), {"frame_size": [img.shape[1], img.shape[0]]}


@case("laplacian-pymatting", sizes=(512, 1920), unit="one Matting Laplacian (pymatting)")
def laplacian_pymatting(size: int, device: str):
    from pymatting import cf_laplacian

    img = _photo(size).astype(np.float64) / 255
    return (lambda: cf_laplacian(img)), {"frame_size": [img.shape[1], img.shape[0]]}


@case("render", sizes=(640, 1920), unit="one frame: fit at 224 px, enlarge, apply (uint8 in, out)")
def render_frame(size: int, device: str):
    """The render of one frame at 640×272 (the demo clip) or 1920×1080 from a 224 px result:
    what every output frame costs beyond its decoding and encoding."""
    from pvst import render
    from pvst.params import RenderParams
    from pvst.pipeline import config

    params = RenderParams.of(config.defaults("render"))
    full = _photo(1920) if size == 1920 else _photo(640)[:272]
    small = media.resize_image(full, media.working_size(full.shape[1], full.shape[0], 224))
    result = np.ascontiguousarray(small[..., ::-1])  # another look: channels swapped

    def run():
        return render.render_image(small, result, full, params.radius, params.eps, device)

    return run, {"frame_size": [full.shape[1], full.shape[0]], "working": list(small.shape[1::-1])}


def _smoothing_inputs(size: int):
    from pvst import matting

    img = _photo(size)
    content = img.astype(np.float64) / 255
    stylized = np.clip(content[..., ::-1] * 0.9 + 0.05, 0, 1)
    return matting, content, stylized, matting.matting_laplacian(img)


@case("smooth-closed-form", sizes=(256, 512), unit="(I + λL) R = Y, λ=1, CG to 1e-4, cold")
def smooth_closed_form(size: int, device: str):
    matting, _, stylized, lap = _smoothing_inputs(size)
    return (lambda: matting.smooth_closed_form(lap, stylized, 1.0, tol=1e-4)), {}


@case("smooth-guided", sizes=(256, 512), unit="guided filter, radius 4")
def smooth_guided(size: int, device: str):
    matting, content, stylized, _ = _smoothing_inputs(size)
    return (lambda: matting.smooth_guided(content, stylized)), {}


@case("smooth-local-affine", sizes=(256, 512), unit="local affine smoothing")
def smooth_local_affine(size: int, device: str):
    matting, content, stylized, _ = _smoothing_inputs(size)
    return (lambda: matting.smooth_local_affine(content, stylized)), {}


@case("photorealism-term", sizes=(256, 512), unit="λ Σ VᵀLV forward + backward (torch)")
def photorealism_term(size: int, device: str):
    import torch

    from pvst import matting

    img = _photo(size)
    lap = matting.BandLaplacian(matting.laplacian_bands(img), 1, device)
    x = torch.rand(3, *img.shape[:2], device=device, requires_grad=True)

    def run():
        x.grad = None
        matting.photorealism_loss(x, lap, 1e4).backward()

    return run, {}


def _frame_problem(content: np.ndarray, style: np.ndarray, params: dict, device: str):
    """The objective of one frame as the stylize stage builds it: auto segmentation (3
    regions), the Laplacian, and two temporal terms (j = 1, 2) from a shifted copy."""
    import torch

    from pvst import matting, regions, stylize
    from pvst.params import SegmentationParams, StylizeParams
    from pvst.pipeline import config
    from pvst.vgg import load_vgg19

    dev = torch.device(device)
    params = StylizeParams.of(params)
    seg = SegmentationParams.of(config.defaults("segmentation"))
    regions = regions.segment_image(content, style, seg)
    vgg = load_vgg19(device=dev)
    layers = list(losses.active(params.style_layers))
    targets = stylize.style_targets(vgg, style, regions.style_masks(), layers, dev)
    x = stylize.to_tensor(content, dev)
    prev = torch.roll(x, shifts=2, dims=3)
    ones = torch.ones(content.shape[:2], device=dev)
    temporal = stylize.Temporal([prev, prev], [ones, 0.5 * ones], [1.0, 1.0])
    lap = matting.BandLaplacian(matting.laplacian_bands(content), 1, dev)
    obj = stylize.Objective(vgg, params, content, targets, regions.masks(), temporal, lap)
    return obj, x, vgg


def _square_pair(size: int):
    content = media.resize_image(
        media.read_image(samples.source("styles/chelsea.png")), (size, size)
    )
    style = media.resize_image(media.read_image(samples.source("styles/rocket.jpg")), (size, size))
    return content, style


@case("vgg-bare", sizes=(256, 512), unit="VGG19 forward + backward to relu4_2")
def vgg_bare(size: int, device: str):
    import torch

    from pvst.vgg import load_vgg19

    vgg = load_vgg19(device=device)
    x = torch.rand(1, 3, size, size, device=device, requires_grad=True)

    def run():
        x.grad = None
        vgg(x, ["relu4_2"])["relu4_2"].sum().backward()

    return run, {}


@case(
    "stylize-iteration",
    sizes=(256, 512),
    unit="one L-BFGS step of the full objective (3 regions, 2 temporal terms, λ term)",
)
def stylize_iteration(size: int, device: str):
    from pvst import optim
    from pvst.pipeline import config

    params = config.defaults("stylize")
    obj, x, _ = _frame_problem(*_square_pair(size), params, device)
    opt = optim._LBFGS(obj, x, params["optimizer"]["history"])
    for _ in range(3):  # past the first, special step
        opt.step()
    return opt.step, {}


def _preset_frame(variant: str, first: bool):
    def setup(size: int, device: str):
        from pathlib import Path

        from pvst import stylize
        from pvst.params import StylizeParams
        from pvst.pipeline import config

        cfg = config.load(Path(__file__).resolve().parents[1] / "config" / "config.yaml")
        params = config.section(cfg, "stylize", "bikes", variant)
        params["device"] = device
        src = samples.source("bikes.mp4")
        wh = media.working_size(*media.probe(src).display_size, size)
        content = next(media.read_frames(src, wh, start=100, count=1))
        style = media.resize_image(
            media.read_image(samples.source("styles/rocket.jpg")), (size, round(size * 427 / 640))
        )
        obj, x, _ = _frame_problem(content, style, params, device)
        if first:
            obj.temporal = stylize.Temporal()
        budget = params["iterations"]["first" if first else "later"]

        def run():
            return stylize.optimise(obj, x, budget, StylizeParams.of({**params, "tolerance": 0}))

        return run, {"frame_size": list(wh), "evaluations": budget}

    return setup


for _v, _size in (("stylized", 224), ("paper", 200)):
    for _first in (True, False):
        _what = "first frame of a shot" if _first else "later frame"
        case(
            f"frame-{'demo' if _v == 'stylized' else _v}-{'first' if _first else 'later'}",
            sizes=(_size,),
            unit=f"one {_what}, {_v} preset (no post-process)",
        )(_preset_frame(_v, _first))
