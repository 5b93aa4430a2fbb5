"""Encoders: the study's preprocessing, raw pixels, a random-init timm network, the embeddings file."""

import numpy as np
import torch
from PIL import Image

from zsc import config as cfg
from zsc import datasets, tables
from zsc.encoders import ENCODERS, embed, study_transform


def encoder_spec(name, **options):
    base = {"datasets": {"digits": {}}, "reducers": {"none": {}}, "clusterers": {"kmeans": {}}}
    return cfg.load({**base, "encoders": {name: options}}).entry("encoders", name)


def test_study_transform_greyscale_to_normalised_rgb():
    img = Image.fromarray(np.full((28, 40), 255, dtype=np.uint8), mode="L")
    out = study_transform(224)(img)
    assert out.shape == (3, 224, 224)
    np.testing.assert_allclose(out[:, 0, 0].numpy(), [(1 - m) / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))], rtol=1e-6)


def test_raw_pixels_never_upsample():
    raw = ENCODERS.build(encoder_spec("raw"), native_size=28, device="cpu")
    img = Image.fromarray(np.zeros((28, 28), dtype=np.uint8), mode="L")
    assert raw(torch.stack([raw.transform(img)])).shape == (1, 3 * 28 * 28)
    raw32 = ENCODERS.build(encoder_spec("raw"), native_size=64, device="cpu")
    assert raw32.image_size == 32


def test_random_init_timm_is_reproducible():
    spec = encoder_spec("r", type="timm", model="resnet10t", image_size=32)
    x = torch.randn(4, 3, 32, 32)
    a = ENCODERS.build(spec, native_size=8, device="cpu")(x)
    b = ENCODERS.build(spec, native_size=8, device="cpu")(x)
    assert a.shape == (4, 512) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def test_embed_writes_ordered_float32_file(tmp_path):
    base = {"encoders": {"r": {"type": "timm", "model": "resnet10t", "image_size": 32}}, "reducers": {"none": {}}}
    config = cfg.load({**base, "datasets": {"digits": {"max_samples": 40}}, "clusterers": {"kmeans": {}}})
    manifest = tmp_path / "m.parquet"
    datasets.prepare(config.entry("datasets", "digits"), tmp_path, manifest)
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.parquet"
        embed(manifest, out, config.entry("datasets", "digits"), config.entry("encoders", "r"), tmp_path, {"device": "cpu", "batch_size": 16})
        outs.append(out)
    data, meta = tables.read(outs[0])
    manifest_data, _ = tables.read(manifest)
    np.testing.assert_array_equal(data["index"], manifest_data["index"])
    np.testing.assert_array_equal(data["label"], manifest_data["label"])
    assert data[tables.VECTOR].shape == (40, 512) and data[tables.VECTOR].dtype == np.float32
    assert meta["encoder"] == "r" and meta["image_size"] == 32 and meta["dataset"] == "digits"
    assert outs[0].read_bytes() == outs[1].read_bytes()
