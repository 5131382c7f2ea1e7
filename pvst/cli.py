"""The `pvst` command: one subcommand per stage, plus tools for looking at artifacts.

Every stage subcommand runs either from the configuration (`--video NAME [--variant V]`, paths
chosen by the plan) or, as the Snakemake rules call it, from explicit `--params JSON`,
`--in ROLE=PATH` and `--out PATH`.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from pvst import __version__, labelling, logs
from pvst.errors import ConfigError, PvstError
from pvst.params import record
from pvst.pipeline import config, samples, store
from pvst.pipeline.plan import STAGES, Plan, is_artifact_role, key_from_files

log = logging.getLogger("pvst")
DEFAULT_CONFIG = "config/config.yaml"


class Job:
    """What a stage subcommand runs: its parameters, input files, output path and key.

    `params` is the whole section (execution settings included) as its typed, frozen record;
    the key hashes the part of the section that determines the artifact.
    """

    def __init__(self, stage: str, section: dict, inputs: dict[str, str], out: str) -> None:
        self.stage, self.inputs, self.out = stage, inputs, out
        self.params = record(STAGES[stage].section, section)
        self.key = key_from_files(stage, section, inputs)
        m = re.fullmatch(rf"{stage}-({store.KEY_PATTERN})(?:-[\w-]+)?\.h5", Path(out).name)
        if m and m.group(1) != self.key:
            raise PvstError(
                f"{out}: the name says key {m.group(1)} but these parameters and inputs make "
                f"key {self.key} (the configuration changed since the path was planned?)"
            )


def _load_plan(args) -> Plan:
    return Plan(config.load(args.config or DEFAULT_CONFIG))


def _validated_section(section: str, raw: str) -> dict:
    """A section (or a dotted sub-section) given as JSON, checked and filled in."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--params: not valid JSON ({exc})") from None
    path = section.split(".")
    wrapped = value
    for key in reversed(path):
        wrapped = {key: wrapped}
    checked = config.validate(wrapped, source="--params")
    for key in path:
        checked = checked[key]
    return checked


def _ensure_inputs(inputs: dict[str, str]) -> None:
    """Copy embedded samples into data/ when a job needs them; name any other missing file."""
    for role, path in inputs.items():
        p = Path(path)
        if p.exists():
            continue
        rel = p.relative_to("data").as_posix() if p.parts[:1] == ("data",) else None
        if rel in samples.SAMPLES:
            samples.fetch(rel, p)
        else:
            raise PvstError(f"{path}: input '{role}' not found")


def _explicit(args, command: str, section: str, roles) -> tuple[dict, dict[str, str], str]:
    """Parameters, inputs and output given on the command line (`--params`, `--in`, `--out`)."""
    params = _validated_section(section, args.params)
    inputs = dict(args.inputs or [])
    missing = [r for r in roles(params) if r not in inputs]
    if missing:
        raise PvstError(f"pvst {command}: missing --in {'/'.join(missing)}=PATH")
    if not args.out:
        raise PvstError(f"pvst {command}: --out is required with --params")
    return params, inputs, args.out


def _selected_plan(args, command: str) -> Plan:
    """The plan of the configuration a command was pointed at with --video."""
    if not args.video:
        raise PvstError(f"pvst {command}: give --video NAME (or --params and --in/--out)")
    return _load_plan(args)


def resolve_job(args, stage: str) -> Job:
    """A Job from explicit arguments, or from the configuration and the plan."""
    if args.params is not None:
        params, inputs, out = _explicit(args, stage, STAGES[stage].section, STAGES[stage].roles)
    else:
        art = _selected_plan(args, stage).artifact(stage, args.video, args.variant)
        params, inputs, out = art.params, art.inputs, args.out or art.path
        upstream = [
            r
            for r in STAGES[stage].roles(params)
            if is_artifact_role(r) and not Path(inputs[r]).exists()
        ]
        if upstream:
            missing = inputs[upstream[0]]
            before = Path(missing).name.split("-")[0]
            raise PvstError(
                f"pvst {stage}: {missing} does not exist yet; run "
                f"`pvst {before} --video {args.video} --variant {args.variant}` first, "
                "or let Snakemake build it"
            )
    _ensure_inputs(inputs)
    return Job(stage, params, inputs, out)


def _role_path(text: str) -> tuple[str, str]:
    role, sep, path = text.partition("=")
    if not sep or not role or not path:
        raise argparse.ArgumentTypeError(f"expected ROLE=PATH, got {text!r}")
    return role, path


# (name, help, handler) of every subcommand, in the order `pvst --help` lists them
SUBCOMMANDS: list[tuple[str, str, Callable]] = []


def subcommand(name: str, text: str) -> Callable[[Callable], Callable]:
    """Declare `pvst NAME` with this help; its arguments are declared by @arg and @arguments
    under it, beside the handler."""

    def register(func: Callable) -> Callable:
        func.__dict__.setdefault("pvst_arguments", [])
        SUBCOMMANDS.append((name, text, func))
        return func

    return register


def arguments(*adders: Callable[[argparse.ArgumentParser], None]) -> Callable:
    """Arguments added by functions (shared groups such as add_job_arguments)."""

    def add(func: Callable) -> Callable:
        # decorators apply bottom-up: put these before the ones already collected
        func.__dict__.setdefault("pvst_arguments", [])[:0] = adders
        return func

    return add


def arg(*names: str, **options) -> Callable:
    """One argparse argument of a subcommand."""
    return arguments(lambda p: p.add_argument(*names, **options))


def add_job_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("from the configuration")
    g.add_argument("--config", help=f"configuration file (default {DEFAULT_CONFIG})")
    g.add_argument("--video", help="video name (a key of `videos`, or data/NAME.*)")
    g.add_argument(
        "--variant", default=config.DEFAULT_VARIANT, help="variant (default %(default)s)"
    )
    e = p.add_argument_group("explicit, as the Snakemake rules call it")
    e.add_argument("--params", help="the stage's parameters as JSON (defaults filled in)")
    e.add_argument(
        "--in",
        dest="inputs",
        action="append",
        type=_role_path,
        metavar="ROLE=PATH",
        help="an input file, e.g. --in frames=results/x/frames-….h5",
    )
    p.add_argument("--out", help="output path (default: the planned artifact path)")


def add_part_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--part", type=_part, metavar="I/N", help="compute only part I of N")
    p.add_argument("--merge", nargs="+", metavar="PART", help="merge these parts")


def _training_options(p: argparse.ArgumentParser) -> None:
    """One option per setting of the schema's cyclegan_train section, its default shown."""
    train_schema = config.schema()["properties"]["cyclegan_train"]["properties"]
    types = {"integer": int, "number": float}
    for name, value in config.defaults("cyclegan_train").items():
        kinds = train_schema[name].get("type", "string")
        kinds = [kinds] if isinstance(kinds, str) else kinds
        kind = next((types[k] for k in kinds if k in types), str)
        what = train_schema[name].get("description", name.replace("_", " ")).rstrip(".")
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, help=f"{what} (default {value})")


# -- subcommands -------------------------------------------------------------------------------
@subcommand("samples", "copy the embedded sample clips and photos into data/")
@arg("names", nargs="*", help=f"which (default all: {', '.join(samples.SAMPLES)})")
@arg("--data", default="data", help="destination folder (default %(default)s)")
@arg("--force", action="store_true", help="overwrite existing files")
def cmd_samples(args) -> None:
    names = args.names or samples.sample_names()
    for name in names:
        dest = Path(args.data) / name
        if dest.exists() and not args.force:
            log.info("%s exists, kept", dest)
            continue
        samples.fetch(name, dest)
        log.info("wrote %s (from %s)", dest, samples.source(name))


@subcommand("frames", "decode a clip into a frames artifact at working size")
@arguments(add_job_arguments)
def cmd_frames(args) -> None:
    from pvst.stages import frames

    job = resolve_job(args, "frames")
    frames.extract(job.inputs["video"], job.out, job.params, job.key)


def _set_threads(n: int | None) -> None:
    if n:
        import cv2

        cv2.setNumThreads(n)


def _part(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)/(\d+)", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise argparse.ArgumentTypeError(f"expected I/N with 1 <= I <= N, got {text!r}")
    return int(m.group(1)) - 1, int(m.group(2))


def _run_parted(args, stage: str, module) -> None:
    """Run a stage computed in parts: one part (--part), the merge (--merge), or both in turn."""
    job = resolve_job(args, stage)
    _set_threads(args.threads)
    frames_path = job.inputs["frames"]
    if args.part:
        part, parts = args.part
        module.compute_part(frames_path, job.out, job.params, part, parts, job.key)
        return
    if args.merge:
        module.merge(frames_path, args.merge, job.out, job.params, job.key)
        return
    parts = job.params.chunks
    out = Path(job.out)
    tmp_parts = [out.with_name(f".{out.stem}-{i + 1}of{parts}.part.h5") for i in range(parts)]
    try:
        for i, p in enumerate(tmp_parts):
            module.compute_part(frames_path, p, job.params, i, parts, job.key)
        module.merge(frames_path, tmp_parts, job.out, job.params, job.key)
    finally:
        for p in tmp_parts:
            p.unlink(missing_ok=True)


@subcommand("flow", "optical flow pairs, consistency masks and scene cuts")
@arguments(add_job_arguments, add_part_arguments)
@arg("--threads", type=int, help="OpenCV threads (default: OpenCV's choice)")
def cmd_flow(args) -> None:
    from pvst.stages import flow as flow_stage

    _run_parted(args, "flow", flow_stage)


@subcommand("laplacian", "the Matting Laplacian of every frame")
@arguments(add_job_arguments, add_part_arguments)
@arg("--threads", type=int, help="OpenCV threads (default: OpenCV's choice)")
def cmd_laplacian(args) -> None:
    from pvst.stages import laplacian as laplacian_stage

    _run_parted(args, "laplacian", laplacian_stage)


@subcommand("segment", "matched region labels for the frames and the style photo")
@arguments(add_job_arguments)
def cmd_segment(args) -> None:
    from pvst.stages import segment as segment_stage

    job = resolve_job(args, "segment")
    segment_stage.run(
        job.inputs["frames"],
        job.inputs["flow"],
        job.inputs["style"],
        job.out,
        job.params,
        job.key,
    )


@subcommand("segment-preview", "frame regions | style regions, as mp4 (or one frame as png)")
@arg("segments", help="segment artifact")
@arg("--frames", required=True, help="its frames artifact")
@arg("--style", required=True, help="its style photo")
@arg("-o", "--out", required=True, help="output .mp4 or .png")
@arg("--frame", type=int, default=0, help="frame index for a .png")
def cmd_segment_preview(args) -> None:
    from pvst.stages import segment as segment_stage
    from pvst.stages.frames import Frames

    with Frames(args.frames) as frames, segment_stage.Segmentation(args.segments) as seg:
        style = segment_stage.style_at_working_size(args.style, frames.size)
        rows = segment_stage.preview_rows(frames, seg, style)
        write_preview(rows, args, frames.fps, args.segments)


@subcommand("smooth", "smooth the stylized frames (stylize.postprocess)")
@arguments(add_job_arguments)
def cmd_smooth(args) -> None:
    from pvst.stages import smooth as smooth_stage

    job = resolve_job(args, "smooth")
    smooth_stage.run(
        job.inputs["stylize"],
        job.inputs["frames"],
        job.inputs.get("laplacian"),
        job.out,
        job.params,
        job.key,
    )


def _torch_job(args, stage: str) -> Job:
    """The job of a stage that optimises with torch, its CPU threads set (--threads, else the
    section's `threads`)."""
    import torch

    job = resolve_job(args, stage)
    threads = args.threads or job.params.threads
    if threads:
        torch.set_num_threads(threads)
    return job


@subcommand("stylize", "stylize every frame (resumes an interrupted run)")
@arguments(add_job_arguments, add_part_arguments)
@arg("--threads", type=int, help="torch CPU threads")
def cmd_stylize(args) -> None:
    from pvst.stages import stylize as stylize_stage

    job = _torch_job(args, "stylize")
    if args.merge:
        inputs = {r: str(job.inputs.get(r, "")) for r in stylize_stage.INPUTS}
        stylize_stage.merge(args.merge, job.out, job.params, job.key, inputs)
        return
    summary = stylize_stage.run(
        job.inputs["frames"],
        job.inputs["flow"],
        job.inputs.get("laplacian"),
        job.inputs["segment"],
        job.inputs["style"],
        job.out,
        job.params,
        job.key,
        part=args.part,
    )
    log.info(
        "stylized %d frames (%d resumed), %d evaluations, %.1f s; redone after NaN: %s",
        summary["frames"],
        summary["resumed"],
        summary["evaluations"],
        summary["seconds"],
        summary["retried"] or "none",
    )


@subcommand("refine", "refine every frame of a result at the output size (resumes)")
@arguments(add_job_arguments)
@arg("--threads", type=int, help="torch CPU threads")
def cmd_refine(args) -> None:
    from pvst.stages import refine

    job = _torch_job(args, "refine")
    i = job.inputs
    refine.run(
        i["result"],
        i["frames"],
        i["flow"],
        i["segment"],
        i["style"],
        i["video"],
        job.out,
        job.params,
        job.key,
    )


def _given_options(options: dict) -> dict:
    """The options a user gave (None: not given), nested as the sections are."""
    out = {}
    for key, value in options.items():
        if isinstance(value, dict):
            value = _given_options(value)
        if value is not None and value != {}:
            out[key] = value
    return out


def _out_size(text: str) -> str | int:
    if text == "source":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'source' or pixels, got {text!r}") from None


@subcommand("image", "stylize one photo with another (Deep Photo Style Transfer)")
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
    choices=[m for m in labelling.METHODS if m != "masks"],
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
def cmd_image(args) -> None:
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
    sections = config.validate(config.merge(sections, _given_options(options)), "pvst image")
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


@subcommand("cyclegan", "translate every frame with a CycleGAN generator")
@arguments(add_job_arguments)
def cmd_cyclegan(args) -> None:
    from pvst.stages import cyclegan as cyclegan_stage

    job = resolve_job(args, "cyclegan")
    cyclegan_stage.run(job.inputs["frames"], job.inputs["checkpoint"], job.out, job.params, job.key)


@subcommand("cyclegan-train", "train a CycleGAN between two image domains (resumes from OUT)")
@arg("a", help="domain A: a folder of images, or a frames artifact (.h5)")
@arg("b", help="domain B: a folder of images")
@arg("--out", required=True, help="folder for checkpoints, losses and samples")
@arg("--config", help=f"take cyclegan_train from here (default {DEFAULT_CONFIG}, if present)")
@arguments(_training_options)
def cmd_cyclegan_train(args) -> None:
    from pvst.stages import cyclegan_train

    # the configuration's cyclegan_train section (when there is a configuration), then options
    path = Path(args.config or DEFAULT_CONFIG)
    base = config.load(path)["cyclegan_train"] if args.config or path.is_file() else {}
    given = {k: getattr(args, k, None) for k in config.defaults("cyclegan_train")}
    params = {**base, **_given_options(given)}
    history = cyclegan_train.train(args.a, args.b, args.out, params)
    if history:
        log.info(
            "trained %d steps; last: %s",
            len(history),
            {k: round(v, 4) for k, v in history[-1].items() if isinstance(v, float)},
        )


@subcommand(
    "evaluate",
    "metrics of a result video (warping error, edge SSIM, Gram distance, photorealism, time)",
)
@arguments(add_job_arguments)
@arg("--flow-method", help="the estimator the flow input was made with")
@arg("--render", help="the render section as JSON (with --params; for --in video=CLIP)")
def cmd_evaluate(args) -> None:
    from pvst.params import EvaluateParams, RenderParams
    from pvst.stages import evaluate

    about = {"video": args.video or "", "variant": args.variant}
    if args.params is not None:
        metrics_roles = ("frames", "result", "flow", "style")
        section, inputs, out = _explicit(args, "evaluate", "evaluate", lambda _: metrics_roles)
        render = (
            _validated_section("render", args.render) if args.render else config.defaults("render")
        )
        flow_method = ""
    else:
        plan = _selected_plan(args, "evaluate")
        section = config.section(plan.config, "evaluate", args.video, args.variant)
        render = config.section(plan.config, "render", args.video, args.variant)
        inputs = plan.metrics_inputs(args.video, args.variant)
        out = args.out or plan.metrics_path(args.video, args.variant)
        flow_method = plan.eval_flow(args.video, args.variant).params["method"]
    for role, path in inputs.items():
        if not Path(path).exists():
            raise PvstError(f"{path}: input '{role}' of the metrics does not exist yet")
    evaluate.evaluate(
        inputs["frames"],
        inputs["result"],
        inputs["flow"],
        inputs["style"],
        inputs.get("segment"),
        out,
        EvaluateParams.of(section),
        about,
        inputs.get("stylize"),
        flow_method=args.flow_method or flow_method,
        clip=inputs.get("video"),
        render_params=RenderParams.of(render),
    )


@subcommand("figure", "one of the configured figures as a labelled frame grid")
@arg("name", nargs="?", help="a figure of the configuration")
@arg("--config", help=f"configuration file (default {DEFAULT_CONFIG})")
@arg("--spec", help="resolved rows as JSON (as the Snakemake rule passes them)")
@arg("-o", "--out", required=True, help="output .png")
def cmd_figure(args) -> None:
    from pvst.pipeline.plan import FigureRow
    from pvst.stages import figures

    if args.spec:
        spec = json.loads(args.spec)
        rows = [FigureRow.of(row) for row in spec["rows"]]
        frames, title = spec["frames"], spec.get("title", "")
    else:
        plan = _load_plan(args)
        rows, spec = plan.figure_rows(args.name)
        frames, title = spec["frames"], spec.get("title", args.name)
    figures.figure(rows, frames, title, args.out)


@subcommand("plots", "metrics table, loss curves and E_warp against edge SSIM")
@arg("--metrics", nargs="*", default=[], help="metrics .json files")
@arg(
    "--stylized",
    nargs="*",
    default=[],
    type=_role_path,
    metavar="LABEL=PATH",
    help="stylize artifacts for the loss curves",
)
@arg("--out-dir", required=True, help="where the table and plots go")
def cmd_plots(args) -> None:
    from pvst.stages import evaluate, figures

    out = Path(args.out_dir)
    if args.metrics:
        evaluate.table(args.metrics, out / "metrics.csv", out / "metrics.md")
        figures.ewarp_vs_ssim(args.metrics, out / "ewarp_vs_ssim.png")
    if args.stylized:
        figures.loss_curves(args.stylized, out / "loss_curves.png")


def write_preview(rows, args, fps: float, source: str) -> None:
    """Preview rows to an mp4, or frame `args.frame` of them to a png."""
    from pvst import media

    if args.out.endswith(".png"):
        for t, row in enumerate(rows):
            if t == args.frame:
                media.write_image(args.out, row)
                return
        raise PvstError(f"{source}: has no frame {args.frame}")
    media.write_video(args.out, rows, fps, crf=20, preset="fast")


@subcommand("dvc-yaml", "write dvc.yaml from the configuration (or --check it)")
@arg("--config", help=f"configuration file (default {DEFAULT_CONFIG})")
@arg("-o", "--out", default="dvc.yaml")
@arg("--check", action="store_true", help="fail if the file is out of date")
def cmd_dvc_yaml(args) -> None:
    from pvst.pipeline import dvc

    cfg_path = args.config or DEFAULT_CONFIG
    text = dvc.generate(cfg_path)
    out = Path(args.out)
    if args.check:
        if not out.is_file() or out.read_text() != text:
            raise PvstError(
                f"{out} is out of date with {cfg_path}: run `make dvc.yaml` (or "
                "`pvst dvc-yaml`) and commit it"
            )
        log.info("%s is up to date with %s", out, cfg_path)
        return
    from pvst.atomic import atomic_path

    with atomic_path(out) as tmp:
        tmp.write_text(text)
    log.info("wrote %s (%d stages)", out, text.count("    cmd: "))


@subcommand("flow-preview", "frame | flow colour wheel | consistency, as mp4 (or one frame as png)")
@arg("flow", help="flow artifact")
@arg("--frames", required=True, help="its frames artifact")
@arg("-o", "--out", required=True, help="output .mp4 or .png")
@arg("--j", type=int, default=1, help="pair distance to show (default 1)")
@arg("--frame", type=int, default=1, help="frame index for a .png")
def cmd_flow_preview(args) -> None:
    from pvst.stages import flow as flow_stage
    from pvst.stages.frames import Frames

    with Frames(args.frames) as frames, flow_stage.FlowSet(args.flow) as flows:
        write_preview(flow_stage.preview_rows(frames, flows, args.j), args, frames.fps, args.flow)


def _sections(args, names: tuple[str, ...], given: dict[str, str | None]) -> dict[str, dict]:
    """Sections a product's command reads: given as JSON (as the rules pass them), from the
    configuration for --video and --variant, or the defaults."""
    plan = _load_plan(args) if args.video and args.params is None else None
    out = {}
    for name in names:
        if args.params is not None:
            raw = given.get(name)
            out[name] = config.defaults(name) if raw is None else _validated_section(name, raw)
        elif plan is not None:
            out[name] = config.section(plan.config, name, args.video, args.variant)
        else:
            out[name] = config.defaults(name)
    return out


@subcommand(
    "assemble", "a result as mp4 (at the clip's size, timing and sound), side-by-side or GIF"
)
@arg("artifact", help="an artifact holding frames (stylize, smooth, cyclegan, frames)")
@arg("-o", "--out", required=True, help="output .mp4 or .gif")
@arg("--frames", help="the working-size frames the result was made from")
@arg("--source", help="the clip they came from: render at the output size, with its sound")
@arg("--side-by-side", action="store_true", help="input | output | style")
@arg("--style", help="the style photo shown in a side-by-side (if any)")
@arg("--caption", default="output", help="label of the output panel")
@arg("--params", help="the assemble section as JSON")
@arg("--render", help="the render section as JSON (with --params)")
@arg("--config", help=f"configuration file (default {DEFAULT_CONFIG})")
@arg("--video", help="take the assemble and render sections of this video")
@arg("--variant", default=config.DEFAULT_VARIANT)
def cmd_assemble(args) -> None:
    from pvst.params import AssembleParams, RenderParams
    from pvst.stages import assemble

    sections = _sections(
        args, ("assemble", "render"), {"assemble": args.params, "render": args.render}
    )
    params, render = AssembleParams.of(sections["assemble"]), RenderParams.of(sections["render"])
    if args.source and not args.frames:
        raise PvstError(
            "pvst assemble: --source needs --frames (the frames the result was made from)"
        )
    if args.side_by_side and not args.frames:
        raise PvstError("pvst assemble: --side-by-side needs --frames (the input frames)")
    out = Path(args.out)
    rendering = {"frames_path": args.frames, "clip": args.source, "render_params": render}
    if out.suffix.lower() == ".gif":
        assemble.to_gif(args.artifact, out, params, **rendering)
    elif args.side_by_side:
        assemble.to_side_by_side(
            args.artifact, args.frames, args.style, out, params, args.caption, args.source, render
        )
    else:
        assemble.to_video(args.artifact, out, params, **rendering)


@subcommand("info", "print how artifacts were made (stage, parameters, inputs, shapes)")
@arg("artifacts", nargs="+")
def cmd_info(args) -> None:
    for path in args.artifacts:
        print(json.dumps(store.describe(path), indent=2, default=str))


@subcommand("plan", "list the artifact paths the configuration asks for")
@arg("--config", help=f"configuration file (default {DEFAULT_CONFIG})")
@arg("--video")
@arg("--variant")
@arg("--json", action="store_true")
def cmd_plan(args) -> None:
    plan = _load_plan(args)
    if args.video and args.video not in plan.videos():
        raise PvstError(
            f"no video '{args.video}': known videos are {', '.join(plan.videos()) or 'none'} "
            "(entries under `videos:` in the configuration, and data/<name>.mp4 files)"
        )
    videos = [args.video] if args.video else plan.videos()
    variants = [args.variant] if args.variant else plan.variants()
    rows = []
    for video in videos:
        for variant in variants:
            base = {"video": video, "variant": variant}
            try:
                arts = plan.needed(video, variant)
            except PvstError as exc:
                rows.append(
                    {**base, "stage": "-", "path": None, "exists": False, "error": str(exc)}
                )
                continue
            rows += [
                {
                    **base,
                    "stage": art.stage,
                    "path": art.path,
                    "exists": Path(art.path).exists(),
                    "params": art.params,
                }
                for art in arts
            ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        mark = "✓" if r["exists"] else " "
        where = r["path"] or f"(cannot plan: {r['error']})"
        print(f"{mark} {r['video']:<12} {r['variant']:<12} {r['stage']:<10} {where}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pvst",
        description="Photo-realistic video style transfer: the stages of the pipeline.",
    )
    parser.add_argument("--version", action="version", version=f"pvst {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log", help="also write the log to this file")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text, func in SUBCOMMANDS:
        p = sub.add_parser(name, help=text, description=text, parents=[common])
        p.set_defaults(func=func)
        for add in func.pvst_arguments:
            add(p)
    return parser


# Arguments that name what a command writes (checked apart from the inputs).
OUTPUT_ARGS = ("out", "out_dir", "log")


def _is_file(text: str) -> bool:
    """Whether an argument names an existing file (JSON parameters are not paths)."""
    try:
        return bool(text) and Path(text).is_file()
    except (OSError, ValueError):
        return False


def check_outputs(args) -> None:
    """Refuse, before any work, an output that is also an input (it would be overwritten) or
    that lies where nothing can be written."""
    from pvst.atomic import check_writable

    inputs = []
    for name, value in vars(args).items():
        if name in OUTPUT_ARGS or name == "func":
            continue
        for item in value if isinstance(value, list) else [value]:
            item = item[1] if isinstance(item, tuple) else item
            if isinstance(item, str) and _is_file(item):
                inputs.append(item)
    for name in OUTPUT_ARGS:
        out = getattr(args, name, None)
        if not out:
            continue
        for given in inputs:
            if Path(out).exists() and Path(out).resolve() == Path(given).resolve():
                raise PvstError(f"{out}: is also an input of this command; it would be overwritten")
        check_writable(out)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_outputs(args)
    except PvstError as exc:
        print(f"pvst {args.command}: error: {exc}", file=sys.stderr)
        return 2
    logs.setup(getattr(args, "log", None), getattr(args, "verbose", False))
    try:
        args.func(args)
    except PvstError as exc:
        logs.file_only(logging.ERROR, str(exc))
        print(f"pvst {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        logs.file_only(logging.ERROR, "interrupted")
        print(f"pvst {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception:
        # the job's log file must hold what went wrong, not only the console
        logs.file_only(logging.ERROR, "unexpected error:\n" + traceback.format_exc())
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
