"""`pvst image`: one photo restyled with another (Deep Photo Style Transfer), the options of
image mode (pvst.photo) over the stylize, segmentation and render sections."""

from __future__ import annotations

import argparse
import logging

from pvst import regions
from pvst.errors import PvstError
from pvst.pipeline import config
from pvst.tools import DEFAULT_CONFIG, arg, command, given_options

log = logging.getLogger("pvst")


def _out_size(text: str) -> str | int:
    if text == "source":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'source' or pixels, got {text!r}") from None


@command("image")
@arg("content", help="the photo to restyle")
@arg("style", help="the reference photo")
@arg("-o", "--out", required=True, help="output image (.png, .jpg)")
@arg("--content-mask", help="DPST colour-coded mask of the content photo")
@arg("--style-mask", help="DPST colour-coded mask of the style photo")
@arg("--size", type=int, default=384, help="working size: long side of the optimisation (384)")
@arg(
    "--out-size",
    type=_out_size,
    help="output size: source (the photo's own, default) or a long side in pixels",
)
@arg(
    "--iterations",
    type=int,
    help="objective evaluations (default: the stylize section's iterations.first)",
)
@arg(
    "--refine",
    type=int,
    metavar="N",
    help="evaluations at the output size after the render (default stylize.refine.image)",
)
@arg("--lambda", dest="lambda_", type=float, help="photorealism weight λ")
@arg(
    "--segmentation",
    choices=[m for m in regions.METHODS if m != "masks"],
    help="the regions without masks (masks: --content-mask and --style-mask)",
)
@arg("--postprocess", choices=["none", "closed_form", "guided", "local_affine"])
@arg(
    "--method",
    choices=["optimise", "colour"],
    help="optimise (default) or colour: the fast look, no network",
)
@arg("--device", help="auto, cpu, cuda")
@arg("--config", help="take the stylize, segmentation and render sections from here")
@arg("--variant", default=config.DEFAULT_VARIANT, help="of that configuration")
def image(args) -> None:
    from pvst import media, photo
    from pvst.device import pick_device
    from pvst.params import RenderParams, SegmentationParams, StylizeParams

    names = ("stylize", "segmentation", "render")
    if args.config or args.variant != config.DEFAULT_VARIANT:
        cfg = config.load(args.config or DEFAULT_CONFIG)
        sections = {s: config.section(cfg, s, "", args.variant) for s in names}
    else:
        sections = {s: config.defaults(s) for s in names}
    options = {
        "stylize": {
            "iterations": {"first": args.iterations},
            "lambda": args.lambda_,
            "postprocess": {"method": args.postprocess},
            "device": args.device,
            "method": args.method,
            "refine": {"image": args.refine},
        },
        "segmentation": {"method": args.segmentation},
        "render": {"size": args.out_size, "device": args.device},
    }
    sections = config.validate(config.merge(sections, given_options(options)), "pvst image")
    params = StylizeParams.of(sections["stylize"])
    seg_params = SegmentationParams.of(sections["segmentation"])
    render = RenderParams.of(sections["render"])
    size_rule = config.schema()["$defs"]["frames"]["properties"]["size"]
    if not size_rule["minimum"] <= args.size <= size_rule["maximum"]:
        raise PvstError(
            f"--size {args.size}: the long side must be {size_rule['minimum']} to "
            f"{size_rule['maximum']} pixels (as frames.size)"
        )
    media.check_image_output(args.out)
    device = pick_device(params.device)
    content = media.read_image(args.content)
    style = media.read_style_photo(args.style)
    h, w = content.shape[:2]
    media.check_thin(args.content, w, h, "photo", args.size)
    media.check_thin(args.style, style.shape[1], style.shape[0], "style photo", args.size)
    wh = media.working_size(w, h, args.size, upscale=True)
    out = photo.photo_size(w, h, render.size)
    photo.check_memory(wh, out, params, device, f"{args.content} at --size {args.size}")
    log.info("stylizing %s (%d×%d at %d×%d) with %s", args.content, w, h, *wh, args.style)
    image, done = photo.stylize_photo(
        content, style, params, seg_params, render, args.size, args.content_mask, args.style_mask
    )
    media.write_image(args.out, image)
    result = done.working
    if not result.losses:
        log.info("wrote %s (%d×%d): colour transfer, %.1f s", args.out, *done.size, done.seconds)
        return
    refined = done.refined
    log.info(
        "wrote %s (%d×%d): %d evaluations at %d×%d%s, %.1f s, loss %.4g → %.4g; terms %s",
        args.out,
        *done.size,
        result.evaluations,
        *done.working_size,
        f" and {refined.evaluations} at {done.refined_size[0]}×{done.refined_size[1]}"
        if refined
        else "",
        done.seconds,
        result.losses[0],
        result.losses[-1],
        {k: round(v, 1) for k, v in (refined or result).terms.items()},
    )
