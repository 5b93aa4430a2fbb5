"""Image files read as the user sees them (docs/images.md): every image here is built by the test,
read through the package's own readers (image folders, published-layout folders) and the embed stage."""

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zsc import config as cfg
from zsc import datasets, tables
from zsc.encoders import ENCODERS, embed, study_transform
from zsc.logs import run_logged

WHITE, BLACK = (255, 255, 255), (0, 0, 0)


def colours(image) -> set:
    """The distinct RGB colours of an image."""
    return set(map(tuple, np.asarray(image).reshape(-1, 3).tolist()))


def dataset_spec(name, **options):
    base = {"encoders": {"raw": {}}, "reducers": {"none": {}}, "clusterers": {"kmeans": {}}}
    return cfg.load({**base, "datasets": {name: options}}).entry("datasets", name)


def folder_spec(root, **options):
    return dataset_spec("photos", type="imagefolder", root=str(root), **options)


def save(path: Path, image: Image.Image, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def rgb(size=(40, 30), value=128):
    return Image.new("RGB", size, (value, 255 - value, 7))


def transparent(mode: str) -> tuple[Image.Image, dict]:
    """A 20x20 image, fully transparent, whose stored colour under the alpha is black (clip art, icons)."""
    if mode == "RGBA":
        return Image.new("RGBA", (20, 20), (0, 0, 0, 0)), {}
    if mode == "LA":
        return Image.new("LA", (20, 20), (0, 0)), {}
    if mode == "P":  # palette index 0 is black and marked transparent (PNG tRNS)
        image = Image.new("P", (20, 20), 0)
        image.putpalette([0, 0, 0] * 256)
        return image, {"transparency": 0}
    if mode == "RGB":  # a colour key: black is transparent (PNG tRNS)
        return Image.new("RGB", (20, 20), BLACK), {"transparency": BLACK}
    raise ValueError(mode)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "RGB"])
def test_transparent_pixels_land_on_the_background(tmp_path, mode):
    image, kwargs = transparent(mode)
    path = save(tmp_path / "photos" / "icons" / "icon.png", image, **kwargs)
    save(tmp_path / "photos" / "icons" / "other.png", rgb())
    images = datasets.open_split(folder_spec(tmp_path / "photos"), tmp_path / "photos")
    read = images.image(0)
    assert read.mode == "RGB" and colours(read) == {WHITE}
    # The encoders' input and raw pixels alike: all 255 before normalisation.
    assert torch.all(study_transform(16)(read) == 255)
    raw = ENCODERS.build(dataset_raw_spec(), native_size=None, device="cpu")
    vector = raw(torch.stack([raw.transform(read)]))[0]
    white = (1 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(vector.reshape(3, -1), np.repeat(white[:, None], 32 * 32, axis=1), rtol=1e-6)
    # Another background, by name or by #rrggbb.
    assert colours(datasets.read_image(path, "black")) == {BLACK}
    assert colours(datasets.read_image(path, "#ff8000")) == {(255, 128, 0)}


def dataset_raw_spec():
    return cfg.load(
        {"datasets": {"digits": {}}, "encoders": {"raw": {}}, "reducers": {"none": {}}, "clusterers": {"kmeans": {}}}
    ).entry("encoders", "raw")


def test_half_transparent_pixels_are_blended_and_opaque_ones_kept(tmp_path):
    pixels = np.zeros((2, 2, 4), dtype=np.uint8)
    pixels[0, 0] = (200, 10, 10, 255)  # opaque red stays
    pixels[0, 1] = (0, 0, 0, 128)  # half-transparent black on white: mid grey
    path = save(tmp_path / "a.png", Image.fromarray(pixels, mode="RGBA"))
    read = np.asarray(datasets.read_image(path))
    assert tuple(read[0, 0]) == (200, 10, 10) and tuple(read[0, 1]) == (127, 127, 127) and tuple(read[1, 1]) == WHITE


def test_background_option_is_in_the_schema_and_checked(tmp_path):
    spec = folder_spec(tmp_path, background="#102030")
    assert spec["background"] == "#102030"
    assert dataset_spec("imagenet")["background"] == "white"  # every dataset of image files has it
    assert "background" not in dataset_spec("digits")  # arrays have no transparency
    with pytest.raises(cfg.ConfigError, match=r"datasets.photos.background: 'pink' does not match"):
        folder_spec(tmp_path, background="pink")
    root = tmp_path / "photos"
    image, kwargs = transparent("RGBA")
    save(root / "a" / "icon.png", image, **kwargs)
    images = datasets.open_split(folder_spec(root, background="#102030"), root)
    assert colours(images.image(0)) == {(16, 32, 48)}


def test_exif_orientation_is_applied(tmp_path):
    # Stored 40 wide, 20 high: left half black, right half white; EXIF orientation 6 says "turn 90
    # degrees clockwise to display": the user sees it 20 wide, 40 high, black on top.
    stored = Image.new("L", (40, 20), 0)
    stored.paste(255, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    root = tmp_path / "photos"
    save(root / "phone" / "photo.jpg", stored, exif=exif, quality=95)
    images = datasets.open_split(folder_spec(root), root)
    seen = np.asarray(images.image(0))
    assert seen.shape == (40, 20)  # rows x columns: 40 high
    assert seen[:18].mean() < 10 and seen[22:].mean() > 245


@pytest.mark.parametrize(
    "values, expected", [((0.0, 0.5, 1.0), (0, 128, 255)), ((0.0, 1.0, 3.5), None), ((-1.0, 0.0, 1.0), None)]
)
def test_float_tiff_read_in_0_1_or_refused_with_its_name(tmp_path, values, expected):
    root = tmp_path / "photos"
    pixels = np.repeat(np.asarray(values, dtype=np.float32)[None], 12, axis=0)  # 12 x 3: three columns
    pixels = np.repeat(pixels, 4, axis=1)  # 12 x 12
    path = save(root / "scans" / "scan.tif", Image.fromarray(pixels, mode="F"))
    save(root / "scans" / "ok.png", rgb())
    if expected is not None:
        assert np.asarray(datasets.read_image(path))[0, ::4].tolist() == list(expected)
        return
    with pytest.raises(
        datasets.ImageRefused,
        match=rf"float pixels in \[{values[0]:g}, {values[-1]:g}\]: float images are read only with values in \[0, 1\]",
    ):
        datasets.read_image(path)
    images = datasets.open_split(folder_spec(root), root, download=True)
    assert [str(b) for b in images.bad.values()] == [
        f"{path}: float pixels in [{values[0]:g}, {values[-1]:g}]: float images are read only with "
        f"values in [0, 1]; save it with 8 or 16 bits"
    ]
    with pytest.raises(
        datasets.DatasetError, match=rf"^imagefolder: {path}: float pixels in .*\(bad_images: skip would leave it out\)$"
    ):
        datasets.open_split(folder_spec(root, bad_images="error"), root, download=True)


def test_sixteen_bit_png_is_scaled_by_65535_in_every_kind_of_folder(tmp_path):
    pixels = np.asarray([[0, 32768, 65535]], dtype=np.uint16).repeat(12, axis=0).repeat(4, axis=1)
    root = tmp_path / "stanfordcars"
    save(root / "test" / "car" / "deep.png", Image.fromarray(pixels))
    assert Image.open(root / "test" / "car" / "deep.png").mode == "I;16"
    for images in (
        datasets.open_split(dataset_spec("stanfordcars"), root),
        datasets.open_split(folder_spec(root / "test"), root / "test"),
    ):
        read = np.asarray(images.image(0))
        assert read.dtype == np.uint8 and read[0, ::4].tolist() == [0, 128, 255]


def test_images_of_several_frames_are_named_once_per_folder(tmp_path, caplog):
    root = tmp_path / "photos"
    frames = [rgb((16, 16), value=i * 100) for i in range(3)]
    for name in ("a/anim1.gif", "a/anim2.gif", "b/anim3.gif"):
        save(root / name, frames[0], save_all=True, append_images=frames[1:], duration=50)
    save(root / "b" / "pages.tif", rgb((16, 16)), save_all=True, append_images=[rgb((16, 16), 9)])
    save(root / "b" / "still.png", rgb((16, 16)))
    with caplog.at_level(logging.WARNING):
        datasets.prepare(folder_spec(root), root, tmp_path / "manifest.parquet")
    lines = [r.getMessage() for r in caplog.records if "several frames" in r.getMessage()]
    assert len(lines) == 1
    assert "4 files have several frames" in lines[0] and "only the first frame is used" in lines[0]
    for name in ("anim1.gif", "anim2.gif", "anim3.gif", "pages.tif"):
        assert name in lines[0]


def embed_raw(tmp_path, root, spec, native=None):
    config = cfg.load(
        {
            "datasets": {"photos": {"type": "imagefolder", "root": str(root)}},
            "encoders": {"raw": {}},
            "reducers": {"none": {}},
            "clusterers": {"kmeans": {}},
            "embedding": {"device": "cpu", "batch_size": 4},
        }
    )
    manifest, out = tmp_path / "m.parquet", tmp_path / "e.parquet"
    datasets.prepare(spec, root, manifest)
    embed(manifest, out, spec, config.entry("encoders", "raw"), root, config["embedding"])
    return tables.read(out)


def test_raw_pixel_size_never_comes_from_one_image(tmp_path):
    root = tmp_path / "photos"
    save(root / "a" / "0-icon.png", rgb((12, 12)))  # first in sort order
    for i in range(3):
        save(root / "b" / f"{i}.png", rgb((64, 48), value=i * 40))
    data, meta = embed_raw(tmp_path, root, folder_spec(root))
    assert meta["image_size"] == 32 and data[tables.VECTOR].shape == (4, 3 * 32 * 32)
    # The raw encoder's own option sets it; a dataset of one fixed smaller size keeps its size.
    assert ENCODERS.build({"type": "raw", "image_size": 20}, native_size=None, device="cpu").image_size == 20
    assert (
        datasets.native_size("digits") == 8 and datasets.native_size("fashionmnist") == 28 and datasets.native_size("mnist") == 28
    )
    assert datasets.native_size("cifar10") == 32 and datasets.native_size("imagefolder") is None


def test_broken_links_and_empty_class_folders_are_named(tmp_path, caplog):
    root = tmp_path / "photos"
    for name in ("cats", "dogs", "birds", "fish"):
        save(root / name / "one.png", rgb())
        save(root / name / "two.png", rgb(value=3))
    (root / "empty").mkdir()
    (root / "dogs" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with caplog.at_level(logging.INFO):
        datasets.prepare(folder_spec(root), root, tmp_path / "manifest.parquet")
    _, meta = tables.read(tmp_path / "manifest.parquet")
    assert meta["classes"] == ["birds", "cats", "dogs", "fish"]  # the empty folder is no class
    log = caplog.text
    assert "1 class folders hold no files and are not classes: empty" in log
    assert "1 broken symbolic links (their targets are gone) are left out: dogs/gone.png" in log
    assert "8 of 8 samples, 4 classes" in log


def test_every_bad_file_is_listed_beside_the_manifest(tmp_path, caplog):
    root = tmp_path / "photos"
    for i in range(5):
        save(root / "good" / f"{i}.png", rgb())
    for i in range(12):
        (root / "bad").mkdir(parents=True, exist_ok=True)
        (root / "bad" / f"broken{i:02d}.jpg").write_bytes(b"not a jpeg" if i % 2 else b"")
    manifest = tmp_path / "resources" / "datasets" / "photos" / "manifest-all.parquet"
    with caplog.at_level(logging.WARNING):
        datasets.prepare(folder_spec(root), root, manifest)
    listing = manifest.with_name("bad-files-all.tsv")
    assert listing == datasets.bad_files_path(manifest, "all")
    lines = listing.read_text().splitlines()
    assert lines[0] == "path\treason" and len(lines) == 13
    assert lines[1] == f"{root}/bad/broken00.jpg\tempty file" and lines[2] == f"{root}/bad/broken01.jpg\tnot an image"
    line = next(r.getMessage() for r in caplog.records if "skipped" in r.getMessage())
    assert "skipped 12 of 17 files" in line and "(2 more)" in line and line.endswith(f"every one, with its reason, in {listing}")
    # Fixed files: the next prepare removes the list that no longer applies.
    for path in (root / "bad").iterdir():
        path.unlink()
    datasets.prepare(folder_spec(root), root, manifest)
    assert not listing.exists()


def non_utf8(folder: Path, name: bytes) -> Path:
    """A file whose name is not valid UTF-8 (Linux allows any bytes); Python sees surrogate escapes."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(os.fsdecode(os.fsencode(folder) + b"/" + name))


def test_a_name_that_is_not_utf8_never_breaks_the_log(tmp_path, capfd):
    root = tmp_path / "photos"
    for i in range(3):
        save(root / "ok" / f"{i}.png", rgb())
    save(non_utf8(root / "ok", b"caf\xe9.png"), rgb())  # a good image with such a name is read
    non_utf8(root / "ok", b"bad\xff.jpg").write_bytes(b"")
    log_path = tmp_path / "prepare.log"
    manifest = tmp_path / "manifest.parquet"
    run_logged(log_path, datasets.prepare, spec=folder_spec(root), root=root, manifest_path=manifest)
    log = log_path.read_text(encoding="utf-8")
    assert "Logging error" not in log and "UnicodeEncodeError" not in log
    assert "skipped 1 of 5 files" in log and "bad\\xff.jpg: empty file" in log
    assert len(tables.read(manifest)[0]["index"]) == 4
    assert "bad\\xff.jpg\tempty file" in datasets.bad_files_path(manifest, "all").read_text(encoding="utf-8")

    capfd.readouterr()
    with pytest.raises(SystemExit):  # the job ends with one line naming the file, no traceback (zsc.logs)
        run_logged(log_path, datasets.prepare, spec=folder_spec(root, bad_images="error"), root=root, manifest_path=manifest)
    message = f"imagefolder: {root}/ok/bad\\xff.jpg: empty file (bad_images: skip would leave it out)"
    assert capfd.readouterr().err == f"error: {message}\n"
    message.encode("utf-8")  # printable anywhere
    log = log_path.read_text(encoding="utf-8")
    assert message in log and "Logging error" not in log and "UnicodeEncodeError" not in log and "Traceback" not in log
