"""What a stage driver runs: one `Job`, and the two ways to make one (from the plan of a
configuration, or from explicit parameters, inputs and output as the Snakemake rules give them).

Every driver in pvst/stages has one entry point, `run(job)`; it reads its inputs by role
(`job.inputs["frames"]`), writes `job.out`, and records `job.params` and `job.key`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pvst.errors import ConfigError, PvstError
from pvst.frozen import Frozen
from pvst.params import RenderParams, record
from pvst.pipeline import config, samples, store
from pvst.pipeline.plan import STAGES, Plan, is_artifact_role, key_from_files


@dataclass(frozen=True)
class Job:
    """One run of a driver: its section's typed record, its input files by role, its output.

    `part` (i, n), 0-based, asks a stage computed in parts for part i of n only; `merge` lists
    the part files to join into `out`; neither: the whole artifact in one run. `threads` caps
    the CPU threads of the stage's library (None: its own choice). `render` is the
    render section of a product made at the output size (evaluate, assemble); `options` are a
    command's own switches that are not settings (assemble's side-by-side, evaluate's labels).
    """

    stage: str
    params: Frozen
    inputs: Mapping[str, str | Path] = field(default_factory=dict)
    out: str | Path = ""
    key: str = ""
    part: tuple[int, int] | None = None
    merge: tuple[str, ...] = ()
    threads: int | None = None
    render: RenderParams | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def input(self, role: str) -> str | Path | None:
        """The file of an input role, or None where this job has none (an optional input)."""
        return self.inputs.get(role) or None


def stage_job(
    stage: str,
    section: dict,
    inputs: Mapping[str, str | Path],
    out: str | Path,
) -> Job:
    """The job of a stage of the plan with these parameters and files; its key is computed from
    the files, and an output named after another key is refused."""
    inputs = {role: str(path) for role, path in inputs.items()}
    out = str(out)
    key = key_from_files(stage, section, inputs)
    m = re.fullmatch(rf"{stage}-({store.KEY_PATTERN})(?:-[\w-]+)?\.h5", Path(out).name)
    if m and m.group(1) != key:
        raise PvstError(
            f"{out}: the name says key {m.group(1)} but these parameters and inputs make "
            f"key {key} (the configuration changed since the path was planned?)"
        )
    params = record(STAGES[stage].section, section)
    return Job(stage, params, inputs, out, key)


def validated_section(section: str, raw: str, source: str = "--params") -> dict:
    """A section (or a dotted sub-section) given as JSON, checked and filled in."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON ({exc})") from None
    path = section.split(".")
    wrapped = value
    for key in reversed(path):
        wrapped = {key: wrapped}
    checked = config.validate(wrapped, source=source)
    for key in path:
        checked = checked[key]
    return checked


def ensure_inputs(inputs: Mapping[str, str]) -> None:
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


def explicit(
    command: str,
    section: str,
    roles: Callable[[dict], tuple[str, ...]],
    raw: str,
    inputs: dict[str, str],
    out: str | None,
) -> dict:
    """The parameters given on the command line (`--params`), checked, once every input role
    they need (`--in`) and the output (`--out`) are given too."""
    params = validated_section(section, raw)
    missing = [r for r in roles(params) if r not in inputs]
    if missing:
        raise PvstError(f"pvst {command}: missing --in {'/'.join(missing)}=PATH")
    if not out:
        raise PvstError(f"pvst {command}: --out is required with --params")
    return params


def planned_job(plan: Plan, stage: str, video: str, variant: str, out: str | None = None) -> Job:
    """The job of a stage's planned artifact for a video and variant; its upstream artifacts
    must exist (the error names the command that makes the first one missing)."""
    art = plan.artifact(stage, video, variant)
    upstream = [
        r
        for r in STAGES[stage].roles(art.params)
        if is_artifact_role(r) and not Path(art.inputs[r]).exists()
    ]
    if upstream:
        missing = art.inputs[upstream[0]]
        before = Path(missing).name.split("-")[0]
        raise PvstError(
            f"pvst {stage}: {missing} does not exist yet; run "
            f"`pvst {before} --video {video} --variant {variant}` first, "
            "or let Snakemake build it"
        )
    ensure_inputs(art.inputs)
    return stage_job(stage, art.params, art.inputs, out or art.path)


def given_job(stage: str, raw: str, inputs: dict[str, str], out: str | None) -> Job:
    """The job of a stage from `--params JSON`, `--in ROLE=PATH` and `--out PATH`."""
    spec = STAGES[stage]
    params = explicit(stage, spec.section, spec.roles, raw, inputs, out)
    ensure_inputs(inputs)
    return stage_job(stage, params, inputs, out)
