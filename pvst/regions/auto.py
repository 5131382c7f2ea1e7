"""The `auto` method: k regions clustered jointly on the style photo and sampled frames from
VGG19 features, colour and position, kept stable along the flow; each content region's
counterpart is judged, and one without a good counterpart takes the whole photo's look."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from pvst.params import SegmentationAuto, SegmentationParams
from pvst.regions.labels import WHOLE, Found, cost_labels, merged_style_labels

log = logging.getLogger(__name__)


def find(frames, flows, style, params: SegmentationParams) -> Found:
    """Joint clusters of the style photo and evenly sampled frames, every frame labelled by
    its distances to the centres (stable along the flow)."""
    from pvst.device import pick_device
    from pvst.vgg import load_vgg19

    auto = params.auto
    device = pick_device(auto.device)
    vgg = load_vgg19(auto.vgg, device=device)
    n = len(frames)
    picks = [int(t) for t in np.linspace(0, n - 1, min(n, auto.sample_frames)).round()]
    clusters = JointClusters(auto, vgg, device).fit(
        style, [frames[t] for t in picks], seed=auto.seed
    )
    return Found(
        cost_labels(frames, flows, clusters.costs, params),
        merged_style_labels(clusters.costs(style).argmin(-1), style, params),
        [f"region{i}" for i in range(auto.regions)],
        nearest=clusters.nearest_centres(),
        matcher=(vgg, device, picks),
    )


@dataclass(frozen=True)
class RegionMatch:
    """How well a content region's style counterpart fits it."""

    label: int
    content_fraction: float
    style_fraction: float
    similarity: float  # cosine of mean VGG features: content region vs its style region
    whole_similarity: float  # the same against the whole style photo
    kept: bool

    def describe(self, names: list[str]) -> str:
        verdict = "kept" if self.kept else "takes the whole photo"
        return (
            f"{names[self.label]}: {self.content_fraction:.0%} of the frames, "
            f"{self.style_fraction:.0%} of the style, similarity {self.similarity:.3f} "
            f"(whole photo {self.whole_similarity:.3f}): {verdict}"
        )


def mean_features(
    feats: list[np.ndarray], labels: list[np.ndarray]
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Mean feature vector of every label over (H×W×C features, H×W labels) pairs, and over
    all pixels."""
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    for f, lab in zip(feats, labels, strict=True):
        flat, ids = f.reshape(-1, f.shape[-1]), lab.ravel()
        for v in np.unique(ids):
            pick = flat[ids == v]
            sums[int(v)] = sums.get(int(v), 0) + pick.sum(0)
            counts[int(v)] = counts.get(int(v), 0) + len(pick)
    total = sum(counts.values())
    whole = sum(sums.values()) / max(total, 1)
    return {v: sums[v] / counts[v] for v in sums}, whole


def match_regions(
    content_fractions: dict[int, float],
    content_means: dict[int, np.ndarray],
    style_fractions: dict[int, float],
    style_means: dict[int, np.ndarray],
    style_whole: np.ndarray,
    area_ratio: float,
    margin: float,
) -> list[RegionMatch]:
    """Judge each content region's counterpart. A region keeps it when the counterpart covers
    at least `area_ratio` × the region's share of the frames in the style photo (a large part
    of the scene is not styled from a few objects) and resembles the region at least `margin`
    more than the whole photo does; otherwise it should take the whole photo's look."""

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))

    out = []
    for lab in sorted(content_fractions):
        cf, sf = content_fractions[lab], style_fractions.get(lab, 0.0)
        sim = cos(content_means[lab], style_means[lab]) if lab in style_means else -1.0
        whole = cos(content_means[lab], style_whole)
        kept = sf >= area_ratio * cf and sim >= whole + margin
        out.append(RegionMatch(lab, cf, sf, sim, whole, kept))
    return out


# -- automatic joint segmentation --------------------------------------------------------------
def pixel_features(image: np.ndarray, vgg, layer: str, device: str = "cpu") -> np.ndarray:
    """Per-pixel descriptors of an RGB uint8 image: VGG19 `layer` activations upsampled to the
    image (H×W×C), plus CIE Lab colour and the row position appended later."""
    import torch
    import torch.nn.functional as F

    h, w = image.shape[:2]
    x = torch.from_numpy(np.array(image, np.uint8)).to(device).permute(2, 0, 1)[None]
    with torch.inference_mode():
        act = vgg(x.float() / 255.0, [layer])[layer]
        act = F.interpolate(act, size=(h, w), mode="bilinear", align_corners=False)
        act = act / (act.norm(dim=1, keepdim=True) + 1e-6)
    return act[0].permute(1, 2, 0).cpu().numpy()


def lab_colour(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


class JointClusters:
    """k regions fitted on the style photo and sampled frames together, so that a label means
    the same thing in both: k-means on [PCA of VGG features, Lab colour, row position].

    Colour weighs nothing by default: the style photo's colours differ from the frames' by
    design, and colour in the clusters paired a dusk sky with a dark road rather than a sky."""

    def __init__(self, params: SegmentationAuto, vgg, device: str = "cpu") -> None:
        self.p = params
        self.vgg = vgg
        self.device = device
        self.pca_mean = self.pca_basis = self.scale = self.weights = self.centres = None

    def _raw(self, image: np.ndarray) -> np.ndarray:
        feats = pixel_features(image, self.vgg, self.p.layer, self.device)
        h, w = image.shape[:2]
        rows = np.repeat(np.linspace(0, 1, h, dtype=np.float32)[:, None], w, axis=1)
        return np.concatenate([feats, lab_colour(image), rows[..., None]], axis=-1)

    def _embed(self, raw: np.ndarray) -> np.ndarray:
        flat = raw.reshape(-1, raw.shape[-1])
        feats = (flat[:, :-4] - self.pca_mean) @ self.pca_basis
        parts = np.concatenate([feats, flat[:, -4:]], axis=1) / self.scale
        return parts * self.weights

    def fit(self, style: np.ndarray, frames: list[np.ndarray], seed: int = 0) -> JointClusters:
        from scipy.cluster.vq import kmeans2

        rng = np.random.default_rng(seed)
        per_image = 20000
        samples = []
        for i, img in enumerate([style, *frames]):
            raw = self._raw(img)
            flat = raw.reshape(-1, raw.shape[-1])
            take = min(len(flat), per_image if i == 0 else per_image // max(1, len(frames)))
            samples.append(flat[rng.choice(len(flat), take, replace=False)])
        data = np.concatenate(samples).astype(np.float64)
        feats = data[:, :-4]
        self.pca_mean = feats.mean(0)
        _, _, vt = np.linalg.svd(feats - self.pca_mean, full_matrices=False)
        self.pca_basis = vt[: self.p.feature_dims].T
        embedded = np.concatenate([(feats - self.pca_mean) @ self.pca_basis, data[:, -4:]], 1)
        dims = self.p.feature_dims
        # each group (features, colour, row) scaled to unit total variance, then weighted
        scale = np.empty(embedded.shape[1])
        for sl in (slice(0, dims), slice(dims, dims + 3), slice(dims + 3, dims + 4)):
            scale[sl] = np.sqrt(embedded[:, sl].var(0).sum()) + 1e-9
        self.scale = scale
        self.weights = np.concatenate(
            [
                np.full(dims, self.p.feature_weight),
                np.full(3, self.p.colour_weight),
                [self.p.position_weight],
            ]
        )
        x = embedded / scale * self.weights
        self.centres, _ = kmeans2(x, self.p.regions, minit="++", seed=seed, iter=50)
        return self

    def costs(self, image: np.ndarray) -> np.ndarray:
        """Squared distance of every pixel to every centre (H×W×k)."""
        x = self._embed(self._raw(image))
        d = ((x[:, None, :] - self.centres[None]) ** 2).sum(-1)
        return d.reshape(*image.shape[:2], -1).astype(np.float32)

    def nearest_centres(self) -> dict[int, list[int]]:
        """For each label, the other labels by distance between centres (closest first)."""
        d = ((self.centres[:, None] - self.centres[None]) ** 2).sum(-1)
        return {i: [int(j) for j in np.argsort(d[i]) if j != i] for i in range(len(d))}


def apply_matches(
    labels: np.ndarray,
    style_labels: np.ndarray,
    style_fractions: dict[int, float],
    names: list[str],
    samples: list[tuple[np.ndarray, np.ndarray]],
    style: np.ndarray,
    vgg,
    auto: SegmentationAuto,
    device: str = "cpu",
) -> tuple[np.ndarray, list[str], int | None, list[RegionMatch]]:
    """Check every content region's style counterpart (automatic regions) and give the regions
    without a good one a shared label whose style side is the whole photo. `style_fractions`
    are apply_fallbacks's; `samples` are (frame, its labels) pairs to measure features on.
    Returns (labels, names, the whole-photo label or None, the matches)."""
    layer = auto.layer
    ids, counts = np.unique(labels, return_counts=True)
    content_fractions = {int(v): float(c) / labels.size for v, c in zip(ids, counts, strict=True)}
    feats = [pixel_features(img, vgg, layer, device) for img, _ in samples]
    content_means, _ = mean_features(feats, [lab for _, lab in samples])
    style_feats = pixel_features(style, vgg, layer, device)
    style_means, style_whole = mean_features([style_feats], [style_labels])
    for lab in content_fractions:  # a label in no sampled frame: judge it by the whole frames
        content_means.setdefault(lab, sum(content_means.values()) / max(len(content_means), 1))
    matches = match_regions(
        content_fractions,
        content_means,
        style_fractions,
        style_means,
        style_whole,
        auto.match.area_ratio,
        auto.match.margin,
    )
    names = list(names)
    for m in matches:
        log.info("region %s", m.describe(names))
    poor = [m.label for m in matches if not m.kept]
    if not poor:
        return labels, names, None, matches
    whole = len(names)
    names.append(WHOLE)
    labels = np.where(np.isin(labels, poor), whole, labels)
    log.info(
        "%s take the whole style photo's look (no good counterpart in it)",
        ", ".join(names[p] for p in poor),
    )
    return labels, names, whole, matches
