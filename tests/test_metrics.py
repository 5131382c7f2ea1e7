import json

import numpy as np
import pytest
import torch

from pvst import matting, media, metrics
from pvst.params import EvaluateParams, FlowParams
from pvst.pipeline import config, samples
from pvst.pipeline.job import Job
from pvst.stages import evaluate
from pvst.stages import flow as flow_stage
from pvst.stages.frames import save
from pvst.vgg import load_vgg19

FLOW = FlowParams.of(
    {**config.defaults("flow"), "method": "dis", "long_term": [1], "blur_sigma": 0.0}
)


@pytest.fixture(scope="module")
def panning(tmp_path_factory):
    """8 frames of a window panning 3 px per frame over a real photo, with their flow."""
    d = tmp_path_factory.mktemp("pan")
    photo = media.resize_image(media.read_image(samples.source("styles/astronaut.png")), (200, 120))
    frames = np.stack([photo[10:74, 3 * i : 3 * i + 96] for i in range(8)])
    save(d / "frames.h5", frames, fps=25)
    flow_stage.run(Job("flow", FLOW, {"frames": d / "frames.h5"}, d / "p.h5", part=(0, 1)))
    flow_stage.run(
        Job("flow", FLOW, {"frames": d / "frames.h5"}, d / "flow.h5", merge=tuple([d / "p.h5"]))
    )
    return d, frames


def test_identical_frames_have_no_warping_error(panning):
    d, frames = panning
    still = [frames[0]] * 8
    static = np.zeros((64, 96, 2), np.float32)
    assert metrics.pair_warping_error(still[0], still[1], static, np.ones((64, 96))) == 0.0
    with flow_stage.FlowSet(d / "flow.h5") as fs:
        e, pairs = metrics.warping_error(list(frames), fs)
    assert pairs == 7
    assert e < 2e-3  # the flow accounts for the known 3 px shift
    naive = np.mean(
        [((frames[t + 1] / 255.0 - frames[t] / 255.0) ** 2).sum(-1).mean() for t in range(7)]
    )
    assert naive > 20 * e  # without warping, the same frames differ a lot


def test_flicker_of_known_size_is_measured(panning):
    d, frames = panning
    delta = 0.05  # every other frame 5 % brighter
    flicker = [np.clip(f / 255.0 + (delta if t % 2 else 0.0), 0, 1) for t, f in enumerate(frames)]
    with flow_stage.FlowSet(d / "flow.h5") as fs:
        e_in, _ = metrics.warping_error(list(frames), fs)
        e_out, _ = metrics.warping_error(flicker, fs)
    # each pair differs by δ in all three channels: ‖·‖² = 3δ² on top of the input's error
    assert e_out - e_in == pytest.approx(3 * delta**2, rel=0.1)


def test_edge_ssim_gram_distance_and_photorealism():
    img = media.resize_image(media.read_image(samples.source("styles/chelsea.png")), (96, 64))
    assert metrics.edge_ssim(img, img) == pytest.approx(1.0)
    assert metrics.edge_ssim(img, img[::-1]) < 0.5
    vgg = load_vgg19()
    layers = ["relu1_1", "relu2_1", "relu3_1"]
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    f = vgg(x, layers)
    assert metrics.gram_distance(f, f) == 0.0
    other = vgg(torch.flip(x, dims=[1]), layers)  # colour channels swapped
    assert metrics.gram_distance(f, other) > 0.05
    lap = matting.matting_laplacian(img)
    affine = np.clip(img / 255.0 * 0.7 + 0.1, 0, 1)
    rng = np.random.default_rng(0)
    noisy = np.clip(img / 255.0 + rng.normal(0, 0.05, img.shape), 0, 1)
    assert metrics.photorealism(lap, affine) < 0.01 * metrics.photorealism(lap, noisy)


def test_evaluate_writes_metrics_with_units_and_the_table(panning, tmp_path, rocket_file):
    d, frames = panning
    out = tmp_path / "stylized.h5"
    save(out, np.clip(frames.astype(int) + 20, 0, 255).astype(np.uint8), fps=25, stage="stylize")
    params = EvaluateParams.of({**config.defaults("evaluate"), "samples": 2})
    inputs = {"frames": d / "frames.h5", "result": out, "flow": d / "flow.h5", "style": rocket_file}
    options = {"about": {"video": "pan", "variant": "x"}, "flow_method": "dis"}
    m = evaluate.run(Job("evaluate", params, inputs, tmp_path / "m.json", options=options))
    on_disk = json.loads((tmp_path / "m.json").read_text())
    assert on_disk == json.loads(json.dumps(m))
    assert on_disk["frames"] == 8 and on_disk["warping_error"]["pairs"] == 7
    assert on_disk["warping_error"]["flow"] == "dis"
    assert "RGB in [0, 1]" in on_disk["warping_error"]["units"]
    assert 0.5 < on_disk["edge_ssim"]["mean"] <= 1.0
    assert on_disk["gram_distance"]["frames"] == [0, 7]
    evaluate.table(
        [tmp_path / "m.json", tmp_path / "m.json"], tmp_path / "t.csv", tmp_path / "t.md"
    )
    rows = (tmp_path / "t.csv").read_text().splitlines()
    assert rows[0].startswith("video,variant,E_warp") and len(rows) == 3
    md = (tmp_path / "t.md").read_text()
    assert md.startswith("| video | variant |") and "warping_error" in md
