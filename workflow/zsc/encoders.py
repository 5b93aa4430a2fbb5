"""Encoder registry and the embedding stage.

Entries: `raw` pixels; any `timm` or `torchvision` model by name (random init, their pretrained
weights, or a local checkpoint); and the study's encoders (docs/study.md#1-encoders) as fixed entries
recording architecture, training method, weight source, embedding dimension and output.

An encoder factory returns an object with `transform` (PIL image -> CHW tensor: uint8 for the study's
preprocessing, normalised per batch on the device; float for a model's own transform), `__call__`
(batch -> 2-d float32 numpy), `image_size` and `preprocessing` (a description for the metadata).
Preprocessing defaults to the study's: resize the shorter side to 224, centre crop, greyscale
repeated to 3 channels, ImageNet mean/std; `preprocessing: model` uses the model's own transform.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import yaml

from . import weights as weights_mod
from .datasets.images import to_rgb_or_grey
from .registry import Registry

log = logging.getLogger(__name__)

# Every entry declares whether it is a network (neural: it runs on a GPU where there is one), where a
# config entry's weights are downloaded from (weights(spec) -> a zsc.weights source, or None) and its
# display label in tables and figures (None: the config's name for it; outputs.encoders may set one).
ENCODERS = Registry("encoders", required=("neural", "weights", "label"))

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _to_rgb(image):
    """RGB for a model's own transform, by the same rules as image files (datasets.images)."""
    return to_rgb_or_grey(image).convert("RGB")


def _to_rgb_or_grey(image):
    """L or RGB: images read from files already are (datasets.images.read_image, with the dataset's
    background); an image made in memory is converted by the same rules, on white."""
    return to_rgb_or_grey(image)


def _uint8_chw(image):
    """PIL image -> uint8 CHW tensor with 3 channels (greyscale repeated, as in the study)."""
    import torch

    array = np.asarray(image, dtype=np.uint8)
    array = np.repeat(array[None], 3, axis=0) if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


def study_transform(image_size: int):
    """The study's preprocessing up to the pixels: resize the shorter side, centre crop, 3 channels.

    Images stay uint8 until a whole batch is on the model's device, where `normalise` does the
    study's ToTensor + ImageNet Normalize with the same float operations, so the result is the same
    while decoding workers and host-to-device copies move a quarter of the bytes.
    """
    from torchvision import transforms as T

    return T.Compose([T.Lambda(_to_rgb_or_grey), T.Resize(image_size), T.CenterCrop(image_size), T.Lambda(_uint8_chw)])


def normalise(batch):
    """uint8 NCHW -> float NCHW: divide by 255, subtract the ImageNet mean, divide by its std."""
    import torch

    mean = torch.tensor(IMAGENET_MEAN, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=batch.device).view(1, 3, 1, 1)
    return batch.float().div_(255).sub_(mean).div_(std)


class RawPixels:
    """Flattened normalised pixels: the study's "raw image" baseline.

    The pixel size is fixed: `image_size` (default 32, the study's), or the dataset's own size when
    all its images have one smaller size (`native_size`: digits 8, MNIST and Fashion-MNIST 28), which
    is never upsampled, as in the study. It never depends on the size of any one image file.
    """

    neural = False

    def __init__(self, image_size: int, native_size: int | None):
        self.image_size = image_size if native_size is None else min(image_size, native_size)
        self.transform = study_transform(self.image_size)
        self.preprocessing = f"study: resize {self.image_size}, centre crop {self.image_size}, ImageNet mean/std, flatten"

    def __call__(self, batch):
        return normalise(batch).reshape(len(batch), -1).numpy()


class Network:
    """A torch module producing the embedding, run in eval mode without gradients."""

    neural = True

    def __init__(self, module, transform, preprocessing, image_size, device, precision="float32", channels_last=False):
        import torch

        self.device = device
        self.channels_last = channels_last and device != "cpu"
        self.module = module.eval().to(device, memory_format=torch.channels_last if self.channels_last else torch.preserve_format)
        self.transform = transform
        self.image_size = image_size
        self.preprocessing = preprocessing
        self.dtype = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}[precision]

    def __call__(self, batch):
        import torch

        batch = batch.to(self.device, non_blocking=True)
        if batch.dtype == torch.uint8:  # the study's transform: normalised here, per batch
            batch = normalise(batch)
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast(self.device.split(":")[0], dtype=self.dtype, enabled=self.dtype is not None):
            return self.module(batch).float().cpu().numpy()


def build_network(arch, init_seed, arch_kwargs=None, weights_path=None, load=None, hub_pretrained=False, cache_dir=None):
    """The module of `arch` ("timm:<name>" or "torchvision:<name>") with its classifier removed.

    Weights: none (random init, seeded), timm's pretrained weights from `cache_dir`
    (`hub_pretrained`), or `weights_path` loaded through timm's own pretrained path (`load="timm"`,
    which converts the original checkpoint formats timm knows) or through `weights.load_into` with
    the declared key mapping (`load` = its keyword arguments).
    """
    import torch

    torch.manual_seed(init_seed)  # random-init baselines must be the same network every time
    library, name = arch.split(":", 1)
    arch_kwargs = dict(arch_kwargs or {})
    if library == "timm":
        import timm

        if weights_path is not None and load == "timm":
            # Read once safely (weights_only) first: a corrupt or unsafe file fails here with a clear
            # message rather than inside timm's own loader.
            weights_mod.read_checkpoint(weights_path)
            return timm.create_model(
                name, pretrained=True, pretrained_cfg_overlay={"file": str(weights_path)}, num_classes=0, **arch_kwargs
            )
        with weights_mod.refusing_pickles(f"timm:{name} (pretrained weights in {cache_dir})"):
            module = timm.create_model(name, pretrained=hub_pretrained, cache_dir=cache_dir, num_classes=0, **arch_kwargs)
    elif library == "torchvision":
        import torchvision

        module = torchvision.models.get_model(name, weights=None, **arch_kwargs)
        _drop_classifier(module, name)
    else:
        raise ValueError(f"architecture {arch!r}: expected timm:<name> or torchvision:<name>")
    if weights_path is not None:
        weights_mod.load_into(module, weights_path, **(load or {}))
    return module


def _drop_classifier(module, name):
    import torch

    for attr in ("fc", "heads", "head", "classifier"):
        if hasattr(module, attr):
            setattr(module, attr, torch.nn.Identity())
            return
    raise ValueError(f"torchvision:{name}: no classifier attribute (fc, heads, head, classifier) to remove")


def model_transform(module, arch, image_size, preprocessing, torchvision_weights=None):
    """(transform, description, image size): the study's transform at `image_size`, or (preprocessing
    "model") the model's own evaluation transform at the model's own size."""
    study = (study_transform(image_size), f"study: resize {image_size}, centre crop {image_size}, ImageNet mean/std", image_size)
    if preprocessing == "study":
        return study
    from torchvision import transforms as T

    if arch.startswith("timm:"):
        import timm.data

        config = timm.data.resolve_model_data_config(module)
        own, description, size = timm.data.create_transform(**config), f"timm data config: {config}", config["input_size"][-1]
    elif torchvision_weights:
        from torchvision.models import get_weight

        own = get_weight(torchvision_weights).transforms()
        description, size = f"torchvision {torchvision_weights}: {own}", own.crop_size[0]
    else:
        return study[0], "study (no model-specific transform for a random-init torchvision model)", image_size
    return T.Compose([T.Lambda(_to_rgb), own]), description, size


def _image_size_option(default):
    return {
        "image_size": {
            "type": "integer",
            "minimum": 1,
            "default": default,
            "description": "Shorter side resized to this, then centre-cropped square (the study: 224).",
        }
    }


PREPROCESSING = {
    "preprocessing": {
        "type": "string",
        "enum": ["study", "model"],
        "default": "study",
        "description": "study: the study's uniform resize/crop/ImageNet normalisation; model: the model's own eval transform.",
    }
}

CHECKPOINT_OPTIONS = {
    "weights_file": {
        "type": ["string", "null"],
        "default": None,
        "description": "A local checkpoint file (.pth, .pth.tar, .safetensors) for this architecture, read with "
        "weights_only=True.",
    },
    "weights_url": {
        "type": ["string", "null"],
        "default": None,
        "description": "A checkpoint to download (by the local rule fetch_weights) instead of weights_file.",
    },
    "weights_sha256": {
        "type": ["string", "null"],
        "pattern": "^[0-9a-f]{8,64}$",
        "default": None,
        "description": "SHA-256 (or a prefix of at least 8 hex digits) the downloaded weights_url file must have.",
    },
    "checkpoint_key": {
        "type": ["string", "null"],
        "default": None,
        "description": "Key of the state dict inside the checkpoint (e.g. state_dict, model); null: the file is the state dict.",
    },
    "key_prefixes": {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "default": {},
        "description": "Rename checkpoint keys by prefix, e.g. {'module.base_encoder.': ''}; keys matching no prefix "
        "are dropped.",
    },
    "ignore_keys": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Regexes of checkpoint keys to drop (e.g. '^head\\\\.' for a classifier).",
    },
    "allow_missing": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Regexes of model weights the checkpoint may lack (they keep their initial values).",
    },
    "checkpoints": {
        "type": "object",
        "default": {},
        "description": "A series of checkpoint files of one training run: label -> file, or {folder: ckpt/, pattern: 'ep*.pth'} "
        "(every file of the folder matching the glob pattern, labelled by its name without the checkpoint suffixes, ordered "
        "by the numbers in the name: ep2 before ep10; the folder is listed when the config is read). Becomes one encoder "
        "per file, named <name>@<label>; a rerun after new files appear computes only theirs.",
        # {folder, pattern} is the folder form; any other mapping is label -> file (so no checkpoint may be labelled `folder`)
        "if": {"required": ["folder"]},
        "then": {
            "properties": {
                "folder": {"type": "string", "description": "Folder of the training run's checkpoints."},
                "pattern": {"type": "string", "default": "*", "description": "Glob pattern of the checkpoint files in it."},
            },
            "additionalProperties": False,
        },
        "else": {"propertyNames": {"pattern": "^[A-Za-z0-9][A-Za-z0-9_.+-]*$"}, "additionalProperties": {"type": "string"}},
    },
}
# What a missing weights_file (or a checkpoint folder without checkpoints) does to the config.
IF_MISSING_OPTION = {
    "if_missing": {
        "type": "string",
        "enum": ["error", "skip"],
        "default": "error",
        "description": "error: a missing weights_file (or checkpoints folder) stops the config with one line; skip: the "
        "encoder's runs are left out, with the reason, listed by `python -m zsc plan` and the outputs_index output "
        "(config/paper.yaml does this for the fine-tuned checkpoints the authors never released). A file that exists but "
        "cannot be read always stops the run.",
    }
}
CHECKPOINT_OPTIONS.update(IF_MISSING_OPTION)
_LOAD_KEYS = ("checkpoint_key", "key_prefixes", "ignore_keys", "allow_missing")


@ENCODERS.add(
    "raw",
    "Raw pixels: resize/crop to image_size, ImageNet-normalised, flattened",
    options={
        "image_size": {
            "type": "integer",
            "minimum": 1,
            "default": 32,
            "description": "Pixels per side of every image: shorter side resized to this, then centre-cropped square (the "
            "study: 32). "
            "Datasets whose images all have one smaller size keep it, never upsampled (digits 8, MNIST and Fashion-MNIST 28); "
            "the size of an image file never sets it (docs/images.md).",
        }
    },
    neural=False,
    weights=lambda spec: None,
    label=None,
)
def raw(image_size: int, native_size: int | None, device: str, **_):
    return RawPixels(image_size, native_size)


def _url_source(spec):
    """A weights_url as a weight source (None without one)."""
    return (
        {"kind": "url", "url": spec["weights_url"], "sha256_prefix": spec["weights_sha256"]} if spec.get("weights_url") else None
    )


def _timm_source(spec):
    if spec.get("weights_file"):
        return None
    return _url_source(spec) or ({"kind": "timm", "model": spec["model"]} if spec["pretrained"] else None)


@ENCODERS.add(
    "timm",
    "Any timm model by name: random init, timm's pretrained weights, or a local checkpoint",
    options={
        "model": {
            "type": "string",
            "description": "timm model name with optional tag, e.g. resnet50.a1_in1k or vit_base_patch16_224.mae.",
        },
        "pretrained": {
            "type": "boolean",
            "default": False,
            "description": "Use timm's pretrained weights, fetched by a local rule into resources/weights (false: random init).",
        },
        "global_pool": {
            "type": ["string", "null"],
            "default": None,
            "description": "timm's pooling of the output (e.g. avg, token); null: the model's default.",
        },
        **_image_size_option(224),
        "init_seed": {"type": "integer", "default": 0, "description": "torch seed set before building the model (the study: 0)."},
        **PREPROCESSING,
        **CHECKPOINT_OPTIONS,
    },
    neural=True,
    model_library="timm",  # `model` is checked against timm's models at parse time (zsc.config.checks)
    weights=_timm_source,
    label=None,
)
def timm_model(
    model,
    pretrained,
    global_pool,
    image_size,
    init_seed,
    preprocessing,
    weights_path=None,
    cache_dir=None,
    device="cpu",
    **options,
):
    load = {k: options[k] for k in _LOAD_KEYS}
    # A plain checkpoint goes through timm's own pretrained path (which knows many original
    # formats); a declared mapping goes through weights.load_into.
    uses_mapping = any(options[k] for k in _LOAD_KEYS)
    module = build_network(
        f"timm:{model}",
        init_seed,
        {"global_pool": global_pool} if global_pool is not None else {},
        weights_path=weights_path,
        load=load if uses_mapping else "timm",
        hub_pretrained=pretrained and weights_path is None,
        cache_dir=cache_dir,
    )
    return Network(module, *model_transform(module, f"timm:{model}", image_size, preprocessing), device, **_run_options(options))


@ENCODERS.add(
    "torchvision",
    "Any torchvision classification model by name, classifier removed: random init, torchvision weights, or a local checkpoint",
    options={
        "model": {"type": "string", "description": "torchvision model name, e.g. resnet50 or vit_b_16."},
        "weights": {
            "type": ["string", "null"],
            "default": None,
            "description": "torchvision weights, e.g. ResNet50_Weights.IMAGENET1K_V2, fetched by a local rule (null: "
            "random init).",
        },
        **_image_size_option(224),
        "init_seed": {"type": "integer", "default": 0, "description": "torch seed set before building the model (the study: 0)."},
        **PREPROCESSING,
        **CHECKPOINT_OPTIONS,
    },
    neural=True,
    model_library="torchvision",  # `model` is checked against torchvision's models at parse time
    weights=lambda spec: (
        None
        if spec.get("weights_file")
        else _url_source(spec) or ({"kind": "torchvision", "weights": spec["weights"]} if spec["weights"] else None)
    ),
    label=None,
)
def torchvision_model(
    model, weights, image_size, init_seed, preprocessing, weights_path=None, cache_dir=None, device="cpu", **options
):
    module = build_network(f"torchvision:{model}", init_seed, weights_path=weights_path, load={k: options[k] for k in _LOAD_KEYS})
    transform = model_transform(module, f"torchvision:{model}", image_size, preprocessing, weights)
    return Network(module, *transform, device, **_run_options(options))


def _run_options(options):
    return {"precision": options.get("precision", "float32"), "channels_last": options.get("channels_last", False)}


# The study's encoders (docs/study.md#1-encoders), one entry of the registry each: a data file, whose
# header says what an entry gives (`load` is how the checkpoint maps onto the architecture: "timm" =
# timm's own pretrained path, a dict = weights.load_into's mapping).
STUDY_ENCODERS_FILE = Path(__file__).with_name("study_encoders.yaml")
STUDY_ENCODERS = yaml.safe_load(STUDY_ENCODERS_FILE.read_text(encoding="utf-8"))


def _study_options(study):
    options = {**_image_size_option(224), **PREPROCESSING}
    if study.get("needs_file"):
        options["weights_file"] = {
            "type": "string",
            "description": "The fine-tuned checkpoint file (the authors never published theirs).",
        }
        # The file's layout is unknown: the mapping is the user's to set, from the study's defaults.
        options.update(
            {k: {**CHECKPOINT_OPTIONS[k], "default": study["load"].get(k, CHECKPOINT_OPTIONS[k]["default"])} for k in _LOAD_KEYS}
        )
        options["checkpoints"] = CHECKPOINT_OPTIONS["checkpoints"]
    else:
        description = "A local copy of the weights (same format as the source) instead of downloading them."
        options["weights_file"] = {**CHECKPOINT_OPTIONS["weights_file"], "description": description}
    return {**options, **IF_MISSING_OPTION}


def study_weights_label(study) -> str:
    if study.get("needs_file"):
        return "user checkpoint"
    return weights_mod.source_id(study["source"]) if "source" in study else "random init"


def _register_study_encoder(name, study):
    def source(spec):
        return None if spec.get("weights_file") else study.get("source")

    def factory(image_size, preprocessing, weights_file, weights_path=None, cache_dir=None, device="cpu", **options):
        load = study.get("load")
        if isinstance(load, dict) and study.get("needs_file"):
            load = {k: options[k] for k in _LOAD_KEYS}
        module = build_network(
            study["arch"], 0, study.get("arch_kwargs"), weights_path=weights_path, load=load, cache_dir=cache_dir
        )
        tv_weights = (study.get("source") or {}).get("weights")
        transform = model_transform(module, study["arch"], image_size, preprocessing, tv_weights)
        return Network(module, *transform, device, **_run_options(options))

    ENCODERS.add(
        name,
        f"Study: {study['arch']} {study['method']}; embedding = {study['output']} ({study['dim']}-d); "
        f"weights: {study_weights_label(study)}",
        options=_study_options(study),
        neural=True,
        weights=source,
        label=study["label"],
        study=study,
    )(factory)


for _name, _study in STUDY_ENCODERS.items():
    _register_study_encoder(_name, _study)


def pick_device(requested: str) -> str:
    import torch

    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        log.info("embedding on the CPU with %d threads (no CUDA device in use)", torch.get_num_threads())
    else:
        log.info("embedding on %s (%s)", requested, torch.cuda.get_device_name(requested))
    return requested


class _ManifestImages:
    """A torch Dataset of the manifest's images, in manifest order."""

    def __init__(self, images, indices, transform):
        self.images, self.indices, self.transform = images, indices, transform

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.transform(self.images.image(int(self.indices[i])))


def load_encoder(encoder: dict, embedding: dict, native_size: int | None, weights_receipt=None):
    """The encoder of a resolved config entry, on the configured device, weights loaded from disk;
    `native_size`: the one size of all the dataset's images, if it has one (datasets.native_size)."""
    import torch

    neural = ENCODERS[encoder["type"]].info["neural"]
    device = pick_device(embedding["device"]) if neural else "cpu"
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = False  # deterministic kernels: the same embeddings every run
        torch.backends.cudnn.deterministic = True
    return ENCODERS.build(
        encoder,
        native_size=native_size,
        device=device,
        weights_path=encoder.get("weights_file") or (weights_receipt and weights_mod.local_file(weights_receipt)),
        cache_dir=f"{weights_mod.WEIGHTS_DIR}/cache",
        precision=embedding["precision"],
        channels_last=embedding["channels_last"],
    )


# `embedding.batch_size: auto` per device. A GPU wants large batches. On the CPU small ones are
# faster: a ResNet-18's activations at 224 px are about 3 MB per image in its first layers, so 8
# images stay in the caches where 64 stream through memory (1.5x the images/s per core here,
# docs/measurements.md). Each image's embedding is computed on its own either way: the default's
# embeddings are the same bit for bit (tests/test_encoders.py).
AUTO_BATCH_SIZE = {"cpu": 8, "cuda": 64}


def forward_batch_size(batch_size: int | str, device: str) -> int:
    """Images per forward pass on `device` (cpu, cuda or cuda:N) for the config's `embedding.batch_size`."""
    return AUTO_BATCH_SIZE[device.split(":")[0]] if batch_size == "auto" else batch_size


def embed_images(model, images, indices, embedding: dict, desc: str = "embed") -> np.ndarray:
    """Embeddings of `images` at `indices`, in that order: decoding in DataLoader workers, batches
    through `model`, a progress bar with images/s on stderr (the rule's log)."""
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    device = getattr(model, "device", "cpu")
    on_cpu = device == "cpu"
    workers = embedding["num_workers"]
    if workers == "auto":
        workers = 0 if on_cpu else min(8, max(0, (os.cpu_count() or 1) - 1))
    loader = DataLoader(
        _ManifestImages(images, indices, model.transform),
        batch_size=forward_batch_size(embedding["batch_size"], device),
        shuffle=False,
        num_workers=workers,
        pin_memory=not on_cpu,
    )
    chunks = []
    with tqdm(total=len(indices), unit="img", desc=desc, mininterval=10) as bar:
        for batch in loader:
            chunks.append(model(batch).astype(np.float32, copy=False))
            bar.update(len(batch))
    return np.concatenate(chunks)


def embed(manifest_path, out_path, dataset: dict, encoder: dict, root, embedding: dict, weights_receipt=None) -> None:
    """Embed the manifest's samples in manifest order and write the embeddings file.

    `weights_receipt` is the fetch rule's receipt for encoders with downloaded weights.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights were fetched by a local rule: never wait on a hub here
    import torch

    from . import datasets, tables

    manifest, manifest_meta = tables.read(manifest_path)
    images = datasets.open_split(dataset, root)
    indices = manifest["index"]
    model = load_encoder(encoder, embedding, datasets.native_size(dataset["type"]), weights_receipt)
    start = time.perf_counter()
    vectors = embed_images(model, images, indices, embedding, desc=f"{dataset['name']}/{encoder['name']}")
    seconds = time.perf_counter() - start
    log.info(
        "%s/%s %s: %d images in %.1f s, %.1f images/s",
        dataset["name"],
        dataset["split"],
        encoder["name"],
        len(indices),
        seconds,
        len(indices) / seconds,
    )
    columns = dict(manifest)
    columns[tables.VECTOR] = vectors
    meta = {
        "dataset": dataset["name"],
        "split": dataset["split"],
        "encoder": encoder["name"],
        "encoder_spec": encoder,
        "image_size": model.image_size,
        "preprocessing": model.preprocessing,
        "dim": int(vectors.shape[1]),
        "classes": manifest_meta["classes"],
        "torch_version": torch.__version__,
    }
    tables.write(out_path, columns, meta)
