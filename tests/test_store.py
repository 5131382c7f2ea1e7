import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from pvst import atomic
from pvst.errors import ArtifactError
from pvst.pipeline import store


def test_artifact_round_trip_with_provenance(tmp_path):
    path = tmp_path / "a" / "thing-0123456789.h5"
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    with store.create(path, "thing", {"x": 1, "y": [1, 2]}, key="0123456789") as f:
        store.write_array(f, "data", data)
    with store.open_artifact(path, "thing", params={"y": [1, 2], "x": 1}) as f:
        np.testing.assert_array_equal(f["data"][()], data)
        assert f["data"].compression == "gzip"
        assert f["data"].chunks is not None
        assert store.read_params(f) == {"x": 1, "y": [1, 2]}
    info = store.describe(path)
    assert info["stage"] == "thing" and info["key"] == "0123456789"
    assert info["pvst_version"]
    assert info["datasets"]["data"].startswith("(2, 3, 4)")


def test_other_parameters_are_an_error_naming_the_difference(tmp_path):
    path = tmp_path / "x.h5"
    with store.create(path, "frames", {"size": 256, "step": 1}):
        pass
    with pytest.raises(ArtifactError, match=r"size=128 was asked for, the file has 256"):
        store.open_artifact(path, "frames", params={"size": 128, "step": 1})
    with pytest.raises(ArtifactError, match="holds a 'frames' artifact, expected 'flow'"):
        store.open_artifact(path, "flow")


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(ArtifactError, match="artifact not found"):
        store.open_artifact(tmp_path / "none.h5", "frames")
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(ArtifactError, match="not a readable HDF5 file"):
        store.open_artifact(bad, "frames")


def test_exception_while_writing_leaves_nothing(tmp_path):
    path = tmp_path / "x.h5"
    with pytest.raises(RuntimeError), store.create(path, "frames", {}) as f:
        store.write_array(f, "data", np.zeros(10))
        raise RuntimeError("boom")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_incomplete_file_is_refused(tmp_path):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        store.write_provenance(f, "frames", {}, None, None)  # complete stays False
    with pytest.raises(ArtifactError, match="incomplete artifact"):
        store.open_artifact(path, "frames")


KILLED_WRITER = """
import sys, time, numpy as np
from pvst.pipeline import store
with store.create(sys.argv[1], "frames", {"n": 1}) as f:
    ds = store.create_stack(f, "frames", (1000, 64, 64, 3), np.uint8)
    for i in range(1000):
        ds[i] = np.full((64, 64, 3), i % 256, np.uint8)
        if i == 5:
            print("writing", flush=True)
        time.sleep(0.01)
"""


def test_killed_writer_leaves_no_artifact_and_its_temp_is_cleaned(tmp_path):
    path = tmp_path / "frames-x.h5"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not path.exists()
    temps = list(tmp_path.glob(".frames-x.h5.tmp-*"))
    assert len(temps) == 1  # what the killed writer left, under a name no one reads
    with store.create(path, "frames", {"n": 1}) as f:
        store.write_array(f, "frames", np.zeros((1, 2, 2, 3), np.uint8))
    assert path.exists()
    assert not list(tmp_path.glob(".frames-x.h5.tmp-*"))


def test_key_depends_on_stage_params_and_inputs():
    k = store.params_key("flow", {"method": "deepflow"}, ["abc"])
    assert k == store.params_key("flow", {"method": "deepflow"}, ["abc"])
    assert k != store.params_key("flow", {"method": "dis"}, ["abc"])
    assert k != store.params_key("flow", {"method": "deepflow"}, ["abd"])
    assert k != store.params_key("laplacian", {"method": "deepflow"}, ["abc"])
    assert len(k) == 10


def test_stale_temp_of_a_live_writer_is_kept(tmp_path):
    path = tmp_path / "y.h5"
    live = path.with_name(f".y.h5{atomic.TMP_MARK}{os.getpid()}-1")
    live.write_text("in progress")
    time.sleep(0.01)
    with atomic.atomic_path(path) as tmp:
        tmp.write_text("done")
    assert live.exists() and path.read_text() == "done"


def test_a_stamp_is_rewritten_only_when_what_it_records_changes(tmp_path):
    path = tmp_path / "stamps" / "a.json"
    assert store.stamp(path, ["x.h5", {"crf": 18}]) == str(path)
    os.utime(path, (1, 1))  # older than anything made after it
    store.stamp(path, ["x.h5", {"crf": 18}])
    assert path.stat().st_mtime == 1  # same content: untouched, nothing downstream reruns
    store.stamp(path, ["x.h5", {"crf": 20}])
    assert path.stat().st_mtime > 1
    assert '"crf": 20' in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]  # no temporary left behind


def _frames_artifact(path, n=4, size=(8, 6), count=None, attr_size=None):
    w, h = size
    with store.create(path, "frames", {"size": w}, key=path.stem.split("-")[-1]) as f:
        store.write_array(f, "frames", np.zeros((n, h, w, 3), np.uint8))
        store.set_attrs(f, count=count if count is not None else n, size=attr_size or size)
    return path


@pytest.mark.parametrize(
    "damage, words",
    [
        ("count", "'frames' holds 4 frames, its count says 7"),
        ("size", "'frames' frames are 8×6, its size says 10×6"),
        ("foreign", "no pvst stage wrote"),
        ("truncated", "not a readable HDF5 file"),
        ("incomplete", "incomplete artifact"),
        ("other stage", "holds a 'flow' artifact, expected 'frames'"),
    ],
)
def test_a_damaged_artifact_is_named_and_moved_aside_for_the_workflow_to_remake(
    tmp_path, damage, words
):
    path = tmp_path / "results" / "clip" / "frames-0123456789.h5"
    path.parent.mkdir(parents=True)
    if damage == "count":
        _frames_artifact(path, count=7)
    elif damage == "size":
        _frames_artifact(path, attr_size=(10, 6))
    elif damage == "foreign":
        with h5py.File(path, "w") as f:
            f["frames"] = np.zeros((4, 6, 8, 3), np.uint8)
    elif damage == "truncated":
        data = _frames_artifact(path, n=40, size=(64, 48)).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "incomplete":
        _frames_artifact(path)
        with h5py.File(path, "a") as f:
            f.attrs["complete"] = False
    else:
        with store.create(path, "flow", {}):
            pass
    with pytest.raises(ArtifactError) as err:
        store.open_artifact(path, "frames")
    assert str(path) in str(err.value) and words in str(err.value)
    assert "moved aside" in str(err.value)
    assert not path.exists() and path.with_name(path.name + ".damaged").exists()


def test_a_file_that_is_not_at_an_artifacts_path_is_never_moved(tmp_path):
    path = _frames_artifact(tmp_path / "mine.h5", count=9)
    with pytest.raises(ArtifactError, match="its count says 9"):
        store.open_artifact(path, "frames")
    with pytest.raises(ArtifactError, match="its count says 9"):
        store.open_artifact(tmp_path / "mine.h5", None)
    assert path.exists()


def test_a_part_holds_its_own_span_of_frames(tmp_path):
    path = tmp_path / "stylize-0123456789-1of2.h5"
    with store.create(path, "stylize-part", {}) as f:
        store.write_array(f, "frames", np.zeros((3, 6, 8, 3), np.uint8))
        store.set_attrs(f, count=10, t0=2, t1=5, size=(8, 6))
    store.open_artifact(path, "stylize-part").close()


def test_results_of_two_versions_compare_by_contents_not_by_the_time_they_were_made(tmp_path):
    """benchmarks/compare_results.py (the check of a refactoring against `make demo` before it):
    artifacts made at other times are the same; a changed value, attribute or video is not."""
    import importlib.util
    from pathlib import Path

    from pvst.stages.frames import save

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_results.py"
    spec = importlib.util.spec_from_file_location("compare_results", path)
    compare_results = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare_results)

    frames = np.arange(2 * 6 * 8 * 3, dtype=np.uint8).reshape(2, 6, 8, 3)
    for side, created in (("a", "2026-01-01T00:00:00"), ("b", "2026-06-01T12:00:00")):
        (tmp_path / side / "logs").mkdir(parents=True)
        save(tmp_path / side / "frames.h5", frames, fps=25)
        with h5py.File(tmp_path / side / "frames.h5", "r+") as f:
            f.attrs["created"] = created
        (tmp_path / side / "clip.mp4").write_bytes(b"same video")
        (tmp_path / side / "logs" / "x.log").write_text(side)  # logs are not results
    lines = compare_results.compare(tmp_path / "a", tmp_path / "b")
    assert lines == [
        "same    clip.mp4: identical bytes",
        "same    frames.h5: identical contents (bytes differ: time of making)",
    ]
    with h5py.File(tmp_path / "b" / "frames.h5", "r+") as f:
        f["frames"][0, 0, 0, 0] = 255
        f.attrs["fps"] = 30.0
    (tmp_path / "b" / "clip.mp4").write_bytes(b"another video")
    (tmp_path / "b" / "extra.png").write_bytes(b"")
    lines = compare_results.compare(tmp_path / "a", tmp_path / "b")
    assert lines[0] == f"DIFFERS extra.png: only in {tmp_path / 'b'}"
    assert lines[1] == "DIFFERS clip.mp4: bytes"
    assert lines[2].startswith("DIFFERS frames.h5:")
    assert lines[2] == "DIFFERS frames.h5: /@fps; frames: values"


def _random_frames(path, n=3):
    from pvst.stages import frames

    rng = np.random.default_rng(0)
    frames.save(path, rng.integers(0, 255, (n, 24, 32, 3), dtype=np.uint8), 25)
    return path


def _mounted_tmpfs(folder, size="300k") -> bool:
    """A small tmpfs at `folder` where the tests run as root and may mount; else False."""
    if os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)])
    return r.returncode == 0


def test_a_stage_refuses_to_start_without_the_room_it_needs(tmp_path, monkeypatch, capsys):
    from pvst import cli

    src = _random_frames(tmp_path / "frames.h5")
    out = tmp_path / "lap.h5"
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda p: SimpleNamespace(free=0))
    argv = ["laplacian", "--params", "{}", "--in", f"frames={src}", "--out", str(out)]
    assert cli.main([*argv, "--part", "1/1"]) == 2
    err = capsys.readouterr().err
    assert "the Laplacians of 3 frames needs about" in err and "0 MB free" in err
    assert "Traceback" not in err and not out.exists()


def test_a_full_disk_mid_write_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """The disk fills while a Laplacian part is written: a real tmpfs where the tests may
    mount one, else ENOSPC from the HDF5 writes. Each run is a process of its own, as a
    user's (HDF5 that met a full disk is not reused). The rerun after freeing space completes."""
    src = _random_frames(tmp_path / "frames.h5", n=8)
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = _mounted_tmpfs(disk)
    out = disk / "lap.h5"
    argv = ["laplacian", "--params", "{}", "--in", f"frames={src}", "--out", str(out)]
    argv += ["--part", "1/1"]
    if mounted:  # room for the estimate's check to pass (a small margin), not for the file
        (disk / "filler").write_bytes(b"\0" * 100_000)
        setup = "pvst.atomic.SPACE_MARGIN = 0.1"
    else:
        setup = (
            "real = pvst.pipeline.store.write_array\n"
            "calls = []\n"
            "def fills(f, name, data, **kw):\n"
            "    calls.append(name)\n"
            "    if len(calls) > 3:\n"
            "        raise OSError(28, 'No space left on device')\n"
            "    return real(f, name, data, **kw)\n"
            "pvst.pipeline.store.write_array = fills"
        )
    script = f"import sys, pvst.atomic, pvst.pipeline.store\n{setup}\n"
    script += "from pvst import cli\nsys.argv[0] = 'pvst'\nsys.exit(cli.main())\n"
    try:
        r = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True)
        assert r.returncode == 2, r.stderr
        assert "the disk is full" in r.stderr and str(out) in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        assert len([line for line in r.stderr.splitlines() if "error" in line.lower()]) == 1
        assert sorted(p.name for p in disk.iterdir()) == (["filler"] if mounted else [])
        if mounted:
            (disk / "filler").unlink()
            subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        again = subprocess.run([sys.executable, "-m", "pvst", *argv], capture_output=True)
        assert again.returncode == 0, again.stderr
        assert out.is_file()
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(disk)])
