"""DVC tracking and parameter-exact reruns, in a temporary git + DVC repository."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import conftest
from tests.conftest import REPO, job_counts, write_config

pytestmark = pytest.mark.slow

TINY = {
    **conftest.TINY,
    "stylize": {**conftest.TINY["stylize"], "alpha": 5},
    "variants": {
        "noseg": {
            "segmentation": {"method": "none"},
            "stylize": {"postprocess": {"method": "none"}},
        }
    },
    "figures": {
        "fig": {"title": "tiny", "rows": ["input", "stylized", "noseg"], "frames": [0, -1]}
    },
}
BIN = Path(sys.executable).parent


def test_the_shipped_dvc_yaml_is_up_to_date():
    proc = subprocess.run(
        [sys.executable, "-m", "pvst", "dvc-yaml", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    # and DVC reads it in the checkout (a DVC repository), with a stage per planned artifact
    stages = run(REPO, "dvc", "stage", "list", "--name-only").stdout.split()
    assert {"samples", "plots"} <= set(stages)
    assert any(s.startswith("stylize-bikes-") for s in stages)
    assert any(s.startswith("figure-fig13") for s in stages)


def test_check_names_a_stale_dvc_yaml(tmp_path):
    write_config(tmp_path, {})
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pvst", "dvc-yaml", "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "dvc.yaml is out of date with config/config.yaml" in proc.stderr


def run(cwd: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(
        os.environ, PATH=f"{BIN}:{os.environ['PATH']}", DVC_NO_ANALYTICS="1", PYTHONUNBUFFERED="1"
    )
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=900)
    if check and proc.returncode:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


@pytest.fixture
def repo(tmp_path, tiny_clip):
    """The workflow, a tiny configuration with a figure, and data/tiny.mp4 under DVC."""
    shutil.copy(REPO / "Snakefile", tmp_path)
    shutil.copytree(REPO / "workflow", tmp_path / "workflow")
    (tmp_path / "data").mkdir()
    shutil.copy(tiny_clip, tmp_path / "data" / "tiny.mp4")
    write_config(tmp_path, TINY)
    (tmp_path / ".gitignore").write_text("/results/*\n/.snakemake/\n")
    run(tmp_path, "git", "init", "-q")
    run(tmp_path, "dvc", "init", "-q")
    run(tmp_path, "dvc", "add", "-q", "data/tiny.mp4")
    run(tmp_path, sys.executable, "-m", "pvst", "dvc-yaml")
    run(tmp_path, "git", "add", "-A")
    run(tmp_path, "git", "-c", "user.email=ci@pvst", "-c", "user.name=ci", "commit", "-qm", "x")
    return tmp_path


def test_record_remote_round_trip_and_reruns_after_a_weight_change(repo, tmp_path_factory):
    assert (repo / "data" / "tiny.mp4.dvc").is_file()  # the user's clip: a .dvc file
    # Snakemake builds what dvc.yaml tracks (as on a cluster); DVC records it as it is
    run(repo, sys.executable, "-m", "snakemake", "--cores", "2", "tracked")
    assert "up to date" not in run(repo, "dvc", "status").stdout
    run(repo, "dvc", "commit", "-f", "-q")
    assert "up to date" in run(repo, "dvc", "status").stdout
    for name in (
        "tiny_stylized.mp4",
        "tiny_stylized.metrics.json",
        "figures/fig.png",
        "figures/metrics.csv",
    ):
        assert (repo / "results" / name).is_file(), name
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert "stylize" in str(lock)

    # push to a local remote, lose every result, pull them back: nothing to recompute
    remote = tmp_path_factory.mktemp("remote")
    run(repo, "dvc", "remote", "add", "-d", "local", str(remote))
    run(repo, "dvc", "push", "-q")
    for gone in ("results", ".snakemake", "data/styles"):
        shutil.rmtree(repo / gone, ignore_errors=True)
    run(repo, "dvc", "pull", "-q")
    run(repo, sys.executable, "-m", "snakemake", "--cores", "1", "--touch", "tracked")
    dry = run(repo, sys.executable, "-m", "snakemake", "--cores", "2", "-n", "figures", "all")
    assert "Nothing to be done" in dry.stdout

    # a stylization weight changes: only stylization and what follows reruns ...
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    config["stylize"]["alpha"] = 7
    write_config(repo, config)
    # ... for Snakemake, without .snakemake/ metadata (as on a fresh clone) ...
    shutil.rmtree(repo / ".snakemake", ignore_errors=True)
    dry = run(repo, sys.executable, "-m", "snakemake", "--cores", "2", "-n", "figures", "all")
    counts = job_counts(dry.stdout)
    assert counts.pop("stylize") == 2  # both variants share the changed base weight
    assert counts.pop("stylize_part") == 4  # each in its two shot parts (stylize.chunks 2)
    assert set(counts) <= {
        "smooth",
        "assemble",
        "side_by_side",
        "evaluate",
        "figure",
        "plots",
        "figures",
        "all",
        "total",
    }
    # ... and for DVC, once dvc.yaml follows the configuration
    stale = run(repo, sys.executable, "-m", "pvst", "dvc-yaml", "--check", check=False)
    assert stale.returncode == 2
    run(repo, sys.executable, "-m", "pvst", "dvc-yaml")
    proc = run(repo, "dvc", "repro")
    ran = set(re.findall(r"Running stage '([\w-]+)'", proc.stdout))
    skipped = set(re.findall(r"Stage '([\w-]+)' didn't change", proc.stdout))
    assert {s.split("-")[0] for s in ran} <= {
        "stylize",
        "smooth",
        "assemble",
        "sbs",
        "evaluate",
        "figure",
        "plots",
    }
    assert {s.split("-")[0] for s in skipped} >= {"frames", "flow", "laplacian", "segment"}
    assert "up to date" in run(repo, "dvc", "status").stdout
