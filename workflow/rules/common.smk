# Shared wiring: the validated configuration, the plan, and small helpers for the rules.
import json
import re
import shlex
import sys

from snakemake.exceptions import WorkflowError

from pvst import config as pvst_config
from pvst import dvc as pvst_dvc
from pvst import samples as pvst_samples
from pvst import store as pvst_store
from pvst.errors import PvstError
from pvst.plan import VIDEO_NAME as PVST_VIDEO_NAME
from pvst.plan import Plan


def explained(fn, *args, **kwargs):
    """fn's answer, with pvst's own errors shown as Snakemake errors (no traceback)."""
    try:
        return fn(*args, **kwargs)
    except PvstError as exc:
        raise WorkflowError(str(exc)) from None


CFG = explained(
    pvst_config.validate,
    config,
    source="the workflow configuration ("
    + ", ".join([*map(str, workflow.configfiles), "--config"])
    + ")",
    coerce=True,
)

MISSING_WEIGHTS = pvst_config.missing_weights(CFG)
if MISSING_WEIGHTS:
    raise WorkflowError("\n".join(MISSING_WEIGHTS))
PLAN = explained(Plan, CFG)
for problem in PLAN.unusable_clips():
    print(f"pvst: {problem}", file=sys.stderr)
# Suffixes of results/{video}_{variant}_{suffix}.mp4 made by preview rules (not variants).
RESERVED = pvst_config.RESERVED_NAMES
# The interpreter running Snakemake runs the stages too, so no environment needs activating.
PVST = f'"{sys.executable}" -m pvst'


wildcard_constraints:
    video=PVST_VIDEO_NAME.pattern,
    variant="|".join(re.escape(v) for v in PLAN.variants()),
    key=pvst_store.KEY_PATTERN,


def planned(stage, wc):
    """The planned artifact behind results/{video}/{stage}-{key}.h5."""
    return explained(PLAN.find, stage, wc.video, wc.key)


def artifact_of(stage):
    """Input function: the path of `stage`'s artifact for the {video} and {variant} wildcards."""

    def inner(wc):
        return explained(PLAN.artifact, stage, wc.video, wc.variant).path

    return inner


def inputs_of(stage):
    """Input function: the input files of the artifact named by {video} and {key}."""
    return lambda wc: planned(stage, wc).inputs


def params_of(stage):
    """Params function: the stage's parameters as JSON, for `pvst STAGE --params`."""
    return lambda wc: json.dumps(planned(stage, wc).params, sort_keys=True)


def parts_of(stage):
    """Input function: the part files of a stage computed in `chunks` parallel jobs."""

    def inner(wc):
        n = planned(stage, wc).params["chunks"]
        return [f"results/{wc.video}/parts/{stage}-{wc.key}-{i}of{n}.h5" for i in range(1, n + 1)]

    return inner


def section_json(section):
    """Params function: a section for the {video} and {variant} wildcards, as JSON."""
    return lambda wc: json.dumps(
        pvst_config.section(CFG, section, wc.video, wc.variant), sort_keys=True
    )


def style_of(wc):
    return explained(PLAN.style_file, wc.video, wc.variant)


def stamp(name, *what):
    """An input for outputs whose names do not hash their parameters (see pvst.store.stamp)."""
    return pvst_store.stamp(f"results/.stamps/{name}.json", what)


def in_args(inputs):
    """--in ROLE=PATH arguments for a dict of inputs, quoted for the shell."""
    return " ".join(f"--in {shlex.quote(f'{role}={path}')}" for role, path in inputs.items())
