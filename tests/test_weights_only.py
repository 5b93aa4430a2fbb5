"""Checkpoints are read with weights_only=True on every path: a file holding a pickled object that would
run code when unpickled is refused with one line naming it, and the code never runs."""

import pathlib

import pytest
import torch

from zsc import config as cfg
from zsc import weights
from zsc.encoders import ENCODERS, build_network

REFUSED = (
    r"refused: the checkpoint holds pickled Python objects, not only weights \(.*Unsupported "
    r"global.*\); checkpoints are read with weights_only=True"
)


class Payload:
    """Unpickling it creates the marker file: the proof that unpickling ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.fixture
def booby_trapped(tmp_path):
    """A real resnet18 state dict with one extra entry holding the payload."""
    import torchvision

    marker = tmp_path / "code-ran"
    state = dict(torchvision.models.resnet18().state_dict())
    state["extra"] = Payload(marker)

    def write(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
        return path

    return write, marker


def encoder_spec(name, **options):
    base = {"datasets": {"digits": {}}, "reducers": {"none": {}}, "clusterers": {"kmeans": {}}}
    return cfg.load({**base, "encoders": {name: options}}).entry("encoders", name)


def test_a_pickled_object_is_refused_on_every_path(tmp_path, booby_trapped):
    write, marker = booby_trapped
    path = write(tmp_path / "trap.pth")
    with pytest.raises(weights.WeightsError, match=rf"^{path}: {REFUSED}"):
        weights.read_checkpoint(path)  # every local weights_file and every fetched url checkpoint
    with pytest.raises(weights.WeightsError, match=REFUSED):
        build_network("torchvision:resnet18", 0, weights_path=str(path), load={})  # torchvision + mapping
    spec = encoder_spec("t", type="timm", model="resnet18", weights_file=str(path))
    with pytest.raises(weights.WeightsError, match=REFUSED):
        ENCODERS.build(spec, native_size=None, device="cpu", weights_path=str(path))  # timm's own pretrained path
    # torchvision's weights: the fetch rule reads its download back (torch.hub's default would be
    # weights_only=False). The file stands where the download lands, so nothing is downloaded.
    weights_dir = tmp_path / "weights"
    cached = write(weights_dir / "torch" / "resnet18-f37072fd.pth")
    source = {"kind": "torchvision", "weights": "ResNet18_Weights.IMAGENET1K_V1"}
    with pytest.raises(weights.WeightsError, match=rf"^{cached}: {REFUSED}"):
        weights.fetch(source, str(tmp_path / "receipt.json"), weights_dir=str(weights_dir))
    assert not (tmp_path / "receipt.json").exists()
    assert not marker.exists()  # the payload never ran


def test_a_plain_state_dict_still_loads(tmp_path):
    import torchvision

    path = tmp_path / "plain.pth"
    torch.save({"state_dict": torchvision.models.resnet18().state_dict(), "epoch": 3}, path)
    assert set(weights.read_checkpoint(path)) == {"state_dict", "epoch"}
