"""Evaluate stage: results/{video}_{variant}.metrics.json, and the table over many of them."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
from pathlib import Path

import numpy as np

from pvst import matting, media, metrics, segmentation
from pvst.atomic import atomic_path
from pvst.errors import ArtifactError
from pvst.params import EvaluateParams
from pvst.stages import segment as segment_stage
from pvst.stages.flow import FlowSet
from pvst.stages.frames import Frames

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


def evaluate(
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
) -> dict:
    """Measure one result video against its input; write and return the metrics.
    `flow_method` names the estimator of the flow the warping error used."""
    import torch

    from pvst.device import pick_device
    from pvst.stylize import to_tensor
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
    layers = [k for k, v in params.gram_layers.items() if v > 0]
    style = segment_stage.style_at_working_size(style_path, size)
    with torch.no_grad():
        style_feats = vgg(to_tensor(style, device) / 255.0, layers)
    gram_out, gram_in, photo_out, photo_in = [], [], [], []
    per_label: dict[str, list[float]] = {}
    segments = segment_stage.Segmentation(segment_path) if segment_path else None
    with segments if segments is not None else contextlib.nullcontext() as seg:
        by_region = seg is not None and len(seg.names) > 1
        if by_region:
            style_labels = segmentation.resize_labels(seg.style_labels, style.shape[:2])
            used = seg.used_labels()
        for t in picks:
            with torch.no_grad():
                f_out = vgg(to_tensor(outs[t], device) / 255.0, layers)
                f_in = vgg(to_tensor(ins[t], device) / 255.0, layers)
            gram_out.append(metrics.gram_distance(f_out, style_feats))
            gram_in.append(metrics.gram_distance(f_in, style_feats))
            if by_region:
                labels = seg.labels(t)
                for lab in used:
                    if (labels == lab).mean() < 0.01:
                        continue
                    where = segmentation.style_mask(style_labels, lab, seg.whole)
                    per_label.setdefault(seg.names[lab], []).append(
                        metrics.gram_distance(f_out, style_feats, labels == lab, where)
                    )
            lap = matting.matting_laplacian(ins[t])
            photo_out.append(metrics.photorealism(lap, outs[t]))
            photo_in.append(metrics.photorealism(lap, ins[t]))

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
            "output": float(np.mean(gram_out)),
            "input": float(np.mean(gram_in)),
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
            "output": float(np.mean(photo_out)),
            "input": float(np.mean(photo_in)),
            "frames": picks,
            "units": metrics.UNITS["photorealism"],
        },
        "time": _time(stylize_path or result_path),
    }
    with atomic_path(out) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=2, ensure_ascii=False))
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
    ("s/frame", lambda m: m["time"].get("seconds_per_frame", float("nan"))),
    ("evals/frame", lambda m: m["time"].get("evaluations_per_frame", float("nan"))),
]


def table(metric_files: list[str | Path], csv_out: str | Path, md_out: str | Path) -> None:
    """A CSV and a Markdown table of many metrics files, with the units under the table."""
    rows = [json.loads(Path(p).read_text()) for p in metric_files]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([c for c, _ in COLUMNS])
    for m in rows:
        writer.writerow([get(m) for _, get in COLUMNS])
    with atomic_path(csv_out) as tmp:
        Path(tmp).write_text(buf.getvalue())

    def fmt(v) -> str:
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
