import ast
import json
import shutil

import pytest

from pvst import cli
from pvst.errors import PvstError
from pvst.pipeline import commands, config
from pvst.pipeline.plan import Plan, key_from_files
from pvst.stages.frames import Frames
from tests.conftest import REPO, write_config


def make_plan(tmp_path, raw: dict) -> Plan:
    return Plan(config.validate(raw), root=tmp_path)


def test_frames_path_depends_only_on_frames_parameters(tmp_path):
    base = make_plan(tmp_path, {"frames": {"size": 128}})
    other_assemble = make_plan(tmp_path, {"frames": {"size": 128}, "assemble": {"crf": 30}})
    bigger = make_plan(tmp_path, {"frames": {"size": 256}})
    back = make_plan(tmp_path, {"frames": {"size": 128}})
    path = base.artifact("frames", "bikes").path
    assert path.startswith("results/bikes/frames-") and path.endswith(".h5")
    assert other_assemble.artifact("frames", "bikes").path == path
    assert bigger.artifact("frames", "bikes").path != path
    assert back.artifact("frames", "bikes").path == path  # switching back finds the old file


def test_variants_share_artifacts_unless_they_override_the_stage(tmp_path):
    plan = make_plan(
        tmp_path,
        {
            "variants": {
                "crisp": {"assemble": {"crf": 10}},
                "small": {"frames": {"size": 64}},
            }
        },
    )
    default = plan.artifact("frames", "bikes")
    assert plan.artifact("frames", "bikes", "crisp").key == default.key
    small = plan.artifact("frames", "bikes", "small")
    assert small.key != default.key
    assert plan.find("frames", "bikes", small.key).params["size"] == 64
    with pytest.raises(PvstError, match="no configured variant"):
        plan.find("frames", "bikes", "0000000000")


def test_missing_user_clip_says_where_to_put_it(tmp_path):
    plan = make_plan(tmp_path, {"videos": {"surf": {"video": "data/surf.mp4"}}})
    with pytest.raises(PvstError, match=r"data/surf.mp4: .*Put the file there.*dvc pull"):
        plan.video_file("surf")
    with pytest.raises(PvstError, match=r"data/nope\.mp4"):
        plan.video_file("nope")


def _option(args: list[str], name: str) -> list[str]:
    """The values given to an option (every occurrence, or all words up to the next option)."""
    if name == "--in":
        return [args[i + 1] for i, a in enumerate(args) if a == name]
    start = args.index(name) + 1
    end = next((i for i in range(start, len(args)) if args[i].startswith("--")), len(args))
    return args[start:end]


def test_one_command_per_job_for_the_rules_and_dvc(tmp_path):
    (tmp_path / "g.pth").write_bytes(b"")
    plan = make_plan(
        tmp_path, {"stylize": {"lambda": 0, "chunks": 2}, "cyclegan": {"checkpoint": "g.pth"}}
    )
    art = plan.artifact("stylize", "bikes")
    # a part: the stage's own inputs only (no Laplacian at λ = 0, no weights file), its part path
    part = commands.stage(art, part=(2, 2)).args
    assert part[0] == "stylize" and _option(part, "--part") == ["2/2"]
    assert sorted(i.split("=")[0] for i in _option(part, "--in")) == [
        "flow",
        "frames",
        "segment",
        "style",
    ]
    assert json.loads(_option(part, "--params")[0]) == art.params
    assert _option(part, "--out") == [f"results/bikes/parts/stylize-{art.key}-2of2.h5"]
    # the merge reads the parts it names
    merge = commands.stage(art, merge=True)
    assert _option(merge.args, "--merge") == art.parts
    assert set(art.parts) <= set(merge.inputs.values()) and merge.outputs == [art.path]
    # dvc.yaml's command reads its parameters from the file, the rest is the same
    select = commands.Selection("config/config.yaml", "bikes", "stylized")
    assert commands.stage(art, select).args == [
        "stylize",
        "--config",
        "config/config.yaml",
        "--video",
        "bikes",
        "--variant",
        "stylized",
        "--out",
        art.path,
    ]
    # products: the side-by-side shows the style photo, except for the CycleGAN baseline
    sbs = commands.assemble(plan, "bikes", "stylized", "sbs")
    assert sbs.outputs == ["results/bikes_stylized_sbs.mp4"]
    assert _option(sbs.args, "--style") == [plan.style_file("bikes")]
    assert "--style" not in commands.assemble(plan, "bikes", "cyclegan", "sbs", select).args


@pytest.fixture
def project(tmp_path, tiny_clip, monkeypatch):
    """A project directory with data/tiny.mp4 and a small configuration."""
    (tmp_path / "data").mkdir()
    shutil.copy(tiny_clip, tmp_path / "data" / "tiny.mp4")
    write_config(tmp_path, {"frames": {"size": 64}, "assemble": {"preset": "ultrafast"}})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_frames_from_the_configuration(project):
    assert cli.main(["frames", "--video", "tiny", "--log", "logs/f.log"]) == 0
    plan = Plan(config.load("config/config.yaml"))
    art = plan.artifact("frames", "tiny")
    with Frames(art.path, params=art.params) as fr:
        assert fr.size == (64, 28) and len(fr) == 12
    assert key_from_files("frames", art.params, art.inputs) == art.key
    assert "wrote results/tiny/frames-" in (project / "logs" / "f.log").read_text()
    assert cli.main(["assemble", art.path, "-o", "results/tiny.mp4", "--video", "tiny"]) == 0
    assert (project / "results" / "tiny.mp4").stat().st_size > 1000


def test_cli_explicit_params_are_validated(project, capsys):
    rc = cli.main(
        ["frames", "--params", '{"size": "big"}', "--in", "video=data/tiny.mp4", "--out", "x.h5"]
    )
    assert rc == 2
    assert "--params is invalid" in capsys.readouterr().err
    rc = cli.main(["frames", "--params", "{oops", "--in", "video=data/tiny.mp4", "--out", "x.h5"])
    assert rc == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_cli_refuses_an_output_name_with_another_key(project, capsys):
    params = json.dumps({"size": 64})
    rc = cli.main(
        [
            "frames",
            "--params",
            params,
            "--in",
            "video=data/tiny.mp4",
            "--out",
            "results/tiny/frames-0123456789.h5",
        ]
    )
    assert rc == 2
    assert "the name says key 0123456789" in capsys.readouterr().err
    assert not (project / "results" / "tiny" / "frames-0123456789.h5").exists()


def test_cli_missing_video_is_one_clear_line(project, capsys):
    rc = cli.main(["frames", "--video", "surf"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("pvst frames: error: data/surf.mp4")
    assert "Traceback" not in err


def test_samples_are_real_media(tmp_path):
    assert cli.main(["samples", "--data", str(tmp_path)]) == 0
    from pvst import media
    from pvst.pipeline import samples

    for name in samples.SAMPLES:
        path = tmp_path / name
        if name.endswith(".mp4"):
            info = media.probe(path)
            assert info.width >= 176 and info.duration >= 4
        else:
            img = media.read_image(path)
            assert img.ndim == 3 and img.shape[2] == 3 and img.std() > 10


def test_imports_run_one_way_science_never_reaches_up():
    """The science (flat modules) imports no stage driver and no pipeline machinery; the
    pipeline machinery imports no stage driver."""
    layers = {"pvst": ("pvst.stages", "pvst.pipeline"), "pvst/pipeline": ("pvst.stages",)}
    found = []
    for folder, banned in layers.items():
        for path in sorted((REPO / folder).glob("*.py")):
            if path.name in ("cli.py", "__main__.py"):  # the drivers' entry point
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                found += [(path.name, n) for n in names if n.startswith(banned)]
    assert found == []


def test_every_stage_command_comes_from_the_stage_table_and_runs_its_driver_by_job():
    """`pvst STAGE` exists for every stage of the plan's table, with the part and threads
    options the table gives it; its driver's one entry point is `run(job)` (nothing else by
    position), and the products' drivers have the same shape."""
    import importlib
    import inspect

    from pvst.pipeline.plan import STAGES

    parser = cli.build_parser(["frames"])
    stage_commands = parser._subparsers._group_actions[0].choices
    for stage, spec in STAGES.items():
        options = {o for a in stage_commands[stage]._actions for o in a.option_strings}
        assert {"--video", "--params", "--in", "--out"} <= options
        assert ("--part" in options) == ("--merge" in options) == spec.parted
        assert ("--threads" in options) == bool(spec.threads)
    for name in [*STAGES, "evaluate", "assemble"]:
        run = importlib.import_module(f"pvst.stages.{name}").run
        positional = [
            p
            for p in inspect.signature(run).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        assert [p.name for p in positional] == ["job"], name
    assert cli.STAGES is STAGES  # the command line reads the plan's table, no copy


def test_a_command_imports_only_what_it_runs():
    """A stage's job starts without importing torch or the tools it does not run (torch alone
    takes seconds to import); a tool's module is imported when that tool runs."""
    import subprocess
    import sys

    probe = (
        "import sys; from pvst.cli import build_parser; build_parser({argv!r}); "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('pvst.tools.')))"
    )

    def imported(argv):
        code = probe.format(argv=argv)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        return out.stdout.strip()

    assert imported(["flow", "--video", "x"]) == "[]"
    assert imported(["plan"]) == "['pvst.tools.inspect']"
    assert "pvst.tools.cyclegan_train" in imported(["cyclegan-train", "a", "b"])


def test_a_file_edited_in_place_changes_the_keys_of_what_is_made_from_it(tmp_path, tiny_clip):
    """Every plain input enters the keys by its content: clip, style photo, masks (one file and
    a keyframe folder), weights and checkpoints; editing one (even keeping its time) gives new
    keys to what depends on it, and to nothing else."""
    import os

    from PIL import Image

    data = tmp_path / "data"
    (data / "keys").mkdir(parents=True)
    shutil.copy(tiny_clip, data / "clip.mp4")
    for name, colour in (("style.png", (200, 90, 30)), ("smask.png", (0, 0, 255))):
        Image.new("RGB", (64, 48), colour).save(data / name)
    for name in ("000000.png", "000006.png"):
        Image.new("RGB", (128, 54), (0, 0, 255)).save(data / "keys" / name)
    (data / "vgg.pth").write_bytes(b"weights one")
    (data / "G.pth").write_bytes(b"checkpoint one")
    raw = {
        "videos": {"clip": {"video": "data/clip.mp4", "style": "data/style.png"}},
        "variants": {
            "masked": {
                "segmentation": {
                    "method": "masks",
                    "masks": {"content": "data/keys", "style": "data/smask.png"},
                }
            }
        },
        "stylize": {"vgg": "data/vgg.pth"},
        "cyclegan": {"checkpoint": "data/G.pth"},
    }
    stages = ("frames", "flow", "laplacian", "segment", "stylize", "cyclegan")

    def keys() -> dict[str, str]:
        plan = make_plan(tmp_path, raw)
        out = {s: plan.artifact(s, "clip").key for s in stages}
        out["segment masked"] = plan.artifact("segment", "clip", "masked").key
        out["stylize masked"] = plan.artifact("stylize", "clip", "masked").key
        return out

    def edit(path, data_bytes=None, image=None):
        """Rewrite a file with new content and give it back its old times."""
        st = path.stat()
        if image is not None:
            image.save(path)
        else:
            path.write_bytes(data_bytes)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    before = keys()
    assert keys() == before  # the same files: the same keys
    changed = lambda now: {k for k in before if now[k] != before[k]}  # noqa: E731

    edit(data / "style.png", image=Image.new("RGB", (64, 48), (20, 40, 160)))
    now = keys()
    assert changed(now) == {"segment", "stylize", "segment masked", "stylize masked"}
    before = now
    edit(data / "keys" / "000006.png", image=Image.new("RGB", (128, 54), (0, 255, 0)))
    now = keys()
    assert changed(now) == {"segment masked", "stylize masked"}
    before = now
    edit(data / "smask.png", image=Image.new("RGB", (64, 48), (0, 255, 0)))
    now = keys()
    assert changed(now) == {"segment masked", "stylize masked"}
    before = now
    edit(data / "vgg.pth", b"weights two")
    now = keys()
    assert changed(now) == {"stylize", "stylize masked"}
    before = now
    edit(data / "G.pth", b"checkpoint two")
    now = keys()
    assert changed(now) == {"cyclegan"}
    before = now
    with open(data / "clip.mp4", "ab") as f:
        f.write(b"\0")
    now = keys()
    assert changed(now) == set(before)  # everything is made from the clip


def test_long_json_parameters_are_not_taken_for_paths(tmp_path):
    import argparse

    args = argparse.Namespace(params="{" + '"k": 1, ' * 100 + "}", out=str(tmp_path / "o.h5"))
    cli.check_outputs(args)  # a 700-character argument is not a file name, and no error


def test_a_job_claims_the_gpu_resource_only_when_its_device_may_be_a_gpu():
    from pvst.pipeline import config as cfgmod
    from pvst.pipeline.plan import gpu_claim

    stylize = cfgmod.defaults("stylize")
    assert gpu_claim("stylize", stylize) == 1  # auto
    assert gpu_claim("stylize", {**stylize, "device": "cpu"}) == 0
    assert gpu_claim("render", cfgmod.defaults("render")) == 0  # cpu by default
    seg = cfgmod.defaults("segmentation")
    assert gpu_claim("segment", seg) == 1  # match: VGG19 on auto
    assert gpu_claim("segment", {**seg, "method": "none"}) == 0  # no network
    assert gpu_claim("segment", {**seg, "match": {**seg["match"], "device": "cpu"}}) == 0
    assert gpu_claim("segment", {**seg, "method": "auto"}) == 1
    flow = cfgmod.defaults("flow")
    assert gpu_claim("flow", flow) == 0  # deepflow runs on the CPU
    assert gpu_claim("flow", {**flow, "method": "raft"}) == 1
    assert gpu_claim("frames", cfgmod.defaults("frames")) == 0
