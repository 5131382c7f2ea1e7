"""Training a CycleGAN (Zhu et al.): LSGAN losses, cycle weight 10, identity 0.5, an image pool
of 50, Adam 2e-4 (β₁ 0.5) kept for `epochs` then decayed linearly to zero over `decay_epochs`.

Domain A is a folder of images or a frames artifact (a video's frames); B a folder. Everything
needed to resume (networks, optimisers, pools, random states, epoch and step) is saved
atomically in OUT/training_state.pt every `save_every` epochs (about 430 MB); the generators
are also saved in the public layout (OUT/latest_net_G_A.pth translates A → B,
latest_net_G_B.pth B → A), losses go to
OUT/losses.jsonl and sample images to OUT/samples/.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pvst import media
from pvst.atomic import atomic_path
from pvst.cyclegan import NLayerDiscriminator, ResnetGenerator, from_model, to_model
from pvst.errors import PvstError
from pvst.logs import progress
from pvst.params import CycleganTrainParams
from pvst.pipeline import config
from pvst.tools import DEFAULT_CONFIG, arg, arguments, command, given_options

log = logging.getLogger(__name__)


class ImagePool:
    """Zhu et al.'s history of generated images: with probability ½ the discriminator sees an
    older fake (which the new one replaces) instead of the newest."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size, self.rng, self.images = size, rng, []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for img in images.detach():
            img = img[None]
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif self.rng.random() > 0.5:
                i = self.rng.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = img
            else:
                out.append(img)
        return torch.cat(out)


class Images:
    """A training domain: a folder of images or a frames artifact, with Zhu et al.'s
    augmentation (resize, random crop, random horizontal flip)."""

    def __init__(self, source: str | Path, load_size: int, crop_size: int) -> None:
        source = Path(source)
        self.load_size, self.crop_size = load_size, crop_size
        if source.is_dir():
            files = sorted(p for p in source.iterdir() if p.suffix.lower() in media.IMAGE_SUFFIXES)
            if not files:
                raise PvstError(
                    f"{source}: no images ({', '.join(media.IMAGE_SUFFIXES)}) in folder"
                )
            self.items = [media.read_image(p) for p in files]
        elif source.suffix == ".h5":
            from pvst.stages.frames import Frames

            with Frames(source, stage=None) as frames:
                self.items = [frames[t] for t in range(len(frames))]
        else:
            raise PvstError(f"{source}: expected a folder of images or a frames artifact (.h5)")
        if crop_size > load_size:
            raise PvstError(f"crop size {crop_size} is larger than load size {load_size}")
        self.source = source

    def __len__(self) -> int:
        return len(self.items)

    def sample(self, i: int, rng: random.Random) -> np.ndarray:
        img = self.items[i % len(self.items)]
        h, w = img.shape[:2]
        scale = self.load_size / min(h, w)
        img = media.resize_image(
            img, (max(self.crop_size, round(w * scale)), max(self.crop_size, round(h * scale)))
        )
        h, w = img.shape[:2]
        y, x = rng.randrange(h - self.crop_size + 1), rng.randrange(w - self.crop_size + 1)
        img = img[y : y + self.crop_size, x : x + self.crop_size]
        if rng.random() < 0.5:
            img = img[:, ::-1]
        return np.ascontiguousarray(img)


# What OUT/training_state.pt holds: tensors, numbers, strings, lists and tuples only, so that
# it loads with weights_only (no code runs).
STATE_KEYS = (
    "G_A",
    "G_B",
    "D_A",
    "D_B",
    "opt_G",
    "opt_D",
    "pool_A",
    "pool_B",
    "epoch",
    "step",
    "params",
    "rng",
    "torch_rng",
)


class Trainer:
    def __init__(
        self, a: Images, b: Images, out: Path, params: CycleganTrainParams, device
    ) -> None:
        self.a, self.b, self.out, self.p, self.device = a, b, out, params, device
        torch.manual_seed(params.seed)
        self.rng = random.Random(params.seed)
        self.G_A, self.G_B = ResnetGenerator().to(device), ResnetGenerator().to(device)
        self.D_A, self.D_B = NLayerDiscriminator().to(device), NLayerDiscriminator().to(device)
        betas = (params.beta1, 0.999)
        self.opt_G = torch.optim.Adam(
            [*self.G_A.parameters(), *self.G_B.parameters()], lr=params.lr, betas=betas
        )
        self.opt_D = torch.optim.Adam(
            [*self.D_A.parameters(), *self.D_B.parameters()], lr=params.lr, betas=betas
        )
        self.pool_A = ImagePool(params.pool, self.rng)  # fakes of domain B, for D_A
        self.pool_B = ImagePool(params.pool, self.rng)
        self.epoch, self.step = 0, 0
        self.mse, self.l1 = nn.MSELoss(), nn.L1Loss()

    # -- state --------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.out / "training_state.pt"

    def save(self) -> None:
        state = {
            "G_A": self.G_A.state_dict(),
            "G_B": self.G_B.state_dict(),
            "D_A": self.D_A.state_dict(),
            "D_B": self.D_B.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "pool_A": self.pool_A.images,
            "pool_B": self.pool_B.images,
            "epoch": self.epoch,
            "step": self.step,
            "params": json.dumps(self.p.to_dict()),
            "rng": self.rng.getstate(),
            "torch_rng": torch.get_rng_state(),
        }
        for path, obj in (
            (self.state_file, state),
            (self.out / "latest_net_G_A.pth", self.G_A.state_dict()),
            (self.out / "latest_net_G_B.pth", self.G_B.state_dict()),
        ):
            with atomic_path(path) as tmp:
                torch.save(obj, tmp)

    def load(self) -> bool:
        """Resume from OUT/training_state.pt. It is read as tensors and plain values only
        (`weights_only`): a file that would run code when unpickled is refused, not run."""
        if not self.state_file.is_file():
            return False
        try:
            state = torch.load(self.state_file, map_location=self.device, weights_only=True)
        except Exception as exc:
            raise PvstError(
                f"{self.state_file}: not a training state pvst can resume from: pvst reads only "
                f"tensors and plain values from it, never code ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200]}); move it away to start afresh"
            ) from None
        missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
        if missing:
            raise PvstError(
                f"{self.state_file}: not a training state pvst wrote (missing "
                f"{', '.join(missing)}); move it away to start afresh"
            )
        for name in ("G_A", "G_B", "D_A", "D_B", "opt_G", "opt_D"):
            getattr(self, name).load_state_dict(state[name])
        self.pool_A.images, self.pool_B.images = list(state["pool_A"]), list(state["pool_B"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        torch.set_rng_state(state["torch_rng"].cpu())
        log.info("resuming %s at epoch %d, step %d", self.out, self.epoch, self.step)
        return True

    # -- training -----------------------------------------------------------------------------
    def learning_rate(self, epoch: int) -> float:
        """Constant for `epochs`, then linearly down towards zero over `decay_epochs`."""
        decay = max(0, epoch - self.p.epochs) / float(self.p.decay_epochs + 1)
        return self.p.lr * (1.0 - decay)

    def batch(self, domain: Images, start: int, random_pick: bool) -> torch.Tensor:
        n = self.p.batch
        idx = [self.rng.randrange(len(domain)) if random_pick else start + k for k in range(n)]
        return to_model(np.stack([domain.sample(i, self.rng) for i in idx]), self.device)

    def train_step(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, float]:
        lam_c, lam_i = self.p.lambda_cycle, self.p.lambda_identity
        for d in (self.D_A, self.D_B):
            d.requires_grad_(False)
        fake_B, fake_A = self.G_A(real_A), self.G_B(real_B)
        rec_A, rec_B = self.G_B(fake_B), self.G_A(fake_A)
        pred_A, pred_B = self.D_A(fake_B), self.D_B(fake_A)
        losses = {
            "G_A": self.mse(pred_A, torch.ones_like(pred_A)),
            "G_B": self.mse(pred_B, torch.ones_like(pred_B)),
            "cycle_A": self.l1(rec_A, real_A) * lam_c,
            "cycle_B": self.l1(rec_B, real_B) * lam_c,
        }
        if lam_i > 0:
            losses["idt_A"] = self.l1(self.G_A(real_B), real_B) * lam_c * lam_i
            losses["idt_B"] = self.l1(self.G_B(real_A), real_A) * lam_c * lam_i
        self.opt_G.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        self.opt_G.step()

        for d in (self.D_A, self.D_B):
            d.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        for name, d, real, fake in (
            ("D_A", self.D_A, real_B, self.pool_A.query(fake_B)),
            ("D_B", self.D_B, real_A, self.pool_B.query(fake_A)),
        ):
            p_real, p_fake = d(real), d(fake.detach())
            loss = 0.5 * (
                self.mse(p_real, torch.ones_like(p_real))
                + self.mse(p_fake, torch.zeros_like(p_fake))
            )
            loss.backward()
            losses[name] = loss
        self.opt_D.step()
        return {k: v.item() for k, v in losses.items()}

    def sample(self, real_A: torch.Tensor, real_B: torch.Tensor) -> None:
        with torch.no_grad():
            rows = [
                torch.cat([real_A, self.G_A(real_A), self.G_B(self.G_A(real_A))], 3),
                torch.cat([real_B, self.G_B(real_B), self.G_A(self.G_B(real_B))], 3),
            ]
        grid = from_model(torch.cat(rows, 2))[0]
        media.write_image(self.out / "samples" / f"epoch_{self.epoch:03d}.png", grid)

    def run(self) -> list[dict]:
        total_epochs = self.p.epochs + self.p.decay_epochs
        per_epoch = max(len(self.a), len(self.b)) // self.p.batch or 1
        history = []
        log_file = self.out / "losses.jsonl"
        while self.epoch < total_epochs:
            lr = self.learning_rate(self.epoch)
            for opt in (self.opt_G, self.opt_D):
                for group in opt.param_groups:
                    group["lr"] = lr
            first = self.epoch * per_epoch
            done_in_epoch = self.step - first
            bar = progress(
                range(done_in_epoch, per_epoch),
                per_epoch - done_in_epoch,
                f"epoch {self.epoch + 1}/{total_epochs}",
                "step",
            )
            real_A = real_B = None
            for i in bar:
                real_A = self.batch(self.a, i * self.p.batch, random_pick=False)
                real_B = self.batch(self.b, 0, random_pick=True)
                record = {
                    "epoch": self.epoch,
                    "step": self.step,
                    "lr": lr,
                    **self.train_step(real_A, real_B),
                }
                history.append(record)
                with open(log_file, "a") as f:
                    f.write(json.dumps(record) + "\n")
                self.step += 1
                if self.p.max_steps and self.step >= self.p.max_steps:
                    self.save()
                    return history
            if real_A is not None and (self.epoch + 1) % self.p.sample_every == 0:
                self.sample(real_A[:1], real_B[:1])
            self.epoch += 1
            if self.epoch % self.p.save_every == 0 or self.epoch == total_epochs:
                self.save()
            if history:
                last = history[-1]
                log.info(
                    "epoch %d/%d: lr %.2e, G_A %.3f, G_B %.3f, cycle %.3f + %.3f, D %.3f + %.3f",
                    self.epoch,
                    total_epochs,
                    lr,
                    last["G_A"],
                    last["G_B"],
                    last["cycle_A"],
                    last["cycle_B"],
                    last["D_A"],
                    last["D_B"],
                )
        return history


def train(
    a_source: str | Path, b_source: str | Path, out: str | Path, settings: Mapping[str, Any]
) -> list[dict]:
    """Train (or resume training) a CycleGAN between two domains, with `settings` over the
    cyclegan_train section's defaults; returns the loss records of the steps run now."""
    from pvst.device import pick_device

    defaults = config.defaults("cyclegan_train")
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise PvstError(f"cyclegan-train: unknown settings {unknown} (known: {sorted(defaults)})")
    p = CycleganTrainParams.of({**defaults, **settings})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(p.device)
    a = Images(a_source, p.load_size, p.crop_size)
    b = Images(b_source, p.load_size, p.crop_size)
    log.info(
        "CycleGAN: %d images in A (%s), %d in B (%s), %d+%d epochs, on %s",
        len(a),
        a.source,
        len(b),
        b.source,
        p.epochs,
        p.decay_epochs,
        device,
    )
    trainer = Trainer(a, b, out, p, device)
    trainer.load()
    return trainer.run()


def _training_options(p) -> None:
    """One option per setting of the schema's cyclegan_train section, its default shown."""
    train_schema = config.schema()["properties"]["cyclegan_train"]["properties"]
    types = {"integer": int, "number": float}
    for name, value in config.defaults("cyclegan_train").items():
        kinds = train_schema[name].get("type", "string")
        kinds = [kinds] if isinstance(kinds, str) else kinds
        kind = next((types[k] for k in kinds if k in types), str)
        what = train_schema[name].get("description", name.replace("_", " ")).rstrip(".")
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, help=f"{what} (default {value})")


@command("cyclegan-train")
@arg("a", help="domain A: a folder of images, or a frames artifact (.h5)")
@arg("b", help="domain B: a folder of images")
@arg("--out", required=True, help="folder for checkpoints, losses and samples")
@arg("--config", help=f"take cyclegan_train from here (default {DEFAULT_CONFIG}, if present)")
@arguments(_training_options)
def train_command(args) -> None:
    # the configuration's cyclegan_train section (when there is a configuration), then options
    path = Path(args.config or DEFAULT_CONFIG)
    base = config.load(path)["cyclegan_train"] if args.config or path.is_file() else {}
    given = {k: getattr(args, k, None) for k in config.defaults("cyclegan_train")}
    history = train(args.a, args.b, args.out, {**base, **given_options(given)})
    if history:
        log.info(
            "trained %d steps; last: %s",
            len(history),
            {k: round(v, 4) for k, v in history[-1].items() if isinstance(v, float)},
        )
