"""Shared fixtures: tiny real clips cut from the embedded samples, and workflow sandboxes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pvst import media
from pvst.pipeline import samples

REPO = Path(__file__).resolve().parents[1]


# The tiny project that the workflow tests run: the 12-frame clip at 64 px, few iterations.
# the tiny configuration, kept where anyone can run the workflow on it by hand (.test/)
TINY = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())


def ffmpeg(*args: str) -> None:
    """Run the same ffmpeg binary pvst uses, failing the test on error."""
    subprocess.run(
        [media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True
    )


@pytest.fixture(autouse=True, scope="session")
def _fingerprints_outside_the_checkout(tmp_path_factory):
    """A plan made in the tests' own process remembers its files' hashes under the working
    directory's results/ (the checkout's); the tests' hashes go to a temporary folder."""
    from pvst.pipeline import fingerprint

    fingerprint.CACHE = tmp_path_factory.mktemp("fingerprints") / "fingerprints.json"
    fingerprint._cache = None


@pytest.fixture(scope="session")
def bikes_file() -> Path:
    return samples.source("bikes.mp4")


@pytest.fixture(scope="session")
def rocket_file() -> Path:
    return samples.source("styles/rocket.jpg")


def _bikes_excerpt(out: Path, bikes_file: Path, first: int, count: int) -> Path:
    """Frames first..first+count−1 of the bikes sample at 128×54, 25 fps, H.264."""
    select = f"select='between(n,{first},{first + count - 1})',setpts=N/25/TB,"
    ffmpeg(
        "-i",
        str(bikes_file),
        "-vf",
        f"{select}scale=128:-2,setsar=1",
        "-frames:v",
        str(count),
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-crf",
        "12",
        str(out),
    )
    return out


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory, bikes_file) -> Path:
    """12 real frames of the bikes sample (one shot)."""
    return _bikes_excerpt(tmp_path_factory.mktemp("clips") / "tiny.mp4", bikes_file, 0, 12)


@pytest.fixture(scope="session")
def tiny_cut_clip(tmp_path_factory) -> Path:
    """8 real frames of the bikes sample with the scene cut after the fourth: the tiny
    configuration's clip (.test/data/tiny.mp4, made by `_bikes_excerpt(…, 26, 8)`)."""
    out = tmp_path_factory.mktemp("clips") / "tiny_cut.mp4"
    shutil.copy(REPO / ".test" / "data" / "tiny.mp4", out)
    return out


def write_config(root: Path, cfg: dict) -> Path:
    path = root / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture
def workflow_dir(tmp_path) -> Path:
    """A copy of the workflow (Snakefile, rules, schema) in an empty directory."""
    shutil.copy(REPO / "Snakefile", tmp_path / "Snakefile")
    shutil.copytree(REPO / "workflow", tmp_path / "workflow", symlinks=False)
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    (tmp_path / "data").mkdir()
    return tmp_path


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900):
    """Run Snakemake (from this interpreter's environment) in `workdir`."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def job_counts(stdout: str) -> dict[str, int]:
    """Parse Snakemake's 'Job stats' table."""
    assert "Job stats:" in stdout, stdout[-3000:]
    table = stdout.split("Job stats:")[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
