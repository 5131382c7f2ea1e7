"""The `match` method: regions matched by what things are, without masks, by dense
correspondence of VGG19 features.

The style photo's own regions come from clustering its deep features alone (K chosen per
photo, one region when nothing separates); a content image takes them through nearest-neighbour
fields between normalised 3×3 feature patches, coarse to fine (relu5_1 searched globally, then
relu4_1 and relu3_1 in windows around the enlarged coarser match), each vote weighted by its
similarity and a forward–backward consistency check, blended with soft votes over all style
patches (He et al., Progressive Color Transfer with Dense Semantic Correspondences, 2019; Liao
et al., Deep Image Analogy, 2017). Label probabilities are guided-filtered with the image as
guide, so region borders follow its edges. Matching runs at most at `size` on the long side,
which bounds memory; probabilities are carried up to the image's size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from pvst.params import SegmentationMatch, SegmentationParams
from pvst.regions.labels import Found, cost_labels, guided, merged_style_labels, one_region

log = logging.getLogger(__name__)

LAYERS = ("relu5_1", "relu4_1", "relu3_1")  # coarse to fine
ROWS = 2048  # rows of a similarity block: bounds the search's memory at any size


def _resize_long(image: np.ndarray, long: int) -> np.ndarray:
    """Shrunk (area average) to `long` on the long side; media.resize_long_side also enlarges
    and uses Lanczos, which the measured labels were not made with."""
    h, w = image.shape[:2]
    if max(h, w) <= long:
        return image
    s = long / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def features(image: np.ndarray, vgg, device: str = "cpu") -> dict:
    """VGG19 activations (C×H×W tensors) of an RGB uint8 image at LAYERS."""
    import torch

    x = torch.from_numpy(np.array(image, np.uint8)).to(device).permute(2, 0, 1)[None]
    with torch.inference_mode():
        out = vgg(x.float() / 255.0, list(LAYERS))
    return {k: v[0].float().cpu() for k, v in out.items()}


def patches(f):
    """Unit vectors of 3×3 patches of channel-normalised features: (H·W)×(C·9)."""
    import torch.nn.functional as F

    f = f / f.norm(dim=0, keepdim=True).clamp_min(1e-6)
    p = F.unfold(F.pad(f[None], (1, 1, 1, 1), mode="replicate"), 3)[0]
    p = p / p.norm(dim=0, keepdim=True).clamp_min(1e-6)
    return p.T.contiguous()


def _grid(h: int, w: int):
    import torch

    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return yy.reshape(-1), xx.reshape(-1)


def nearest(pa, pb, shape_b: tuple[int, int], prior=None, radius: int = 0):
    """The best match in b of every patch of a (cosine) and its similarity; only within
    `radius` cells of `prior` (Na×2 predicted (y, x) in b) when given. Blocks of ROWS rows."""
    import torch

    by, bx = _grid(*shape_b)
    idx, sim = [], []
    for s in range(0, len(pa), ROWS):
        block = pa[s : s + ROWS] @ pb.T
        if prior is not None:
            p = prior[s : s + ROWS]
            far = ((by[None] - p[:, :1]).abs() > radius) | ((bx[None] - p[:, 1:]).abs() > radius)
            block = block.masked_fill(far, -2.0)
        v, i = block.max(1)
        idx.append(i)
        sim.append(v)
    return torch.cat(idx), torch.cat(sim)


def _prior(idx, coarse_a, fine_a, coarse_b, fine_b):
    """Where each fine cell of a should look in b's fine grid: its coarse cell's match,
    enlarged, plus the fine cell's offset inside the coarse one."""
    import torch

    (hca, wca), (hfa, wfa), (hcb, wcb), (hfb, wfb) = coarse_a, fine_a, coarse_b, fine_b
    yf, xf = _grid(hfa, wfa)
    yc = (yf * hca // hfa).clamp(max=hca - 1)
    xc = (xf * wca // wfa).clamp(max=wca - 1)
    m = idx[yc * wca + xc]
    py = (m // wcb).float() * (hfb / hcb) + (yf - yc * hfa / hca).float()
    px = (m % wcb).float() * (wfb / wcb) + (xf - xc * wfa / wca).float()
    return torch.stack([py.round().clamp(0, hfb - 1), px.round().clamp(0, wfb - 1)], 1).long()


@dataclass
class Field:
    """Nearest-neighbour fields a → b and b → a at the finest layer, with similarities."""

    ab: object
    ba: object
    sim_ab: object
    shape_a: tuple[int, int]
    shape_b: tuple[int, int]

    def consistent(self, cells: int) -> np.ndarray:
        """Cells of a whose match leads back within `cells` cells of themselves."""
        back = self.ba[self.ab]
        y0, x0 = _grid(*self.shape_a)
        w = self.shape_a[1]
        d = np.maximum((back // w - y0).abs().numpy(), (back % w - x0).abs().numpy())
        return d <= cells


def correspond(fa: dict, fb: dict, radii: tuple[int, int]) -> Field:
    """Coarse-to-fine fields between the features of two images (LAYERS)."""
    previous = None
    for level, name in enumerate(LAYERS):
        a, b = fa[name], fb[name]
        sa, sb = tuple(a.shape[1:]), tuple(b.shape[1:])
        pa, pb = patches(a), patches(b)
        if previous is None:
            ab, sim_ab = nearest(pa, pb, sb)
            ba, _ = nearest(pb, pa, sa)
        else:
            pab, pba, psa, psb = previous
            r = radii[level - 1]
            ab, sim_ab = nearest(pa, pb, sb, _prior(pab, psa, sa, psb, sb), r)
            ba, _ = nearest(pb, pa, sa, _prior(pba, psb, sb, psa, sa), r)
        previous = (ab, ba, sa, sb)
    return Field(ab, ba, sim_ab, sa, sb)


# -- the style photo's own regions ---------------------------------------------------------------
def _unit_block(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(0)
    return x / np.sqrt((x**2).sum(1).mean() + 1e-12)


def style_descriptors(style: np.ndarray, fs: dict, p: SegmentationMatch) -> np.ndarray:
    """Per relu3_1 cell of the style photo: PCA of its relu4_1 and relu5_1 features, a little
    position and Lab colour, each block at unit total variance (cells × dims)."""
    import torch.nn.functional as F

    h, w = fs["relu3_1"].shape[1:]
    deep = []
    for name in ("relu4_1", "relu5_1"):
        f = fs[name] / fs[name].norm(dim=0, keepdim=True).clamp_min(1e-6)
        f = F.interpolate(f[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        deep.append(f.reshape(f.shape[0], -1).T.numpy().astype(np.float64))
    deep = np.concatenate(deep, 1)
    deep = deep - deep.mean(0)
    u, s, _ = np.linalg.svd(deep, full_matrices=False)
    deep = _unit_block(u[:, : p.feature_dims] * s[: p.feature_dims])
    yy, xx = np.mgrid[0:h, 0:w]
    pos = _unit_block(np.stack([yy.ravel(), xx.ravel()], 1) / max(h, w))
    lab = cv2.cvtColor(style.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lab = cv2.resize(cv2.GaussianBlur(lab, (0, 0), 2), (w, h), interpolation=cv2.INTER_AREA)
    lab = _unit_block(lab.reshape(-1, 3).astype(np.float64))
    return np.concatenate([deep, p.position_weight * pos, p.colour_weight * lab], 1)


def silhouette(x: np.ndarray, labels: np.ndarray, n: int, seed: int) -> float:
    """Mean silhouette of a sample of `n` points (−1 for a single cluster)."""
    pick = np.random.default_rng(seed).choice(len(x), min(n, len(x)), replace=False)
    x, labels = x[pick], labels[pick]
    d = np.sqrt(np.maximum(((x[:, None] - x[None]) ** 2).sum(-1), 0))
    ks = np.unique(labels)
    if len(ks) < 2:
        return -1.0
    mean_d = np.stack([d[:, labels == k].mean(1) for k in ks], 1)
    own = np.searchsorted(ks, labels)
    rows = np.arange(len(x))
    a = mean_d[rows, own].copy()
    mean_d[rows, own] = np.inf
    b = mean_d.min(1)
    return float(np.mean((b - a) / np.maximum(np.maximum(a, b), 1e-9)))


def _kmeans(x: np.ndarray, k: int, seed: int, restarts: int = 4) -> np.ndarray:
    from scipy.cluster.vq import kmeans2, vq

    best = None
    for r in range(restarts):
        centres, labels = kmeans2(x, k, minit="++", seed=seed + r, iter=50)
        dist = float((vq(x, centres)[1] ** 2).sum())
        if best is None or dist < best[0]:
            best = (dist, labels)
    return best[1]


def _one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    return (labels[..., None] == np.arange(k)).astype(np.float32)


def compact(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0…K−1 in the order of their values (no gaps)."""
    _, inv = np.unique(labels, return_inverse=True)
    return inv.reshape(labels.shape)


def merge_small(labels: np.ndarray, fraction: float) -> np.ndarray:
    """Labels covering under `fraction` of the map join the neighbour label they touch most,
    smallest first."""
    labels = labels.copy()
    while True:
        ids, counts = np.unique(labels, return_counts=True)
        small = ids[counts < fraction * labels.size]
        if len(small) == 0 or len(ids) == 1:
            return labels
        k = small[np.argmin(counts[np.isin(ids, small)])]
        region = labels == k
        ring = ndimage.binary_dilation(region, iterations=2) & ~region
        near = labels[ring]
        near = near[near != k]
        labels[region] = np.bincount(near).argmax() if near.size else ids[ids != k][0]


@dataclass
class StyleRegions:
    """The style photo's regions and what matching against them needs."""

    labels: np.ndarray  # H×W at the style photo's size
    features: dict  # VGG19 features at the matching size
    cells: dict  # per layer: (cells × K) share of each label in the cell's 3×3 patch
    silhouettes: dict[int, float]

    @property
    def k(self) -> int:
        return int(self.labels.max()) + 1


def style_regions(style: np.ndarray, vgg, p: SegmentationMatch, device: str = "cpu"):
    """The style photo's regions from its own features: K from `p.regions` by silhouette
    (the best; one region when none reaches `p.min_silhouette`)."""
    small = _resize_long(style, p.size)
    fs = features(small, vgg, device)
    x = style_descriptors(small, fs, p)
    h, w = fs["relu3_1"].shape[1:]
    scores, best = {}, (p.min_silhouette, None)
    for k in p.regions:
        if k < 2 or k > len(x):
            continue
        lab = _kmeans(x, k, p.seed)
        scores[k] = silhouette(x, lab, 1500, p.seed)
        if scores[k] > best[0]:
            best = (scores[k], lab)
    if best[1] is None:
        labels = np.zeros(style.shape[:2], np.int64)
    else:
        cells = compact(merge_small(best[1].reshape(h, w), 0.03))
        k = int(cells.max()) + 1
        up = cv2.resize(_one_hot(cells, k), (style.shape[1], style.shape[0]))
        up = up.reshape(*style.shape[:2], k)
        labels = guided(up, style, p.guide_radius, p.guide_eps).argmax(-1)
        labels = compact(merge_small(labels, 0.02))
    k = int(labels.max()) + 1
    share = {}
    for name, f in fs.items():
        hb, wb = f.shape[1:]
        c = cv2.resize(_one_hot(labels, k), (wb, hb), interpolation=cv2.INTER_AREA)
        c = ndimage.uniform_filter(c.reshape(hb, wb, k), size=(3, 3, 1), mode="nearest")
        share[name] = c.reshape(-1, k)
    return StyleRegions(labels, fs, share, scores)


@dataclass
class Votes:
    """A content image's label probabilities (H×W×K) and each cell's match similarity."""

    probs: np.ndarray
    similarity: np.ndarray  # H×W, the finest layer's match similarity carried to pixels


def votes(image: np.ndarray, style: StyleRegions, vgg, p: SegmentationMatch, device="cpu"):
    """Label probabilities of a content image against the style photo's regions."""
    import torch

    h, w = image.shape[:2]
    k = style.k
    if k == 1:
        return Votes(np.ones((h, w, 1), np.float32), np.ones((h, w), np.float32))
    small = _resize_long(image, p.size)
    fc = features(small, vgg, device)
    field = correspond(fc, style.features, (p.radius, p.radius + 2))
    ha, wa = field.shape_a
    weight = field.sim_ab.clamp_min(0).numpy()
    weight = weight * np.where(field.consistent(p.consistency_cells), 1.0, p.inconsistent_weight)
    hard = (style.cells["relu3_1"][field.ab.numpy()] * weight[:, None]).reshape(ha, wa, k)
    num = ndimage.uniform_filter(hard, size=(3, 3, 1), mode="nearest")
    den = ndimage.uniform_filter(weight.reshape(ha, wa), size=3, mode="nearest")[..., None]
    probs = cv2.resize(num / np.maximum(den, 1e-6), (w, h)).reshape(h, w, k)
    if p.soft > 0:
        soft = np.zeros((h, w, k), np.float32)
        for name in LAYERS:
            pa, pb = patches(fc[name]), patches(style.features[name])
            cells = torch.from_numpy(style.cells[name])
            rows = [
                torch.softmax(pa[s : s + ROWS] @ pb.T / p.temperature, 1) @ cells
                for s in range(0, len(pa), ROWS)
            ]
            q = torch.cat(rows).numpy().reshape(*fc[name].shape[1:], k)
            soft += cv2.resize(q, (w, h)).reshape(h, w, k) / len(LAYERS)
        probs = (1 - p.soft) * probs + p.soft * soft
    first = probs.argmax(-1)
    counts = ndimage.uniform_filter(_one_hot(first, k), size=(p.majority, p.majority, 1))
    majority = counts.argmax(-1)
    probs = guided(
        0.5 * _one_hot(majority, k) + 0.5 * probs.astype(np.float32),
        image,
        p.guide_radius,
        p.guide_eps,
    )
    similarity = cv2.resize(field.sim_ab.numpy().reshape(ha, wa).astype(np.float32), (w, h))
    return Votes(probs.astype(np.float32), similarity)


def find(frames, flows, style, params: SegmentationParams) -> Found:
    """The style photo's regions, and every frame labelled by its votes (stable along the
    flow); per region its shares and mean match similarity in `stats`."""
    from pvst.device import pick_device
    from pvst.vgg import load_vgg19

    p = params.match
    device = pick_device(p.device)
    vgg = load_vgg19(p.vgg, device=device)
    regions = style_regions(style, vgg, p, device)
    log.info(
        "style photo: %d region(s) (silhouette by count: %s)",
        regions.k,
        ", ".join(f"{k}: {v:.3f}" for k, v in regions.silhouettes.items()) or "none",
    )
    if regions.k == 1:  # nothing in the photo separates: one region, nothing to match
        return one_region(frames, flows, style, params)
    similarity: list[np.ndarray] = []

    def costs(image: np.ndarray) -> np.ndarray:
        found = votes(image, regions, vgg, p, device)
        similarity.append(found.similarity)
        return -found.probs

    labels = cost_labels(frames, flows, costs, params)
    style_labels = merged_style_labels(regions.labels, style, params)
    names = [f"region{i}" for i in range(regions.k)]
    stats = []
    for lab in range(regions.k):
        where = labels == lab
        sims = [s[w].mean() for s, w in zip(similarity, where, strict=True) if w.any()]
        stats.append(
            {
                "label": lab,
                "frames": float(where.mean()),
                "style": float((style_labels == lab).mean()),
                "similarity": float(np.mean(sims)) if sims else None,
            }
        )
        log.info(
            "%s: %.0f%% of the frames, %.0f%% of the style photo, mean match similarity %s",
            names[lab],
            100 * stats[-1]["frames"],
            100 * stats[-1]["style"],
            f"{np.mean(sims):.3f}" if sims else "-",
        )
    return Found(labels, style_labels, names, stats=stats)
