"""CycleGAN (Zhu et al.) networks compatible with the public pytorch-CycleGAN-and-pix2pix
checkpoints, loading them, and translating frames.

The generator is their `ResnetGenerator` (9 residual blocks, ngf 64, instance norm without
affine parameters or running statistics, reflection padding, no dropout; inputs in [−1, 1],
tanh out), the discriminator their 70×70 PatchGAN (`NLayerDiscriminator`, 3 layers, ndf 64).
Module order, and so the state-dict key names (`model.1.weight`, `model.10.conv_block.1.weight`,
…), follow theirs, so a `latest_net_G.pth` such as summer2winter_yosemite's loads directly.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pvst.errors import PvstError

log = logging.getLogger(__name__)


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=True),
            _norm(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=True),
            _norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """c7s1-64, d128, d256, 9 × R256, u128, u64, c7s1-3 (tanh)."""

    def __init__(self, ngf: int = 64, n_blocks: int = 9, channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(channels, ngf, 7, bias=True),
            _norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):
            m = 2**i
            layers += [
                nn.Conv2d(ngf * m, ngf * m * 2, 3, stride=2, padding=1, bias=True),
                _norm(ngf * m * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for i in range(2):
            m = 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(
                    ngf * m, ngf * m // 2, 3, stride=2, padding=1, output_padding=1, bias=True
                ),
                _norm(ngf * m // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """70×70 PatchGAN: C64 (no norm), C128, C256, C512 (stride 1), then a 1-channel map."""

    def __init__(self, ndf: int = 64, n_layers: int = 3, channels: int = 3) -> None:
        super().__init__()
        seq: list[nn.Module] = [
            nn.Conv2d(channels, ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            seq += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=True),
                _norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        seq += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=True),
            _norm(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _architecture(state: dict) -> tuple[int, int]:
    """(ngf, residual blocks) of a generator state dict in the public layout."""
    first = state.get("model.1.weight")
    if first is None or first.dim() != 4:
        raise PvstError("no 'model.1.weight' convolution: not a ResnetGenerator checkpoint")
    blocks = {int(k.split(".")[1]) for k in state if ".conv_block." in k}
    return int(first.shape[0]), len(blocks)


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> ResnetGenerator:
    """A CycleGAN generator from a pytorch-CycleGAN-and-pix2pix checkpoint (latest_net_G.pth,
    latest_net_G_A.pth, …) or one saved by `pvst cyclegan-train`.

    Their InstanceNorm quirk is handled: checkpoints saved by old PyTorch carry running_mean,
    running_var and num_batches_tracked for InstanceNorm layers that have none; those keys are
    dropped. Anything else that does not match is reported key by key.
    """
    from pvst.weights import load_checked, read_state

    state = read_state(path, "CycleGAN generator")
    state = {
        k: v
        for k, v in state.items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    }
    try:
        ngf, blocks = _architecture(state)
    except PvstError as exc:
        raise PvstError(f"{path}: {exc}") from None
    if (ngf, blocks) != (64, 9):
        log.info("%s: a ResnetGenerator with ngf %d and %d blocks", path, ngf, blocks)
    net = ResnetGenerator(ngf=ngf, n_blocks=blocks)
    load_checked(net, state, path, f"ResnetGenerator (ngf {ngf}, {blocks} blocks)")
    return net.eval().to(device)


def to_model(frames: np.ndarray, device) -> torch.Tensor:
    """uint8 N×H×W×3 to N×3×H×W in [−1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def from_model(x: torch.Tensor) -> np.ndarray:
    """N×3×H×W in [−1, 1] to uint8 N×H×W×3."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def multiple_of(size: tuple[int, int], k: int) -> tuple[int, int]:
    """(width, height) rounded to the nearest multiple of k (at least k)."""
    return tuple(max(k, round(s / k) * k) for s in size)


def translate(net: ResnetGenerator, frames: np.ndarray, batch: int = 4) -> np.ndarray:
    """Translate uint8 frames (N×H×W×3, sides multiples of 4) in batches."""
    device = next(net.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, len(frames), batch):
            out.append(from_model(net(to_model(frames[i : i + batch], device))))
    return np.concatenate(out)
