# Shared wiring: the validated configuration, the plan, and small helpers for the rules.
import re
import sys

from snakemake.exceptions import WorkflowError

from pvst import atomic as pvst_atomic
from pvst.pipeline import commands as pvst_commands
from pvst.pipeline import config as pvst_config
from pvst.pipeline import dvc as pvst_dvc
from pvst.pipeline import plan as pvst_plan
from pvst.pipeline import samples as pvst_samples
from pvst.pipeline import store as pvst_store
from pvst.errors import PvstError
from pvst.pipeline.plan import Plan


def explained(fn, *args, **kwargs):
    """fn's answer, with pvst's own errors shown as Snakemake errors (no traceback)."""
    try:
        return fn(*args, **kwargs)
    except PvstError as exc:
        raise WorkflowError(str(exc)) from None


# Snakemake reads the configuration files itself (a key given twice keeps its last value
# silently there); read them again to refuse that.
for _configfile in workflow.configfiles:
    explained(pvst_config.read_yaml, _configfile)

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
# every job writes under results/: refuse at the start, not in a job's log, when it cannot
for _folder in (pvst_plan.RESULTS, f"{pvst_plan.RESULTS}/logs", f"{pvst_plan.RESULTS}/.stamps"):
    explained(pvst_atomic.check_writable, _folder, folder=True)
for problem in PLAN.unusable_clips():
    print(f"pvst: {problem}", file=sys.stderr)
# Suffixes of results/{video}_{variant}_{suffix}.mp4 made by preview rules (not variants).
RESERVED = pvst_config.RESERVED_NAMES
# The interpreter running Snakemake runs the stages too, so no environment needs activating.
PVST = f'"{sys.executable}" -m pvst'


wildcard_constraints:
    video=pvst_plan.VIDEO_NAME.pattern,
    variant="|".join(re.escape(v) for v in PLAN.variants()),
    key=pvst_store.KEY_PATTERN,


def planned(stage, wc):
    """The planned artifact behind results/{video}/{stage}-{key}.h5."""
    return explained(PLAN.find, stage, wc.video, wc.key)


def stage_job(stage, how="whole"):
    """The job making results/{video}/{stage}-{key}.h5: whole, one part ({i} of {n}), or the
    merge of its parts."""

    def make(wc):
        art = planned(stage, wc)
        if how == "part":
            return pvst_commands.stage(art, part=(int(wc.i), int(wc.n)))
        return pvst_commands.stage(art, merge=how == "merge")

    return make


def stage_gpu(stage):
    """The `gpu` resource a stage's job claims: 1 when its device setting may land on a GPU."""
    return lambda wc: pvst_plan.gpu_claim(stage, planned(stage, wc).params)


def product_gpu(*sections):
    """The `gpu` resource of a product's job that reads these sections' device settings."""
    return lambda wc: max(
        pvst_plan.gpu_claim(name, pvst_config.section(CFG, name, wc.video, wc.variant))
        for name in sections
    )


def product_job(make, *args):
    """The job making a fixed-name product of the {video} and {variant} wildcards."""
    return lambda wc: make(PLAN, wc.video, wc.variant, *args)


def job_inputs(make):
    """Input function: the files a job reads (role -> path)."""
    return lambda wc: explained(make, wc).inputs


def job_shell(make):
    """Params function: a job's `pvst` command line, quoted for the shell."""
    return lambda wc: f"{PVST} {explained(make, wc).shell()}"


def figure_job(wc):
    return pvst_commands.figure(PLAN, wc.figure)


def plots_job(wc):
    return pvst_commands.plots(PLAN)


def unknown_variant_error(wc):
    """Input function of results/{video}_{other}.mp4 for a name that is not a variant."""
    known = ", ".join(PLAN.variants())
    raise WorkflowError(
        f"results/{wc.video}_{wc.other}.mp4: '{wc.other}' is not a configured variant "
        f"(configured: {known}); add it under `variants:` in config/config.yaml"
    )


def job_stamp(make):
    """Input function: the stamp of a fixed-name product (see pvst.pipeline.store.stamp),
    rewritten only when what the product is made from changes."""

    def inner(wc):
        job = explained(make, wc)
        return pvst_store.stamp(f"results/.stamps/{job.stamp}.json", job.made_from)

    return inner
