"""How well image mode takes a style photo's look: the four measures on DPST example pairs.

    python benchmarks/photo_quality.py DIR [--long 256] [--size 256] [--ids 2,11]
        [--json out.json] [--set stylize.iterations.first=200 ...] [--no-masks] [--save-dir out/]

DIR is in Deep Photo Style Transfer's `examples/` layout: `input/in<id>.png`,
`style/tar<id>.png`, `segmentation/in<id>.png` and `tar<id>.png`, and (optional)
`final_results/best<id>_t_1000.png`, DPST's published result. Every pair is loaded at the
same long side and each row is scored by `pvst.metrics.image_measures` (the definitions of
the reference scorer): edge SSIM to the content (↑), Gram distance to the style per region (↓),
colour distance per region (↓), Matting-Laplacian energy per pixel and channel (↓).

Rows: the content unchanged, DPST's published result, pvst's fast `colour` method, and pvst
image mode with the schema's defaults (what `pvst image --content-mask … --style-mask …
--size SIZE` runs), each with its seconds and objective evaluations.

Full-size mode (`--size` below `--long`, e.g. `--long 512 --size 256`): pvst optimises at the
working size SIZE and writes the photo at `--long`; beside its row (render and refinement,
the default) come `bicubic` (the working-size result enlarged bicubically) and `render` (the
render without the refinement), from the same optimisation. `--set KEY=VALUE` overrides a stylize
or segmentation default for the pvst rows (for ablations); `--no-masks` runs pvst without
the pairs' masks (regions are still scored with them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

from pvst import matting, metrics, photo, regions
from pvst.params import RenderParams, SegmentationParams, StylizeParams
from pvst.pipeline import config
from pvst.vgg import load_vgg19

MEASURES = ("edge_ssim", "gram_distance", "colour_distance", "photorealism")


def load_rgb(path: Path, size: tuple[int, int]) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize(size, Image.Resampling.BICUBIC))


def scaled(path: Path, long: int) -> tuple[int, int]:
    with Image.open(path) as im:
        w, h = im.size
    s = long / max(w, h)
    return round(w * s), round(h * s)


def region_masks(path: Path, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The scorer's masks: bilinear to `size`, then DPST's thresholds, pixels of no code left
    out, labels under 0.1 % of the image dropped."""
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB").resize(size, Image.Resampling.BILINEAR))
    return {
        name: hit for name, hit in regions.masks.colour_code_hits(rgb).items() if hit.mean() > 0.001
    }


def parse_sets(items: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {"stylize": config.defaults("stylize")}
    out["segmentation"] = config.defaults("segmentation")
    out["render"] = config.defaults("render")
    for item in items:
        key, _, value = item.partition("=")
        section, *path = key.split(".")
        node = out[section]
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = yaml.safe_load(value)
    config.validate(out, source="--set")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("examples", type=Path)
    ap.add_argument("--long", type=int, default=256, help="long side in pixels (default 256)")
    ap.add_argument("--size", type=int, help="pvst's working size (default: --long)")
    ap.add_argument("--ids", help="comma-separated pair ids (default: every pair)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--no-masks", action="store_true", help="run pvst without the masks")
    ap.add_argument("--rows", default="content,published,colour,pvst")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--save-dir", type=Path, help="write pvst's outputs here")
    a = ap.parse_args()
    ex = a.examples
    ids = (
        [int(i) for i in a.ids.split(",")]
        if a.ids
        else sorted(int(f[2:-4]) for f in os.listdir(ex / "input") if f.startswith("in"))
    )
    rows = a.rows.split(",")
    working = a.size or a.long
    if working < a.long and a.rows == ap.get_default("rows"):
        rows = ["content", "published", "bicubic", "render", "pvst"]
    base = parse_sets(a.set)
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    vgg = load_vgg19()
    results: dict[str, list[dict]] = {r: [] for r in rows}
    for i in ids:
        cpath, spath = ex / f"input/in{i}.png", ex / f"style/tar{i}.png"
        cmask_path, smask_path = ex / f"segmentation/in{i}.png", ex / f"segmentation/tar{i}.png"
        csize, ssize = scaled(cpath, a.long), scaled(spath, a.long)
        content, style = load_rgb(cpath, csize), load_rgb(spath, ssize)
        cm, sm = region_masks(cmask_path, csize), region_masks(smask_path, ssize)
        regions = [(cm[k], sm[k]) for k in cm if k in sm] or None
        lap = matting.matting_laplacian(content)
        outputs: dict[str, tuple[np.ndarray, float, int]] = {"content": (content, 0.0, 0)}
        published = ex / f"final_results/best{i}_t_1000.png"
        if published.is_file():
            outputs["published"] = (load_rgb(published, csize), float("nan"), 2000)
        masks = (None, None) if a.no_masks else (cmask_path, smask_path)
        for row, method in (("colour", "colour"), ("pvst", "optimise")):
            if row not in rows and not (row == "pvst" and {"bicubic", "render"} & set(rows)):
                continue
            params = {**base["stylize"], "method": method}
            t = time.perf_counter()
            image, done = photo.stylize_photo(
                content,
                style,
                StylizeParams.of(params),
                SegmentationParams.of(base["segmentation"]),
                RenderParams.of(base["render"]),
                working,
                *masks,
            )
            seconds = time.perf_counter() - t
            refined = done.refined.evaluations if done.refined else 0
            outputs[row] = (image, seconds, done.working.evaluations + refined)
            if row == "pvst" and done.rendered is not None:
                outputs["bicubic"] = (
                    np.asarray(
                        Image.fromarray(done.working_image).resize(csize, Image.Resampling.BICUBIC)
                    ),
                    float("nan"),
                    done.working.evaluations,
                )
                outputs["render"] = (done.rendered, float("nan"), done.working.evaluations)
            if a.save_dir:
                a.save_dir.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(a.save_dir / f"{row}{i}.png")
        line = [f"pair {i:3d} {csize[0]}×{csize[1]}"]
        for row in rows:
            if row not in outputs:
                continue
            out, seconds, evals = outputs[row]
            m = metrics.image_measures(vgg, content, style, out, regions, lap)
            m.update(seconds=seconds, evaluations=evals, pair=i)
            results[row].append(m)
            line.append(f"{row}: " + " ".join(f"{m[k]:.4g}" for k in MEASURES) + f" {seconds:.0f}s")
        print(" | ".join(line), flush=True)
    print(
        f"\nmean over {len(ids)} pairs at long side {a.long} px, working size {working} px "
        f"(CPU threads: "
        f"{torch.get_num_threads()})"
    )
    print(
        f"{'row':10s} {'edge SSIM↑':>10s} {'Gram↓':>7s} {'colour↓':>8s} {'energy↓':>9s} "
        f"{'s/pair':>7s} {'evals':>6s}"
    )
    summary = {}
    for row, lst in results.items():
        if not lst:
            continue
        mean = {k: float(np.mean([d[k] for d in lst])) for k in (*MEASURES, "evaluations")}
        mean["seconds_median"] = float(np.median([d["seconds"] for d in lst]))
        summary[row] = mean
        print(
            f"{row:10s} {mean['edge_ssim']:10.3f} {mean['gram_distance']:7.3f} "
            f"{mean['colour_distance']:8.4f} {mean['photorealism']:9.2e} "
            f"{mean['seconds_median']:7.1f} {mean['evaluations']:6.0f}"
        )
    if a.json:
        a.json.write_text(
            json.dumps(
                {
                    "long_side": a.long,
                    "working_size": working,
                    "sets": a.set,
                    "no_masks": a.no_masks,
                    "mean": summary,
                    "pairs": results,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    sys.exit(main())
