"""Datasets through their real loading code: sklearn's digits, torchvision's Fashion-MNIST."""

import functools
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from zsc import config as cfg
from zsc import datasets, tables

DEBIAN = datasets.DEBIAN_FASHION_MNIST
needs_debian = pytest.mark.skipif(
    not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)"
)


def dataset_spec(name, **options):
    base = {"encoders": {"raw": {}}, "reducers": {"none": {}}, "clusterers": {"kmeans": {}}}
    return cfg.load({**base, "datasets": {name: options}}).entry("datasets", name)


def test_digits_split():
    images = datasets.open_split(dataset_spec("digits"), Path("unused"))
    assert len(images) == 1797 and images.classes == [str(i) for i in range(10)]
    img = images.image(0)
    assert img.mode == "L" and img.size == (8, 8)
    assert np.asarray(img)[0, 2] == 80  # digits are 0..16; stretched to 0..255 (5 -> 80)


def test_stratified_subsample_keeps_proportions_and_is_seeded():
    labels = np.repeat(np.arange(4), [100, 200, 300, 400])
    keep = datasets.stratified_subsample(labels, 100, seed=0)
    assert len(keep) == 100 and np.all(np.diff(keep) > 0)
    np.testing.assert_array_equal(np.bincount(labels[keep]), [10, 20, 30, 40])
    np.testing.assert_array_equal(keep, datasets.stratified_subsample(labels, 100, seed=0))
    assert not np.array_equal(keep, datasets.stratified_subsample(labels, 100, seed=1))
    np.testing.assert_array_equal(datasets.stratified_subsample(labels, None, seed=0), np.arange(1000))


def test_prepare_writes_manifest(tmp_path):
    path = tmp_path / "manifest.parquet"
    datasets.prepare(dataset_spec("digits", max_samples=50), tmp_path, path)
    data, meta = tables.read(path)
    assert len(data["index"]) == 50 and np.all(np.bincount(data["label"]) == 5)
    assert meta["dataset"] == "digits" and meta["n_source"] == 1797 and meta["max_samples"] == 50
    assert meta["classes"][:2] == ["0", "1"]


@needs_debian
def test_fashionmnist_from_debian_through_torchvision(tmp_path):
    path = tmp_path / "manifest.parquet"
    datasets.prepare(dataset_spec("fashionmnist"), tmp_path / "root", path)
    raw = tmp_path / "root" / "FashionMNIST" / "raw"
    assert (raw / "t10k-images-idx3-ubyte").stat().st_size == 10000 * 28 * 28 + 16  # extracted by torchvision
    data, meta = tables.read(path)
    assert np.all(np.bincount(data["label"]) == 1000)
    assert meta["classes"][0] == "T-shirt/top"


@pytest.fixture
def mirror(tmp_path):
    """Debian's archives served over HTTP on 127.0.0.1, as a download mirror."""
    served = tmp_path / "mirror"
    shutil.copytree(DEBIAN, served)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@needs_debian
def test_torchvision_download_and_checksum_from_local_mirror(tmp_path, mirror):
    _, url = mirror
    cls = datasets.fashion_mnist_class(md5s=datasets.DEBIAN_FASHION_MNIST_MD5, mirrors=[url])
    ds = cls(str(tmp_path / "root"), train=False, download=True)
    assert len(ds) == 10000 and ds.targets[:3].tolist() == [9, 2, 1]


@needs_debian
def test_tampered_archive_is_rejected(tmp_path, mirror):
    served, url = mirror
    archive = served / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(archive.read_bytes())
    data[-5] ^= 0xFF
    archive.write_bytes(bytes(data))
    cls = datasets.fashion_mnist_class(md5s=datasets.DEBIAN_FASHION_MNIST_MD5, mirrors=[url])
    with pytest.raises(RuntimeError, match="t10k-labels-idx1-ubyte.gz"):
        cls(str(tmp_path / "root"), train=False, download=True)
