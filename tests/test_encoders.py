"""Encoders through the real loading code: timm's pretrained path from a local file, checkpoint files
with key mapping, torch.hub's download + hash check from a server on 127.0.0.1, the embeddings file."""

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from zsc import config as cfg
from zsc import datasets, tables, weights
from zsc.encoders import ENCODERS, STUDY_ENCODERS, build_network, embed, normalise, study_transform


def load(encoders, **extra):
    base = {"datasets": {"digits": {}}, "reducers": {"none": {}}, "clusterers": {"kmeans": {}}}
    return cfg.load({**base, "encoders": encoders, **extra})


def encoder_spec(name, **options):
    return load({name: options}).entry("encoders", name)


def build(spec, **kwargs):
    return ENCODERS.build(spec, native_size=224, device="cpu", **kwargs)


@pytest.fixture(scope="module")
def x():
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def test_study_transform_greyscale_to_normalised_rgb():
    img = Image.fromarray(np.full((28, 40), 255, dtype=np.uint8), mode="L")
    pixels = study_transform(224)(img)
    assert pixels.shape == (3, 224, 224) and pixels.dtype == torch.uint8
    out = normalise(pixels[None])[0]
    expected = [(1 - m) / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]
    np.testing.assert_allclose(out[:, 0, 0].numpy(), expected, rtol=1e-6)
    rgba = Image.new("RGBA", (50, 50), (255, 0, 0, 0))
    assert study_transform(32)(rgba).shape == (3, 32, 32)


def test_batched_normalisation_equals_torchvision_per_image():
    from torchvision import transforms as T

    rng = np.random.default_rng(0)
    imgs = [
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)),
        Image.fromarray(rng.integers(0, 256, (60, 30), dtype=np.uint8), mode="L"),
    ]
    reference = T.Compose(
        [
            T.Resize(32),
            T.CenterCrop(32),
            T.ToTensor(),
            T.Lambda(lambda t: t.expand(3, -1, -1)),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    ours = normalise(torch.stack([study_transform(32)(im) for im in imgs]))
    assert torch.equal(ours, torch.stack([reference(im) for im in imgs]))


def test_raw_pixels_never_upsample():
    raw = ENCODERS.build(encoder_spec("raw"), native_size=28, device="cpu")
    img = Image.fromarray(np.zeros((28, 28), dtype=np.uint8), mode="L")
    assert raw(torch.stack([raw.transform(img)])).shape == (1, 3 * 28 * 28)
    assert ENCODERS.build(encoder_spec("raw"), native_size=64, device="cpu").image_size == 32


def test_model_preprocessing_uses_the_models_own_transform():
    encoder = build(encoder_spec("t", type="timm", model="resnet10t", preprocessing="model"))
    assert encoder.preprocessing.startswith("timm data config:") and "crop_pct" in encoder.preprocessing
    pixels = encoder.transform(Image.fromarray(np.zeros((300, 400), dtype=np.uint8), mode="L"))
    assert pixels.dtype == torch.float32 and pixels.shape == (3, 176, 176)  # timm's own size, already normalised
    assert encoder.image_size == 176
    torchvision_study = build(encoder_spec("v", type="torchvision", model="resnet18"))
    assert torchvision_study.preprocessing.startswith("study: resize 224")


def test_random_init_timm_is_reproducible(x):
    spec = encoder_spec("r", type="timm", model="resnet10t")
    a, b = build(spec)(x), build(spec)(x)
    assert a.shape == (2, 512) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    other = build(encoder_spec("r", type="timm", model="resnet10t", init_seed=1))(x)
    assert not np.array_equal(a, other)


@pytest.fixture(scope="module")
def saved_timm(tmp_path_factory):
    """A trained-looking resnet10t (seed 5) saved as a plain state dict, and its reference output."""
    torch.manual_seed(5)
    import timm

    model = timm.create_model("resnet10t", num_classes=0).eval()
    path = tmp_path_factory.mktemp("ckpt") / "resnet10t.pth"
    torch.save(model.state_dict(), path)
    return path, model


def test_timm_pretrained_path_loads_local_file(saved_timm, x):
    path, model = saved_timm
    # No mapping declared: the file goes through timm's pretrained_cfg_overlay=dict(file=...) path.
    encoder = build(encoder_spec("t", type="timm", model="resnet10t", weights_file=str(path)), weights_path=str(path))
    with torch.inference_mode():
        np.testing.assert_array_equal(encoder(x), model(x).numpy())


def test_checkpoint_file_path_with_prefix_mapping(saved_timm, x, tmp_path):
    path, model = saved_timm
    wrapped = {"state_dict": {f"module.base_encoder.{k}": v for k, v in model.state_dict().items()}}
    wrapped["state_dict"]["module.momentum_encoder.conv1.0.weight"] = torch.zeros(1)  # dropped by the mapping
    wrapped["epoch"] = 100
    ckpt = tmp_path / "moco-style.pth.tar"
    torch.save(wrapped, ckpt)
    spec = encoder_spec(
        "t",
        type="timm",
        model="resnet10t",
        weights_file=str(ckpt),
        checkpoint_key="state_dict",
        key_prefixes={"module.base_encoder.": ""},
    )
    with torch.inference_mode():
        np.testing.assert_array_equal(build(spec, weights_path=str(ckpt))(x), model(x).numpy())


def test_torchvision_checkpoint_drops_classifier(tmp_path, x):
    import torchvision

    torch.manual_seed(3)
    reference = torchvision.models.resnet18().eval()
    path = tmp_path / "r18.pth"
    torch.save(reference.state_dict(), path)  # includes fc.*, unused by the embedding
    spec = encoder_spec("tv", type="torchvision", model="resnet18", weights_file=str(path))
    reference.fc = torch.nn.Identity()
    with torch.inference_mode():
        np.testing.assert_array_equal(build(spec, weights_path=str(path))(x), reference(x).numpy())


def test_mismatched_checkpoint_names_the_keys(saved_timm, tmp_path):
    path, model = saved_timm
    state = {k.replace("layer4.", "stage4."): v for k, v in model.state_dict().items()}
    bad = tmp_path / "renamed.pth"
    torch.save(state, bad)
    spec = encoder_spec("t", type="timm", model="resnet10t", weights_file=str(bad), ignore_keys=["^nothing$"])
    with pytest.raises(
        weights.WeightsError,
        match=r"renamed.pth: \d+ weights of the model are not in the checkpoint: layer4\.0\..*it has instead: stage4\.0\.",
    ):
        build(spec, weights_path=str(bad))
    with pytest.raises(weights.WeightsError, match=r"\d+ weights of the model are not in the checkpoint: conv1.weight"):
        build_network("torchvision:resnet18", 0, weights_path=str(path), load={})  # another architecture
    reshaped = dict(model.state_dict())
    reshaped["conv1.0.weight"] = torch.zeros(24, 3, 5, 5)
    torch.save(reshaped, bad)
    with pytest.raises(
        weights.WeightsError,
        match=r"renamed.pth: shapes differ from the model's: conv1.0.weight \(24, 3, 5, 5\) vs \(24, 3, 3, 3\)",
    ):
        build_network("timm:resnet10t", 0, weights_path=str(bad), load={})


@pytest.mark.parametrize("content", [b"not a checkpoint at all", b""])
def test_corrupt_checkpoint_gives_a_clear_error(tmp_path, content):
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(weights.WeightsError, match=r"broken.pth: not a readable checkpoint \(\w+"):
        weights.read_checkpoint(path)
    with pytest.raises(weights.WeightsError, match="checkpoint file not found"):
        weights.read_checkpoint(tmp_path / "absent.pth")


def test_truncated_checkpoint_gives_a_clear_error(saved_timm, tmp_path):
    path, _ = saved_timm
    cut = tmp_path / "cut.pth"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(weights.WeightsError, match=r"cut.pth: not a readable checkpoint"):
        weights.read_checkpoint(cut)
    for options in ({}, {"checkpoint_key": "state_dict"}):  # timm's pretrained path and the mapping path
        spec = encoder_spec("t", type="timm", model="resnet10t", weights_file=str(cut), **options)
        with pytest.raises(weights.WeightsError, match=r"cut.pth: not a readable checkpoint"):
            build(spec, weights_path=str(cut))


def test_mocov3_resnet50_mapping_on_a_moco_format_checkpoint(tmp_path, x):
    import torchvision

    torch.manual_seed(7)
    reference = torchvision.models.resnet50().eval()
    state = {f"module.base_encoder.{k}": v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    state["module.base_encoder.fc.0.weight"] = torch.zeros(4096, 2048)  # MoCo's projection head
    state["module.predictor.0.weight"] = torch.zeros(4096, 256)
    path = tmp_path / "r-50-1000ep.pth.tar"
    torch.save({"epoch": 1000, "arch": "resnet50", "state_dict": state}, path)
    encoder = build(encoder_spec("mocov3_resnet50"), weights_path=str(path))
    reference.fc = torch.nn.Identity()
    with torch.inference_mode():
        np.testing.assert_array_equal(encoder(x), reference(x).numpy())


def test_mae_average_pool_keeps_fc_norm_at_its_initial_value(tmp_path):
    import timm

    torch.manual_seed(2)
    pretrain = timm.create_model("vit_base_patch16_224", num_classes=0).state_dict()  # has norm.*, no fc_norm
    path = tmp_path / "mae_pretrain_vit_base.pth"
    torch.save({"model": pretrain}, path)
    encoder = build(encoder_spec("mae_pretrain_vit_base_global"), weights_path=str(path))
    module = encoder.module
    assert module.global_pool == "avg" and isinstance(module.norm, torch.nn.Identity)
    assert torch.equal(module.fc_norm.weight, torch.ones(768)) and torch.equal(module.fc_norm.bias, torch.zeros(768))
    assert torch.equal(module.blocks[3].attn.qkv.weight, pretrain["blocks.3.attn.qkv.weight"])


@pytest.mark.parametrize("name", [n for n, s in STUDY_ENCODERS.items() if not s.get("needs_file")])
def test_study_architectures_give_the_recorded_dimension(name):
    study = STUDY_ENCODERS[name]
    module = build_network(study["arch"], 0, study.get("arch_kwargs")).eval()
    with torch.inference_mode():
        out = module(torch.zeros(1, 3, 224, 224))
    assert out.shape == (1, study["dim"])


def test_study_entries_record_their_facts():
    entry = ENCODERS["mocov3_resnet50"]
    assert entry.info["study"]["dim"] == 2048 and entry.info["study"]["arch"] == "torchvision:resnet50"
    assert entry.info["weights"]({"weights_file": None})["url"].endswith("r-50-1000ep.pth.tar")
    assert entry.info["weights"]({"weights_file": "/local/copy.pth"}) is None
    with pytest.raises(cfg.ConfigError, match="encoders.ft_dino_vitb16: 'weights_file' is a required property"):
        encoder_spec("ft_dino_vitb16")


def test_checkpoint_series_becomes_one_encoder_per_file():
    config = load({"run": {"type": "timm", "model": "resnet10t", "checkpoints": {"ep10": "a.pth", "ep20": "b.pth"}}})
    assert list(config["encoders"]) == ["run@ep10", "run@ep20"]
    assert config.entry("encoders", "run@ep20")["weights_file"] == "b.pth"
    assert [r["encoder"] for r in config.runs()] == ["run@ep10", "run@ep20"]


def test_fetch_downloads_and_verifies_the_hash(server, saved_timm, tmp_path):
    served, url = server
    path, _ = saved_timm
    (served / "resnet10t.pth").write_bytes(path.read_bytes())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    source = {"kind": "url", "url": f"{url}resnet10t.pth", "sha256_prefix": digest[:8]}
    receipt = tmp_path / "weights" / (weights.source_id(source) + ".json")
    weights.fetch(source, str(receipt), weights_dir=str(tmp_path / "weights"))
    record = json.loads(receipt.read_text())
    assert record["files"][0]["sha256"] == digest
    assert weights.local_file(str(receipt)) == str(tmp_path / "weights" / "url" / "resnet10t.pth")

    tampered = {**source, "sha256_prefix": "00000000"}
    other_dir = tmp_path / "other"
    with pytest.raises(RuntimeError, match="invalid hash value"):
        weights.fetch(tampered, str(other_dir / "r.json"), weights_dir=str(other_dir))
    assert not (other_dir / "url" / "resnet10t.pth").exists() and not (other_dir / "r.json").exists()


def test_embed_writes_ordered_float32_file(tmp_path):
    config = load(
        {"r": {"type": "timm", "model": "resnet10t", "image_size": 32}},
        datasets={"digits": {"max_samples": 40}},
        embedding={"device": "cpu", "batch_size": 16},
    )
    manifest = tmp_path / "m.parquet"
    datasets.prepare(config.entry("datasets", "digits"), tmp_path, manifest)
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.parquet"
        embed(manifest, out, config.entry("datasets", "digits"), config.entry("encoders", "r"), tmp_path, config["embedding"])
        outs.append(out)
    data, meta = tables.read(outs[0])
    manifest_data, _ = tables.read(manifest)
    np.testing.assert_array_equal(data["index"], manifest_data["index"])
    np.testing.assert_array_equal(data["label"], manifest_data["label"])
    assert data[tables.VECTOR].shape == (40, 512) and data[tables.VECTOR].dtype == np.float32
    assert meta["encoder"] == "r" and meta["image_size"] == 32 and meta["dataset"] == "digits"
    assert meta["preprocessing"].startswith("study: resize 32")
    assert outs[0].read_bytes() == outs[1].read_bytes()
