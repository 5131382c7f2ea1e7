"""The CUDA path: what only a machine with an NVIDIA GPU can check. Skipped, with the reason,
elsewhere; `benchmarks/device_check.sh` runs these first when a GPU is lent."""

import numpy as np
import pytest
import torch

from pvst import matting, media, stylize
from pvst.params import SegmentationParams, StylizeParams
from pvst.pipeline import config, samples

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]


def on_cuda(first: int) -> StylizeParams:
    """The default stylize section on CUDA with a budget of `first` evaluations."""
    section = config.defaults("stylize")
    section["device"], section["iterations"]["first"] = "cuda", first
    return StylizeParams.of(section)


SEGMENTATION = SegmentationParams.of(config.defaults("segmentation"))


@pytest.fixture(scope="module")
def pair():
    content = media.read_image(samples.source("styles/coffee.png"))
    style = media.read_image(samples.source("styles/rocket.jpg"))
    return content, style


def test_band_laplacian_on_the_gpu_equals_the_cpu(pair):
    img = media.resize_image(pair[0], (96, 64))
    half = matting.laplacian_bands(img)
    x = torch.rand(3, 64, 96, generator=torch.Generator().manual_seed(0))
    values = []
    for device in ("cpu", "cuda"):
        v = x.to(device).requires_grad_(True)
        loss = matting.photorealism_loss(v, matting.BandLaplacian(half, 1, device), 3.0)
        loss.backward()
        values.append((loss.item(), v.grad.cpu()))
    assert values[1][0] == pytest.approx(values[0][0], rel=1e-4)
    torch.testing.assert_close(values[1][1], values[0][1], rtol=1e-3, atol=1e-5)


def test_image_mode_on_the_gpu_takes_the_look(pair):
    content, style = (media.resize_image(im, (128, 96)) for im in pair)
    image, result = stylize.stylize_image(content, style, on_cuda(30), SEGMENTATION)
    assert image.shape == content.shape and result.x.device.type == "cuda"
    assert np.isfinite(result.losses).all() and result.losses[-1] < result.losses[0]


@pytest.mark.parametrize("side", [256, 512, 1024])
def test_memory_estimate_covers_the_measured_peak(pair, side):
    """The estimate `check_memory` refuses by is at least the measured CUDA peak of a frame's
    optimisation (printed, for the device check's summary)."""
    h = side * 3 // 4
    content, style = (media.resize_image(im, (side, h)) for im in pair)
    params = on_cuda(5)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    stylize.stylize_image(content, style, params, SEGMENTATION)
    peak = torch.cuda.max_memory_allocated() - base
    estimate = stylize.estimate_bytes(h, side, params)
    print(f"memory {side}×{h}: estimate {estimate / 1e9:.2f} GB, measured peak {peak / 1e9:.2f} GB")
    assert peak <= estimate
