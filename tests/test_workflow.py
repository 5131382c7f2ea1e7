"""The Snakemake workflow, run for real in a temporary directory on a tiny clip."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from pvst import media
from tests import conftest
from tests.conftest import REPO, job_counts, run_snakemake, write_config

pytestmark = pytest.mark.slow

TINY = {
    **conftest.TINY,
    "variants": {
        "crisp": {"assemble": {"crf": 8}},
        "artistic": {"stylize": {"lambda": 0}},
        "guided": {"stylize": {"postprocess": {"method": "guided"}}},
        "unsmoothed": {"stylize": {"postprocess": {"method": "none"}}},
        "refined": {"stylize": {"refine": {"video": 2, "max_size": 96}}},
    },
}


@pytest.fixture
def tiny_project(workflow_dir, tiny_clip):
    shutil.copy(tiny_clip, workflow_dir / "data" / "tiny.mp4")
    write_config(workflow_dir, TINY)
    return workflow_dir


def test_the_workflow_passes_snakemakes_lint():
    """`snakemake --lint`, with one lint accepted: no rule names a conda environment or a
    container, because one interpreter, the project's own environment (the README's two
    commands), runs every stage."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    text = proc.stdout + proc.stderr
    assert "Lints for" in text or proc.returncode == 0, text[-2000:]
    found = {line.strip()[2:] for line in text.splitlines() if line.strip().startswith("* ")}
    assert found <= {"Specify a conda environment or container for each rule.:"}, found


def test_the_tiny_configuration_runs_by_hand_from_dot_test():
    proc = run_snakemake(REPO, "--directory", ".test", "-n", "results/tiny_stylized.mp4")
    counts = job_counts(proc.stdout)
    assert counts["stylize_part"] == 2 and counts["assemble"] == 1, counts


def test_jobs_claim_a_gpu_where_their_device_may_be_one(tiny_project):
    def claims(*config: str) -> dict[str, set[str]]:
        proc = run_snakemake(tiny_project, "-n", "results/tiny_stylized.mp4", *config)
        found: dict[str, set[str]] = {}
        rule = None
        for line in proc.stdout.splitlines():
            if line.startswith(("rule ", "localrule ")):
                rule = line.split()[1].rstrip(":")
            elif "resources:" in line and rule:
                gpu = [f for f in line.split(", ") if f.startswith("gpu=")]
                found.setdefault(rule, set()).update(gpu or ["gpu=0"])
        return found

    default = claims()
    assert default["stylize_part"] == {"gpu=1"}  # device auto
    assert default["segment"] == {"gpu=1"}  # matched regions: VGG19 on auto
    assert default["flow_part"] == default["assemble"] == {"gpu=0"}  # DeepFlow; render on cpu
    cpu = claims("--config", "stylize={device: cpu}", "render={device: auto}")
    assert cpu["stylize_part"] == {"gpu=0"}
    assert cpu["assemble"] == {"gpu=1"}


def test_dry_run_of_the_default_target(tiny_project):
    proc = run_snakemake(tiny_project, "-n")
    counts = job_counts(proc.stdout)
    assert counts == {
        "sample": 1,
        "frames": 1,
        "flow_part": 2,
        "flow": 1,
        "laplacian_part": 2,
        "laplacian": 1,
        "segment": 1,
        "stylize_part": 2,
        "stylize": 1,
        "smooth": 1,
        "assemble": 1,
        "side_by_side": 1,
        "all": 1,
        "total": 16,
    }


def test_real_run_of_the_whole_pipeline(tiny_project):
    run_snakemake(
        tiny_project,
        "results/tiny_stylized.mp4",
        "results/tiny_stylized_sbs.mp4",
        "results/tiny_stylized.gif",
    )
    out = tiny_project / "results"
    # optimised at 64×28, rendered at the clip's own size
    info = media.probe(out / "tiny_stylized.mp4")
    assert (info.codec, info.width, info.height, info.fps) == ("h264", 128, 54, 25.0)
    sbs = media.probe(out / "tiny_stylized_sbs.mp4")
    assert sbs.height == 54 and sbs.width > 2 * 128
    assert (out / "tiny_stylized.gif").read_bytes()[:3] == b"GIF"
    for stage in ("frames", "flow", "laplacian", "segment", "stylize", "smooth"):
        assert len(list((out / "tiny").glob(f"{stage}-*.h5"))) == 1, stage
    assert (tiny_project / "data" / "styles" / "coffee.png").exists()  # sample fetched by a rule
    logs = list((out / "logs").rglob("*.log"))
    assert any("frames-" in p.name for p in logs)

    # nothing to redo, also when a setting changes only how jobs run (not what they make);
    # a device this machine lacks plans nothing either, so no failing job can remove the
    # finished artifact
    again = run_snakemake(tiny_project, "results/tiny_stylized.mp4", "-n")
    assert "Nothing to be done" in again.stdout
    for setting in (
        "flow={chunks: 4}",
        "laplacian={chunks: 3}",
        "stylize={threads: 1}",
        "stylize={chunks: 3}",
        "stylize={device: cuda}",
        "segmentation={match: {device: cpu}}",
        "segmentation={auto: {regions: 3}}",  # a method it does not choose
        "evaluate={chunks: 3}",
        "render={device: cpu}",
        "stylize={refine: {image: 3}}",  # image mode's alone
    ):
        same = run_snakemake(tiny_project, "results/tiny_stylized.mp4", "-n", "--config", setting)
        assert "Nothing to be done" in same.stdout, (setting, same.stdout[-2000:])

    # a variant that changes only encoding reuses every artifact
    crisp = run_snakemake(tiny_project, "results/tiny_crisp.mp4", "-n")
    assert job_counts(crisp.stdout) == {"assemble": 1, "total": 1}
    # another output size or render setting reruns the render and what follows, nothing else
    for setting in ("render={size: 96}", "render={eps: 0.01}"):
        bigger = run_snakemake(
            tiny_project,
            "results/tiny_stylized.mp4",
            "results/tiny_stylized_sbs.mp4",
            "-n",
            "--config",
            setting,
        )
        assert job_counts(bigger.stdout) == {"assemble": 1, "side_by_side": 1, "total": 2}
    # one without the photorealism term reuses frames, flow and segments, and needs no
    # Laplacians
    artistic = run_snakemake(tiny_project, "results/tiny_artistic.mp4", "-n")
    assert job_counts(artistic.stdout) == {
        "stylize_part": 2,
        "stylize": 1,
        "smooth": 1,
        "assemble": 1,
        "total": 5,
    }
    # one that only smooths differently reuses the optimisation
    guided = run_snakemake(tiny_project, "results/tiny_guided.mp4", "-n")
    assert job_counts(guided.stdout) == {"smooth": 1, "assemble": 1, "total": 2}
    # without smoothing (the default) the optimised frames are encoded as they are
    unsmoothed = run_snakemake(tiny_project, "results/tiny_unsmoothed.mp4", "-n")
    assert job_counts(unsmoothed.stdout) == {"assemble": 1, "total": 1}
    # refined at the output size: a stage of its own after the optimisation's frames
    refined = run_snakemake(tiny_project, "results/tiny_refined.mp4", "-n")
    assert job_counts(refined.stdout) == {"refine": 1, "assemble": 1, "total": 2}
    run_snakemake(tiny_project, "results/tiny_refined.mp4")
    assert len(list((out / "tiny").glob("refine-*.h5"))) == 1
    assert media.probe(out / "tiny_refined.mp4").width == 128
    # the style photo edited in place, its time kept: what is made from it is made again
    style = tiny_project / "data" / "styles" / "coffee.png"
    st = style.stat()
    media.write_image(style, 255 - media.read_image(style))
    os.utime(style, ns=(st.st_atime_ns, st.st_mtime_ns))
    edited = run_snakemake(tiny_project, "results/tiny_stylized.mp4", "-n")
    assert job_counts(edited.stdout) == {
        "segment": 1,
        "stylize_part": 2,
        "stylize": 1,
        "smooth": 1,
        "assemble": 1,
        "total": 6,
    }
    edited = run_snakemake(tiny_project, "results/tiny_refined.mp4", "-n")
    assert job_counts(edited.stdout)["refine"] == 1  # made from the style photo too


def test_missing_clip_and_unknown_variant_messages(tiny_project):
    proc = run_snakemake(tiny_project, "-n", "results/surf_stylized.mp4", check=False)
    assert proc.returncode != 0
    assert "data/surf.mp4: video 'surf' is missing" in proc.stdout + proc.stderr
    proc = run_snakemake(tiny_project, "-n", "results/tiny_moody.mp4", check=False)
    assert proc.returncode != 0
    assert "'moody' is not a configured variant" in proc.stdout + proc.stderr


def test_invalid_configuration_stops_the_workflow(tiny_project):
    write_config(tiny_project, {**TINY, "frames": {"size": 64, "stpe": 2}})
    proc = run_snakemake(tiny_project, "-n", check=False)
    assert proc.returncode != 0
    assert "frames: unknown key 'stpe' (did you mean 'step'?)" in proc.stdout + proc.stderr
    write_config(tiny_project, TINY)
    extra = tiny_project / "extra.yaml"
    extra.write_text("stylize: {beta: lots}\n")
    proc = run_snakemake(tiny_project, "-n", "--configfile", str(extra), check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "extra.yaml" in out and "stylize.beta: expected number, got 'lots'" in out
    extra.write_text("stylize: {lambda: 1e4}\n")  # YAML 1.1 reads 1e4 as a string
    assert run_snakemake(tiny_project, "-n", "--configfile", str(extra)).returncode == 0
    for text, words in (
        ("stylize: {alpha: .nan}\n", "stylize.alpha: nan is not a finite number"),
        ("frames: {size: 64}\nframes: {size: 32}\n", "'frames' is given twice"),
    ):
        extra.write_text(text)
        proc = run_snakemake(tiny_project, "-n", "--configfile", str(extra), check=False)
        assert proc.returncode != 0 and words in proc.stdout + proc.stderr, text
    # results/ where nothing can be written: said at the start, not in a job's log
    shutil.rmtree(tiny_project / "results", ignore_errors=True)
    (tiny_project / "results").symlink_to("/sys/kernel")
    proc = run_snakemake(tiny_project, "-n", check=False)
    assert proc.returncode != 0
    assert "results: cannot write there" in proc.stdout + proc.stderr


def test_flow_runs_in_parts_then_merges(tiny_project):
    proc = run_snakemake(
        tiny_project,
        "results/tiny_stylized_flow.mp4",
        "--config",
        "flow={chunks: 3, long_term: [1, 2]}",
    )
    log = proc.stdout + proc.stderr
    counts = [line for line in log.splitlines() if "Rule: flow_part" in line]
    assert len(counts) == 3
    flows = list((tiny_project / "results" / "tiny").glob("flow-*.h5"))
    assert len(flows) == 1
    assert not list((tiny_project / "results").rglob("parts/*.h5"))  # temporary parts removed
    info = media.probe(tiny_project / "results" / "tiny_stylized_flow.mp4")
    assert info.width == 3 * 64


def test_cyclegan_baseline_target(tiny_project):
    import torch

    from pvst.cyclegan import ResnetGenerator

    proc = run_snakemake(tiny_project, "-n", "results/tiny_cyclegan.mp4", check=False)
    assert proc.returncode != 0
    assert "needs cyclegan.checkpoint" in proc.stdout + proc.stderr
    ckpt = tiny_project / "data" / "latest_net_G.pth"
    torch.manual_seed(0)
    torch.save(ResnetGenerator().state_dict(), ckpt)
    cfg = {**TINY, "cyclegan": {"checkpoint": "data/latest_net_G.pth"}}
    write_config(tiny_project, cfg)
    run_snakemake(tiny_project, "results/tiny_cyclegan.mp4", "results/tiny_cyclegan_sbs.mp4")
    info = media.probe(tiny_project / "results" / "tiny_cyclegan.mp4")
    assert (info.width, info.height) == (128, 54)  # rendered at the clip's size
    sbs = media.probe(tiny_project / "results" / "tiny_cyclegan_sbs.mp4")
    assert sbs.width == 256  # input | output, no style
    assert not list((tiny_project / "results" / "tiny").glob("stylize-*.h5"))


def test_figures_target_reuses_the_cache_and_goes_into_the_report(tiny_project):
    cfg = {
        **TINY,
        "variants": {
            **TINY["variants"],
            "noseg": {
                "description": "α 5, no masks",
                "segmentation": {"method": "none"},
                "stylize": {"postprocess": {"method": "none"}},
            },
        },
        "figures": {
            "fig": {
                "title": "tiny",
                "frames": [0, -1],
                "rows": ["input", "stylized", "noseg", "stylized:segments", "style"],
            }
        },
    }
    write_config(tiny_project, cfg)
    run_snakemake(tiny_project, "figures")
    fig_dir = tiny_project / "results" / "figures"
    for name in ("fig.png", "loss_curves.png", "ewarp_vs_ssim.png", "metrics.csv", "metrics.md"):
        assert (fig_dir / name).stat().st_size > 200, name
    figure = media.read_image(fig_dir / "fig.png")
    assert figure.shape[0] > 5 * 28  # five rows of 28 px frames
    table = (fig_dir / "metrics.csv").read_text().splitlines()
    assert len(table) == 3 and table[1].startswith("tiny,stylized,")
    metrics = json.loads((tiny_project / "results" / "tiny_stylized.metrics.json").read_text())
    assert metrics["warping_error"]["flow"] == "dis"  # not the stylizer's deepflow
    assert metrics["size"] == [64, 28] and metrics["output_size"]["size"] == [128, 54]
    big = metrics["output_size"]
    assert big["warping_error"]["pairs"] == 11 and big["warping_error"]["output"] > 0
    assert 0 < big["colour_distance"]["output"] < big["colour_distance"]["input"]
    assert again_nothing_to_do(tiny_project, "figures")

    proc = run_snakemake(tiny_project, "figures", "--report", "report.html")
    report = tiny_project / "report.html"
    assert report.stat().st_size > 10000, proc.stderr[-2000:]


def again_nothing_to_do(workdir, *targets) -> bool:
    return "Nothing to be done" in run_snakemake(workdir, *targets, "-n").stdout


def test_a_killed_workflow_keeps_the_finished_part(tiny_project, tmp_path_factory, tiny_clip):
    """Snakemake itself SIGKILLed while a stylize part runs: the orphaned job finishes its part;
    after --unlock the rerun redoes the part Snakemake marked incomplete from its kept frames
    (none optimised again) and the clip equals a clean run's."""
    import signal
    import time

    target = "results/tiny_unsmoothed.mp4"
    run_snakemake(tiny_project, target, "--until", "stylize_part", "--omit-from", "stylize_part")
    parts = tiny_project / "results" / "tiny" / "parts"
    logs = tiny_project / "results" / "logs"
    before = set(logs.rglob("*.log"))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    snake = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "1", target],
        cwd=tiny_project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:  # until the first part has finished a frame
            running = [p for p in set(logs.rglob("*stylize*.log")) - before]
            if any("evaluations, loss" in p.read_text() for p in running):
                break
            assert snake.poll() is None, "the workflow ended before it could be killed"
            time.sleep(0.2)
        snake.send_signal(signal.SIGKILL)
        snake.wait()
        while time.monotonic() < deadline and not list(parts.glob("stylize-*.h5")):
            time.sleep(0.5)  # the orphaned job finishes its part
    finally:
        if snake.poll() is None:
            snake.kill()
    assert len(list(parts.glob("stylize-*.h5"))) == 1
    time.sleep(1)  # the orphan's exit
    locked = run_snakemake(tiny_project, target, check=False)
    assert locked.returncode != 0 and "unlock" in (locked.stdout + locked.stderr)
    run_snakemake(tiny_project, "--unlock", target)
    run_snakemake(tiny_project, "--rerun-incomplete", target)
    done = "\n".join(p.read_text() for p in logs.rglob("*stylize*.log"))
    resumed = re.findall(r"stylized 0 frames \((\d+) resumed\)", done)  # the killed run's part
    assert max(map(int, resumed), default=0) > 0, done
    assert not list(parts.glob(".stylize-*.partial"))  # the merge cleared the kept frames
    # a clean run of the same clip and settings
    clean = tmp_path_factory.mktemp("clean")
    shutil.copy(REPO / "Snakefile", clean / "Snakefile")
    shutil.copytree(REPO / "workflow", clean / "workflow")
    shutil.copytree(REPO / "profiles", clean / "profiles")
    (clean / "data").mkdir()
    shutil.copy(tiny_clip, clean / "data" / "tiny.mp4")
    write_config(clean, TINY)
    run_snakemake(clean, target)
    ours = media.read_frames(tiny_project / target, (128, 54))
    theirs = media.read_frames(clean / target, (128, 54))
    for a, b in zip(ours, theirs, strict=True):
        assert (a == b).all()


def test_degenerate_clips_come_back_whole(tiny_project, tiny_clip):
    """A clip of one frame (no pairs for the flow) and a clip of one colour (flow and
    Laplacian degenerate) come back as videos of their size, with finite metrics written as
    strict JSON (null where there is nothing to measure)."""
    data = tiny_project / "data"
    conftest.ffmpeg(
        "-i", str(tiny_clip), "-frames:v", "1", "-c:v", "libx264", str(data / "one.mp4")
    )
    colour = "color=c=0x808080:s=64x36:d=0.24:r=25"
    conftest.ffmpeg("-f", "lavfi", "-i", colour, "-c:v", "libx264", str(data / "flat.mp4"))
    targets = [
        f"results/{v}_stylized{s}" for v in ("one", "flat") for s in (".mp4", ".metrics.json")
    ]
    run_snakemake(tiny_project, *targets)
    for video, size, count in (("one", (128, 54), 1), ("flat", (64, 36), 6)):
        out = tiny_project / "results" / f"{video}_stylized.mp4"
        assert media.probe(out).display_size == size and media.timing(out).frames == count
        frames = list(media.read_frames(out, size))
        assert len(frames) == count and all(f.std() < 60 for f in frames)
        text = (tiny_project / "results" / f"{video}_stylized.metrics.json").read_text()
        assert "NaN" not in text and "Infinity" not in text
        metrics = json.loads(text)
        assert metrics["frames"] == count and metrics["photorealism"]["output"] >= 0
    one = json.loads((tiny_project / "results" / "one_stylized.metrics.json").read_text())
    assert one["warping_error"]["output"] is None and one["warping_error"]["pairs"] == 0
