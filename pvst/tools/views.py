"""Commands that draw what the pipeline made: the configured figures, the metrics table and
plots, and previews of a flow or a segment artifact over its frames."""

from __future__ import annotations

import json
from pathlib import Path

from pvst.errors import PvstError
from pvst.tools import DEFAULT_CONFIG, arg, command, load_plan, role_path


@command("figure")
@arg("name", nargs="?", help="a figure of the configuration")
@arg("--config", help=f"configuration file (default {DEFAULT_CONFIG})")
@arg("--spec", help="resolved rows as JSON (as the Snakemake rule passes them)")
@arg("-o", "--out", required=True, help="output .png")
def figure(args) -> None:
    from pvst.pipeline.plan import FigureRow
    from pvst.stages import figures

    if args.spec:
        spec = json.loads(args.spec)
        rows = [FigureRow.of(row) for row in spec["rows"]]
        indices, title = spec["frames"], spec.get("title", "")
    else:
        rows, spec = load_plan(args).figure_rows(args.name)
        indices, title = spec["frames"], spec.get("title", args.name)
    figures.figure(rows, indices, title, args.out)


@command("plots")
@arg("--metrics", nargs="*", default=[], help="metrics .json files")
@arg(
    "--stylized",
    nargs="*",
    default=[],
    type=role_path,
    metavar="LABEL=PATH",
    help="stylize artifacts for the loss curves",
)
@arg("--out-dir", required=True, help="where the table and plots go")
def plots(args) -> None:
    from pvst.stages import evaluate, figures

    out = Path(args.out_dir)
    if args.metrics:
        evaluate.table(args.metrics, out / "metrics.csv", out / "metrics.md")
        figures.ewarp_vs_ssim(args.metrics, out / "ewarp_vs_ssim.png")
    if args.stylized:
        figures.loss_curves(args.stylized, out / "loss_curves.png")


@command("segment-preview")
@arg("segments", help="segment artifact")
@arg("--frames", required=True, help="its frames artifact")
@arg("--style", required=True, help="its style photo")
@arg("-o", "--out", required=True, help="output .mp4 or .png")
@arg("--frame", type=int, default=0, help="frame index for a .png")
def segment_preview(args) -> None:
    from pvst.stages import segment as segment_stage
    from pvst.stages.frames import Frames

    with Frames(args.frames) as frames, segment_stage.Segmentation(args.segments) as seg:
        style = segment_stage.style_at_working_size(args.style, frames.size)
        rows = segment_stage.preview_rows(frames, seg, style)
        _write_preview(rows, args, frames.fps, args.segments)


@command("flow-preview")
@arg("flow", help="flow artifact")
@arg("--frames", required=True, help="its frames artifact")
@arg("-o", "--out", required=True, help="output .mp4 or .png")
@arg("--j", type=int, default=1, help="pair distance to show (default 1)")
@arg("--frame", type=int, default=1, help="frame index for a .png")
def flow_preview(args) -> None:
    from pvst.stages import flow as flow_stage
    from pvst.stages.frames import Frames

    with Frames(args.frames) as frames, flow_stage.FlowSet(args.flow) as flows:
        rows = flow_stage.preview_rows(frames, flows, args.j)
        _write_preview(rows, args, frames.fps, args.flow)


def _write_preview(rows, args, fps: float, source: str) -> None:
    """Preview rows to an mp4, or frame `args.frame` of them to a png."""
    from pvst import media

    if args.out.endswith(".png"):
        for t, row in enumerate(rows):
            if t == args.frame:
                media.write_image(args.out, row)
                return
        raise PvstError(f"{source}: has no frame {args.frame}")
    media.write_video(args.out, rows, fps, crf=20, preset="fast")
