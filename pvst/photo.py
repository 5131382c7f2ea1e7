"""Image mode at the photo's own size: optimise at the working size, where an evaluation is
cheap; render the result at the output size (pvst.render); refine it there with a few
evaluations of the full objective, which add the style's fine texture at full size.

The refinement runs at most at `stylize.refine.max_size` on the long side (so the memory check
holds for any photo); a larger output is rendered from the refined result.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from pvst import losses, matting, media, render, stylize
from pvst.device import pick_device
from pvst.params import RenderParams, SegmentationParams, StylizeParams
from pvst.regions import Regions, resize_labels, segment_image

log = logging.getLogger(__name__)


@dataclass
class PhotoResult:
    """What image mode did: the working-size optimisation, the sizes, the refinement."""

    working: stylize.StylizedFrame
    working_image: np.ndarray  # the working-size result (post-processed)
    working_size: tuple[int, int]
    size: tuple[int, int]
    rendered: np.ndarray | None = None  # the render, before the refinement
    refined_size: tuple[int, int] | None = None
    refined: stylize.StylizedFrame | None = None
    seconds: float = 0.0


def photo_size(width: int, height: int, size: str | int) -> tuple[int, int]:
    """The output size of a photo: its own (`source`), or a long side in pixels."""
    if size == "source":
        return width, height
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resized_regions(
    regions: Regions, size: tuple[int, int], style_size: tuple[int, int]
) -> Regions:
    """The same regions at other sizes (nearest neighbour)."""
    return dataclasses.replace(
        regions,
        labels=resize_labels(regions.labels, (size[1], size[0])),
        style_labels=resize_labels(regions.style_labels, (style_size[1], style_size[0])),
    )


def refine_size(size: tuple[int, int], max_size: int) -> tuple[int, int]:
    """Where the refinement runs: the output size, or smaller to `max_size` on the long side."""
    w, h = size
    if max(w, h) <= max_size:
        return w, h
    return photo_size(w, h, max_size)


def check_memory(
    working: tuple[int, int],
    out: tuple[int, int],
    params: StylizeParams,
    device: torch.device,
    what: str,
) -> None:
    """Refuse, before any work, sizes whose optimisation cannot fit in memory."""
    stylize.check_memory(working[1], working[0], params, device, f"{what} (working size)")
    if params.method == "optimise" and params.refine.image > 0:
        rw, rh = refine_size(out, params.refine.max_size)
        if rw * rh > working[0] * working[1]:
            stylize.check_memory(
                rh, rw, params, device, f"{what} (refined at {rw}×{rh}; stylize.refine.max_size)"
            )


def stylize_photo(
    content: np.ndarray,
    style: np.ndarray,
    params: StylizeParams,
    seg_params: SegmentationParams,
    render_params: RenderParams,
    working: int,
    content_mask=None,
    style_mask=None,
) -> tuple[np.ndarray, PhotoResult]:
    """Restyle `content` (uint8 RGB, any size) with `style`: optimised with its long side at
    `working`, rendered (and refined) at `render_params.size` (the photo's own by default)."""
    started = time.perf_counter()
    h, w = content.shape[:2]
    wh = media.working_size(w, h, working, upscale=True)
    out = photo_size(w, h, render_params.size)
    small = media.resize_image(content, wh)
    style_small = media.resize_long_side(style, working)
    regions = segment_image(small, style_small, seg_params, content_mask, style_mask)
    image, result = stylize.stylize_image(small, style_small, params, seg_params, regions=regions)
    record = PhotoResult(result, image, wh, out)
    if out == wh:
        record.seconds = time.perf_counter() - started
        return image, record
    if max(out) <= max(wh):  # smaller than the working size: nothing to carry, only to shrink
        record.seconds = time.perf_counter() - started
        return media.resize_image(image, out), record
    device = pick_device(render_params.device)
    evaluations = params.refine.image if params.method == "optimise" else 0
    at = refine_size(out, params.refine.max_size) if evaluations else out
    content_at = media.resize_image(content, at)
    log.info("rendering %d×%d → %d×%d on %s", *wh, *at, device)
    rp = render_params
    image_at = record.rendered = render.render_image(
        small, image, content_at, rp.radius, rp.eps, device
    )
    if evaluations:
        log.info("refining at %d×%d: %d evaluations", *at, evaluations)
        refined = refine(content_at, style, image_at, regions, params, evaluations)
        record.refined_size, record.refined = at, refined
        image_at = refined.image
    if at != out:
        log.info("rendering %d×%d → %d×%d", *at, *out)
        full = media.resize_image(content, out)
        image_at = render.render_image(content_at, image_at, full, rp.radius, rp.eps, device)
    record.seconds = time.perf_counter() - started
    return image_at, record


def refine(
    content: np.ndarray,
    style: np.ndarray,
    start: np.ndarray,
    regions: Regions,
    params: StylizeParams,
    evaluations: int,
) -> stylize.StylizedFrame:
    """`evaluations` of the full objective (content, segmented style, photorealism) at
    `content`'s size, started from `start` (the render). The style photo is seen at the
    content's long side, the regions are the working size's, enlarged."""
    from pvst.vgg import load_vgg19

    device = pick_device(params.device)
    h, w = content.shape[:2]
    style_at = media.resize_long_side(style, max(h, w))
    regions = resized_regions(regions, (w, h), (style_at.shape[1], style_at.shape[0]))
    vgg = load_vgg19(params.vgg, params.pooling, device)
    layers = list(losses.active(params.style_layers))
    targets = stylize.style_targets(vgg, style_at, regions.style_masks(), layers, device)
    lap = None
    if params.lambda_ > 0:
        lap = matting.BandLaplacian(matting.laplacian_bands(content), 1, device)
    objective = stylize.Objective(vgg, params, content, targets, regions.masks(), None, lap)
    once = dataclasses.replace(params, two_stage=False)  # the full objective from the start
    x0 = stylize.to_tensor(start, device)
    return stylize.optimise(objective, x0, evaluations, once, what="refine")
