"""Datasets through their real loading code: sklearn's digits, torchvision's classes downloading from
a server on 127.0.0.1 (archives built here, or Debian's real Fashion-MNIST files), image folders."""

import io
import logging
import pickle
import shutil
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from zsc import config as cfg
from zsc import datasets, tables
from zsc.encoders import _to_rgb_or_grey, study_transform

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


def test_carve_is_stratified_and_seeded():
    labels = np.repeat(np.arange(10), 100)
    rest, carved = datasets.carve(labels, 0.15)
    assert len(carved) == 150 and np.all(np.bincount(labels[carved]) == 15)
    assert len(np.intersect1d(rest, carved)) == 0 and len(rest) + len(carved) == 1000
    np.testing.assert_array_equal(carved, datasets.carve(labels, 0.15)[1])


def test_prepare_writes_manifest(tmp_path):
    path = tmp_path / "manifest.parquet"
    datasets.prepare(dataset_spec("digits", max_samples=50), tmp_path, path)
    data, meta = tables.read(path)
    assert len(data["index"]) == 50 and np.all(np.bincount(data["label"]) == 5)
    assert meta["dataset"] == "digits" and meta["n_source"] == 1797 and meta["max_samples"] == 50
    assert meta["classes"][:2] == ["0", "1"]
    assert "path" not in data  # a library dataset's samples are named by their index alone


def test_every_study_dataset_is_registered():
    study = (
        "imagenet imagenetv2 cifar10 cifar100 in9original in9onlyfg in9mixedrand imagenet-r imagenet-sketch imagenet-o lsun "
        "places365 aircraft stanfordcars flowers102 nabirds inaturalist bioscan1m celeba utkface breakhis dtd eurosat mnist "
        "fashionmnist svhn"
    ).split()
    assert len(study) == 26
    registered = datasets.DATASETS.names()
    assert [name for name in study if name not in registered] == []
    groups = [datasets.DATASETS[name].info["group"] for name in study]
    assert {g: groups.count(g) for g in set(groups)} == {
        "In-domain": 5,
        "Domain-shift": 4,
        "Near-OOD": 3,
        "Fine-grained": 6,
        "Far-OOD": 8,
    }
    for name in ("in9nofg", "in9onlybgt", "in9mixedsame", "imagenette", "imagewoof", "imagefolder", "digits"):
        assert name in registered
    assert datasets.default_root("in9onlyfg") == datasets.default_root("in9mixedsame") == "resources/datasets/in9"


def test_dataset_without_download_names_the_layout(tmp_path):
    with pytest.raises(
        datasets.DatasetError,
        match=r"imagenet: .*imagenet/val not found\. ImageNet needs a licence: place the validation set as "
        r"resources/datasets/imagenet/val/<wnid>/\*\.JPEG",
    ):
        datasets.open_split(dataset_spec("imagenet"), tmp_path / "imagenet", download=True)


# --- torchvision's download, checksum and extraction code against 127.0.0.1 ------------------------


def cifar10_archive(n_per_class=3) -> tuple[bytes, dict]:
    """A tar.gz in CIFAR-10's layout (pickled batches), and the MD5s of its member files."""
    import hashlib

    rng = np.random.default_rng(0)
    members, md5s = {}, {}

    def batch(n):
        labels = list(np.repeat(np.arange(10), n))
        return pickle.dumps({"data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8), "labels": labels})

    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        members[name] = batch(n_per_class)
    members["batches.meta"] = pickle.dumps({"label_names": [f"class{i}" for i in range(10)]})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            md5s[name] = hashlib.md5(data).hexdigest()
    return buffer.getvalue(), md5s


@pytest.fixture
def cifar10_checksums(monkeypatch):
    """torchvision's CIFAR10 with the checksums of the archive built here (its own are for the real one)."""
    import hashlib

    from torchvision.datasets import CIFAR10

    archive, md5s = cifar10_archive()
    monkeypatch.setattr(CIFAR10, "tgz_md5", hashlib.md5(archive).hexdigest())
    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", md5s[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5s["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5s["batches.meta"]})
    return archive


def test_cifar10_downloads_verifies_and_extracts_from_a_mirror(tmp_path, server, cifar10_checksums):
    served, url = server
    (served / "cifar-10-python.tar.gz").write_bytes(cifar10_checksums)
    manifest = tmp_path / "manifest.parquet"
    spec = dataset_spec("cifar10", mirror=url)
    datasets.prepare(spec, tmp_path / "root", manifest)
    data, meta = tables.read(manifest)
    assert len(data["label"]) == 30 and np.all(np.bincount(data["label"]) == 3)
    assert meta["classes"][:2] == ["class0", "class1"]
    assert (tmp_path / "root/cifar-10-batches-py/test_batch").exists()
    assert datasets.is_available("cifar10", tmp_path / "root")
    assert datasets.open_split(spec, tmp_path / "root").image(0).size == (32, 32)


def test_tampered_archive_is_rejected_and_deleted(tmp_path, server, cifar10_checksums):
    served, url = server
    data = bytearray(cifar10_checksums)
    data[len(data) // 2] ^= 0xFF
    (served / "cifar-10-python.tar.gz").write_bytes(bytes(data))
    root = tmp_path / "root"
    with pytest.raises(datasets.DatasetError, match="CIFAR10 under .*root: File not found or corrupted"):
        datasets.prepare(dataset_spec("cifar10", mirror=url), root, tmp_path / "manifest.parquet")
    assert [p for p in root.rglob("*") if p.is_file()] == []
    assert not (tmp_path / "manifest.parquet").exists()


@needs_debian
def test_fashionmnist_from_debian_through_torchvision(tmp_path):
    path = tmp_path / "manifest.parquet"
    datasets.prepare(dataset_spec("fashionmnist"), tmp_path / "root", path)
    raw = tmp_path / "root" / "FashionMNIST" / "raw"
    assert (raw / "t10k-images-idx3-ubyte").stat().st_size == 10000 * 28 * 28 + 16  # extracted by torchvision
    data, meta = tables.read(path)
    assert np.all(np.bincount(data["label"]) == 1000)
    assert meta["classes"][0] == "T-shirt/top"
    datasets.prepare(dataset_spec("fashionmnist", split="all"), tmp_path / "root", tmp_path / "all.parquet")
    assert np.all(np.bincount(tables.read(tmp_path / "all.parquet")[0]["label"]) == 7000)  # train + test


@needs_debian
def test_torchvision_download_and_checksum_from_local_mirror(tmp_path, server):
    served, url = server
    for name in datasets.DEBIAN_FASHION_MNIST_MD5:
        shutil.copy(DEBIAN / name, served / name)
    cls = datasets.fashion_mnist_class(md5s=datasets.DEBIAN_FASHION_MNIST_MD5, mirrors=[url])
    ds = cls(str(tmp_path / "root"), train=False, download=True)
    assert len(ds) == 10000 and ds.targets[:3].tolist() == [9, 2, 1]


@needs_debian
def test_mirror_with_other_checksums_is_rejected_and_cleaned(tmp_path, server):
    # Debian recompressed the archives: against torchvision's own MD5s they count as tampered.
    served, url = server
    for name in datasets.DEBIAN_FASHION_MNIST_MD5:
        shutil.copy(DEBIAN / name, served / name)
    root = tmp_path / "root"
    with pytest.raises(datasets.DatasetError, match="fashionmnist: could not obtain the files"):
        datasets.prepare(dataset_spec("fashionmnist", mirror=url), root, tmp_path / "m.parquet")
    assert [p for p in root.rglob("*") if p.is_file()] == []


# --- image folders ---------------------------------------------------------------------------------


def save(path: Path, image: Image.Image, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)


def rgb(size=(40, 30), value=128):
    return Image.new("RGB", size, (value, 255 - value, 7))


@pytest.fixture
def messy_folder(tmp_path):
    """An image folder as found in the wild: every mode, broken and odd files."""
    root = tmp_path / "photos"
    save(root / "cats/rgb.jpg", rgb())
    save(root / "cats/grey.png", Image.new("L", (33, 40), 90))
    save(root / "cats/rgba.png", Image.new("RGBA", (40, 40), (10, 20, 30, 0)))
    save(root / "cats/cmyk.jpg", Image.new("CMYK", (40, 40), (0, 50, 100, 0)))
    palette = Image.new("P", (40, 40), 3)
    save(root / "cats/palette.png", palette, transparency=3)
    save(root / "dogs/sixteen.png", Image.fromarray(np.full((40, 40), 65535, dtype=np.uint16)))
    save(root / "dogs/rgb.png", rgb(value=200))
    save(root / "dogs/nested/deeper.jpg", rgb(value=10))
    (root / "dogs/empty.jpg").write_bytes(b"")
    (root / "dogs/notes.txt").write_text("not an image")
    buffer = io.BytesIO()
    rgb((200, 200)).save(buffer, format="JPEG")
    (root / "dogs/truncated.jpg").write_bytes(buffer.getvalue()[:300])
    save(root / "dogs/tiny.png", rgb((2, 2)))
    save(root / "lonely/only.jpg", rgb())
    (root / ".hidden").mkdir()
    save(root / ".hidden/ignored.jpg", rgb())
    return root


def test_image_folder_skips_bad_files_and_names_them(messy_folder, tmp_path, caplog):
    spec = dataset_spec("photos", type="imagefolder", root=str(messy_folder))
    manifest = tmp_path / "manifest.parquet"
    with caplog.at_level(logging.WARNING):
        datasets.prepare(spec, messy_folder, manifest)
    data, meta = tables.read(manifest)
    assert meta["classes"] == ["cats", "dogs", "lonely"] and meta["n_skipped"] == 4
    assert np.bincount(data["label"]).tolist() == [5, 3, 1]
    log = caplog.text
    assert "skipped 4 of 13 files" in log
    for name, reason in [
        ("empty.jpg", "empty file"),
        ("notes.txt", "not an image"),
        ("truncated.jpg", "unreadable"),
        ("tiny.png", "2x2 pixels, smaller than min_image_size (8)"),
    ]:
        assert f"{name}: {reason}" in log
    assert "1 classes have a single image: lonely" in log
    # each kept file's path relative to the folder, beside its index: what the per-image tables show
    assert list(data["path"]) == ["cats/cmyk.jpg", "cats/grey.png", "cats/palette.png", "cats/rgb.jpg", "cats/rgba.png",
                                  "dogs/nested/deeper.jpg", "dogs/rgb.png", "dogs/sixteen.png", "lonely/only.jpg"]  # fmt: skip
    images = datasets.open_split(spec, messy_folder)
    assert [images.paths[i] for i in data["index"]] == list(data["path"])
    transform = study_transform(16)
    for index in data["index"]:  # every kept image, whatever its mode, becomes 3 x 16 x 16 uint8
        pixels = transform(images.image(int(index)))
        assert pixels.shape == (3, 16, 16) and str(pixels.dtype) == "torch.uint8"


def test_image_folder_can_stop_at_the_first_bad_file(messy_folder, tmp_path):
    spec = dataset_spec("photos", type="imagefolder", root=str(messy_folder), bad_images="error")
    with pytest.raises(datasets.DatasetError, match=r"imagefolder: .*dogs/empty.jpg: empty file"):
        datasets.prepare(spec, messy_folder, tmp_path / "m.parquet")
    assert not (tmp_path / "m.parquet").exists()


def test_sixteen_bit_and_palette_images_convert_faithfully(messy_folder):
    sixteen = _to_rgb_or_grey(Image.open(messy_folder / "dogs/sixteen.png"))
    assert sixteen.mode == "L" and np.asarray(sixteen).min() == 255  # 65535 -> 255, not clipped noise
    assert _to_rgb_or_grey(Image.open(messy_folder / "cats/palette.png")).mode == "RGB"


def test_decompression_bomb_sized_image(tmp_path):
    root = tmp_path / "clipart"
    save(root / "big/huge.png", Image.new("L", (10000, 10000)))  # 100 M pixels: Pillow warns above 89 M
    save(root / "big/small.png", rgb())
    save(root / "small/one.png", rgb())
    spec = dataset_spec("clipart", type="imagefolder", root=str(root))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read without Pillow's DecompressionBombWarning
        images = datasets.open_split(spec, root, download=True)
        assert images.bad == {} and images.image(0).size == (10000, 10000)
    strict = dataset_spec("clipart", type="imagefolder", root=str(root), max_image_pixels=50_000_000)
    bad = datasets.open_split(strict, root, download=True).bad
    assert [str(b) for b in bad.values()] == [f"{root}/big/huge.png: 10000x10000 pixels, more than max_image_pixels (50000000)"]


def test_flat_folder_is_unlabelled(tmp_path):
    for i in range(4):
        save(tmp_path / "flat" / f"{i}.png", rgb(value=i * 20))
    images = datasets.open_split(
        dataset_spec("f", type="imagefolder", root=str(tmp_path / "flat")), tmp_path / "flat", download=True
    )
    assert images.labels.tolist() == [-1] * 4 and images.classes == []


@pytest.mark.parametrize("make", ["missing", "empty", "only_bad"])
def test_folder_without_images_stops_with_one_line(tmp_path, make):
    root = tmp_path / "nothing"
    if make != "missing":
        root.mkdir()
    if make == "only_bad":
        (root / "a.txt").write_text("x")
    with pytest.raises(
        datasets.DatasetError,
        match=r"^imagefolder: (.* is not a folder|no files in .*|no usable images in .*a.txt: not an image\))$",
    ):
        datasets.open_split(dataset_spec("n", type="imagefolder", root=str(root)), root, download=True)


def test_image_folder_root_is_checked_before_any_job(messy_folder, tmp_path):
    from zsc.datasets.imagefolder import root_problem

    assert root_problem({"root": str(messy_folder)}) is None
    save(tmp_path / "unnamed" / "photo", rgb(), format="PNG")  # without an extension: Pillow may read it, the job says
    assert root_problem({"root": str(tmp_path / "unnamed")}) is None
    readable = {ext for ext, format_ in Image.registered_extensions().items() if format_ in Image.OPEN}
    assert datasets.images.IMAGE_EXTENSIONS <= readable
    (tmp_path / "hidden" / ".cache").mkdir(parents=True)
    save(tmp_path / "hidden" / ".cache" / "a.png", rgb())
    (tmp_path / "classes" / "cats").mkdir(parents=True)
    (tmp_path / "classes" / "stray.jpg").write_bytes(b"")  # beside the class folders: not read
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "notes.txt").write_text("not an image")
    assert {root: root_problem({"root": str(tmp_path / root)}) for root in ("absent", "hidden", "classes", "texts")} == {
        "absent": f"root: {tmp_path / 'absent'} does not exist",
        "hidden": f"root: {tmp_path / 'hidden'} holds no files",
        "classes": f"root: {tmp_path / 'classes'} holds no files in its class sub-folders",
        "texts": f"root: {tmp_path / 'texts'} holds no image files (none has an image extension such as .jpg or .png: "
        "e.g. notes.txt)",
    }


def test_imagefolder_needs_a_root():
    with pytest.raises(cfg.ConfigError, match=r"^datasets.mine.root: None is not of type 'string'$"):
        dataset_spec("mine", type="imagefolder")


def test_search_split_is_carved_from_train_with_the_test_size(tmp_path):
    root = tmp_path / "imagewoof"
    for split, n in (("train", 12), ("val", 3)):
        for c in range(4):
            for i in range(n):
                save(root / "imagewoof2" / split / f"n{c:08d}" / f"{i}.png", rgb((16, 16), value=c * 50 + i))
    val = datasets.open_split(dataset_spec("imagewoof"), root)  # "test": the official val set
    search = datasets.open_split(dataset_spec("imagewoof", split="val"), root)
    assert len(val) == len(search) == 12
    assert np.all(np.bincount(search.labels) == 3)
    assert np.asarray(search.image(0)).shape == (16, 16, 3)


def test_imagenet_r_keeps_the_art_form(tmp_path):
    root = tmp_path / "imagenet-r"
    for wnid in ("n01443537", "n01484850"):
        for form in ("art", "cartoon", "sketch"):
            save(root / "imagenet-r" / wnid / f"{form}_0.jpg", rgb())
    manifest = tmp_path / "m.parquet"
    datasets.prepare(dataset_spec("imagenet-r"), root, manifest)
    data, _ = tables.read(manifest)
    assert data["label"].tolist() == [0, 0, 0, 1, 1, 1]
    assert data["label_artform"].tolist() == [0, 1, 2, 0, 1, 2]


# --- readers of published layouts ------------------------------------------------------------------


def test_utkface_split_sorted_by_age_every_fourth(tmp_path):
    folder = tmp_path / "utkface" / "UTKFace"
    ages = [30, 1, 5, 5, 70, 22, 22, 22, 8, 40, 40, 3]
    for i, age in enumerate(ages):
        save(folder / f"{age}_{i % 2}_{i % 5}_2017011{i:02d}.jpg.chip.jpg", rgb((20, 20)))
    save(folder / "39_1_20170116174525125.jpg.chip.jpg", rgb((20, 20)))  # a published file without race: left out
    test = datasets.open_split(dataset_spec("utkface"), tmp_path / "utkface")
    train = datasets.open_split(dataset_spec("utkface", split="train"), tmp_path / "utkface")
    ordered = sorted(ages)  # 12 images: 3 to test, at ranks round(linspace(2, 9, 3)) = 2, 6, 9 (0-based)
    assert [int(test.classes[c]) for c in test.labels] == [ordered[2], ordered[6], ordered[9]]
    assert len(train) == len(ages) - len(test) == 9
    assert set(test.extra_labels) == {"label_gender", "label_race"}


def test_breakhis_classes_and_stratified_split(tmp_path):
    slides = tmp_path / "breakhis" / "BreaKHis_v1" / "histology_slides" / "breast"
    for kind, tumour in (("benign", "adenosis"), ("malignant", "ductal_carcinoma")):
        for mag in ("40X", "400X"):
            for i in range(5):
                save(slides / kind / "SOB" / tumour / f"SOB_{tumour}_{i}" / mag / f"{i}.png", rgb((12, 12), value=i))
    test = datasets.open_split(dataset_spec("breakhis"), tmp_path / "breakhis")
    assert test.classes == ["adenosis_400X", "adenosis_40X", "ductal_carcinoma_400X", "ductal_carcinoma_40X"]
    assert len(test) == 8  # 40% of 20, not stratified (as in the study's code)
    assert sorted(set(test.extra_labels["label_malignant"].tolist())) == [0, 1]


def test_nabirds_published_split(tmp_path):
    base = tmp_path / "nabirds" / "nabirds"
    lines = {"images.txt": [], "image_class_labels.txt": [], "train_test_split.txt": []}
    for i, (cls, train) in enumerate([(295, 1), (295, 0), (296, 0), (296, 0), (297, 1)]):
        image_id = f"id{i}"
        save(base / "images" / f"{cls:04d}" / f"{image_id}.jpg", rgb((10, 10)))
        lines["images.txt"].append(f"{image_id} {cls:04d}/{image_id}.jpg")
        lines["image_class_labels.txt"].append(f"{image_id} {cls}")
        lines["train_test_split.txt"].append(f"{image_id} {train}")
    lines["classes.txt"] = ["295 Mallard (Male)", "296 Mallard (Female)", "297 Wood Duck"]
    for name, content in lines.items():
        (base / name).write_text("\n".join(content) + "\n")
    test = datasets.open_split(dataset_spec("nabirds"), tmp_path / "nabirds")
    assert test.classes == ["Mallard (Male)", "Mallard (Female)"] and test.labels.tolist() == [0, 1, 1]
    assert test.image(0).size == (10, 10)
    with pytest.raises(datasets.DatasetError, match=r"nabirds: .*elsewhere/nabirds not found\. Place NABirds as"):
        datasets.open_split(dataset_spec("nabirds"), tmp_path / "elsewhere")


def test_bioscan1m_split_files_and_taxonomy(tmp_path):
    root = tmp_path / "bioscan1m"
    header = "sampleid\tprocessid\turi\tphylum\tclass\torder\tfamily\tsubfamily\ttribe\tgenus\tspecies\timage_file\tchunk_number"
    rows = [
        (
            "s1",
            "BOLD:A1",
            "Diptera",
            "Cecidomyiidae",
            "not_classified",
            "not_classified",
            "not_classified",
            "not_classified",
            "a.jpg",
            "1",
        ),
        ("s2", "BOLD:A2", "Diptera", "Asteiidae", "not_classified", "not_classified", "Asteia", "Asteia amoena", "b.jpg", "1"),
        (
            "s3",
            "BOLD:A3",
            "Hemiptera",
            "Aphrophoridae",
            "Aphrophorinae",
            "not_classified",
            "not_classified",
            "Philaenus spumarius",
            "c.jpg",
            "2",
        ),
        (
            "s4",
            "BOLD:A4",
            "Diptera",
            "Sciaridae",
            "not_classified",
            "not_classified",
            "not_classified",
            "not_classified",
            "d.jpg",
            "2",
        ),
    ]
    lines = [header] + [f"{r[0]}\tP{i}\t{r[1]}\tArthropoda\tInsecta\t" + "\t".join(r[2:]) for i, r in enumerate(rows)]
    root.mkdir()
    (root / "BIOSCAN_Insect_Dataset_metadata.tsv").write_text("\n".join(lines) + "\n")
    for name, ids in {
        "seen_keys": ["s1"],
        "test_seen": ["s2"],
        "test_unseen": ["s3"],
        "test_unseen_keys": [],
        "train_seen": ["s4"],
    }.items():
        (root / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
    for chunk, name in (("1", "a.jpg"), ("1", "b.jpg"), ("2", "c.jpg"), ("2", "d.jpg")):
        save(root / "bioscan/images/cropped_256" / f"part{chunk}" / name, rgb((256, 256)))
    test = datasets.open_split(dataset_spec("bioscan1m"), root)
    assert len(test) == 3 and test.classes == ["Asteia amoena", "Philaenus spumarius", "not_classified"]
    assert test.labels.tolist() == [2, 0, 1]
    assert test.image(2).size == (256, 256)
    # The study's fixes: Asteia's tribe, the genus taken from the species, 'unassigned' placeholders.
    df = datasets.bioscan_taxonomy(
        __import__("pandas").read_csv(root / "BIOSCAN_Insect_Dataset_metadata.tsv", sep="\t", dtype=str)
    )
    assert df.loc[1, "tribe"] == "Asteiini" and df.loc[2, "genus"] == "Philaenus"
    assert df.loc[2, "tribe"] == "unassigned Aphrophorinae"  # the study fixes tribes before filling genera
    assert df.loc[1, "subfamily"] == "unassigned Asteiidae"
    assert set(test.extra_labels) == {"label_order", "label_family", "label_subfamily", "label_tribe", "label_genus", "label_bin"}


def test_inaturalist_taxonomy_levels(tmp_path):
    root = tmp_path / "inaturalist"
    species = [
        "00000_Animalia_Arthropoda_Insecta_Lepidoptera_Erebidae_Catocala_ultronia",
        "00001_Animalia_Arthropoda_Insecta_Lepidoptera_Erebidae_Catocala_ilia",
        "00002_Plantae_Tracheophyta_Magnoliopsida_Asterales_Asteraceae_Aster_alpinus",
    ]
    for name in species:
        save(root / "2021_valid" / name / "x.jpg", rgb((12, 12)))
    val = datasets.open_split(dataset_spec("inaturalist"), root)
    assert val.labels.tolist() == [0, 1, 2]
    assert val.extra_labels["label_kingdom"].tolist() == [0, 0, 1]
    assert val.extra_labels["label_genus"].tolist() == [0, 0, 1]
    assert val.extra_labels["label_family"].tolist() == [0, 0, 1]  # coded by the full path, kingdom first


_PREPARE = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from zsc import datasets
from zsc.config import load
spec = load({"datasets": {"fashionmnist": {"split": sys.argv[3]}}, "encoders": {"raw": {}}, "reducers": {"none": {}},
             "clusterers": {"kmeans": {}}}).entry("datasets", "fashionmnist")
datasets.prepare(spec, Path(sys.argv[2]), Path(sys.argv[2]) / f"manifest-{sys.argv[3]}.parquet")
"""


@needs_debian
def test_two_splits_prepared_side_by_side_share_one_root(tmp_path):
    # the default run prepares Fashion-MNIST's test split and its probe's train split at once, in one root
    root = tmp_path / "root"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _PREPARE, str(REPO / "workflow"), str(root), split], stderr=subprocess.PIPE, text=True
        )
        for split in ("test", "train", "all")
    ]
    errors = [run.communicate(timeout=300)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], errors
    sizes = {split: len(tables.read(root / f"manifest-{split}.parquet")[0]["label"]) for split in ("test", "train", "all")}
    assert sizes == {"test": 10000, "train": 60000, "all": 70000}
