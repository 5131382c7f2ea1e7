"""Region labels for the segmented style loss: colour-coded masks, automatic joint clustering,
semantic segmentation, and what they share (label warping, clean-up, fallbacks, overlays).

A label map is an H×W integer array; label i means the same region in the content frames and
in the style photo.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pvst.errors import PvstError
from pvst.media import open_image
from pvst.params import SegmentationAuto

log = logging.getLogger(__name__)

# Deep Photo Style Transfer's colour codes: a channel is on above 0.9, off below 0.1; grey has
# every channel in (0.4, 0.6).
DPST_COLOURS: dict[str, tuple[float, float, float]] = {
    "blue": (0, 0, 1),
    "green": (0, 1, 0),
    "black": (0, 0, 0),
    "white": (1, 1, 1),
    "red": (1, 0, 0),
    "yellow": (1, 1, 0),
    "grey": (0.5, 0.5, 0.5),
    "lightblue": (0, 1, 1),
    "purple": (1, 0, 1),
}
COLOUR_NAMES = list(DPST_COLOURS)


# -- colour-coded masks ------------------------------------------------------------------------
def colour_code_hits(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Per DPST colour name, the pixels of a uint8 RGB mask that match its code exactly."""
    x = rgb.astype(np.float32) / 255.0
    on, off = x > 0.9, x < 0.1
    hits = {}
    for name, code in DPST_COLOURS.items():
        if name == "grey":
            hits[name] = ((x > 0.4) & (x < 0.6)).all(-1)
        else:
            hits[name] = np.where(np.asarray(code, bool), on, off).all(-1)
    return hits


def decode_colours(rgb: np.ndarray, source: str = "mask") -> tuple[np.ndarray, dict[str, int]]:
    """Labels (indices into COLOUR_NAMES) of a DPST colour-coded mask (uint8 RGB).

    Returns (labels, unmatched) where `unmatched` counts, per colour (as '#rrggbb'), the pixels
    that match no code; they get the nearest code and a warning names them.
    """
    x = rgb.astype(np.float32) / 255.0
    labels = np.full(x.shape[:2], -1, np.int16)
    for i, hit in enumerate(colour_code_hits(rgb).values()):
        labels[hit & (labels < 0)] = i
    unmatched: dict[str, int] = {}
    miss = labels < 0
    if miss.any():
        colours, counts = np.unique(rgb[miss].reshape(-1, 3), axis=0, return_counts=True)
        order = np.argsort(-counts)
        for c, n in zip(colours[order], counts[order], strict=True):
            unmatched["#{:02x}{:02x}{:02x}".format(*tuple(int(v) for v in c))] = int(n)
        codes = np.asarray(list(DPST_COLOURS.values()), np.float32)
        dist = ((x[miss][:, None, :] - codes[None]) ** 2).sum(-1)
        labels[miss] = dist.argmin(1)
        shown = ", ".join(f"{c} ({n} px)" for c, n in list(unmatched.items())[:5])
        more = f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else ""
        log.warning(
            "%s: %d pixels match no DPST colour code: %s%s; each gets the nearest code",
            source,
            int(miss.sum()),
            shown,
            more,
        )
    return labels.astype(np.int64), unmatched


# A mask may differ in aspect from its photo by this much (rounding when either was resized).
MASK_ASPECT_TOLERANCE = 0.03


def read_colour_mask(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a colour-coded mask PNG, resized to (width, height) with nearest neighbour."""
    path = Path(path)
    if not path.is_file():
        raise PvstError(f"{path}: mask file not found")
    try:
        with open_image(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I", "I;16", "I;16B", "F", "CMYK", "YCbCr", "LAB", "HSV"):
                raise PvstError(
                    f"{path}: mask has mode {mode}; expected an 8-bit RGB "
                    "colour-coded PNG (DPST colours)"
                )
            if mode in ("L", "1", "LA"):
                log.warning("%s: a grey-level mask codes only black, grey and white", path)
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise PvstError(f"{path}: not an image ({exc})") from None
    if size is not None and (rgb.shape[1], rgb.shape[0]) != tuple(size):
        mh, mw = rgb.shape[:2]
        if abs((mw / mh) / (size[0] / size[1]) - 1) > MASK_ASPECT_TOLERANCE:
            raise PvstError(
                f"{path}: the mask is {mw}×{mh} but its photo is {size[0]}×{size[1]} (at the "
                "size it is used); another shape, so it would be stretched: make the mask from "
                "the photo itself"
            )
        rgb = np.asarray(Image.fromarray(rgb).resize(tuple(size), Image.Resampling.NEAREST))
    labels, _ = decode_colours(rgb, str(path))
    if len(np.unique(labels)) == 1:
        log.warning(
            "%s: the whole mask is %s; it makes one region (no segmentation)",
            path,
            COLOUR_NAMES[int(labels.flat[0])],
        )
    return labels


# -- label maps along the flow -----------------------------------------------------------------
def warp_labels(labels: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Carry a label map along a backward flow (nearest neighbour): out(x) = labels(x + w(x))."""
    h, w = labels.shape
    gy, gx = np.mgrid[0:h, 0:w]
    sx = np.clip(np.rint(gx + flow[..., 0]), 0, w - 1).astype(np.int64)
    sy = np.clip(np.rint(gy + flow[..., 1]), 0, h - 1).astype(np.int64)
    return labels[sy, sx]


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A label map resized to (height, width) with nearest neighbour."""
    if labels.shape == tuple(shape):
        return labels
    return cv2.resize(
        labels.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST
    ).astype(np.int64)


def merge_small_regions(labels: np.ndarray, min_pixels: int) -> np.ndarray:
    """Give every connected region smaller than `min_pixels` the label of the neighbour it
    touches most."""
    out = labels.copy()
    if min_pixels <= 1:
        return out
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(3):  # merging can leave new small pieces; a few rounds settle it
        changed = False
        for lab in np.unique(out):
            count, comp, stats, _ = cv2.connectedComponentsWithStats(
                (out == lab).astype(np.uint8), connectivity=4
            )
            for c in range(1, count):
                if stats[c, cv2.CC_STAT_AREA] >= min_pixels:
                    continue
                region = comp == c
                ring = cv2.dilate(region.astype(np.uint8), kernel).astype(bool) & ~region
                neighbours = out[ring]
                neighbours = neighbours[neighbours != lab]
                if neighbours.size:
                    out[region] = np.bincount(neighbours).argmax()
                    changed = True
        if not changed:
            break
    return out


def fallback_map(
    content_labels: set[int],
    style_fractions: dict[int, float],
    min_fraction: float,
    nearest: dict[int, list[int]] | None = None,
    preferred: int | None = None,
) -> dict[int, int]:
    """For every content label the style photo lacks (under `min_fraction` of its pixels), the
    style label to use instead: the first style label in `nearest[label]` (closest first), else
    `preferred`, else the style's largest label."""
    present = {lab for lab, f in style_fractions.items() if f >= min_fraction}
    if not present:
        raise PvstError("the style photo has no region large enough to take a style from")
    largest = max(present, key=lambda lab: style_fractions[lab])
    mapping = {}
    for lab in sorted(content_labels - present):
        choice = next((c for c in (nearest or {}).get(lab, []) if c in present), None)
        if choice is None:
            choice = preferred if preferred in present else largest
        mapping[lab] = choice
    return mapping


WHOLE = "whole style"  # the name of the label whose style side is the whole photo


def style_mask(style_labels: np.ndarray, label: int, whole: int | None = None) -> np.ndarray:
    """Where in the style photo label `label` takes its look from: its own pixels, or every
    pixel for the `whole` label."""
    if label == whole:
        return np.ones(style_labels.shape, bool)
    return style_labels == label


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


# -- semantic segmentation (torchvision) -------------------------------------------------------
SEMANTIC_MODELS = (
    "deeplabv3_resnet50",
    "deeplabv3_resnet101",
    "deeplabv3_mobilenet_v3_large",
    "fcn_resnet50",
    "fcn_resnet101",
    "lraspp_mobilenet_v3_large",
)
VOC_CLASSES = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
]


def load_semantic(weights: str | Path | None, model: str, device: str = "cpu"):
    """A torchvision segmentation model (21 VOC classes) with a user's weights file, e.g.
    deeplabv3_resnet50_coco-cd0a2569.pth."""
    import torchvision.models.segmentation as seg

    from pvst.weights import load_checked, read_state

    if model not in SEMANTIC_MODELS:
        raise PvstError(f"segmentation.semantic.model must be one of {SEMANTIC_MODELS}")
    if not weights or not Path(weights).is_file():
        raise PvstError(
            f"{weights}: weights file for {model} not found. Semantic segmentation needs "
            f"torchvision's {model} weights (COCO with VOC labels) saved where "
            "segmentation.semantic.weights points; pvst downloads nothing. Without them use "
            "segmentation.method: auto."
        )
    state = read_state(weights, model)
    aux = any(k.startswith("aux_classifier") for k in state)
    kwargs = {"weights": None, "num_classes": len(VOC_CLASSES), "weights_backbone": None}
    if not model.startswith("lraspp"):
        kwargs["aux_loss"] = aux
    net = getattr(seg, model)(**kwargs)
    load_checked(net, state, weights, model)
    return net.eval().to(device)


def semantic_scores(net, image: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Class log-probabilities (H×W×21) of an RGB uint8 image."""
    import torch

    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    x = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None]
    x = (x.float() / 255.0 - mean) / std
    with torch.inference_mode():
        out = net(x)["out"]
    return torch.log_softmax(out, 1)[0].permute(1, 2, 0).cpu().numpy()


# -- looking at it -----------------------------------------------------------------------------
PALETTE = np.array(
    [
        [31, 119, 180],
        [44, 160, 44],
        [40, 40, 40],
        [240, 240, 240],
        [214, 39, 40],
        [255, 221, 0],
        [127, 127, 127],
        [23, 190, 207],
        [148, 103, 189],
        [255, 127, 14],
        [140, 86, 75],
        [227, 119, 194],
        [188, 189, 34],
        [0, 128, 128],
        [128, 0, 0],
    ],
    np.uint8,
)


def label_colours(names: list[str]) -> np.ndarray:
    """A colour per label: DPST colour names get their own colour."""
    out = []
    for i, name in enumerate(names):
        if name in DPST_COLOURS:
            out.append(np.round(np.asarray(DPST_COLOURS[name]) * 255).astype(np.uint8))
        else:
            out.append(PALETTE[i % len(PALETTE)])
    return np.stack(out) if out else np.zeros((0, 3), np.uint8)


def overlay(
    image: np.ndarray, labels: np.ndarray, colours: np.ndarray, alpha: float = 0.5
) -> np.ndarray:
    """Labels blended over the picture, with their borders drawn."""
    tint = colours[np.clip(labels, 0, len(colours) - 1)]
    out = (image * (1 - alpha) + tint * alpha).astype(np.uint8)
    edge = (np.diff(labels, axis=0, prepend=labels[:1]) != 0) | (
        np.diff(labels, axis=1, prepend=labels[:, :1]) != 0
    )
    out[edge] = 255
    return out
