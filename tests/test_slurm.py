"""The tiny pipeline through snakemake-executor-plugin-slurm on a real one-node SLURM.

The cluster is Debian's slurm-wlm and munge, started by tests/slurm/cluster.sh. Where they are
not installed the test is skipped, unless PVST_REQUIRE_SLURM=1 (as .ci/run sets after installing
them), where it fails instead.
"""

import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from pvst import media
from tests import conftest
from tests.conftest import REPO, job_counts, run_snakemake, write_config

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

# two shots (a cut after frame 4), stylized as two jobs. The test cluster's GPU slots are
# /dev/null and /dev/zero: its GPU jobs are handed SLURM_JOB_GPUS but no GPU, where `device:
# auto` rightly refuses to fall back to the CPU quietly, so the jobs that may use a GPU run on
# the CPU on purpose (device cpu, which claims no GPU)
TINY = {
    **conftest.TINY,
    "frames": {"size": 64},
    "stylize": {**conftest.TINY["stylize"], "device": "cpu"},
    "segmentation": {
        **conftest.TINY["segmentation"],
        "match": {"device": "cpu"},
    },
}


def _why_not() -> str | None:
    for tool in ("slurmctld", "slurmd", "munged", "sbatch", "squeue"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install slurm-wlm munge)"
    if not os.access("/etc", os.W_OK):
        return "the test cluster writes /etc/slurm/slurm.conf and /etc is not writable"
    conf = Path("/etc/slurm/slurm.conf")
    if conf.is_file() and "# pvst test cluster" not in conf.read_text():
        return f"{conf} belongs to a real SLURM"
    return None


@pytest.fixture
def slurm(tmp_path_factory):
    why = _why_not()
    if why:
        if os.environ.get("PVST_REQUIRE_SLURM") == "1":
            pytest.fail(f"PVST_REQUIRE_SLURM=1 but {why}")
        pytest.skip(why)
    state = tmp_path_factory.mktemp("slurm")
    script = REPO / "tests" / "slurm" / "cluster.sh"
    up = subprocess.run(
        ["bash", str(script), "start", str(state)], capture_output=True, text=True, timeout=120
    )
    try:
        assert up.returncode == 0, f"the test cluster did not start:\n{up.stdout}\n{up.stderr}"
        yield state
    finally:
        subprocess.run(["bash", str(script), "stop", str(state)], capture_output=True, timeout=60)


def test_tiny_pipeline_runs_through_the_slurm_executor(slurm, workflow_dir, tiny_cut_clip):
    shutil.copy(tiny_cut_clip, workflow_dir / "data" / "tiny.mp4")
    write_config(workflow_dir, TINY)
    proc = run_snakemake(
        workflow_dir,
        "--workflow-profile",
        "workflow/profiles/slurm",
        "--jobs",
        "4",
        # the test cluster has no accounting database: ask squeue, which MinJobAge keeps
        # finished jobs in, and use no account
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-no-account",
        # device cpu claims no GPU; the parts are given one anyway, to show that a rule's GPU
        # claim reaches SLURM as a GPU request
        "--set-resources",
        "stylize_part:gpu=1",
        timeout=1200,
    )
    out = workflow_dir / "results" / "tiny_stylized.mp4"
    assert out.is_file(), proc.stderr[-3000:]
    info = media.probe(out)
    assert (info.codec, info.width, info.height) == ("h264", 128, 54)  # the clip's own size
    assert len(list(media.read_frames(out, (64, 28)))) == 8

    # what SLURM was asked for: each stylize part one GPU, the small CPU jobs grouped
    lines = subprocess.run(
        ["scontrol", "show", "job", "-o"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    jobs = [dict(f.split("=", 1) for f in line.split() if "=" in f) for line in lines]
    assert all(j["JobState"] == "COMPLETED" for j in jobs), lines
    by_rule = {j["Comment"]: j for j in jobs}
    parts = [j for c, j in by_rule.items() if c.startswith("rule_stylize_part_")]
    assert len(parts) == 2, lines
    for part in parts:
        assert part.get("TresPerJob") == "gres:gpu:1", part
        assert int(part["MinMemoryNode"].rstrip("M")) >= 16000  # the rule's memory
    # the two shots ran at the same time on the node's two GPU slots
    starts = [datetime.fromisoformat(p["StartTime"]) for p in parts]
    ends = [datetime.fromisoformat(p["EndTime"]) for p in parts]
    assert max(starts) < min(ends), parts
    (group,) = [j for c, j in by_rule.items() if c.startswith("rule_small-cpu_")]
    for rule in ("sample", "frames", "flow_part", "laplacian_part"):
        assert rule in group["Comment"], group
    assert "TresPerJob" not in group  # CPU jobs ask for no GPU
    # 6 small jobs went in one submission: 10 submissions for the 15 jobs that ran
    ran = sum(n for rule, n in job_counts(proc.stderr).items() if rule not in ("all", "total"))
    assert (len(jobs), ran) == (10, 15), (lines, proc.stderr[-3000:])
