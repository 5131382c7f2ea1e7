"""A video's result refined at the output size (stylize.refine.video): the stage, its resume,
the products made from it, and where it sits in the plan."""

import numpy as np
import pytest

from pvst import media
from pvst.params import (
    AssembleParams,
    FlowParams,
    FramesParams,
    RenderParams,
    SegmentationParams,
    StylizeParams,
)
from pvst.pipeline import config, samples
from pvst.pipeline.job import Job
from pvst.pipeline.plan import Plan
from pvst.stages import assemble, frames, refine
from pvst.stages import flow as flow_stage
from pvst.stages import segment as segment_stage
from pvst.stages.frames import Frames

STYLIZE = config.defaults("stylize")
REFINE = StylizeParams.of(
    {
        **STYLIZE,
        "refine": {"image": 30, "video": 3, "max_size": 96},
        "tolerance": 0,
        "optimizer": {**STYLIZE["optimizer"], "check_every": 3},
    }
)


@pytest.fixture(scope="module")
def clip_result(tmp_path_factory, tiny_clip):
    """The tiny clip's frames (64×28), flow, one-region segments, and a 'result' (a colour
    change) standing in for the optimisation's frames."""
    d = tmp_path_factory.mktemp("refine")
    params = {"size": 64, "upscale": False, "start": 0, "max_frames": None, "step": 1}
    frames.run(Job("frames", FramesParams.of(params), {"video": tiny_clip}, d / "frames.h5"))
    fl = FlowParams.of({**config.defaults("flow"), "method": "dis", "long_term": [1]})
    flow_stage.run(Job("flow", fl, {"frames": d / "frames.h5"}, d / "fp.h5", part=(0, 1)))
    flow_stage.run(
        Job("flow", fl, {"frames": d / "frames.h5"}, d / "flow.h5", merge=tuple([d / "fp.h5"]))
    )
    seg = SegmentationParams.of(config.defaults("segmentation"))  # one region
    rocket = samples.source("styles/rocket.jpg")
    segment_stage.run(
        Job(
            "segment",
            seg,
            {"frames": d / "frames.h5", "flow": d / "flow.h5", "style": rocket},
            d / "seg.h5",
        )
    )
    with Frames(d / "frames.h5") as fr:
        warm = np.stack([np.clip(f * [1.1, 0.9, 0.6] + [10, 5, 30], 0, 255) for f in fr])
        frames.save(d / "result.h5", warm.astype(np.uint8), fr.fps)
    return d, tiny_clip, rocket


def run(d, clip, rocket, out, **kw):
    inputs = {
        "result": d / "result.h5",
        "frames": d / "frames.h5",
        "flow": d / "flow.h5",
        "segment": d / "seg.h5",
        "style": rocket,
        "video": clip,
    }
    return refine.run(Job("refine", REFINE, inputs, out), **kw)


def test_every_frame_is_refined_at_its_size_and_a_killed_run_resumes(clip_result, tmp_path):
    d, clip, rocket = clip_result
    whole = tmp_path / "refine-whole.h5"
    assert run(d, clip, rocket, whole) == 12
    with Frames(whole, stage="refine") as out:
        # 128×54 clip, refined at most at 96 px: 96×40, beside the source frames at that size
        assert out.size == (96, 40) and len(out) == 12
        content = out.array("content")
        assert content.shape == (12, 40, 96, 3)
        assert list(out.array("evaluations")) == [3] * 12
        refined = out[:]
    assert np.abs(refined.astype(int) - content).mean() > 3  # the look, not the source
    again = tmp_path / "refine-again.h5"
    assert run(d, clip, rocket, again, stop_after=5) == 5  # killed after five frames
    assert not again.exists()
    assert run(d, clip, rocket, again) == 7  # the other seven, then the artifact
    with Frames(again, stage="refine") as out:
        np.testing.assert_array_equal(out[:], refined)


def test_products_render_from_the_refined_frames(clip_result, tmp_path):
    d, clip, rocket = clip_result
    art = tmp_path / "refine.h5"
    run(d, clip, rocket, art)
    out = tmp_path / "refined.mp4"
    render = RenderParams.of(config.defaults("render"))
    fast = AssembleParams.of({**config.defaults("assemble"), "preset": "ultrafast"})
    assert (
        assemble.run(
            Job(
                "assemble",
                fast,
                {"art": art, "frames": d / "frames.h5", "video": clip},
                out,
                render=render,
            )
        )
        == 12
    )
    info = media.probe(out)
    assert (info.width, info.height) == (128, 54)


def test_the_refinement_is_a_stage_of_its_own_in_the_plan(tmp_path):
    def plan(video_evaluations: int, image: int = 30, alpha: float = 20) -> Plan:
        refine = {"video": video_evaluations, "image": image}
        raw = {"stylize": {"refine": refine, "alpha": alpha}}
        return Plan(config.validate(raw), root=tmp_path)

    off, on = plan(0), plan(5)
    assert off.final("bikes").stage == "stylize"
    assert on.final("bikes").stage == "refine"
    assert on.artifact("stylize", "bikes").key == off.artifact("stylize", "bikes").key
    refined = on.final("bikes")
    assert refined.inputs["result"] == on.artifact("stylize", "bikes").path
    assert refined.inputs["video"] == "data/bikes.mp4"
    assert [a.stage for a in on.needed("bikes")][-2:] == ["stylize", "refine"]
    assert plan(5, image=3).final("bikes").key == refined.key  # image mode's setting
    assert plan(7).final("bikes").key != refined.key
    assert plan(5, alpha=5).final("bikes").key != refined.key  # the objective it optimises
