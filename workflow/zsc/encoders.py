"""Encoder registry and the embedding stage.

An encoder factory returns an object with `transform` (PIL image -> float tensor, CHW) and
`__call__` (batch tensor -> 2-d numpy float32). Preprocessing follows the study: resize the shorter
side, centre crop, greyscale repeated to 3 channels, ImageNet mean/std.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from .registry import Registry

log = logging.getLogger(__name__)

ENCODERS = Registry("encoders")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def study_transform(image_size: int):
    """Resize(shorter side) -> CenterCrop -> tensor -> 3 channels -> ImageNet normalisation."""
    from torchvision import transforms as T

    return T.Compose(
        [
            T.Resize(image_size),
            T.CenterCrop(image_size),
            T.ToTensor(),
            T.Lambda(lambda t: t.expand(3, -1, -1) if t.shape[0] == 1 else t[:3]),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


class RawPixels:
    """Flattened normalised pixels: the study's "raw image" baseline."""

    neural = False

    def __init__(self, image_size: int, native_size: int):
        # Never upsample: 28-px datasets stay at 28 px (2,352 dimensions), as in the study.
        self.image_size = min(image_size, native_size)
        self.transform = study_transform(self.image_size)

    def __call__(self, batch):
        return batch.reshape(len(batch), -1).numpy()


class TimmEncoder:
    """Any timm architecture; pooled features (`num_classes=0`), eval mode, no gradients."""

    neural = True

    def __init__(self, model: str, pretrained: bool, image_size: int, init_seed: int, device: str):
        import timm
        import torch

        torch.manual_seed(init_seed)  # random-init baselines must be the same network every time
        self.model = timm.create_model(model, pretrained=pretrained, num_classes=0).eval().to(device)
        self.device = device
        self.image_size = image_size
        self.transform = study_transform(image_size)

    def __call__(self, batch):
        import torch

        with torch.inference_mode():
            return self.model(batch.to(self.device)).float().cpu().numpy()


_IMAGE_SIZE = {
    "image_size": {
        "type": "integer",
        "minimum": 1,
        "default": 224,
        "description": "Shorter side resized to this, then centre-cropped square (the study: 224).",
    }
}


@ENCODERS.add(
    "raw",
    "Raw pixels: resize/crop to image_size (never upsampled), ImageNet-normalised, flattened",
    options={**_IMAGE_SIZE, "image_size": {**_IMAGE_SIZE["image_size"], "default": 32}},
    neural=False,
)
def raw(image_size: int, native_size: int, device: str):
    return RawPixels(image_size, native_size)


@ENCODERS.add(
    "timm",
    "Any timm model by name; random initialisation unless pretrained is true",
    options={
        "model": {"type": "string", "description": "timm model name, e.g. resnet50 or vit_base_patch16_224."},
        "pretrained": {
            "type": "boolean",
            "default": False,
            "description": "Load timm's pretrained weights (false: the study's random-init baseline).",
        },
        **_IMAGE_SIZE,
        "init_seed": {
            "type": "integer",
            "default": 0,
            "description": "torch seed set before building the model (the study: 0).",
        },
    },
    neural=True,
)
def timm_model(model: str, pretrained: bool, image_size: int, init_seed: int, native_size: int, device: str):
    return TimmEncoder(model, pretrained, image_size, init_seed, device)


def pick_device(requested: str) -> str:
    import torch

    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        log.info("embedding on CPU with %d threads (no CUDA device in use)", torch.get_num_threads())
    else:
        log.info("embedding on %s (%s)", requested, torch.cuda.get_device_name(requested))
    return requested


def embed(manifest_path: Path, out_path: Path, dataset: dict, encoder: dict, root: Path, embedding: dict) -> None:
    """Embed the manifest's samples in manifest order and write the embeddings file."""
    import torch

    from . import datasets, tables

    manifest, manifest_meta = tables.read(manifest_path)
    images = datasets.open_split(dataset, root)
    indices = manifest["index"]
    native_size = min(images.image(int(indices[0])).size)
    device = pick_device(embedding["device"]) if ENCODERS[encoder["type"]].info["neural"] else "cpu"
    model = ENCODERS.build(encoder, native_size=native_size, device=device)

    batch_size = embedding["batch_size"]
    chunks, done, start = [], 0, time.perf_counter()
    for first in range(0, len(indices), batch_size):
        batch = torch.stack([model.transform(images.image(int(i))) for i in indices[first : first + batch_size]])
        chunks.append(model(batch).astype(np.float32))
        done += len(batch)
        rate = done / (time.perf_counter() - start)
        log.info("%s/%s %s: %d/%d images, %.1f images/s", dataset["name"], dataset["split"], encoder["name"], done, len(indices), rate)
    vectors = np.concatenate(chunks)
    columns = {name: values for name, values in manifest.items()}
    columns[tables.VECTOR] = vectors
    meta = {
        "dataset": dataset["name"],
        "split": dataset["split"],
        "encoder": encoder["name"],
        "encoder_spec": encoder,
        "image_size": model.image_size,
        "dim": int(vectors.shape[1]),
        "classes": manifest_meta["classes"],
        "torch_version": torch.__version__,
    }
    tables.write(out_path, columns, meta)
