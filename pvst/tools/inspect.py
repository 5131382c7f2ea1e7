"""Commands that look at the configuration and the artifacts, or set up the data folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pvst.errors import PvstError
from pvst.pipeline import samples, store
from pvst.tools import DEFAULT_CONFIG, arg, command, load_plan

log = logging.getLogger("pvst")


@command("samples")
@arg("names", nargs="*", help=f"which (default all: {', '.join(samples.SAMPLES)})")
@arg("--data", default="data", help="destination folder (default %(default)s)")
@arg("--force", action="store_true", help="overwrite existing files")
def samples_command(args) -> None:
    names = args.names or samples.sample_names()
    for name in names:
        dest = Path(args.data) / name
        if dest.exists() and not args.force:
            log.info("%s exists, kept", dest)
            continue
        samples.fetch(name, dest)
        log.info("wrote %s (from %s)", dest, samples.source(name))


@command("dvc-yaml")
@arg("--config", help=f"configuration file (default {DEFAULT_CONFIG})")
@arg("-o", "--out", default="dvc.yaml")
@arg("--check", action="store_true", help="fail if the file is out of date")
def dvc_yaml(args) -> None:
    from pvst.atomic import atomic_path
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
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    log.info("wrote %s (%d stages)", out, text.count("    cmd: "))


@command("info")
@arg("artifacts", nargs="+")
def info(args) -> None:
    for path in args.artifacts:
        print(json.dumps(store.describe(path), indent=2, default=str))


@command("plan")
@arg("--config", help=f"configuration file (default {DEFAULT_CONFIG})")
@arg("--video")
@arg("--variant")
@arg("--json", action="store_true")
def plan_command(args) -> None:
    plan = load_plan(args)
    if args.video and args.video not in plan.videos():
        raise PvstError(
            f"no video '{args.video}': known videos are {', '.join(plan.videos()) or 'none'} "
            "(entries under `videos:` in the configuration, and data/<name>.mp4 files)"
        )
    if args.variant and args.variant not in plan.variants():
        raise PvstError(
            f"no variant '{args.variant}': configured variants are {', '.join(plan.variants())} "
            "(entries under `variants:` in the configuration)"
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
