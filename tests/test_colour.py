import numpy as np
import pytest

from pvst import colour, media, metrics, stylize
from pvst.params import SegmentationParams, StylizeParams
from pvst.pipeline import config, samples


def _photo(name: str, size: tuple[int, int]) -> np.ndarray:
    return media.resize_image(media.read_image(samples.source(f"styles/{name}")), size)


def test_a_map_matches_mean_and_covariance():
    rng = np.random.default_rng(0)
    src = rng.normal([0.3, 0.5, 0.2], 0.05, (5000, 3)) @ np.array(
        [[1, 0.4, 0], [0, 1, 0.2], [0, 0, 1]]
    )
    dst = rng.normal([0.7, 0.2, 0.6], [0.1, 0.03, 0.08], (4000, 3))
    out = colour.fit_map(src, dst)(src)
    np.testing.assert_allclose(out.mean(0), dst.mean(0), atol=1e-9)
    np.testing.assert_allclose(np.cov(out.T), np.cov(dst.T), atol=5e-4)
    # the identity when source and target are the same
    same = colour.fit_map(src, src)
    np.testing.assert_allclose(same(src), src, atol=1e-3)


def test_regions_take_their_counterparts_colours_with_feathered_borders():
    h, w = 40, 60
    content = np.zeros((h, w, 3), np.uint8)
    content[:, :30] = (200, 200, 200)
    content[:, 30:] = (40, 40, 40)
    content = np.clip(content + np.random.default_rng(1).integers(0, 20, content.shape), 0, 255)
    content = content.astype(np.uint8)
    labels = np.zeros((h, w), np.int64)
    labels[:, 30:] = 1
    style = np.zeros((20, 20, 3), np.uint8)
    style[:10] = (250, 120, 0)  # label 0: orange
    style[10:] = (0, 0, 180)  # label 1: blue
    style_labels = np.zeros((20, 20), np.int64)
    style_labels[10:] = 1
    out = colour.transfer(content, style, labels, style_labels, [0, 1], feather=0.02)
    assert out.shape == (h, w, 3) and out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(out[:, :20].mean((0, 1)), np.array([250, 120, 0]) / 255, atol=0.02)
    np.testing.assert_allclose(out[:, 40:].mean((0, 1)), np.array([0, 0, 180]) / 255, atol=0.02)
    # where one surface spans two regions, the maps blend over the border instead of a step
    flat = np.full((h, w, 3), 120, np.uint8)
    flat[::2] = 128
    soft = colour.transfer(flat, style, labels, style_labels, [0, 1], feather=0.05)
    hard = colour.transfer(flat, style, labels, style_labels, [0, 1], feather=0.0)
    assert np.abs(np.diff(soft[20], axis=0)).max() < 0.3 * np.abs(np.diff(hard[20], axis=0)).max()


def test_the_colour_method_moves_the_look_and_stays_photographic():
    content, style = _photo("chelsea.png", (64, 48)), _photo("rocket.jpg", (64, 43))
    params = {**config.defaults("stylize"), "method": "colour"}
    params["postprocess"] = {**params["postprocess"], "method": "none"}
    out, res = stylize.stylize_image(
        content,
        style,
        StylizeParams.of(params),
        SegmentationParams.of({**config.defaults("segmentation"), "method": "none"}),
    )
    assert res.evaluations == 0 and out.dtype == np.uint8 and out.shape == content.shape
    before = metrics.colour_distance(content, style)
    after = metrics.colour_distance(out, style)
    assert after < 0.5 * before
    assert metrics.edge_ssim(content, out) > 0.6


def test_soft_weights_sum_to_one_and_cover_dropped_labels():
    labels = np.zeros((10, 12), np.int64)
    labels[5:] = 1
    labels[0, 0] = 7  # a label outside `used`
    w = colour.soft_weights(labels, [0, 1], 0.1)
    np.testing.assert_allclose(w.sum(0), 1.0, atol=1e-6)
    assert w[0, 0, 5] > 0.5 and w[1, 9, 5] > 0.5
    with pytest.raises(ValueError):
        colour.apply_maps(np.zeros((10, 12, 3)), w, [colour.IDENTITY])


def test_quantile_steps_match_the_whole_distribution():
    rng = np.random.default_rng(2)
    src = rng.uniform(0.3, 0.6, (6000, 3))
    # two clusters: a mean and covariance alone cannot reach it
    dst = np.concatenate([rng.normal(0.15, 0.03, (3000, 3)), rng.normal(0.8, 0.03, (3000, 3))])
    gaussian = colour.fit_map(src, dst)(src)
    refined = colour.fit_map(src, dst, steps=6)(src)
    assert metrics.colour_distance(refined, dst) < 0.3 * metrics.colour_distance(gaussian, dst)


def test_maps_applied_in_torch_equal_numpys():
    """The maps run in torch on the frame's device; NumPy (np.interp) is the reference."""
    import torch

    rng = np.random.default_rng(1)
    src, dst = rng.random((5000, 3)), rng.random((3000, 3)) ** 2
    maps = [colour.fit_map(src, dst, steps=4), colour.fit_map(dst, src)]
    image = rng.random((40, 50, 3))
    image[0, 0] = [0.0, 1.0, 2.0]  # beyond the quantiles: held at the ends, as np.interp does
    weights = rng.random((2, 40, 50)).astype(np.float32)
    weights /= weights.sum(0)

    def numpy_map(cmap, x):
        y = (x - cmap.source_mean) @ cmap.matrix.T + cmap.target_mean
        flat = y.reshape(-1, 3)
        for rotation, q_src, q_dst in cmap.steps:
            p = flat @ rotation
            for d in range(3):
                p[:, d] = np.interp(p[:, d], q_src[:, d], q_dst[:, d])
            flat = p @ rotation.T
        return flat.reshape(y.shape)

    mixed = sum(w[..., None] * numpy_map(m, image) for w, m in zip(weights, maps, strict=True))
    expected = np.clip(mixed, 0, 1)
    got = colour.apply_maps_tensor(torch.from_numpy(image), torch.from_numpy(weights), maps)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        colour.apply_maps(image, weights, maps), expected, rtol=0, atol=1e-12
    )
