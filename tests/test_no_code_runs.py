"""No file a user hands pvst runs code: every torch file is read with weights_only, and a
pickle that would run code is refused with the file's name, its code never run."""

import pytest
import torch

from pvst import cyclegan, flow, vgg
from pvst.errors import PvstError
from pvst.regions import semantic


class RunsCode:
    """Unpickled without weights_only, this creates the file `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def crafted(tmp_path):
    """A .pth file whose unpickling would run code, and the file that code would create."""
    marker = tmp_path / "code-ran"
    path = tmp_path / "crafted.pth"
    torch.save({"state_dict": {"conv.weight": RunsCode(marker)}}, path)
    return path, marker


LOADERS = {
    "cyclegan checkpoint": lambda p: cyclegan.load_generator(p),
    "raft weights": lambda p: flow.load_raft(p, "small"),
    "semantic weights": lambda p: semantic.load_semantic(p, "lraspp_mobilenet_v3_large"),
    "vgg19 weights": lambda p: vgg._load(str(p), "max"),
}


@pytest.mark.parametrize("loader", LOADERS)
def test_a_weights_file_that_would_run_code_is_refused(crafted, loader):
    path, marker = crafted
    with pytest.raises(PvstError) as err:
        LOADERS[loader](path)
    assert str(path) in str(err.value)
    assert not marker.exists()
