"""One stylized image: the objective of Eq. 6 for a frame, its optimisation, and image mode."""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from pvst import colour, losses, matting, optim
from pvst.device import pick_device, precision_for, set_numerics
from pvst.errors import PvstError
from pvst.params import SegmentationParams, StylizeParams, StylizePostprocess
from pvst.regions import segment_image
from pvst.vgg import features, load_vgg19

log = logging.getLogger(__name__)


# Peak memory of one frame's optimisation: a base (torch, VGG19 weights) and bytes per pixel
# (activations to relu4_2 and their gradients, the objective's buffers). Peak RSS measured on
# CPU, `pvst image` with λ > 0 and history 100: 0.99 GB at 256×160 px, 1.70 GB at 512×320,
# i.e. 5.8 kB per pixel beyond the base; these constants overestimate both by about a third.
BASE_BYTES = 2**30
BYTES_PER_PIXEL = 3500
LAPLACIAN_BYTES_PER_PIXEL = 1000  # 25 neighbours per pixel, values and indices, and its build


# A frame a video part keeps for the temporal terms: the frame (float32 RGB), and its warped
# copy and weights while a frame is optimised.
HELD_BYTES_PER_PIXEL = 12 + 12 + 4


def estimate_bytes(height: int, width: int, params: StylizeParams, held: int = 0) -> int:
    """Rough peak memory of optimising one frame of this size with these parameters, with
    `held` earlier frames kept for the temporal terms."""
    pixels = height * width
    history = 2 * params.optimizer.history * 3 * 4  # L-BFGS s and y, float32
    lap = LAPLACIAN_BYTES_PER_PIXEL if params.lambda_ > 0 else 0
    return BASE_BYTES + pixels * (BYTES_PER_PIXEL + history + lap + held * HELD_BYTES_PER_PIXEL)


def available_bytes(device: torch.device) -> int | None:
    """Memory free for a job on `device` (None where it cannot be told); on CUDA with what
    torch's allocator holds unused (it hands that out again first)."""
    if device.type == "cuda":
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return torch.cuda.mem_get_info(device)[0] + cached
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(
    height: int,
    width: int,
    params: StylizeParams,
    device: torch.device,
    what: str,
    held: int = 0,
    loaded: bool = False,
) -> None:
    """Refuse, before any work, a frame size whose optimisation cannot fit in memory (with
    `held` earlier frames kept on the device; `loaded`: torch and the network are in memory
    already, as before each frame of a video)."""
    if params.method != "optimise":
        return
    need = estimate_bytes(height, width, params, held) - (BASE_BYTES if loaded else 0)
    free = available_bytes(device)
    if free is not None and need > free:
        gib = 2**30
        raise PvstError(
            f"{what}: optimising {width}×{height} pixels needs about {need / gib:.1f} GiB on "
            f"{device}, and {free / gib:.1f} GiB is free; use a smaller size"
        )


def to_tensor(image: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 H×W×3 (or float in [0, 1], also a tensor: the colour maps' result on the device)
    to a 1×3×H×W float tensor in 0..255."""
    if isinstance(image, torch.Tensor):
        return (image * 255.0).to(device).permute(2, 0, 1)[None].float()
    img = np.ascontiguousarray(image if image.dtype == np.uint8 else image * 255.0)
    if not img.flags.writeable:  # torch shares the memory: give it its own copy
        img = img.copy()
    return torch.from_numpy(img).to(device).permute(2, 0, 1)[None].float()


def to_uint8(image01: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] to uint8 (rounded, clipped)."""
    return np.clip(np.rint(image01 * 255), 0, 255).astype(np.uint8)


def to_image(x: torch.Tensor) -> np.ndarray:
    """A 1×3×H×W tensor in 0..255 to uint8 H×W×3 (clipped)."""
    return x[0].clamp(0, 255).round().byte().permute(1, 2, 0).cpu().numpy()


@dataclass
class Temporal:
    """Temporal terms of one frame: previous outputs warped into place and their weights."""

    warped: list[torch.Tensor] = field(default_factory=list)  # 1×3×H×W, 0..255
    weights: list[torch.Tensor] = field(default_factory=list)  # H×W in [0, 1]
    pair_weights: list[float] = field(default_factory=list)


def style_targets(
    vgg, style: np.ndarray, style_masks: np.ndarray, layers: list[str], device: torch.device
) -> dict[str, torch.Tensor]:
    """K×C×C masked Gram matrices of the style photo at each style layer."""
    s = to_tensor(style, device)
    masks = torch.from_numpy(style_masks).to(device)
    with torch.no_grad():
        feats = vgg(s / 255.0, layers)
        pyramid = losses.mask_pyramid(masks, layers)
        return {name: losses.masked_grams(feats[name], pyramid[name])[0] for name in layers}


class Objective:
    """α content + β segmented style + γ temporal + (λ/2) photorealism + tv, for one frame."""

    def __init__(
        self,
        vgg,
        params: StylizeParams,
        content: np.ndarray,
        targets: dict[str, torch.Tensor],
        content_masks: np.ndarray,
        temporal: Temporal | None = None,
        laplacian: torch.Tensor | None = None,
    ) -> None:
        self.vgg = vgg
        self.p = params
        device = targets[next(iter(targets))].device
        self.bf16 = precision_for(params.precision, device) == "bf16"
        self.content_weights = losses.active(params.content_layers)
        self.style_weights = losses.active(params.style_layers)
        self.layers = list(dict.fromkeys([*self.content_weights, *self.style_weights]))
        # uint8, or float in [0, 1] (the colour-transferred content)
        self.content = to_tensor(content, device)
        with torch.no_grad():
            feats = features(vgg, self.content / 255.0, list(self.content_weights), self.bf16)
        self.content_targets = {k: v.detach() for k, v in feats.items()}
        self.targets = targets
        masks = torch.from_numpy(content_masks).to(device)
        self.masks = {
            name: losses.MaskSupport(m)
            for name, m in losses.mask_pyramid(masks, list(self.style_weights)).items()
        }
        self.temporal = temporal or Temporal()
        self.laplacian = laplacian
        self.lambda_ = float(params.lambda_)

    def terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each weighted term of the loss at x (1×3×H×W in 0..255)."""
        feats = features(self.vgg, x / 255.0, self.layers, self.bf16)
        out = {
            "content": self.p.alpha
            * losses.content_loss(feats, self.content_targets, self.content_weights),
            "style": self.p.beta
            * losses.style_loss(feats, self.targets, self.masks, self.style_weights),
        }
        if self.temporal.warped and self.p.gamma > 0:
            out["temporal"] = self.p.gamma * losses.temporal_loss(
                x, self.temporal.warped, self.temporal.weights, self.temporal.pair_weights
            )
        if self.laplacian is not None and self.lambda_ > 0:
            out["photorealism"] = matting.photorealism_loss(
                x / 255.0, self.laplacian, self.lambda_ / 2
            )
        if self.p.tv > 0:
            out["tv"] = self.p.tv * losses.tv_loss(x)
        return out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return sum(self.terms(x).values())


@dataclass
class StylizedFrame:
    image: np.ndarray  # uint8 H×W×3
    x: torch.Tensor  # the optimised tensor (0..255, unclipped)
    losses: list[float]
    evaluations: int
    seconds: float
    retried: bool = False
    terms: dict = field(default_factory=dict)


def optimise(
    objective: Objective,
    x0: torch.Tensor,
    budget: int,
    params: StylizeParams,
    what: str = "frame",
) -> StylizedFrame:
    """Minimise one frame's objective (two stages if asked), redoing it with a safer setting
    if NaN or Inf appears; raises if even that fails."""
    start = time.perf_counter()
    opt = params.optimizer

    def run(
        stage: Objective, x_init: torch.Tensor, evals: int, method: str, lr: float
    ) -> optim.Outcome:
        return optim.minimise(
            stage,
            x_init,
            evals,
            method=method,
            history=opt.history,
            lr=lr,
            tol=params.tolerance,
            check_every=opt.check_every,
            what=what,
        )

    history: list[float] = []
    x = x0
    if params.two_stage and objective.lambda_ > 0:
        first = max(1, int(budget * params.two_stage_share))
        stages = [(first, 0.0), (budget - first, objective.lambda_)]
    else:
        stages = [(budget, objective.lambda_)]
    retried = False
    for evals, lambda_ in stages:
        if evals <= 0:
            continue
        # a stage with another λ works on a copy: the caller's objective is never changed
        stage = objective if lambda_ == objective.lambda_ else copy.copy(objective)
        stage.lambda_ = lambda_
        res = run(stage, x, evals, opt.method, opt.lr)
        if not res.finite:
            log.warning(
                "%s: the loss became NaN or Inf with %s; redoing it with Adam from the content",
                what,
                opt.method,
            )
            retried = True
            res = run(stage, objective.content.clone(), evals, "adam", opt.safe_lr)
            if not res.finite:
                raise PvstError(
                    f"{what}: the loss is NaN or Inf even with Adam from the content; "
                    "lower the weights (lambda, gamma) or check the inputs"
                )
        history += res.losses
        x = res.x
    with torch.no_grad():
        terms = {k: float(v) for k, v in objective.terms(x).items()}
    return StylizedFrame(
        image=to_image(x),
        x=x,
        losses=history,
        evaluations=len(history),
        seconds=time.perf_counter() - start,
        retried=retried,
        terms=terms,
    )


def postprocess(
    image: np.ndarray,
    content: np.ndarray,
    params: StylizePostprocess,
    lap=None,
    previous: np.ndarray | None = None,
) -> np.ndarray:
    """The optional smoothing of a stylized frame (uint8 in, uint8 out)."""
    method = params.method
    if method == "none":
        return image
    y = image.astype(np.float64) / 255.0
    c = content.astype(np.float64) / 255.0
    if method == "closed_form":
        x0 = None if previous is None else previous.astype(np.float64) / 255.0
        out, _ = matting.smooth_closed_form(lap, y, params.strength, x0=x0)
    elif method == "guided":
        out = matting.smooth_guided(c, y, params.radius, params.eps)
    elif method == "local_affine":
        out = matting.smooth_local_affine(
            c, y, edge_radius=params.edge_radius, edge_sigma=params.edge_sigma
        )
    else:
        raise PvstError(f"unknown postprocess method '{method}'")
    return to_uint8(out)


def stylize_image(
    content: np.ndarray,
    style: np.ndarray,
    params: StylizeParams,
    seg_params: SegmentationParams,
    content_mask=None,
    style_mask=None,
    regions=None,
) -> tuple[np.ndarray, StylizedFrame]:
    """Image mode (the way DPST is used on photos): stylize one uint8 RGB image with one style
    photo, at its size. Returns (the post-processed image, the optimisation record).
    `regions` (pvst.regions.Regions of these two images) are found here when not given."""
    device = pick_device(params.device)
    set_numerics(params.tf32)
    torch.manual_seed(params.seed)
    if regions is None:
        regions = segment_image(content, style, seg_params, content_mask, style_mask)
    used = regions.used()
    log.info("regions: %s", [regions.names[u] for u in used])
    start = time.perf_counter()
    optimising = params.method == "optimise"
    smoothing_needs_lap = params.postprocess.method == "closed_form"
    need_lap = (optimising and params.lambda_ > 0) or smoothing_needs_lap
    bands = matting.laplacian_bands(content) if need_lap else None
    lap = matting.bands_to_csr(bands, 1) if smoothing_needs_lap else None
    coloured = None
    if params.method == "colour" or params.init.first == "colour":
        cp = params.colour
        coloured = colour.transfer(
            content,
            style,
            regions.labels,
            regions.style_labels,
            used,
            cp.feather,
            cp.steps,
            regions.whole,
        )
    if not optimising:
        result = colour_only(coloured, device, time.perf_counter() - start)
        return postprocess(result.image, content, params.postprocess, lap), result
    vgg = load_vgg19(params.vgg, params.pooling, device)
    style_layers = list(losses.active(params.style_layers))
    targets = style_targets(vgg, style, regions.style_masks(), style_layers, device)
    objective = Objective(
        vgg,
        params,
        content_target(content, coloured, params),
        targets,
        regions.masks(),
        None,
        matting.BandLaplacian(bands, 1, device) if params.lambda_ > 0 else None,
    )
    x0 = initial(content, params.init.first, coloured, params.seed, device)
    result = optimise(objective, x0, params.iterations.first, params, what="image")
    return postprocess(result.image, content, params.postprocess, lap), result


def colour_only(
    coloured: np.ndarray | torch.Tensor, device: torch.device, seconds: float
) -> StylizedFrame:
    """The record of a frame of the fast `colour` method: the transfer, no optimisation."""
    image = to_uint8(coloured.cpu().numpy() if isinstance(coloured, torch.Tensor) else coloured)
    return StylizedFrame(image, to_tensor(image, device), [], 0, seconds)


def content_target(
    content: np.ndarray, coloured: np.ndarray | torch.Tensor | None, params: StylizeParams
) -> np.ndarray:
    """What the content loss holds the frame to: the content, or (`content_target: colour`)
    the content after the colour transfer, whose relu4_2 features keep the structure without
    pulling the colours back to the content's."""
    if params.content_target == "colour" and coloured is not None:
        return coloured
    return content


def initial(
    content: np.ndarray,
    how: str,
    coloured: np.ndarray | torch.Tensor | None,
    seed: int,
    device: torch.device,
) -> torch.Tensor:
    """Where a frame's optimisation starts: the content (uint8), its colour transfer
    (`coloured`, float in [0, 1]), or uniform noise."""
    if how == "noise":
        g = torch.Generator().manual_seed(seed)
        return (torch.rand((1, 3, *content.shape[:2]), generator=g) * 255).to(device)
    return to_tensor(coloured if how == "colour" else content, device)
