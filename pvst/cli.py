"""The `pvst` command: one subcommand per stage of the plan's table (each runs its driver's
`run(job)`), the two products made at the output size (evaluate, assemble), and the tools of
pvst.tools (image mode, CycleGAN training, figures, previews, plan and info).

A stage or product runs either from the configuration (`--video NAME [--variant V]`, paths
chosen by the plan) or, as the Snakemake rules call it, from explicit `--params JSON`,
`--in ROLE=PATH` and `--out PATH`.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import os
import re
import sys
import traceback
from dataclasses import replace
from pathlib import Path

from pvst import __version__, logs
from pvst.errors import PvstError
from pvst.params import AssembleParams, EvaluateParams, RenderParams
from pvst.pipeline import config
from pvst.pipeline.job import Job, explicit, given_job, planned_job, validated_section
from pvst.pipeline.plan import STAGES, Plan
from pvst.tools import (
    DEFAULT_CONFIG,
    HANDLERS,
    TOOLS,
    arg,
    arguments,
    command,
    load_plan,
    role_path,
)

log = logging.getLogger("pvst")


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
        type=role_path,
        metavar="ROLE=PATH",
        help="an input file, e.g. --in frames=results/x/frames-….h5",
    )
    p.add_argument("--out", help="output path (default: the planned artifact path)")


def _part(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)/(\d+)", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise argparse.ArgumentTypeError(f"expected I/N with 1 <= I <= N, got {text!r}")
    return int(m.group(1)) - 1, int(m.group(2))


def add_stage_arguments(p: argparse.ArgumentParser, stage: str) -> None:
    """A stage's options: the job's (from the configuration or explicit), its parts, threads."""
    spec = STAGES[stage]
    add_job_arguments(p)
    if spec.parted:
        p.add_argument("--part", type=_part, metavar="I/N", help="compute only part I of N")
        p.add_argument("--merge", nargs="+", metavar="PART", help="merge these parts")
    if spec.threads:
        p.add_argument("--threads", type=int, help=spec.threads)


def _selected_plan(args, command: str) -> Plan:
    """The plan of the configuration a command was pointed at with --video."""
    if not args.video:
        raise PvstError(f"pvst {command}: give --video NAME (or --params and --in/--out)")
    return load_plan(args)


def run_stage(stage: str, args) -> None:
    """`pvst STAGE`: the job from explicit arguments or from the plan, run by the driver."""
    if args.params is not None:
        job = given_job(stage, args.params, dict(args.inputs or []), args.out)
    else:
        plan = _selected_plan(args, stage)
        job = planned_job(plan, stage, args.video, args.variant, args.out)
    job = replace(
        job,
        part=getattr(args, "part", None),
        merge=tuple(getattr(args, "merge", None) or ()),
        threads=getattr(args, "threads", None),
    )
    driver = importlib.import_module(f"pvst.stages.{stage}")
    driver.run(job)


# the products made at the output size: command -> help (their handlers are below)
PRODUCTS = {
    "evaluate": "metrics of a result video (warping error, edge SSIM, Gram distance, "
    "photorealism, time)",
    "assemble": "a result as mp4 (at the clip's size, timing and sound), side-by-side or GIF",
}


@command("evaluate")
@arguments(add_job_arguments)
@arg("--flow-method", help="the estimator the flow input was made with")
@arg("--render", help="the render section as JSON (with --params; for --in video=CLIP)")
def evaluate(args) -> None:
    from pvst.stages import evaluate as evaluate_product

    if args.params is not None:
        metrics_roles = ("frames", "result", "flow", "style")
        inputs, out = dict(args.inputs or []), args.out
        section = explicit(
            "evaluate", "evaluate", lambda _: metrics_roles, args.params, inputs, out
        )
        raw = args.render
        render = validated_section("render", raw) if raw else config.defaults("render")
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
    options = {
        "about": {"video": args.video or "", "variant": args.variant},
        "flow_method": args.flow_method or flow_method,
    }
    params, render = EvaluateParams.of(section), RenderParams.of(render)
    evaluate_product.run(Job("evaluate", params, inputs, out, render=render, options=options))


def _sections(args, names: tuple[str, ...], given: dict[str, str | None]) -> dict[str, dict]:
    """Sections a product's command reads: given as JSON (as the rules pass them), from the
    configuration for --video and --variant, or the defaults."""
    plan = load_plan(args) if args.video and args.params is None else None
    out = {}
    for name in names:
        if args.params is not None:
            raw = given.get(name)
            out[name] = config.defaults(name) if raw is None else validated_section(name, raw)
        elif plan is not None:
            out[name] = config.section(plan.config, name, args.video, args.variant)
        else:
            out[name] = config.defaults(name)
    return out


@command("assemble")
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
def assemble(args) -> None:
    from pvst.stages import assemble as assemble_product

    sections = _sections(
        args, ("assemble", "render"), {"assemble": args.params, "render": args.render}
    )
    if args.source and not args.frames:
        raise PvstError(
            "pvst assemble: --source needs --frames (the frames the result was made from)"
        )
    if args.side_by_side and not args.frames:
        raise PvstError("pvst assemble: --side-by-side needs --frames (the input frames)")
    if Path(args.out).suffix.lower() not in (".mp4", ".gif"):
        raise PvstError(
            f"{args.out}: '{Path(args.out).suffix or '(no suffix)'}' is not what assemble "
            "writes (.mp4, or .gif)"
        )
    if args.frames:  # checked even where unused: a wrong artifact is a wrong command
        from pvst.stages.frames import Frames

        Frames(args.frames).close()
    files = {"art": args.artifact, "frames": args.frames, "video": args.source}
    files["style"] = args.style
    inputs = {role: path for role, path in files.items() if path}
    options = {"side_by_side": args.side_by_side, "caption": args.caption}
    params = AssembleParams.of(sections["assemble"])
    render = RenderParams.of(sections["render"])
    assemble_product.run(Job("assemble", params, inputs, args.out, render=render, options=options))


def _command_name(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """`pvst`'s parser. A tool's module is imported (and its arguments added) only when `argv`
    runs that tool, so that a stage's command never imports what it does not use."""
    chosen = _command_name(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="pvst",
        description="Photo-realistic video style transfer: the stages of the pipeline.",
    )
    parser.add_argument("--version", action="version", version=f"pvst {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log", help="also write the log to this file")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, parents=[common])

    for name, spec in STAGES.items():
        p = add(name, spec.help)
        add_stage_arguments(p, name)
        p.set_defaults(func=functools.partial(run_stage, name))

    def handled(p: argparse.ArgumentParser, name: str) -> None:
        for add_arguments in HANDLERS[name].pvst_arguments:
            add_arguments(p)
        p.set_defaults(func=HANDLERS[name])

    for name, text in PRODUCTS.items():
        handled(add(name, text), name)
    for name, (module, text) in TOOLS.items():
        p = add(name, text)
        if name == chosen:
            importlib.import_module(f"pvst.tools.{module}")
            handled(p, name)
    return parser


# Arguments that name what a command writes (checked apart from the inputs).
OUTPUT_ARGS = ("out", "out_dir", "log")
# Commands whose --out is a folder; every other --out names a file.
FOLDER_OUTPUTS = ("cyclegan-train",)


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
        folder = Path(out).is_dir() or out.endswith(("/", os.sep))
        if name in ("out", "log") and folder and args.command not in FOLDER_OUTPUTS:
            raise PvstError(f"{out}: is a folder; name the file to write (in it, or elsewhere)")
        for given in inputs:
            if Path(out).exists() and Path(out).resolve() == Path(given).resolve():
                raise PvstError(f"{out}: is also an input of this command; it would be overwritten")
        check_writable(out)


def _quiet_full_disk(hook):
    """An exception hook that keeps a full disk's echoes out of the console: HDF5 objects
    freed after the write failed try to flush again and print that (through sys.excepthook
    and sys.unraisablehook), after pvst has said in one line what happened."""
    from pvst.atomic import out_of_space

    def quiet(*info) -> None:
        exc = info[0].exc_value if len(info) == 1 else info[1]
        if out_of_space(exc):
            logs.file_only(logging.DEBUG, f"after the disk filled: {exc}")
            return
        hook(*info)

    return quiet


def main(argv: list[str] | None = None) -> int:
    sys.unraisablehook = _quiet_full_disk(sys.__unraisablehook__)
    sys.excepthook = _quiet_full_disk(sys.__excepthook__)
    args = build_parser(argv).parse_args(argv)
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
    except OSError as exc:
        from pvst.atomic import out_of_space

        if not out_of_space(exc):
            logs.file_only(logging.ERROR, "unexpected error:\n" + traceback.format_exc())
            raise
        where = getattr(args, "out", None) or getattr(args, "out_dir", None) or "."
        message = (
            f"{where}: the disk is full (no space left on the device of "
            f"{Path(where).resolve().parent}); nothing was left at {where}: free some space "
            "and run again"
        )
        logs.file_only(logging.ERROR, message)
        print(f"pvst {args.command}: error: {message}", file=sys.stderr)
        if argv is None:  # the command line: end here
            # HDF5 that met a full disk crashes (SIGSEGV) while the interpreter frees its
            # objects at exit; the temporary file is gone already, so nothing is lost
            logging.shutdown()
            sys.stderr.flush()
            os._exit(2)
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
