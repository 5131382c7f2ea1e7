"""The paper's figures as labelled frame grids, loss curves, and E_warp against edge SSIM."""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path

import numpy as np

from pvst import media, regions
from pvst.atomic import atomic_path
from pvst.pipeline.plan import FigureRow
from pvst.stages.frames import Frames

log = logging.getLogger(__name__)
MARGIN = 120  # width of the row labels


@cache
def _font(size: int):
    """DejaVu Sans (shipped with matplotlib): it has Greek letters for α, β, γ, λ."""
    from matplotlib import font_manager
    from PIL import ImageFont

    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)


def grid(
    rows: list[tuple[str, list[np.ndarray | None]]], columns: list[str], title: str
) -> np.ndarray:
    """A white sheet: a title, column labels, and per row a label and its images (all resized
    to the first image's size; None leaves a cell empty)."""
    from PIL import Image, ImageDraw

    first = next(img for _, imgs in rows for img in imgs if img is not None)
    h, w = first.shape[:2]
    pad, top = 6, 50
    shape = (top + len(rows) * (h + pad) + pad, MARGIN + len(columns) * (w + pad) + pad, 3)
    sheet = np.full(shape, 255, np.uint8)
    for r, (_, imgs) in enumerate(rows):
        y = top + r * (h + pad)
        for c, img in enumerate(imgs):
            if img is not None:
                x = MARGIN + c * (w + pad) + pad
                sheet[y : y + h, x : x + w] = media.resize_image(np.ascontiguousarray(img), (w, h))
    canvas = Image.fromarray(sheet)
    draw = ImageDraw.Draw(canvas)
    ink = (20, 20, 20)
    draw.text((pad, 6), title, fill=ink, font=_font(15))
    for c, name in enumerate(columns):
        draw.text((MARGIN + c * (w + pad) + pad, top - 18), name, fill=ink, font=_font(12))
    for r, (name, _) in enumerate(rows):
        y = top + r * (h + pad)
        for i, line in enumerate(_wrap(name, 17)):
            draw.text((pad, y + 4 + 15 * i), line, fill=ink, font=_font(12))
    return np.asarray(canvas)


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def figure(rows: list[FigureRow], indices: list[int], title: str, out: str | Path) -> None:
    """Build one figure from resolved rows, a row of cells per row and a column per frame index
    (negative: from the end)."""
    built = []
    n_frames = None
    for row in rows:
        kind = row.kind
        if kind == "frames":
            with Frames(row.path, stage=None) as fr:
                n_frames = n_frames or len(fr)
                cells = [fr[_index(t, len(fr))] for t in indices]
        elif kind == "segments":
            from pvst.stages.segment import Segmentation

            with Segmentation(row.path) as seg, Frames(row.frames) as fr:
                colours = regions.label_colours(seg.names)
                cells = [
                    regions.overlay(fr[_index(t, len(fr))], seg.labels(_index(t, len(fr))), colours)
                    for t in indices
                ]
        elif kind == "style":
            cells = [media.read_image(row.path)] + [None] * (len(indices) - 1)
        else:
            raise ValueError(f"unknown figure row kind {kind!r}")
        built.append((row.label, cells))
    columns = [f"frame {_index(t, n_frames or 1)}" for t in indices]
    media.write_image(out, grid(built, columns, title))
    log.info("wrote %s", out)


def _index(t: int, n: int) -> int:
    """Frame index from a spec: negative counts from the end; clipped to the clip."""
    return min(max(t if t >= 0 else n + t, 0), n - 1)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def loss_curves(entries: list[tuple[str, str]], out: str | Path) -> None:
    """Loss against objective evaluations, for the first frame and a later frame of each
    stylized variant (entries: label, stylize artifact)."""
    from pvst.stages.stylize import Stylized

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for label, path in entries:
        with Stylized(path) as st:
            n = len(st.evaluations)
            later = min(n - 1, max(1, n // 2))
            axes[0].semilogy(st.loss_history(0), label=label)
            axes[1].semilogy(st.loss_history(later), label=label)
    axes[0].set_title("first frame")
    axes[1].set_title("a later frame (starts from the warped previous output)")
    for ax in axes:
        ax.set_xlabel("objective evaluations")
        ax.set_ylabel("total loss")
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, out)


def ewarp_vs_ssim(metric_files: list[str | Path], out: str | Path) -> None:
    """Temporal stability against kept structure, one point per result (and the input)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    inputs = []
    for path in metric_files:
        m = json.loads(Path(path).read_text())
        x, y = m["warping_error"]["output"], m["edge_ssim"]["mean"]
        if x is None:  # one frame: no pairs, no warping error
            continue
        ax.scatter(x, y)
        ax.annotate(f"{m.get('video', '')} {m.get('variant', '')}", (x, y), fontsize=8)
        inputs.append(m["warping_error"]["input"])
    if inputs:
        ax.axvline(float(np.mean(inputs)), color="grey", ls="--", lw=1, label="input video")
        ax.legend(fontsize=8)
    ax.set_xlabel("warping error E_warp (RGB in [0, 1]; lower is steadier)")
    ax.set_ylabel("edge SSIM with the input (higher keeps more structure)")
    fig.tight_layout()
    _save(fig, out)


def _save(fig, out: str | Path) -> None:
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    _plt().close(fig)
    log.info("wrote %s", out)
