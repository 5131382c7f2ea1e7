"""Every pipeline job's `pvst` command line, its input files and its products, written once:
the Snakemake rules and the generated dvc.yaml both take them from here.

A stage job reads its parameters one of two ways. The rules pass them inline (`--params JSON`
and `--in ROLE=PATH`): Snakemake's configuration may be merged from several files and
`--config` overrides, which only the running workflow holds. dvc.yaml names the file and the
selection instead (`Selection`: `--config F --video V --variant W`), so that the command, which
DVC compares between runs, changes only with the keys the stage's `params:` list, and not with
an execution setting such as the device or the number of parallel parts.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from pvst.pipeline import config as cfgmod
from pvst.pipeline.plan import (
    FIGURE,
    FIGURES,
    PLOTS,
    STAGES,
    Artifact,
    Plan,
    part_path,
    without_execution,
)
from pvst.pipeline.store import canonical


@dataclass(frozen=True)
class Selection:
    """Where a job reads its parameters from: a configuration file, a video and a variant."""

    config: str
    video: str
    variant: str

    def args(self) -> list[str]:
        return ["--config", self.config, "--video", self.video, "--variant", self.variant]


@dataclass(frozen=True)
class Command:
    """One job: the arguments after `pvst`, the files it reads (role -> path) and writes.

    Products with fixed names (videos, metrics, figures) also say what they are made from
    (`made_from`, recorded in the stamp file `stamp`), since their names do not."""

    args: list[str]
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    stamp: str | None = None
    made_from: object = None

    def shell(self) -> str:
        """The arguments quoted for a shell."""
        return shlex.join(self.args)


def _given(params: dict, inputs: dict[str, str], select: Selection | None) -> list[str]:
    if select is not None:
        return select.args()
    return [
        "--params",
        canonical(params),
        *(a for r, p in inputs.items() for a in ("--in", f"{r}={p}")),
    ]


def stage(
    art: Artifact,
    select: Selection | None = None,
    *,
    part: tuple[int, int] | None = None,
    merge: bool = False,
) -> Command:
    """Make a stage's artifact; or part i of n of it (`part`); or merge its parts into it."""
    roles = {r: art.inputs[r] for r in STAGES[art.stage].roles(art.params)}
    args = [art.stage, *_given(art.params, roles, select)]
    inputs, out = dict(art.inputs), art.path
    if part is not None:
        out = part_path(art.video, art.stage, art.key, *part)
        args += ["--part", "{}/{}".format(*part)]
    if merge:
        inputs |= _numbered(art.parts, "part")
        args += ["--merge", *art.parts]
    return Command([*args, "--out", out], inputs, [out])


def assemble(
    plan: Plan, video: str, variant: str, kind: str, select: Selection | None = None
) -> Command:
    """A result as the user's clip, rendered at the output size with the clip's timing and
    sound ("mp4"), as a GIF ("gif"), or as the side-by-side of input, result and style photo
    ("sbs"; no style photo for the CycleGAN baseline)."""
    result = plan.final(video, variant).path
    frames = plan.artifact("frames", video, variant).path
    clip = plan.video_file(video)
    out = plan.product(kind, video, variant)
    inputs = {"art": result, "frames": frames, "video": clip}
    args = ["assemble", result, "-o", out, "--frames", frames, "--source", clip]
    if kind == "sbs":
        args.append("--side-by-side")
        if variant != cfgmod.CYCLEGAN_VARIANT:
            inputs["style"] = plan.style_file(video, variant)
            args += ["--style", inputs["style"]]
        args += ["--caption", variant]
    params = cfgmod.section(plan.config, "assemble", video, variant)
    render = cfgmod.section(plan.config, "render", video, variant)
    args += _given(params, {}, select)
    if select is None:
        args += ["--render", canonical(render)]
    made_from = [result, params, rendering(render), clip]
    return Command(args, inputs, [out], f"{video}_{variant}.{kind}", made_from)


def rendering(render: dict) -> dict:
    """The part of the render section that decides what a video's products hold."""
    return without_execution("render", render)


def evaluate(plan: Plan, video: str, variant: str, select: Selection | None = None) -> Command:
    """The metrics of a result (with a selection, the command finds its inputs and output)."""
    inputs = plan.metrics_inputs(video, variant)
    out = plan.metrics_path(video, variant)
    params = cfgmod.section(plan.config, "evaluate", video, variant)
    render = cfgmod.section(plan.config, "render", video, variant)
    if select is not None:
        args = ["evaluate", *select.args()]
    else:
        method = plan.eval_flow(video, variant).params["method"]
        args = ["evaluate", *_given(params, inputs, None), "--flow-method", method]
        args += ["--render", canonical(render)]
        args += ["--video", video, "--variant", variant, "--out", out]
    # the parameters as JSON text inside, as stamps have recorded them
    made_from = [
        inputs,
        json.dumps(without_execution("evaluate", params), sort_keys=True),
        rendering(render),
    ]
    return Command(args, inputs, [out], f"{video}_{variant}.metrics", made_from)


def figure(plan: Plan, name: str, config: str | None = None) -> Command:
    """A configured figure: read from the configuration file `config`, or given inline with
    its rows resolved to the artifacts they show."""
    rows, spec = plan.figure_rows(name)
    paths = sorted({p for row in rows for p in (row.path, row.frames) if p})
    spec = {
        "rows": [row.to_dict() for row in rows],
        "frames": spec["frames"],
        "title": spec.get("title", name),
    }
    out = FIGURE.format(figure=name)
    given = ["--spec", json.dumps(spec)] if config is None else [name, "--config", config]
    return Command(["figure", *given, "-o", out], _numbered(paths), [out], f"figure-{name}", [spec])


def plots(plan: Plan) -> Command:
    """The metrics table, E_warp against SSIM, and the loss curves of the figures' results."""
    results = plan.figure_results()
    metrics = [plan.metrics_path(v, var) for v, var in results]
    stylized = {
        f"{v}_{var}": plan.artifact("stylize", v, var).path
        for v, var in results
        if var != cfgmod.CYCLEGAN_VARIANT
    }
    args = ["plots", "--metrics", *metrics]
    args += ["--stylized", *(f"{k}={p}" for k, p in stylized.items())]
    args += ["--out-dir", FIGURES]
    inputs = _numbered(metrics, "metrics") | _numbered(list(stylized.values()), "stylized")
    return Command(args, inputs, list(PLOTS.values()), "plots", [metrics, stylized])


def samples(names: list[str]) -> Command:
    """Copy embedded sample clips and photos into data/."""
    return Command(["samples", *names, "--force"], {}, [f"data/{n}" for n in names])


def flow_preview(plan: Plan, video: str, variant: str) -> Command:
    """The flow of a variant's frames as colours beside the frames."""
    inputs = {
        "flow": plan.artifact("flow", video, variant).path,
        "frames": plan.artifact("frames", video, variant).path,
    }
    out = plan.product("flow_preview", video, variant)
    args = ["flow-preview", inputs["flow"], "--frames", inputs["frames"], "-o", out]
    return Command(args, inputs, [out])


def segments_preview(plan: Plan, video: str, variant: str) -> Command:
    """A variant's regions over its frames and its style photo."""
    inputs = {
        "segments": plan.artifact("segment", video, variant).path,
        "frames": plan.artifact("frames", video, variant).path,
        "style": plan.style_file(video, variant),
    }
    out = plan.product("segments_preview", video, variant)
    args = ["segment-preview", inputs["segments"], "--frames", inputs["frames"]]
    args += ["--style", inputs["style"], "-o", out]
    return Command(args, inputs, [out])


def _numbered(paths: list[str], role: str = "in") -> dict[str, str]:
    return {f"{role}{i}": p for i, p in enumerate(paths)}
