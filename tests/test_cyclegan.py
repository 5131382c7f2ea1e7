import json

import numpy as np
import pytest
import torch
from PIL import Image

from pvst import cyclegan, media
from pvst.errors import PvstError
from pvst.params import CycleganParams
from pvst.pipeline import samples
from pvst.pipeline.job import Job
from pvst.stages import cyclegan as cyclegan_stage
from pvst.stages.frames import Frames, save
from pvst.tools import cyclegan_train


def public_generator_layout() -> dict[str, tuple[int, ...]]:
    """Keys and shapes of pytorch-CycleGAN-and-pix2pix's resnet_9blocks generator (ngf 64),
    written from the architecture: c7s1-64, d128, d256, 9 residual blocks, u128, u64, c7s1-3.
    Norm layers (instance norm, no affine) hold no tensors."""
    shapes = {
        "model.1": ((64, 3, 7, 7), 64),
        "model.4": ((128, 64, 3, 3), 128),
        "model.7": ((256, 128, 3, 3), 256),
        "model.19": ((256, 128, 3, 3), 128),  # ConvTranspose2d weights are (in, out, k, k)
        "model.22": ((128, 64, 3, 3), 64),
        "model.26": ((3, 64, 7, 7), 3),
    }
    for block in range(10, 19):
        for conv in (1, 5):
            shapes[f"model.{block}.conv_block.{conv}"] = ((256, 256, 3, 3), 256)
    out = {}
    for name, (w, b) in shapes.items():
        out[f"{name}.weight"] = w
        out[f"{name}.bias"] = (b,)
    return out


def test_generator_matches_the_public_layout():
    sd = cyclegan.ResnetGenerator().state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == public_generator_layout()
    assert sum(v.numel() for v in sd.values()) == 11_378_179


def test_discriminator_is_the_70x70_patchgan():
    sd = cyclegan.NLayerDiscriminator().state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items() if k.endswith("weight")} == {
        "model.0.weight": (64, 3, 4, 4),
        "model.2.weight": (128, 64, 4, 4),
        "model.5.weight": (256, 128, 4, 4),
        "model.8.weight": (512, 256, 4, 4),
        "model.11.weight": (1, 512, 4, 4),
    }
    assert cyclegan.NLayerDiscriminator()(torch.zeros(1, 3, 70, 70)).shape == (1, 1, 6, 6)


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    net = cyclegan.ResnetGenerator()
    path = tmp_path_factory.mktemp("ckpt") / "latest_net_G.pth"
    torch.save(net.state_dict(), path)
    return path, net.eval()


def test_load_round_trip_and_instance_norm_quirks(tmp_path, random_checkpoint):
    path, net = random_checkpoint
    loaded = cyclegan.load_generator(path)
    x = torch.rand(1, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))
    # old PyTorch saved running stats for InstanceNorm; DataParallel added "module."
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    state["module.model.2.running_mean"] = torch.zeros(64)
    state["module.model.2.running_var"] = torch.ones(64)
    state["module.model.10.conv_block.2.num_batches_tracked"] = torch.tensor(0)
    quirky = tmp_path / "old.pth"
    torch.save(state, quirky)
    with torch.no_grad():
        torch.testing.assert_close(cyclegan.load_generator(quirky)(x), net(x))


def test_bad_checkpoints_say_what_does_not_match(tmp_path, random_checkpoint):
    (tmp_path / "junk.pth").write_text("not torch")
    with pytest.raises(PvstError, match="not a PyTorch checkpoint"):
        cyclegan.load_generator(tmp_path / "junk.pth")
    torch.save(cyclegan.NLayerDiscriminator().state_dict(), tmp_path / "d.pth")
    with pytest.raises(PvstError, match="not a ResnetGenerator checkpoint"):
        cyclegan.load_generator(tmp_path / "d.pth")
    _, net = random_checkpoint
    state = net.state_dict()
    state["model.4.weight"] = torch.zeros(128, 64, 5, 5)
    del state["model.26.bias"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(PvstError) as err:
        cyclegan.load_generator(tmp_path / "bad.pth")
    assert "model.26.bias" in str(err.value) and "model.4.weight" in str(err.value)
    with pytest.raises(PvstError, match="weights file not found"):
        cyclegan.load_generator(tmp_path / "none.pth")


def test_stage_translates_every_frame_at_a_multiple_of_4(tmp_path, tiny_clip, random_checkpoint):
    path, _ = random_checkpoint
    frames = np.stack(list(media.read_frames(tiny_clip, (66, 30))))[:5]
    save(tmp_path / "frames.h5", frames, fps=25)
    params = CycleganParams.of(
        {"checkpoint": str(path), "batch": 2, "multiple": 4, "device": "cpu"}
    )
    inputs = {"frames": tmp_path / "frames.h5", "checkpoint": path}
    cyclegan_stage.run(Job("cyclegan", params, inputs, tmp_path / "cg.h5"))
    with Frames(tmp_path / "cg.h5", stage="cyclegan") as out:
        assert len(out) == 5 and out.size == (64, 32) and out.fps == 25
        assert out[0].dtype == np.uint8
    same = cyclegan.translate(cyclegan.load_generator(path), frames[:3, :28, :64], batch=2)
    assert same.shape == (3, 28, 64, 3)


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    """Two real domains: crops of the rocket photo (dusk) and of the coffee photo (warm)."""
    root = tmp_path_factory.mktemp("domains")
    for name, src in (("a", "styles/rocket.jpg"), ("b", "styles/coffee.png")):
        (root / name).mkdir()
        img = media.read_image(samples.source(src))
        for i in range(4):
            Image.fromarray(img[i * 40 : i * 40 + 100, i * 60 : i * 60 + 140]).save(
                root / name / f"{i}.png"
            )
    return root


TINY = {
    "epochs": 4,
    "decay_epochs": 2,
    "load_size": 36,
    "crop_size": 32,
    "device": "cpu",
    "save_every": 3,
}


def test_training_lowers_the_cycle_loss_and_writes_its_records(domains, tmp_path):
    out = tmp_path / "run"
    history = cyclegan_train.train(domains / "a", domains / "b", out, TINY)
    assert len(history) == 24  # 6 epochs × 4 images
    cycle = [h["cycle_A"] + h["cycle_B"] for h in history]
    # GAN losses are noisy step to step; the cycle loss falls clearly on average (measured:
    # 9.3 over the first 4 steps, about 5.5 over the last 8)
    assert np.mean(cycle[-8:]) < 0.75 * np.mean(cycle[:4])
    assert history[-1]["lr"] < history[0]["lr"]  # the linear decay
    assert {"G_A", "G_B", "D_A", "D_B", "idt_A", "idt_B"} <= set(history[0])
    lines = (out / "losses.jsonl").read_text().splitlines()
    assert len(lines) == 24 and json.loads(lines[-1])["step"] == 23
    assert len(list((out / "samples").glob("epoch_*.png"))) == 6
    generator = cyclegan.load_generator(out / "latest_net_G_A.pth")  # the public layout
    assert generator(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_training_resumes_where_it_stopped(domains, tmp_path):
    out = tmp_path / "run"
    first = cyclegan_train.train(
        domains / "a", domains / "b", out, {**TINY, "max_steps": 3, "save_every": 1}
    )
    assert [h["step"] for h in first] == [0, 1, 2]
    second = cyclegan_train.train(
        domains / "a", domains / "b", out, {**TINY, "max_steps": 6, "save_every": 1}
    )
    assert [h["step"] for h in second] == [3, 4, 5]


def test_a_frames_artifact_can_be_a_domain(tmp_path, tiny_clip):
    frames = np.stack(list(media.read_frames(tiny_clip, (64, 28))))
    save(tmp_path / "f.h5", frames, fps=25)
    images = cyclegan_train.Images(tmp_path / "f.h5", 28, 24)
    assert len(images) == 12
    import random

    assert images.sample(3, random.Random(0)).shape == (24, 24, 3)
    with pytest.raises(PvstError, match="no images"):
        cyclegan_train.Images(tmp_path, 28, 24)


class _RunsCode:
    """A pickle that would create a file when loaded without weights_only."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_training_state_that_would_run_code_is_refused(domains, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "code-ran"
    torch.save({"G_A": _RunsCode(marker)}, out / "training_state.pt")
    with pytest.raises(PvstError, match=r"training_state\.pt: not a training state"):
        cyclegan_train.train(domains / "a", domains / "b", out, {**TINY, "max_steps": 1})
    assert not marker.exists()
    # a state dict of the wrong kind is named too
    torch.save({"epoch": 1}, out / "training_state.pt")
    with pytest.raises(PvstError, match="missing G_A"):
        cyclegan_train.train(domains / "a", domains / "b", out, {**TINY, "max_steps": 1})
