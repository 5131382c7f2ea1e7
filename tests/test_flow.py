import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from pvst import flow, media
from pvst.errors import ArtifactError, PvstError
from pvst.params import FlowParams
from pvst.pipeline import config, samples
from pvst.pipeline.job import Job
from pvst.stages import flow as flow_stage
from pvst.stages.frames import save
from pvst.warp import warp_numpy, warp_torch

PARAMS = FlowParams.of(config.defaults("flow"))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photo, 160×160."""
    return media.resize_image(media.read_image(samples.source("styles/astronaut.png")), (160, 160))


def shifted(img: np.ndarray, dx: float, dy: float):
    """(b, ground truth flow a→b) with b(x) = a(x − d): the content moves by d."""
    h, w = img.shape[:2]
    gt = np.zeros((h, w, 2), np.float32)
    gt[..., 0], gt[..., 1] = dx, dy
    b = np.clip(warp_numpy(img.astype(np.float32), -gt), 0, 255).round().astype(np.uint8)
    return b, gt


def rotated(img: np.ndarray, degrees: float):
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), degrees, 1.0)
    b = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    gt = np.stack(
        [m[0, 0] * xs + m[0, 1] * ys + m[0, 2] - xs, m[1, 0] * xs + m[1, 1] * ys + m[1, 2] - ys], -1
    )
    return b, gt


# mean end-point error bounds (px) away from the 12 px border; measured: deepflow ≤ 0.08,
# dis ≤ 0.16, tvl1 ≤ 0.31, farneback ≤ 0.32 on these motions
BOUNDS = {"deepflow": 0.15, "dis": 0.3, "tvl1": 0.45, "farneback": 0.45}


@pytest.mark.parametrize("method", list(BOUNDS))
@pytest.mark.parametrize("motion", ["shift", "big_shift", "rotation"])
def test_estimators_recover_known_motion(photo, method, motion):
    b, gt = {
        "shift": lambda: shifted(photo, 3.5, -2.25),
        "big_shift": lambda: shifted(photo, 6, 4),
        "rotation": lambda: rotated(photo, 3),
    }[motion]()
    est = flow.estimate_flow(photo, b, method)
    assert est.shape == (160, 160, 2) and est.dtype == np.float32
    epe = np.linalg.norm(est - gt, axis=-1)[12:-12, 12:-12]
    assert epe.mean() < BOUNDS[method]
    assert np.median(epe) < 0.25


def test_flow_direction_convention(photo):
    b, _ = shifted(photo, 5, 0)
    forward = flow.estimate_flow(photo, b)
    backward = flow.estimate_flow(b, photo)
    assert forward[20:-20, 20:-20, 0].mean() == pytest.approx(5, abs=0.2)
    assert backward[20:-20, 20:-20, 0].mean() == pytest.approx(-5, abs=0.2)
    # the backward flow warps frame a onto frame b
    warped = warp_numpy(photo.astype(np.float32), backward)
    assert np.abs(warped - b)[20:-20, 20:-20].mean() < 3


def test_bad_pairs_give_clear_errors(photo):
    with pytest.raises(PvstError, match="frames of different sizes"):
        flow.estimate_flow(photo, photo[:100])
    with pytest.raises(PvstError, match="expected uint8 RGB"):
        flow.estimate_flow(photo.astype(np.float32), photo)
    with pytest.raises(PvstError, match="unknown flow method 'magic'"):
        flow.estimate_flow(photo, photo, "magic")


def moving_square(shift: int = 6):
    """Ground-truth flows of a 30 px square moving right by `shift` over a static background."""
    h, w, x0, y0, s = 80, 100, 30, 25, 30
    backward = np.zeros((h, w, 2), np.float32)  # frame t → t−1, on frame t
    backward[y0 : y0 + s, x0 + shift : x0 + shift + s, 0] = -shift
    forward = np.zeros((h, w, 2), np.float32)  # frame t−1 → t, on frame t−1
    forward[y0 : y0 + s, x0 : x0 + s, 0] = shift
    band = (slice(y0 + 3, y0 + s - 3), slice(x0, x0 + shift))
    return backward, forward, band


def test_consistency_marks_the_disoccluded_band_and_keeps_the_background():
    backward, forward, band = moving_square()
    _weights, ok = flow.consistency(backward, forward, blur_sigma=0)
    assert not ok[band].any()  # revealed behind the square: not visible in frame t−1
    assert ok[:, 75:].all() and ok[:15].all()  # static background
    assert ok[30:50, 45:60].all()  # inside the moving square
    blurred, _ = flow.consistency(backward, forward, blur_sigma=0.8)
    assert blurred.min() >= 0 and blurred.max() <= 1
    assert blurred[band].mean() < 0.2 and blurred[:, 75:].mean() > 0.99


def test_consistency_with_estimated_flow_on_a_real_photo(photo):
    bg = photo.copy()
    patch = np.ascontiguousarray(np.rot90(photo[20:60, 20:60]))
    a, b = bg.copy(), bg.copy()
    a[60:100, 40:80] = patch
    b[60:100, 48:88] = patch  # the square moves 8 px right
    fwd, bwd = flow.estimate_flow(a, b), flow.estimate_flow(b, a)
    weights, _ = flow.consistency(bwd, fwd)
    assert weights[64:96, 40:48].mean() < 0.5  # revealed band behind the square
    assert weights[110:150, 10:150].mean() > 0.9  # static background


def test_motion_boundaries_and_frame_exit_are_inconsistent():
    h, w = 40, 60
    out = np.zeros((h, w, 2), np.float32)
    out[..., 0] = 10  # everything moves right: the last 10 columns leave the frame
    _, ok = flow.consistency(out, -out, blur_sigma=0)
    assert not ok[:, -10:].any() and ok[:, :-11].all()
    step = np.zeros((h, w, 2), np.float32)
    step[:, 30:, 1] = 3.0  # shear: a motion boundary at column 30
    _, ok = flow.consistency(step, -step, blur_sigma=0)
    assert not ok[10:30, 29:31].any() and ok[10:30, 5:25].all()


def test_long_term_weights_closest_first():
    c1 = np.array([1.0, 0.0, 0.5, 0.0])
    c2 = np.array([1.0, 1.0, 1.0, 0.0])
    c4 = np.array([1.0, 1.0, 1.0, 1.0])
    w1, w2, w4 = flow.long_term_weights([c1, c2, c4])
    np.testing.assert_allclose(w1, c1)
    np.testing.assert_allclose(w2, [0.0, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(w4, [0.0, 0.0, 0.0, 1.0])


def test_one_run_computes_every_part_in_turn_to_the_same_artifact(tmp_path):
    """A flow job without a part or parts to merge (`pvst flow --video V`, one process) runs
    the section's `chunks` parts in turn and merges them: the same pairs, masks and cuts as
    separate part jobs, and no part file left behind."""
    rocket = media.resize_image(media.read_image(samples.source("styles/rocket.jpg")), (240, 160))
    frames = pan(rocket, 7)
    params = FlowParams.of({**config.defaults("flow"), "method": "dis", "chunks": 3})
    (tmp_path / "parts").mkdir()
    parted, cuts = run_stage(tmp_path / "parts", frames, params, parts=3)
    save(tmp_path / "frames.h5", frames, fps=25)
    out = tmp_path / "flow.h5"
    assert flow_stage.run(Job("flow", params, {"frames": tmp_path / "frames.h5"}, out)) == cuts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow.h5", "frames.h5", "parts"]
    with flow_stage.FlowSet(parted) as a, flow_stage.FlowSet(out) as b:
        assert a.cuts == b.cuts
        for t in range(1, 7):
            pairs = zip(
                a.backward(t, 1) + a.forward(t), b.backward(t, 1) + b.forward(t), strict=True
            )
            for x, y in pairs:
                np.testing.assert_array_equal(x, y)


def test_torch_and_numpy_warps_agree():
    rng = np.random.default_rng(0)
    img = rng.random((37, 53, 3)).astype(np.float32)
    ys, xs = np.mgrid[0:37, 0:53].astype(np.float32)
    fl = np.stack([4 * np.sin(ys / 7) + 0.3 * xs - 8, 3 * np.cos(xs / 9) - 2], -1).astype(
        np.float32
    )  # smooth, partly pointing outside the frame
    ref = warp_numpy(img, fl)
    t_img = torch.from_numpy(img).permute(2, 0, 1)[None]
    t_fl = torch.from_numpy(fl).permute(2, 0, 1)[None]
    out = warp_torch(t_img, t_fl)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out, ref, atol=2e-5)
    np.testing.assert_allclose(warp_numpy(img, np.zeros_like(fl)), img, atol=1e-6)
    # gradients flow through the warp
    t_img.requires_grad_(True)
    warp_torch(t_img, t_fl).sum().backward()
    assert t_img.grad.abs().sum() > 0


def pan(photo: np.ndarray, n: int, start: int = 0, size=(96, 64)) -> np.ndarray:
    """n frames of a window panning 2 px per frame across a real photo."""
    w, h = size
    return np.stack([photo[10 : 10 + h, start + 2 * i : start + 2 * i + w] for i in range(n)])


def run_stage(tmp_path, frames: np.ndarray, params=PARAMS, parts: int = 2):
    fpath = tmp_path / "frames.h5"
    save(fpath, frames, fps=25)
    part_paths = [tmp_path / f"p{i}.h5" for i in range(parts)]
    for i, p in enumerate(part_paths):
        flow_stage.run(Job("flow", params, {"frames": fpath}, p, part=(i, parts)))
    out = tmp_path / "flow.h5"
    cuts = flow_stage.run(Job("flow", params, {"frames": fpath}, out, merge=tuple(part_paths)))
    return out, cuts


def test_synthetic_cut_is_found_and_pairs_across_it_dropped(tmp_path):
    rocket = media.resize_image(media.read_image(samples.source("styles/rocket.jpg")), (240, 160))
    coffee = media.resize_image(media.read_image(samples.source("styles/coffee.png")), (240, 160))
    frames = np.concatenate([pan(rocket, 6), pan(coffee, 6)])
    out, cuts = run_stage(tmp_path, frames, parts=3)
    assert cuts == [6]
    with flow_stage.FlowSet(out) as fs:
        assert fs.cuts == [6]
        assert not fs.valid(6, 1) and not fs.valid(7, 2) and not fs.valid(9, 4)
        assert fs.valid(5, 4) and fs.valid(10, 4) and fs.valid(7, 1)
        assert [j for j, _, _ in fs.temporal_terms(7)] == [1]
        assert [j for j, _, _ in fs.temporal_terms(11)] == [1, 2, 4]
        assert fs.backward(6, 1)[1].max() == 0  # no temporal constraint across the cut


def test_smooth_real_clip_has_no_cut_and_round_trips(tmp_path, tiny_clip):
    frames = np.stack(list(media.read_frames(tiny_clip, (128, 54))))
    out, cuts = run_stage(tmp_path, frames)
    assert cuts == []
    with flow_stage.FlowSet(out) as fs:
        assert fs.count == 12 and fs.long_term == [1, 2, 4]
        t = 7
        fl, mask = fs.backward(t, 2)
        direct = flow.estimate_flow(frames[t], frames[t - 2])
        np.testing.assert_allclose(fl, direct, atol=0.02)  # stored as float16
        assert mask.dtype == np.float32 and mask.min() >= 0 and mask.max() <= 1
        fwd, _mfwd = fs.forward(t)
        np.testing.assert_allclose(fwd, flow.estimate_flow(frames[t - 1], frames[t]), atol=0.02)
        terms = fs.temporal_terms(t)
        masks = [fs.backward(t, j)[1] for j in (1, 2, 4)]
        for (_j, _, weight), expected in zip(terms, flow.long_term_weights(masks), strict=True):
            np.testing.assert_allclose(weight, expected)
        assert not fs.valid(1, 2) and fs.valid(2, 2)
        assert fs.stats()["explained"][1:].min() > 0.5


def test_one_frame_has_no_pairs_and_gaps_are_clear_errors(tmp_path, photo):
    fpath = tmp_path / "one.h5"
    save(fpath, photo[None, :64, :64], fps=25)
    parts = [tmp_path / "p0.h5", tmp_path / "p1.h5"]  # the first part gets no frame
    for i, part in enumerate(parts):
        flow_stage.run(Job("flow", PARAMS, {"frames": fpath}, part, part=(i, 2)))
    flow_stage.run(Job("flow", PARAMS, {"frames": fpath}, tmp_path / "f.h5", merge=tuple(parts)))
    with flow_stage.FlowSet(tmp_path / "f.h5") as fs:
        assert fs.count == 1 and not fs.valid(0, 1) and fs.cuts == []
    frames = pan(photo, 6, size=(64, 48))
    save(fpath, frames, fps=25)
    flow_stage.run(Job("flow", PARAMS, {"frames": fpath}, tmp_path / "p0.h5", part=(0, 3)))
    flow_stage.run(Job("flow", PARAMS, {"frames": fpath}, tmp_path / "p2.h5", part=(2, 3)))
    with pytest.raises(ArtifactError, match="cover frames"):
        flow_stage.run(
            Job(
                "flow",
                PARAMS,
                {"frames": fpath},
                tmp_path / "f2.h5",
                merge=tuple([tmp_path / "p0.h5", tmp_path / "p2.h5"]),
            )
        )
    assert not (tmp_path / "f2.h5").exists()


def test_flow_preview_rows(tmp_path, tiny_clip):
    frames = np.stack(list(media.read_frames(tiny_clip, (128, 54))))[:4]
    out, _ = run_stage(tmp_path, frames, parts=1)
    from pvst.stages.frames import Frames

    with Frames(tmp_path / "frames.h5") as fr, flow_stage.FlowSet(out) as fs:
        rows = list(flow_stage.preview_rows(fr, fs))
    assert len(rows) == 4 and rows[1].shape == (54, 3 * 128, 3)
    assert rows[0][:, 128:].max() == 0  # no pair for the first frame
    colour = flow_stage.flow_to_rgb(np.dstack([np.ones((4, 4)), np.zeros((4, 4))]))
    assert colour.shape == (4, 4, 3) and colour.dtype == np.uint8


def test_opencv_flow_does_not_import_torch():
    code = "import sys, pvst.flow, pvst.stages.flow, pvst.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_raft_loads_weights_pads_and_explains_bad_files(tmp_path, photo):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    weights = tmp_path / "raft_small.pth"
    torch.save({"state_dict": raft_small(weights=None).state_dict()}, weights)
    net = flow.load_raft(weights, "small")
    a = photo[:60, :92]  # neither side a multiple of 8
    out = flow.raft_flow(net, a, a, iterations=2)
    assert out.shape == (60, 92, 2) and out.dtype == np.float32 and np.isfinite(out).all()
    est = flow.make_estimator(
        "raft", weights=str(weights), model="small", iterations=1, device="cpu"
    )
    assert est(a, a).shape == (60, 92, 2)

    with pytest.raises(PvstError, match="RAFT weights file not found"):
        flow.load_raft(tmp_path / "none.pth")
    bad = tmp_path / "bad.pth"
    bad.write_text("junk")
    with pytest.raises(PvstError, match="not a PyTorch checkpoint"):
        flow.load_raft(bad, "small")
    with pytest.raises(PvstError, match="not RAFT-large weights"):
        flow.load_raft(weights, "large")  # small weights into the large model
