"""Evaluate stage: results/{video}_{variant}.metrics.json, and the table over many of them."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
from pathlib import Path

import numpy as np

from pvst import flow, losses, matting, media, metrics, regions
from pvst.atomic import atomic_path
from pvst.errors import ArtifactError
from pvst.logs import progress
from pvst.params import EvaluateParams, RenderParams
from pvst.pipeline.job import Job
from pvst.stages import segment as segment_stage
from pvst.stages.flow import FlowSet
from pvst.stages.frames import Frames
from pvst.stages.render import Source, output_size, rendered

log = logging.getLogger(__name__)


def _sample(n: int, k: int) -> list[int]:
    picks = np.unique(np.rint(np.linspace(0, n - 1, min(n, k))).astype(int))
    return [int(t) for t in picks]


def _time(result_path: str | Path) -> dict:
    """Effort recorded by the stage that made the frames (the optimisation's, for stylized
    results)."""
    from pvst.stages.stylize import Stylized

    with Stylized(result_path, stage=None) as result:
        return {
            "stage": str(result.attr("stage")),
            "device": str(result.attr("device", "")),
            **result.effort(),
        }


def run(job: Job) -> dict:
    """The product: the metrics of the `result` frames (made from `frames`, with the `style`
    photo; the optimisation's effort from `stylize`, the regions from `segment`) against the
    input, the warping error with the `flow` pairs (options: `flow_method`, what made them,
    and `about`, the video and variant); with the `video` clip and `job.render`, measured
    again at the output size. Writes `job.out` and returns the metrics."""
    i = job.input
    return _evaluate(
        i("frames"),
        i("result"),
        i("flow"),
        i("style"),
        i("segment"),
        job.out,
        job.params,
        job.options.get("about"),
        i("stylize"),
        job.options.get("flow_method", ""),
        i("video"),
        job.render,
    )


def _evaluate(
    frames_path: str | Path,
    result_path: str | Path,
    flow_path: str | Path,
    style_path: str | Path,
    segment_path: str | Path | None,
    out: str | Path,
    params: EvaluateParams,
    about: dict | None = None,
    stylize_path: str | Path | None = None,
    flow_method: str = "",
    clip: str | Path | None = None,
    render_params: RenderParams | None = None,
) -> dict:
    """Measure one result video against its input; write and return the metrics.
    `flow_method` names the estimator of the flow the warping error used. With the source
    `clip`, the result is also measured at the output size, rendered as the user gets it."""
    from pvst.device import pick_device
    from pvst.vgg import load_vgg19

    with (
        Frames(frames_path) as inputs,
        Frames(result_path, stage=None) as outputs,
        FlowSet(flow_path) as flows,
    ):
        n, size = len(inputs), inputs.size
        if len(outputs) != n:
            raise ArtifactError(f"{result_path} has {len(outputs)} frames, its input {n}")
        ins = [inputs[t] for t in range(n)]
        outs = [media.resize_image(outputs[t], size) for t in range(n)]
        log.info(
            "evaluating %s against %s (%d frames of %d×%d)", result_path, frames_path, n, *size
        )
        e_out, pairs = metrics.warping_error(outs, flows)
        e_in, _ = metrics.warping_error(ins, flows)
    ssim = [metrics.edge_ssim(ins[t], outs[t]) for t in range(n)]

    picks = _sample(n, params.samples)
    device = pick_device(params.device)
    vgg = load_vgg19(device=device)
    layers = list(losses.active(params.gram_layers))
    style = segment_stage.style_at_working_size(style_path, size)
    sampled = _Sampled(vgg, device, layers, style)
    per_label: dict[str, list[float]] = {}
    segments = segment_stage.Segmentation(segment_path) if segment_path else None
    with segments if segments is not None else contextlib.nullcontext() as seg:
        by_region = seg is not None and len(seg.names) > 1
        if by_region:
            style_labels = regions.resize_labels(seg.style_labels, style.shape[:2])
            used = seg.used_labels()
        for t in picks:
            f_out = sampled.add(ins[t], outs[t])
            if by_region:
                labels = seg.labels(t)
                for lab in used:
                    if (labels == lab).mean() < 0.01:
                        continue
                    where = regions.style_mask(style_labels, lab, seg.whole)
                    per_label.setdefault(seg.names[lab], []).append(
                        metrics.gram_distance(f_out, sampled.style, labels == lab, where)
                    )

    result = {
        **(about or {}),
        "frames": n,
        "size": list(size),
        "warping_error": {
            "output": e_out,
            "input": e_in,
            "pairs": pairs,
            "flow": flow_method,
            "units": metrics.UNITS["warping_error"],
        },
        "edge_ssim": {
            "mean": float(np.mean(ssim)),
            "min": float(np.min(ssim)),
            "units": metrics.UNITS["edge_ssim"],
        },
        "gram_distance": {
            "output": float(np.mean(sampled.gram_out)),
            "input": float(np.mean(sampled.gram_in)),
            "per_label": {k: float(np.mean(v)) for k, v in per_label.items()},
            "frames": picks,
            "layers": layers,
            "units": metrics.UNITS["gram_distance"],
        },
        "colour_distance": {
            "output": metrics.colour_distance(np.stack(outs), style),
            "input": metrics.colour_distance(np.stack(ins), style),
            "units": metrics.UNITS["colour_distance"] + "; all frames' pixels pooled",
        },
        "photorealism": {
            "output": float(np.mean(sampled.photo_out)),
            "input": float(np.mean(sampled.photo_in)),
            "frames": picks,
            "units": metrics.UNITS["photorealism"],
        },
        "time": _time(stylize_path or result_path),
    }
    if clip is not None:
        with (
            Frames(frames_path) as inputs,
            Frames(result_path, stage=None) as outputs,
            FlowSet(flow_path) as flows,
        ):
            result["output_size"] = output_measures(
                inputs,
                outputs,
                flows,
                clip,
                render_params,
                style_path,
                picks,
                vgg,
                device,
                layers,
                flow_method,
            )
    with atomic_path(out) as tmp:
        text = json.dumps(strict(result), indent=2, ensure_ascii=False, allow_nan=False)
        Path(tmp).write_text(text)
    if "output_size" in result:
        big = result["output_size"]
        log.info(
            "at the output size %d×%d: E_warp %.5f (input %.5f), colour %.3f (input %.3f)",
            *big["size"],
            big["warping_error"]["output"],
            big["warping_error"]["input"],
            big["colour_distance"]["output"],
            big["colour_distance"]["input"],
        )
    log.info(
        "wrote %s: E_warp %.5f (input %.5f), edge SSIM %.3f, Gram %.3f, colour %.3f (input "
        "%.3f), photorealism %.3g",
        out,
        e_out,
        e_in,
        result["edge_ssim"]["mean"],
        result["gram_distance"]["output"],
        result["colour_distance"]["output"],
        result["colour_distance"]["input"],
        result["photorealism"]["output"],
    )
    return result


# Pixels drawn from every frame for the colour distance at the output size (the frames are
# streamed; pooling every pixel of a 1080p clip would not fit in memory).
COLOUR_SAMPLE = 4096


class _Sampled:
    """The measures taken on sampled frames, output and input alike: the Gram distance to the
    style photo (`style`, its features) and the Laplacian energy under the input's Laplacian."""

    def __init__(self, vgg, device, layers: list[str], style: np.ndarray) -> None:
        self.vgg, self.device, self.layers = vgg, device, layers
        self.style = self._features(style)
        self.gram_out, self.gram_in, self.photo_out, self.photo_in = [], [], [], []

    def _features(self, image: np.ndarray) -> dict:
        import torch

        from pvst.stylize import to_tensor

        with torch.no_grad():
            return self.vgg(to_tensor(image, self.device) / 255.0, self.layers)

    def add(self, content: np.ndarray, output: np.ndarray) -> dict:
        """Measure one frame; returns the output's features (for measures per region)."""
        f_out = self._features(output)
        self.gram_out.append(metrics.gram_distance(f_out, self.style))
        self.gram_in.append(metrics.gram_distance(self._features(content), self.style))
        lap = matting.matting_laplacian(content)
        self.photo_out.append(metrics.photorealism(lap, output))
        self.photo_in.append(metrics.photorealism(lap, content))
        return f_out


def output_measures(
    inputs: Frames,
    outputs: Frames,
    flows: FlowSet,
    clip: str | Path,
    render_params: RenderParams,
    style_path: str | Path,
    picks: list[int],
    vgg,
    device,
    layers: list[str],
    flow_method: str = "",
) -> dict:
    """The measures at the output size, on the frames as rendered for the user: the warping
    error of every consecutive pair within a shot (flow of the source frames at that size,
    hard masks), the colour distance (sampled pixels of every frame), and edge SSIM, Gram
    distance and photorealism on the sampled frames `picks`."""
    source = Source.of(clip, inputs)
    size = output_size(source, render_params)
    method = flow_method if flow_method in ("dis", "farneback", "deepflow", "tvl1") else "dis"
    estimate = flow.make_estimator(method)
    style = segment_stage.style_at_working_size(style_path, size)
    sampled = _Sampled(vgg, device, layers, style)
    rng = np.random.default_rng(0)
    e_out, e_in, ssim, colours_out, colours_in = [], [], [], [], []
    previous = None
    pairs = rendered(outputs, inputs, source, render_params)
    for t, (full, image) in enumerate(progress(pairs, len(inputs), "measure", "frame")):
        if previous is not None and flows.valid(t, 1):
            fwd, bwd = estimate(previous[0], full), estimate(full, previous[0])
            _, ok = flow.consistency(fwd, bwd, 0.0)
            e_out.append(metrics.pair_warping_error(previous[1], image, fwd, ok))
            e_in.append(metrics.pair_warping_error(previous[0], full, fwd, ok))
        previous = (full, image)
        pixels = full.shape[0] * full.shape[1]
        pick = rng.choice(pixels, min(COLOUR_SAMPLE, pixels), replace=False)
        colours_out.append(image.reshape(-1, 3)[pick])
        colours_in.append(full.reshape(-1, 3)[pick])
        if t not in picks:
            continue
        ssim.append(metrics.edge_ssim(full, image))
        sampled.add(full, image)

    def mean(values: list[float]) -> float:
        finite = [v for v in values if np.isfinite(v)]
        return float(np.mean(finite)) if finite else float("nan")

    return {
        "size": list(size),
        "warping_error": {
            "output": mean(e_out),
            "input": mean(e_in),
            "pairs": len(e_out),
            "flow": method,
            "units": metrics.UNITS["warping_error"],
        },
        "edge_ssim": {"mean": mean(ssim), "frames": picks, "units": metrics.UNITS["edge_ssim"]},
        "gram_distance": {
            "output": mean(sampled.gram_out),
            "input": mean(sampled.gram_in),
            "frames": picks,
            "units": metrics.UNITS["gram_distance"],
        },
        "colour_distance": {
            "output": metrics.colour_distance(np.concatenate(colours_out), style),
            "input": metrics.colour_distance(np.concatenate(colours_in), style),
            "units": metrics.UNITS["colour_distance"]
            + f"; {COLOUR_SAMPLE} random pixels of every frame pooled",
        },
        "photorealism": {
            "output": mean(sampled.photo_out),
            "input": mean(sampled.photo_in),
            "frames": picks,
            "units": metrics.UNITS["photorealism"],
        },
    }


def strict(value):
    """Metrics as strict JSON: a measure with nothing to measure (the warping error of a clip
    of one frame, which has no pairs) is null, not NaN, which JSON does not have."""
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _at_output(*keys: str):
    def get(m: dict) -> float:
        node = m.get("output_size", {})
        for k in keys:
            node = node.get(k, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, float) else float("nan")

    return get


COLUMNS = [
    ("video", lambda m: m.get("video", "")),
    ("variant", lambda m: m.get("variant", "")),
    ("E_warp", lambda m: m["warping_error"]["output"]),
    ("E_warp input", lambda m: m["warping_error"]["input"]),
    ("edge SSIM", lambda m: m["edge_ssim"]["mean"]),
    ("Gram dist.", lambda m: m["gram_distance"]["output"]),
    ("colour dist.", lambda m: m.get("colour_distance", {}).get("output", float("nan"))),
    ("colour dist. input", lambda m: m.get("colour_distance", {}).get("input", float("nan"))),
    ("photoreal. energy", lambda m: m["photorealism"]["output"]),
    ("E_warp at output size", _at_output("warping_error", "output")),
    ("E_warp input at output size", _at_output("warping_error", "input")),
    ("colour dist. at output size", _at_output("colour_distance", "output")),
    ("s/frame", lambda m: m["time"].get("seconds_per_frame", float("nan"))),
    ("evals/frame", lambda m: m["time"].get("evaluations_per_frame", float("nan"))),
]


def _cell(value):
    """A CSV cell: empty where there is nothing to measure."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def table(metric_files: list[str | Path], csv_out: str | Path, md_out: str | Path) -> None:
    """A CSV and a Markdown table of many metrics files, with the units under the table."""
    rows = [json.loads(Path(p).read_text()) for p in metric_files]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([c for c, _ in COLUMNS])
    for m in rows:
        writer.writerow([_cell(get(m)) for _, get in COLUMNS])
    with atomic_path(csv_out) as tmp:
        Path(tmp).write_text(buf.getvalue())

    def fmt(v) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "—"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(c for c, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt(get(m)) for _, get in COLUMNS) + " |" for m in rows]
    if rows:
        first = rows[0]
        lines += [
            "",
            f"Frames of {first['size'][0]}×{first['size'][1]} px; time on "
            f"{first['time'].get('device') or 'the device recorded per run'}.",
            "",
        ]
        lines += [f"- **{name}**: {text}" for name, text in metrics.UNITS.items()]
    with atomic_path(md_out) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
