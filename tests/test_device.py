"""GPU assignment, tested on the CPU with made-up GPU identities and real processes."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pvst import device
from pvst.errors import PvstError
from tests.conftest import REPO

HOLDER = """
import json, sys, time
from pathlib import Path
from pvst import device
index = device.claim_gpu(["GPU-a", "GPU-b"], Path(sys.argv[1]), wait=0.05)
got = time.time()
print(json.dumps({"index": index, "got": got}), flush=True)
time.sleep(float(sys.argv[2]))
print(json.dumps({"end": time.time()}), flush=True)
"""


def holder(lock_dir, seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_dir), str(seconds)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_jobs_side_by_side_take_different_gpus_and_a_third_waits(tmp_path):
    jobs = [holder(tmp_path, 4.0) for _ in range(3)]
    records = []
    for job in jobs:
        out, _ = job.communicate(timeout=120)
        first, last = (json.loads(line) for line in out.splitlines())
        records.append({**first, **last})
    by_start = sorted(records, key=lambda r: r["got"])
    # the first two held GPU a and GPU b at once; the third got one only when it was let go
    assert {by_start[0]["index"], by_start[1]["index"]} == {0, 1}
    assert by_start[1]["got"] < by_start[0]["end"]
    third = by_start[2]
    released = [r["end"] for r in by_start[:2] if r["index"] == third["index"]]
    assert third["got"] >= released[0] - 0.01
    for index in (0, 1):  # never two holders of one GPU at a time
        spans = sorted((r["got"], r["end"]) for r in records if r["index"] == index)
        assert all(a[1] <= b[0] + 0.01 for a, b in itertools.pairwise(spans))


def test_a_killed_job_lets_its_gpu_go(tmp_path):
    job = holder(tmp_path, 60.0)
    assert json.loads(job.stdout.readline())["index"] == 0
    os.kill(job.pid, signal.SIGKILL)
    job.wait(timeout=30)
    start = time.time()
    again = holder(tmp_path, 0.0)
    out, _ = again.communicate(timeout=120)
    assert json.loads(out.splitlines()[0])["index"] == 0  # not waiting for the dead one
    assert time.time() - start < 60


def test_one_process_keeps_the_gpu_it_took(tmp_path, monkeypatch):
    monkeypatch.setattr(device, "_held", {})
    first = device.claim_gpu(["GPU-a", "GPU-b"], tmp_path)
    assert device.claim_gpu(["GPU-a", "GPU-b"], tmp_path) == first
    for handle in device._held.values():
        handle.close()


def test_a_slurm_job_given_gpus_it_cannot_see_is_refused(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_GPUS", "2,3")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(PvstError, match=r"GPU\(s\) 2,3 .*CUDA_VISIBLE_DEVICES is not set"):
        device.check_slurm_gpus()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    device.check_slurm_gpus()  # SLURM says which: fine
