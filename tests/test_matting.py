import numpy as np
import pytest
import scipy.sparse.linalg as spla
import torch
from pymatting import cf_laplacian

from pvst import matting, media
from pvst.errors import PvstError
from pvst.params import LaplacianParams
from pvst.pipeline import samples
from pvst.pipeline.job import Job
from pvst.stages import laplacian as laplacian_stage
from pvst.stages.frames import save


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photo at 40×30, uint8 RGB."""
    return media.resize_image(media.read_image(samples.source("styles/rocket.jpg")), (40, 30))


@pytest.fixture(scope="module")
def lap(photo):
    return matting.matting_laplacian(photo)


def test_agrees_with_pymatting(photo, lap):
    ref = cf_laplacian(photo.astype(np.float64) / 255.0, epsilon=1e-7, radius=1)
    diff = abs(lap - ref).max()
    assert diff <= 1e-6 * abs(ref).max()
    assert lap.dtype == np.float32 and lap.shape == (1200, 1200)
    # interior pixels have the full 5×5 neighbourhood
    counts = np.diff(lap.indptr).reshape(30, 40)
    assert (counts[2:-2, 2:-2] == 25).all() and counts[0, 0] == 9


def test_symmetric_rows_sum_to_zero_positive_semidefinite(lap):
    assert abs(lap - lap.T).max() < 1e-6
    assert np.abs(np.asarray(lap.sum(axis=1))).max() < 1e-4
    rng = np.random.default_rng(0)
    x = rng.standard_normal((lap.shape[0], 64))
    quad = np.einsum("ij,ij->j", x, lap @ x)
    assert quad.min() > -1e-6 * np.abs(quad).max()
    smallest = spla.eigsh(lap.astype(np.float64), k=1, which="SA", return_eigenvectors=False)
    assert smallest[0] > -1e-5


def test_energy_small_for_affine_colour_maps_large_otherwise(photo, lap):
    img = photo.astype(np.float64) / 255.0
    a = np.array([[0.6, 0.1, 0.0], [0.2, 0.5, 0.1], [0.0, 0.3, 0.7]])
    affine = np.clip(img @ a.T + np.array([0.1, 0.05, 0.0]), 0, 1)
    rng = np.random.default_rng(1)
    noise = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
    swapped = img[::-1]  # the picture upside down: not a colour map of the input at all
    e_affine = matting.energy(lap, affine)
    assert e_affine < 1e-3 * matting.energy(lap, noise)
    assert e_affine < 1e-3 * matting.energy(lap, swapped)
    assert matting.energy(lap, img) < 1e-3 * matting.energy(lap, noise)


def test_photorealism_loss_value_and_gradient(photo):
    small = photo[:8, :10]
    lap = matting.matting_laplacian(small)
    dense = torch.from_numpy(lap.toarray())
    weight = 3.0
    img = torch.rand(3, 8, 10, dtype=torch.float32, requires_grad=True)
    loss = matting.photorealism_loss(img, dense, weight)
    loss.backward()
    v = img.detach().reshape(3, -1).t()
    expected = weight * (v * (dense @ v)).sum()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # autograd through the dense product gives the same gradient as the explicit 2λLV
    ref = img.detach().clone().requires_grad_(True)
    rv = ref.reshape(3, -1).t()
    (weight * (rv * (dense @ rv)).sum()).backward()
    torch.testing.assert_close(img.grad, ref.grad, rtol=1e-4, atol=1e-4)
    # and a finite difference along a random direction agrees
    d = torch.randn_like(img)
    h = 1e-3
    with torch.no_grad():
        up = matting.photorealism_loss(img + h * d, dense, weight)
        down = matting.photorealism_loss(img - h * d, dense, weight)
    numeric = (up - down) / (2 * h)
    assert numeric.item() == pytest.approx((img.grad * d).sum().item(), rel=2e-2)
    # batch dimension accepted
    b = matting.photorealism_loss(img.detach()[None], dense, weight)
    assert b.item() == pytest.approx(loss.item(), rel=1e-6)


def test_closed_form_smoothing_matches_a_direct_solve(photo, lap):
    import scipy.sparse as sp

    rng = np.random.default_rng(2)
    y = np.clip(photo.astype(np.float64) / 255 * 0.8 + rng.normal(0, 0.03, photo.shape), 0, 1)
    strength = 0.5
    out, iters = matting.smooth_closed_form(lap, y, strength, tol=1e-10, maxiter=2000)
    a = sp.identity(lap.shape[0], format="csc") + strength * lap.astype(np.float64).tocsc()
    direct = np.stack([spla.spsolve(a, y.reshape(-1, 3)[:, c]) for c in range(3)], -1)
    np.testing.assert_allclose(out.reshape(-1, 3), np.clip(direct, 0, 1), atol=1e-6)
    assert iters > 0
    # a warm start from the answer converges at once
    _, again = matting.smooth_closed_form(lap, y, strength, x0=out, tol=1e-4)
    assert again < iters
    assert matting.energy(lap, out) < matting.energy(lap, y)


@pytest.mark.parametrize("method", ["guided", "local_affine"])
def test_fast_smoothing_lowers_the_laplacian_energy(photo, lap, method):
    content = photo.astype(np.float64) / 255
    rng = np.random.default_rng(3)
    stylized = np.clip(content[..., ::-1] * 0.9 + rng.normal(0, 0.04, content.shape), 0, 1)
    if method == "guided":
        out = matting.smooth_guided(content, stylized, radius=2, eps=1e-3)
    else:
        out = matting.smooth_local_affine(content, stylized)
    assert out.shape == content.shape and out.min() >= 0 and out.max() <= 1
    assert matting.energy(lap, out) < 0.5 * matting.energy(lap, stylized)
    # it keeps the stylized colours, not the content's
    assert np.abs(out - stylized).mean() < np.abs(content - stylized).mean()


def test_grey_rgba_and_bad_inputs(photo):
    grey = photo.mean(-1).astype(np.uint8)
    lg = matting.matting_laplacian(grey)
    assert lg.shape == (1200, 1200)
    assert np.abs(np.asarray(lg.sum(axis=1))).max() < 1e-4
    g = grey.astype(np.float64)[..., None] / 255
    assert matting.energy(lg, 0.5 * g + 0.2) < 1e-3 * matting.energy(lg, g[::-1])
    rgba = np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)])
    assert abs(matting.matting_laplacian(rgba) - matting.matting_laplacian(photo)).max() == 0
    bad = photo.astype(np.float64) / 255
    bad[3, 4, 1] = np.nan
    with pytest.raises(PvstError, match="NaN"):
        matting.matting_laplacian(bad)
    with pytest.raises(PvstError, match=r"must lie in \[0, 1\]"):
        matting.matting_laplacian(photo.astype(np.float64))
    with pytest.raises(PvstError, match="smaller than one 3×3 window"):
        matting.matting_laplacian(photo[:2])
    with pytest.raises(PvstError, match="expected H×W"):
        matting.matting_laplacian(photo[..., :2])


def test_stage_parts_merge_and_read_back(tmp_path, photo):
    frames = np.stack([photo, photo[::-1], photo[:, ::-1]])
    fpath = tmp_path / "frames.h5"
    save(fpath, frames, fps=25)
    params = {"eps": 1e-7, "radius": 1}
    parts = [tmp_path / "a.h5", tmp_path / "b.h5"]
    for i, p in enumerate(parts):
        laplacian_stage.run(
            Job(
                "laplacian",
                LaplacianParams.of({**params, "chunks": 2}),
                {"frames": fpath},
                p,
                part=(i, 2),
            )
        )
    out = tmp_path / "lap.h5"
    laplacian_stage.run(
        Job(
            "laplacian",
            LaplacianParams.of({**params, "chunks": 2}),
            {"frames": fpath},
            out,
            merge=tuple(parts),
        )
    )
    with laplacian_stage.Laplacians(out, params=params) as laps:
        assert len(laps) == 3
        for t in range(3):
            direct = matting.matting_laplacian(frames[t])
            assert abs(laps[t] - direct).max() == 0
        bands = laps.bands(t)
        assert bands.shape == (13, 30, 40) and bands.dtype == np.float32


@pytest.mark.parametrize("radius", [1, 2])
def test_band_form_gives_the_csr_loss_and_gradient(photo, radius):
    """The cached half bands are the same matrix: same CSR, same loss, same gradient."""
    lap = matting.matting_laplacian(photo, 1e-7, radius)
    half = matting.laplacian_bands(photo, 1e-7, radius)
    assert half.shape == (((4 * radius + 1) ** 2 + 1) // 2, 30, 40)
    assert abs(matting.bands_to_csr(half, radius) - lap).max() == 0
    img = torch.rand(3, 30, 40, generator=torch.Generator().manual_seed(0))
    grads, values = [], []
    dense = torch.from_numpy(lap.toarray())
    for form in (dense, matting.BandLaplacian(half, radius)):
        x = img.clone().requires_grad_(True)
        loss = matting.photorealism_loss(x, form, 2.0)
        loss.backward()
        values.append(loss.item())
        grads.append(x.grad)
    assert values[1] == pytest.approx(values[0], rel=1e-5)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-5)
    # and the energy of the content itself, as the metrics compute it
    v = photo.astype(np.float64) / 255.0
    assert matting.energy(matting.bands_to_csr(half, radius), v) == pytest.approx(
        matting.energy(lap, v), rel=1e-9
    )
