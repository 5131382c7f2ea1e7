import logging

import numpy as np
import pytest
import torch

from pvst import cli, losses, media, optim, stylize
from pvst.device import pick_device
from pvst.errors import ArtifactError, PvstError
from pvst.params import FlowParams, LaplacianParams, SegmentationParams, StylizeParams
from pvst.pipeline import config, samples
from pvst.pipeline.job import Job
from pvst.stages import flow as flow_stage
from pvst.stages import laplacian as laplacian_stage
from pvst.stages import segment as segment_stage
from pvst.stages import stylize as stylize_stage
from pvst.stages.frames import Frames, save
from pvst.stages.parts import shot_range

STYLIZE = config.defaults("stylize")


# -- the loss terms against hand computations --------------------------------------------------
def test_gram_and_masked_gram_normalisation():
    f = torch.tensor([[[1.0, 2.0], [0.0, 1.0]], [[3.0, 0.0], [1.0, 1.0]]])  # C=2, H=W=2
    flat = f.reshape(2, 4)
    torch.testing.assert_close(losses.gram(f), flat @ flat.t() / 8)
    mask = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])  # the top row
    g, means = losses.masked_grams(f, mask)
    top = f[:, 0, :]  # C × 2
    expected = (top @ top.t()) / (2 * 4 * 0.5)  # Gram(F ⊙ M) / (C·H·W·mean(M))
    torch.testing.assert_close(g[0], expected)
    assert means.tolist() == [0.5]
    full, _ = losses.masked_grams(f, torch.ones(1, 2, 2))
    torch.testing.assert_close(full[0], losses.gram(f))
    empty, m0 = losses.masked_grams(f, torch.zeros(1, 2, 2))
    assert m0.item() == 0 and empty.abs().max() == 0


def test_gram_backward_is_exact():
    f = torch.randn(3, 5, 7, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda x: losses._Grams.apply(x), (f,))


def test_batched_masked_grams_equal_one_gram_per_label():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(1, 6, 9, 11, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.zeros(3, 9, 11, dtype=torch.float64)
    labels[0, :6] = 1  # unequal sizes, soft edges, an empty label
    labels[1, 6:] = 1
    masks = losses.mask_pyramid(labels, ["relu1_1"])["relu1_1"]
    masks[2] = 0
    grams, means = losses.masked_grams(f, masks)
    flat = f.reshape(6, -1)
    for j in range(3):
        m = masks[j].reshape(-1)
        expected = (flat * m) @ (flat * m).t() / (6 * 99 * max(float(m.mean()), 1e-8))
        torch.testing.assert_close(grams[j], expected)
    torch.testing.assert_close(means, masks.reshape(3, -1).mean(1))
    weights = torch.randn(3, 6, 6, generator=g, dtype=torch.float64)
    (grad,) = torch.autograd.grad((grams * weights).sum(), f)
    f2 = f.detach().clone().requires_grad_(True)
    flat2 = f2.reshape(6, -1)
    total = sum(
        (((flat2 * masks[j].reshape(-1)) @ (flat2 * masks[j].reshape(-1)).t()) * weights[j]).sum()
        / (6 * 99 * max(float(masks[j].mean()), 1e-8))
        for j in range(3)
    )
    (grad2,) = torch.autograd.grad(total, f2)
    torch.testing.assert_close(grad, grad2)


def test_content_style_temporal_tv_values():
    a = torch.zeros(1, 2, 2, 2)
    b = torch.ones(1, 2, 2, 2)
    assert losses.content_loss({"l": b}, {"l": a}, {"l": 3.0}).item() == pytest.approx(3.0)
    f = torch.arange(8.0).reshape(1, 2, 2, 2)
    target = torch.zeros(1, 2, 2)
    masks = torch.ones(1, 2, 2)
    s = losses.style_loss({"l": f}, {"l": target}, {"l": masks}, {"l": 2})
    g = losses.gram(f)
    assert s.item() == pytest.approx(2 * float((g**2).mean()), rel=1e-6)
    # a label covering half the image counts with weight 0.5
    half = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    s_half = losses.style_loss({"l": f}, {"l": torch.zeros(1, 2, 2)}, {"l": half}, {"l": 1})
    gh, _ = losses.masked_grams(f, half)
    assert s_half.item() == pytest.approx(0.5 * float((gh**2).mean()), rel=1e-6)

    x = torch.full((1, 3, 2, 2), 10.0)
    warped = torch.zeros_like(x)
    c = torch.tensor([[1.0, 0.0], [0.5, 0.0]])
    t = losses.temporal_loss(x, [warped], [c], [2.0])
    assert t.item() == pytest.approx(2.0 * 3 * (100 * 1.5) / 12)  # (1/D) Σ c (x − w)², D = 12
    img = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    assert losses.tv_loss(img).item() == pytest.approx(0.5 * (1 + 4 + 4 + 9))


def test_mask_pyramid_follows_the_feature_maps():
    from pvst.vgg import load_vgg19

    masks = torch.zeros(2, 37, 53)
    masks[0, :, :20] = 1
    masks[1] = 1 - masks[0]
    pyr = losses.mask_pyramid(masks, ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2"])
    feats = load_vgg19()(torch.rand(1, 3, 37, 53), list(pyr))
    for name, m in pyr.items():
        assert m.shape[1:] == feats[name].shape[2:]
        torch.testing.assert_close(m.sum(0), torch.ones_like(m[0]))  # still a partition
    assert pyr["relu1_1"][0, 5, 10] == 1 and pyr["relu1_1"][0, 5, 19].item() == pytest.approx(2 / 3)


# -- the optimiser ---------------------------------------------------------------------------
def two_loop_direction(grad, pairs):
    """The textbook L-BFGS two-loop recursion (Nocedal & Wright, Alg. 7.4)."""
    q = grad.clone()
    alphas = []
    for s, y in reversed(pairs):
        rho = 1 / (y @ s)
        a = rho * (s @ q)
        q -= a * y
        alphas.append((rho, a, s, y))
    s, y = pairs[-1]
    r = (s @ y) / (y @ y) * q
    for rho, a, s, y in reversed(alphas):
        r += s * (a - rho * (y @ r))
    return -r


def test_compact_lbfgs_equals_the_two_loop_recursion():
    torch.manual_seed(0)
    n = 40
    a = torch.randn(n, n, dtype=torch.float64)
    a = a @ a.t() / n + 0.1 * torch.eye(n, dtype=torch.float64)
    b = torch.randn(n, dtype=torch.float64)

    def objective(x):
        return 0.5 * x @ a @ x - b @ x

    opt = optim._LBFGS(objective, torch.zeros(n, dtype=torch.float64), history=4)
    pairs = []
    for _ in range(10):  # more steps than the history: the ring buffer wraps
        g_old, step, rejected = opt.g.clone(), (opt.t * opt.d).clone(), opt.rejected
        opt.step()
        if opt.rejected == rejected:  # accepted: a new pair
            pairs = ([*pairs, (step, opt.g - g_old)])[-4:]
        torch.testing.assert_close(opt.d, two_loop_direction(opt.g, pairs))
    res = optim.minimise(objective, torch.zeros(n, dtype=torch.float64), 300, history=10, tol=0)
    torch.testing.assert_close(res.x, torch.linalg.solve(a, b), atol=1e-6, rtol=1e-6)
    assert res.finite and res.evaluations == 300


def test_early_stop_and_adam():
    def objective(x):
        return ((x - 3.0) ** 2).sum()

    res = optim.minimise(objective, torch.zeros(10), 500, tol=1e-4, check_every=10)
    assert res.converged and res.evaluations < 500
    assert res.losses[-1] < 1e-6
    adam = optim.minimise(objective, torch.zeros(10), 300, method="adam", lr=0.1, tol=0)
    assert adam.losses[-1] < 0.1 * adam.losses[0]


def test_long_minimisations_report_progress(monkeypatch, caplog):
    def objective(x):
        return ((x - 3.0) ** 2).sum()

    monkeypatch.setattr(optim, "REPORT_EVERY", 0.0)
    with caplog.at_level(logging.INFO, logger="pvst.optim"):
        optim.minimise(objective, torch.zeros(10), 60, method="adam", tol=0, what="frame 7")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2  # after 20 and 40 of 60 evaluations (none once finished)
    assert lines[0].startswith("frame 7: 20/60 evaluations, loss ")
    assert "s left" in lines[1]


# -- a frame's objective on real pictures --------------------------------------------------------
@pytest.fixture(scope="module")
def pictures():
    content = media.resize_image(media.read_image(samples.source("styles/chelsea.png")), (64, 48))
    style = media.resize_image(media.read_image(samples.source("styles/rocket.jpg")), (64, 43))
    return content, style


@pytest.fixture(scope="module")
def vgg():
    from pvst.vgg import load_vgg19

    return load_vgg19()


def objective_for(
    vgg, content, style, params, content_masks=None, style_masks=None, temporal=None, lap=None
):
    content_masks = (
        np.ones((1, *content.shape[:2]), np.float32) if content_masks is None else content_masks
    )
    style_masks = np.ones((1, *style.shape[:2]), np.float32) if style_masks is None else style_masks
    params = StylizeParams.of(params)
    layers = [k for k, v in params.style_layers.items() if v > 0]
    targets = stylize.style_targets(vgg, style, style_masks, layers, torch.device("cpu"))
    return stylize.Objective(vgg, params, content, targets, content_masks, temporal, lap)


def test_optimisation_lowers_the_total_loss(vgg, pictures):
    from pvst import matting

    content, style = pictures
    lap = matting.BandLaplacian(matting.laplacian_bands(content), 1)
    obj = objective_for(vgg, content, style, STYLIZE, lap=lap)
    res = stylize.optimise(
        obj,
        stylize.to_tensor(content, torch.device("cpu")),
        30,
        StylizeParams.of({**STYLIZE, "tolerance": 0}),
    )
    assert res.evaluations == 30
    assert res.losses[-1] < 0.5 * res.losses[0]
    assert set(res.terms) == {"content", "style", "photorealism", "tv"}
    assert res.image.shape == content.shape and res.image.dtype == np.uint8


def test_bf16_convolutions_agree_with_fp32_and_the_optimiser_stays_fp32(vgg, pictures):
    """bf16 runs only the convolutions: every term within 3 % of fp32's at one point; the
    optimised tensor and its gradient are fp32; 60 evaluations reach a loss within 5 % of
    fp32's, in an image a few grey levels away on average."""
    from pvst import matting

    content, style = pictures
    lap = matting.BandLaplacian(matting.laplacian_bands(content), 1)
    objectives = {
        p: objective_for(vgg, content, style, {**STYLIZE, "precision": p}, lap=lap)
        for p in ("fp32", "bf16")
    }
    assert objectives["bf16"].bf16 and not objectives["fp32"].bf16
    x = stylize.to_tensor(content, torch.device("cpu")).clone()
    x = (x + torch.randn_like(x) * 8).requires_grad_(True)
    terms = {p: obj.terms(x) for p, obj in objectives.items()}
    for name, value in terms["fp32"].items():
        value = value.detach()
        assert terms["bf16"][name].dtype == torch.float32
        assert abs(float(terms["bf16"][name].detach()) / float(value) - 1) < 0.03, name
    sum(terms["bf16"].values()).backward()
    assert x.grad is not None and x.grad.dtype == torch.float32
    params = {p: StylizeParams.of({**STYLIZE, "precision": p, "tolerance": 0}) for p in terms}
    start = stylize.to_tensor(content, torch.device("cpu"))
    runs = {p: stylize.optimise(objectives[p], start, 60, params[p]) for p in terms}
    assert runs["bf16"].x.dtype == torch.float32
    # L-BFGS on bf16 gradients lags at first (6 % at 20 evaluations here, 0.3 % at 100)
    assert abs(runs["bf16"].losses[-1] / runs["fp32"].losses[-1] - 1) < 0.05
    diff = np.abs(runs["bf16"].image.astype(float) - runs["fp32"].image.astype(float)).mean()
    assert diff < 12, diff  # another nearby minimum, not another picture


def test_precision_auto_takes_fp32_without_fast_bf16_and_says_so(monkeypatch, caplog):
    from pvst import device

    device.precision_for.cache_clear()
    monkeypatch.setattr(device, "_cpu_has_bf16", lambda: False)
    with caplog.at_level("INFO", logger="pvst.device"):
        assert device.precision_for("auto", torch.device("cpu")) == "fp32"
    assert "precision auto: fp32 on cpu (no fast bf16 here)" in caplog.text
    device.precision_for.cache_clear()
    monkeypatch.setattr(device, "_cpu_has_bf16", lambda: True)
    assert device.precision_for("auto", torch.device("cpu")) == "bf16"
    assert device.precision_for("fp32", torch.device("cpu")) == "fp32"
    device.precision_for.cache_clear()


def test_two_stages_leave_the_callers_objective_as_it_was(vgg, pictures):
    from pvst import matting

    content, style = pictures
    lap = matting.BandLaplacian(matting.laplacian_bands(content), 1)
    obj = objective_for(vgg, content, style, STYLIZE, lap=lap)
    params = StylizeParams.of({**STYLIZE, "two_stage": True, "tolerance": 0})
    res = stylize.optimise(obj, stylize.to_tensor(content, torch.device("cpu")), 10, params)
    assert obj.lambda_ == STYLIZE["lambda"] and res.evaluations == 10
    assert res.terms["photorealism"] > 0  # the last stage's and the caller's λ


def test_a_masked_style_loss_changes_only_its_label(vgg, pictures):
    content, style = pictures
    params = {
        **STYLIZE,
        "alpha": 0,
        "lambda": 0,
        "tv": 0,
        "tolerance": 0,
        "style_layers": {"relu1_1": 1.0},
    }
    left = np.zeros((1, 48, 64), np.float32)
    left[0, :, :32] = 1  # the label: the left half of the content
    style_left = np.zeros((1, 43, 64), np.float32)
    style_left[0, :, :32] = 1
    obj = objective_for(vgg, content, style, params, left, style_left)
    res = stylize.optimise(
        obj, stylize.to_tensor(content, torch.device("cpu")), 20, StylizeParams.of(params)
    )
    change = np.abs(res.image.astype(int) - content.astype(int)).max(-1)
    assert change[:, :30].mean() > 5  # the label moved towards the rocket's colours
    # the rest did not: relu1_1 sees 3×3, and its mask is averaged over 3×3 once, so the
    # label's loss reaches at most 2 pixels past its border
    assert change[:, 34:].max() == 0


def test_the_temporal_term_pulls_towards_the_warped_previous_frame(vgg, pictures):
    content, style = pictures
    params = {**STYLIZE, "alpha": 0, "beta": 0, "lambda": 0, "tv": 0, "gamma": 200, "tolerance": 0}
    previous = torch.full((1, 3, 48, 64), 40.0)
    weight = torch.ones(48, 64)
    weight[:, 40:] = 0  # inconsistent here: no pull
    temporal = stylize.Temporal([previous], [weight], [1.0])
    obj = objective_for(vgg, content, style, params, temporal=temporal)
    x0 = stylize.to_tensor(content, torch.device("cpu"))
    res = stylize.optimise(obj, x0, 30, StylizeParams.of(params))
    before = (x0 - previous)[..., :40].abs().mean()
    after = (res.x - previous)[..., :40].abs().mean()
    assert after < 0.05 * before
    torch.testing.assert_close(res.x[..., 40:], x0[..., 40:])


class Exploding:
    """Σ x² (minimum at 0) defined only within 5 of the content (x = 100): the quasi-Newton
    step jumps to the minimum and out of the domain (NaN); a NaN start needs the guard."""

    def __init__(self):
        self.content = torch.full((1, 3, 4, 4), 100.0)
        self.lambda_ = 0.0

    def terms(self, x):
        reach = (x - self.content).abs().amax()
        return {"f": (x**2).sum() + torch.sqrt(5.0 - reach)}

    def __call__(self, x):
        return sum(self.terms(x).values())


def test_lbfgs_backtracks_out_of_nan_and_never_rises():
    res = optim.minimise(Exploding(), torch.full((1, 3, 4, 4), 100.0), 40, tol=0)
    assert res.finite and res.rejected > 0 and len(res.losses) == 40
    assert np.isfinite(res.losses).all() and res.losses[-1] < res.losses[0]
    assert all(b <= a for a, b in zip(res.losses, res.losses[1:], strict=False))
    assert float((res.x - 100).abs().amax()) <= 5


def test_nan_guard_redoes_the_frame_with_a_safer_setting(caplog):
    params = StylizeParams.of(
        {**STYLIZE, "tolerance": 0, "optimizer": {**STYLIZE["optimizer"], "safe_lr": 0.1}}
    )
    with caplog.at_level(logging.WARNING):  # a start outside the domain: NaN from the outset
        res = stylize.optimise(Exploding(), torch.full((1, 3, 4, 4), 200.0), 40, params, "t")
    assert res.retried and len(res.losses) == 40 and np.isfinite(res.losses[-1])
    assert float((res.x - 100).abs().amax()) <= 5
    assert "t: the loss became NaN or Inf with lbfgs; redoing it with Adam" in caplog.text
    broken = Exploding()
    broken.terms = lambda x: {"nan": x.sum() * float("nan")}
    with pytest.raises(PvstError, match="NaN or Inf even with Adam"):
        stylize.optimise(broken, torch.ones(1, 3, 4, 4), 20, params, "t")


@pytest.mark.parametrize("budget", [3, 10])
def test_no_budget_ends_above_the_start(budget):
    """The case that wrote noise: scikit-image's cat styled with its coffee, at 48 px, where
    unit L-BFGS steps once took the loss from 9e7 to 3e15."""
    content = media.read_image(samples.source("styles/chelsea.png"))
    style = media.read_image(samples.source("styles/coffee.png"))
    content = media.resize_image(content, (48, 32))
    style = media.resize_image(style, (48, 32))
    params = {**STYLIZE, "iterations": {"first": budget, "later": 1}, "tolerance": 0}
    params["postprocess"] = {**STYLIZE["postprocess"], "method": "none"}
    params["init"] = {**STYLIZE["init"], "first": "content"}
    _, res = stylize.stylize_image(
        content,
        style,
        StylizeParams.of(params),
        SegmentationParams.of(config.defaults("segmentation")),
    )
    assert len(res.losses) == budget and res.losses[-1] <= res.losses[0]
    assert all(b <= a for a, b in zip(res.losses, res.losses[1:], strict=False))


def test_cuda_asked_for_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(PvstError, match="device 'cuda' was asked for but CUDA is not available"):
        pick_device("cuda")
    assert pick_device("auto").type == "cpu"


# -- the video driver ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip_artifacts(tmp_path_factory, bikes_file, rocket_file):
    """Frames, flow, Laplacians and segments of 8 real frames with a scene cut at frame 4."""
    d = tmp_path_factory.mktemp("styl")
    a = list(media.read_frames(bikes_file, (64, 28), start=20, count=4))
    b = list(media.read_frames(bikes_file, (64, 28), start=40, count=4))  # after the cut at 30
    save(d / "frames.h5", np.stack(a + b), fps=25)
    fl = FlowParams.of({**config.defaults("flow"), "long_term": [1, 2]})
    flow_stage.run(Job("flow", fl, {"frames": d / "frames.h5"}, d / "fp.h5", part=(0, 1)))
    flow_stage.run(
        Job("flow", fl, {"frames": d / "frames.h5"}, d / "flow.h5", merge=tuple([d / "fp.h5"]))
    )
    lp = LaplacianParams.of(config.defaults("laplacian"))
    laplacian_stage.run(Job("laplacian", lp, {"frames": d / "frames.h5"}, d / "lp.h5", part=(0, 1)))
    laplacian_stage.run(
        Job("laplacian", lp, {"frames": d / "frames.h5"}, d / "lap.h5", merge=tuple([d / "lp.h5"]))
    )
    seg = SegmentationParams.of(
        {
            **config.defaults("segmentation"),
            "method": "auto",
            "auto": {**config.defaults("segmentation")["auto"], "regions": 2},
        }
    )
    segment_stage.run(
        Job(
            "segment",
            seg,
            {"frames": d / "frames.h5", "flow": d / "flow.h5", "style": rocket_file},
            d / "seg.h5",
        )
    )
    return d


FAST = {
    **STYLIZE,
    "iterations": {"first": 12, "later": 6},
    "tolerance": 0,
    "threads": None,
    "optimizer": {**STYLIZE["optimizer"], "check_every": 3},
}


def run_stage(d, out, params=FAST, part=None, **kw):
    inputs = {
        "frames": d / "frames.h5",
        "flow": d / "flow.h5",
        "laplacian": d / "lap.h5",
        "segment": d / "seg.h5",
        "style": samples.source("styles/rocket.jpg"),
    }
    return stylize_stage.run(Job("stylize", StylizeParams.of(params), inputs, out, part=part), **kw)


def test_video_run_restarts_at_cuts_and_records_each_frame(clip_artifacts, tmp_path):
    out = tmp_path / "stylize.h5"
    summary = run_stage(clip_artifacts, out)
    assert summary["stylized"] == 8
    with Frames(out, stage="stylize") as fr, stylize_stage.Stylized(out) as st:
        assert len(fr) == 8 and fr.size == (64, 28) and fr.fps == 25
        assert list(st.evaluations) == [12, 6, 6, 6, 12, 6, 6, 6]  # first of each shot: more
        assert len(st.loss_history(4)) == 12 and np.isfinite(st.loss_history(4)).all()
        assert not st.retried.any()
        assert "temporal" in st.terms()[5] and "temporal" not in st.terms()[4]
    assert not stylize_stage.partial_dir(out).exists()


def test_an_interrupted_run_resumes_to_the_same_frames(clip_artifacts, tmp_path):
    whole = tmp_path / "whole.h5"
    run_stage(clip_artifacts, whole)
    resumed = tmp_path / "resumed.h5"
    first = run_stage(clip_artifacts, resumed, stop_after=3)  # "killed" after three frames
    assert first["stylized"] == 3 and not resumed.exists()
    assert stylize_stage.partial_dir(resumed).is_dir()
    second = run_stage(clip_artifacts, resumed)
    assert second["resumed"] == 3 and second["stylized"] == 5
    with Frames(whole, stage="stylize") as a, Frames(resumed, stage="stylize") as b:
        np.testing.assert_array_equal(a[:], b[:])


def test_a_damaged_checkpoint_is_redone_not_fatal(clip_artifacts, tmp_path, caplog):
    whole = tmp_path / "whole.h5"
    run_stage(clip_artifacts, whole)
    resumed = tmp_path / "resumed.h5"
    run_stage(clip_artifacts, resumed, stop_after=3)
    damaged = sorted(stylize_stage.partial_dir(resumed).glob("p0_*.npz"))[1]
    damaged.write_bytes(damaged.read_bytes()[:100])  # cut short, as a full disk or a forger
    with caplog.at_level(logging.WARNING):
        second = run_stage(clip_artifacts, resumed)
    assert f"{damaged}: unreadable checkpoint" in caplog.text
    assert second["resumed"] == 2 and second["stylized"] == 6
    with Frames(whole, stage="stylize") as a, Frames(resumed, stage="stylize") as b:
        np.testing.assert_array_equal(a[:], b[:])


def test_a_refused_run_leaves_no_partial_folder(clip_artifacts, tmp_path):
    inputs = {
        "frames": clip_artifacts / "frames.h5",
        "flow": clip_artifacts / "flow.h5",
        "laplacian": clip_artifacts / "lap.h5",
        "segment": clip_artifacts / "seg.h5",
        "style": tmp_path / "nosuch.jpg",
    }
    out = tmp_path / "stylize.h5"
    with pytest.raises(PvstError, match=r"nosuch\.jpg"):
        stylize_stage.run(Job("stylize", StylizeParams.of(FAST), inputs, out))
    assert list(tmp_path.iterdir()) == []


def test_parts_keep_their_frames_until_the_merge(clip_artifacts, tmp_path):
    """A part redone after a killed workflow (Snakemake deletes an incomplete job's output)
    resumes its finished frames, also when the part count changed; the merge clears them."""
    whole = tmp_path / "whole.h5"
    run_stage(clip_artifacts, whole)
    parts = [tmp_path / f"part{i}of2.h5" for i in range(2)]
    assert run_stage(clip_artifacts, parts[0], part=(0, 2))["stylized"] == 4
    shared = stylize_stage.partial_dir(parts[0], "", part=True)
    assert shared.is_dir()
    parts[0].unlink()  # what --rerun-incomplete does to the part the killed workflow ran
    again = run_stage(clip_artifacts, parts[0], part=(0, 2))
    assert again["resumed"] == 4 and again["stylized"] == 0
    first = run_stage(clip_artifacts, tmp_path / "p.h5", part=(1, 2), stop_after=2)
    assert first["stylized"] == 2
    # three parts now: the second shot's part finds the two frames of the killed one
    three = [run_stage(clip_artifacts, tmp_path / f"part{i}of3.h5", part=(i, 3)) for i in range(3)]
    assert sum(s["resumed"] for s in three) == 4 + 2
    assert sum(s["stylized"] for s in three) == 2
    merged = tmp_path / "merged.h5"
    inputs = {"frames": str(clip_artifacts / "frames.h5")}
    stylize_stage.run(
        Job(
            "stylize",
            StylizeParams.of(FAST),
            inputs,
            merged,
            "",
            merge=tuple(tmp_path / f"part{i}of3.h5" for i in range(3)),
        )
    )
    assert not shared.exists()
    with Frames(whole, stage="stylize") as a, Frames(merged, stage="stylize") as b:
        np.testing.assert_array_equal(a[:], b[:])


def test_shot_parts_merge_to_the_single_job_frames(clip_artifacts, tmp_path):
    whole = tmp_path / "whole.h5"
    run_stage(clip_artifacts, whole)
    # three parts of a clip with two shots: one part gets no shot
    parts = [tmp_path / f"part{i}.h5" for i in range(3)]
    done = [run_stage(clip_artifacts, p, part=(i, 3))["stylized"] for i, p in enumerate(parts)]
    assert sorted(done) == [0, 4, 4]
    merged = tmp_path / "merged.h5"
    inputs = {"frames": str(clip_artifacts / "frames.h5")}
    stylize_stage.run(
        Job("stylize", StylizeParams.of(FAST), inputs, merged, "", merge=tuple(parts[::-1]))
    )
    with (
        Frames(whole, stage="stylize") as a,
        Frames(merged, stage="stylize") as b,
        stylize_stage.Stylized(whole) as sa,
        stylize_stage.Stylized(merged) as sb,
    ):
        np.testing.assert_array_equal(a[:], b[:])
        assert list(sb.evaluations) == list(sa.evaluations) == [12, 6, 6, 6, 12, 6, 6, 6]
        np.testing.assert_array_equal(sa.loss_history(5), sb.loss_history(5))
        assert sb.terms() == sa.terms()
    # parts that do not cover the clip are refused, naming what they cover
    with pytest.raises(ArtifactError, match=r"cover frames \[\(0, 4\)\], not 0..7"):
        stylize_stage.run(
            Job(
                "stylize",
                StylizeParams.of(FAST),
                inputs,
                tmp_path / "short.h5",
                "",
                merge=tuple(parts[:1]),
            )
        )


def test_shot_ranges_keep_shots_whole():
    assert [shot_range(10, [4], i, 2) for i in range(2)] == [(0, 4), (4, 10)]
    assert [shot_range(10, [], i, 3) for i in range(3)] == [(0, 0), (0, 10), (10, 10)]
    assert [shot_range(12, [2, 3, 9], i, 4) for i in range(4)] == [(0, 3), (3, 3), (3, 9), (9, 12)]
    assert shot_range(250, [30, 80, 120, 200], 0, 1) == (0, 250)


def test_multipass_mode(clip_artifacts, tmp_path):
    params = {**FAST, "multipass": {"passes": 2, "iterations": 4, "blend": 0.5}}
    out = tmp_path / "mp.h5"
    run_stage(clip_artifacts, out, params)
    with stylize_stage.Stylized(out) as st:
        assert list(st.evaluations) == [16, 10, 10, 10, 16, 10, 10, 10]


def test_reading_ahead_gives_the_same_frames(clip_artifacts, tmp_path, monkeypatch):
    """Inputs read one frame ahead in a thread, colour maps on the frame's device: the same
    frames as reading each in turn, in both directions of a multipass run."""
    params = {**FAST, "multipass": {"passes": 2, "iterations": 3, "blend": 0.5}}
    ahead = tmp_path / "ahead.h5"
    run_stage(clip_artifacts, ahead, params)
    monkeypatch.setattr(stylize_stage, "READ_AHEAD", False)
    in_turn = tmp_path / "in_turn.h5"
    run_stage(clip_artifacts, in_turn, params)
    with stylize_stage.Stylized(ahead) as a, stylize_stage.Stylized(in_turn) as b:
        np.testing.assert_array_equal(a[:], b[:])
        np.testing.assert_array_equal(a.evaluations, b.evaluations)


def test_video_takes_the_look_from_the_colour_start_and_the_colour_method(clip_artifacts, tmp_path):
    from pvst import metrics

    style = media.read_image(samples.source("styles/rocket.jpg"))
    with Frames(clip_artifacts / "frames.h5") as fr:
        inputs = fr[:]
    fast = tmp_path / "colour.h5"
    summary = run_stage(clip_artifacts, fast, {**FAST, "method": "colour"})
    assert summary["stylized"] == 8 and summary["evaluations"] == 0
    with Frames(fast, stage="stylize") as fr, stylize_stage.Stylized(fast) as st:
        coloured = fr[:]
        assert list(st.evaluations) == [0] * 8
    before = metrics.colour_distance(inputs, style)
    assert metrics.colour_distance(coloured, style) < 0.6 * before
    # the same maps for every frame: a static pixel keeps its colour change over the shot
    change = coloured.astype(float) - inputs.astype(float)
    assert np.abs(change[1:4].mean((1, 2)) - change[0].mean((0, 1))).max() < 6
    optimised = tmp_path / "optimised.h5"
    run_stage(clip_artifacts, optimised, {**FAST, "init": {"first": "colour", "later": "warped"}})
    with Frames(optimised, stage="stylize") as fr:
        from_colour = metrics.colour_distance(fr[:], style)
    assert from_colour < 0.7 * before
    plain = tmp_path / "plain.h5"
    run_stage(clip_artifacts, plain, {**FAST, "init": {"first": "content", "later": "warped"}})
    with Frames(plain, stage="stylize") as fr:
        assert metrics.colour_distance(fr[:], style) > 1.2 * from_colour


def test_image_mode_end_to_end(tmp_path, capsys):
    """Optimised at 64 px, written at the photo's own size (rendered, then refined there)."""
    out = tmp_path / "cat.png"
    rc = cli.main(
        [
            "image",
            str(samples.source("styles/chelsea.png")),
            str(samples.source("styles/rocket.jpg")),
            "-o",
            str(out),
            "--size",
            "64",
            "--iterations",
            "15",
            "--refine",
            "3",
        ]
    )
    assert rc == 0
    img = media.read_image(out)
    assert img.shape[:2] == (300, 451)  # the photo's own size
    original = media.read_image(samples.source("styles/chelsea.png")).astype(float)
    assert np.abs(img - original).mean() > 3  # it changed the photo
    assert "15 evaluations at 64×42 and 3 at 451×300" in capsys.readouterr().err
    # a chosen output size: its long side
    small = tmp_path / "small.png"
    args = [
        "image",
        str(samples.source("styles/chelsea.png")),
        str(samples.source("styles/rocket.jpg")),
    ]
    rc = cli.main(
        [
            *args,
            "-o",
            str(small),
            "--size",
            "64",
            "--iterations",
            "5",
            "--out-size",
            "128",
            "--refine",
            "0",
        ]
    )
    assert rc == 0 and media.read_image(small).shape[:2] == (85, 128)
    rc = cli.main(["image", "nope.png", str(samples.source("styles/rocket.jpg")), "-o", "x.png"])
    assert rc == 2 and "nope.png: no such image file" in capsys.readouterr().err


def test_gpus_that_torch_cannot_use_stop_auto_with_the_reason(monkeypatch, tmp_path):
    """A cluster node with an older driver than the torch build needs: `auto` must not quietly
    run a GPU's work on the CPU; `cpu` says that is meant."""
    from pvst import device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(device.glob, "glob", lambda pattern: [])
    assert pick_device("auto").type == "cpu"  # no GPU here: the CPU, said in the log
    monkeypatch.setenv("SLURM_JOB_GPUS", "0,1")
    version = tmp_path / "version"
    version.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.161.08  Tue Mar 5\n")
    monkeypatch.setattr(device, "DRIVER_VERSION_FILE", version)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    with pytest.raises(PvstError) as err:
        pick_device("auto")
    message = str(err.value)
    assert "SLURM_JOB_GPUS=0,1" in message and "built for CUDA 13.0" in message
    assert "needs NVIDIA driver 580 or newer" in message and "the driver here is 535.161" in message
    assert "set the device to cpu" in message
    assert pick_device("cpu").type == "cpu"  # asked for: no question
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(PvstError, match="a CPU-only build"):
        pick_device("auto")
    monkeypatch.delenv("SLURM_JOB_GPUS")
    monkeypatch.setattr(device.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    with pytest.raises(PvstError, match=r"NVIDIA device file\(s\) \(/dev/nvidia0\)"):
        pick_device("auto")


def test_a_long_part_keeps_only_the_reachable_frames_on_the_device(
    tmp_path, bikes_file, rocket_file, monkeypatch
):
    """50 frames of one shot with long-term terms back to t−4: at most 5 stylized frames are
    held for the temporal terms at any time (the device memory a part holds is bounded in its
    length), and with two passes the others wait on the host."""
    frames = list(media.read_frames(bikes_file, (32, 14), start=80, count=50))  # one shot
    save(tmp_path / "frames.h5", np.stack(frames), fps=25)
    fl = FlowParams.of({**config.defaults("flow"), "method": "dis", "long_term": [1, 2, 4]})
    flow_stage.run(
        Job("flow", fl, {"frames": tmp_path / "frames.h5"}, tmp_path / "fp.h5", part=(0, 1))
    )
    flow_stage.run(
        Job(
            "flow",
            fl,
            {"frames": tmp_path / "frames.h5"},
            tmp_path / "flow.h5",
            merge=tuple([tmp_path / "fp.h5"]),
        )
    )
    # one region: 32×14 is under the 16 px short side that matched regions (and real clips) need
    seg = SegmentationParams.of({**config.defaults("segmentation"), "method": "none"})
    segment_stage.run(
        Job(
            "segment",
            seg,
            {"frames": tmp_path / "frames.h5", "flow": tmp_path / "flow.h5", "style": rocket_file},
            tmp_path / "s.h5",
        )
    )
    held, devices = [], set()
    remember = stylize_stage._Clip.remember

    def counting(clip, t, x):
        remember(clip, t, x)
        held.append(len(clip.near))
        devices.update(v.device.type for v in clip.far.values())

    monkeypatch.setattr(stylize_stage._Clip, "remember", counting)
    params = {
        **FAST,
        "lambda": 0,
        "iterations": {"first": 2, "later": 1},
        "multipass": {**STYLIZE["multipass"], "passes": 2, "iterations": 1},
    }
    inputs = {
        "frames": tmp_path / "frames.h5",
        "flow": tmp_path / "flow.h5",
        "segment": tmp_path / "s.h5",
        "style": rocket_file,
    }
    summary = stylize_stage.run(
        Job("stylize", StylizeParams.of(params), inputs, tmp_path / "out.h5")
    )
    assert summary["stylized"] == 100  # 50 frames, two passes
    assert len(held) == 100 and max(held) == 5  # the frame itself and the four it can reach
    assert devices == {"cpu"}  # the rest on the host, for the next pass
    # CUDA's numerics as the stage sets them: deterministic cuDNN, no TF32 unless asked for
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32


# -- what a step asks of a GPU, counted on the CPU -------------------------------------------------
@pytest.fixture(scope="module")
def step_counts():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "step_counts.py"
    spec = importlib.util.spec_from_file_location("step_counts", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_sync_a_step_and_a_bounded_number_of_kernels(step_counts):
    """3 labels, 2 temporal terms and λ at 32 px. Before: 4 scalar reads and a host index
    copy a step, 477 kernels (419 an evaluation: style 214, Laplacian 83); now one read of
    the accept test's scalars, about 340 kernels (style 113, Laplacian 35)."""
    obj, x = step_counts.frame_problem(32)
    evaluation = step_counts.per_evaluation(obj, x)
    assert evaluation.syncs == 0
    assert evaluation.total <= 290
    kernels, syncs, _ = step_counts.per_step(obj, x)
    assert syncs == 1
    assert kernels <= 360
    with step_counts.Counter() as whole:
        out = optim.minimise(obj, x, 41, tol=0, check_every=20)
    assert out.evaluations == 41
    # a sync an evaluation, the loss window at each of the two checks, three at the end
    assert whole.syncs <= 40 + 2 + 3
