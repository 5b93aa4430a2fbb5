"""Encoder weights: where they come from, fetching them (a local rule), loading them (the embed job).

A weight source is a small dict, known at parse time without importing torch:
  {"kind": "url", "url": ..., "sha256_prefix": ... or None}   a checkpoint file on the web
  {"kind": "torchvision", "weights": "ResNet50_Weights.IMAGENET1K_V2"}   torchvision's weights enum
  {"kind": "timm", "model": "vit_base_patch16_224.mae"}        timm's pretrained weights (hub or URL)
Fetching stores the files under resources/weights/ (compute nodes often have no internet) and writes
a receipt, resources/weights/<id>.json, naming the local file(s) and their SHA-256; the embed job
reads the receipt and loads from disk only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import re
from pathlib import Path
from urllib.parse import urlparse

log = logging.getLogger(__name__)

WEIGHTS_DIR = "resources/weights"


class WeightsError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file and the reason."""


def source_id(source: dict) -> str:
    """The source's path under resources/weights/, without extension: url/<file>, timm/<model>, ..."""
    if source["kind"] == "url":
        return f"url/{Path(urlparse(source['url']).path).name}"
    if source["kind"] == "timm":
        return f"timm/{source['model']}"
    if source["kind"] == "torchvision":
        return f"torchvision/{source['weights']}"
    raise ValueError(f"unknown weight source kind {source['kind']!r}")


def receipt_path(source: dict, weights_dir: str = WEIGHTS_DIR) -> str:
    return f"{weights_dir}/{source_id(source)}.json"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(source: dict, receipt: str, weights_dir: str = WEIGHTS_DIR) -> None:
    """Download the source's files into `weights_dir`, verified where the source publishes a hash."""
    weights_dir = Path(weights_dir)
    if source["kind"] == "url":
        import torch.hub

        dest = weights_dir / source_id(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        prefix = source.get("sha256_prefix")
        if not (dest.exists() and (prefix is None or sha256(dest).startswith(prefix))):
            # Downloads to a temporary name, checks the SHA-256 prefix, then renames.
            torch.hub.download_url_to_file(source["url"], str(dest), hash_prefix=prefix, progress=False)
        files = [dest]
    elif source["kind"] == "torchvision":
        from torchvision.models import get_weight

        weights = get_weight(source["weights"])
        model_dir = weights_dir / "torch"
        files = [model_dir / Path(urlparse(weights.url).path).name]
        # torchvision's file names carry a SHA-256 prefix, which check_hash verifies; the file is read
        # back with weights_only=True (torch.hub's default is False: any pickled object would run).
        with refusing_pickles(files[0]):
            weights.get_state_dict(progress=False, check_hash=True, model_dir=str(model_dir), weights_only=True)
    elif source["kind"] == "timm":
        import timm

        # timm resolves the model's source (Hugging Face hub or URL) and caches the file; the embed
        # job creates the model from this cache with the hub offline.
        cache = weights_dir / "cache"
        before = set(cache.rglob("*")) if cache.exists() else set()
        with refusing_pickles(f"timm:{source['model']}"):  # timm reads checkpoints with weights_only=True itself
            timm.create_model(source["model"], pretrained=True, cache_dir=cache)
        files = sorted(p for p in cache.rglob("*") if p.is_file() and p not in before)
    else:
        raise ValueError(f"unknown weight source kind {source['kind']!r}")
    record = {"source": source, "files": [{"path": str(p), "sha256": sha256(p)} for p in files]}
    from . import tables  # not at import: the Snakefile imports this module at parse time

    with tables.atomic(receipt) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))


def local_file(receipt: str) -> str | None:
    """The checkpoint file a receipt names; None for timm sources, which load from timm's cache."""
    record = json.loads(Path(receipt).read_text())
    if record["source"]["kind"] == "timm":
        return None
    path = Path(record["files"][0]["path"])
    if not path.exists():
        raise WeightsError(f"{receipt}: names {path}, which is gone; delete the receipt to fetch again")
    return str(path)


# The first bytes of the checkpoint formats read_checkpoint reads: torch.save's zip archive, torch's
# legacy pickle (protocol 2 and up), and safetensors (an 8-byte little-endian header length, then JSON).
TORCH_ZIP, PICKLE = b"PK\x03\x04", b"\x80"


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why the file at `path` cannot be a checkpoint read_checkpoint reads, judged by its first bytes
    (None: it may be one), so that a wrong file is named before any job, without loading it."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(9)
    if not head:
        return "is empty, not a checkpoint"
    if path.suffix == ".safetensors":
        size = path.stat().st_size
        if len(head) == 9 and head[8:] == b"{" and 8 + int.from_bytes(head[:8], "little") <= size:
            return None
        return f"is not a safetensors file (8 bytes of header length, then '{{'): it starts with {head[:8]!r}"
    if head.startswith((TORCH_ZIP, PICKLE)):
        return None
    return f"is not a torch checkpoint (a zip archive from torch.save, or a pickle): it starts with {head[:8]!r}"


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a weights_url (None: it can): urllib cannot open it, or its path ends in
    no file name, under which the download is stored (resources/weights/url/<name>)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https", "ftp", "file") or (parsed.scheme != "file" and not parsed.netloc):
        return "is not an http(s), ftp or file URL (a local checkpoint is weights_file)"
    name = parsed.path.rsplit("/", 1)[-1]
    if name in ("", ".", ".."):
        return f"ends in {name or '/'!r}, not a file name (the download is stored under the URL's last path segment)"
    return None


def natural_key(label: str) -> tuple:
    """Sort key of a checkpoint's label or file name in natural order: digit runs compare as numbers
    ("ep2" < "ep10"); the order a checkpoint folder is listed in and a series is shown in."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", str(label)) if part)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint file as a dict, read safely (`weights_only=True`; safetensors too)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: checkpoint file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        import torch

        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not _unsafe_pickle(err):
            raise WeightsError(f"{path}: not a readable checkpoint (UnpicklingError: {_unpickler_detail(err)})") from None
        raise WeightsError(_refused(path, err)) from None
    except Exception as err:  # torch raises many kinds (RuntimeError, EOFError...)
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(f"{path}: not a readable checkpoint ({type(err).__name__}: {first_line})") from None
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    return obj


def state_dict_of(checkpoint: dict, key: str | None, path) -> dict:
    """The state dict inside a checkpoint: `checkpoint[key]`, or the checkpoint itself."""
    if key is None:
        return checkpoint
    if key not in checkpoint:
        raise WeightsError(f"{path}: has no key {key!r} (top-level keys: {', '.join(map(str, list(checkpoint)[:10]))})")
    return checkpoint[key]


def remap(state_dict: dict, key_prefixes: dict[str, str]) -> dict:
    """Rename keys by prefix (e.g. {"module.base_encoder.": ""}); with any prefixes given, keys that
    match none are dropped (a MoCo checkpoint also holds the momentum encoder and predictor)."""
    if not key_prefixes:
        return dict(state_dict)
    out = {}
    for key, value in state_dict.items():
        for old, new in key_prefixes.items():
            if key.startswith(old):
                out[new + key[len(old) :]] = value
                break
    return out


def load_into(model, path, checkpoint_key=None, key_prefixes=None, ignore_keys=(), allow_missing=()) -> None:
    """Load a checkpoint file into `model`, reporting missing and unexpected keys.

    `ignore_keys` (regexes) are dropped from the checkpoint (e.g. a classifier head the embedding
    does not use); `allow_missing` (regexes) are weights of the model the checkpoint may lack (e.g.
    MAE's fc_norm, kept at its initial value as in the study). Anything else missing is an error.
    """
    state = state_dict_of(read_checkpoint(path), checkpoint_key, path)
    state = remap(state, key_prefixes or {})
    state = {k: v for k, v in state.items() if not any(re.search(p, k) for p in ignore_keys)}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not any(re.search(p, k) for p in allow_missing)]
    unexpected = [k for k in state if k not in expected]
    if missing:
        raise WeightsError(
            f"{path}: {len(missing)} weights of the model are not in the checkpoint: {_some(missing)}"
            + (f"; it has instead: {_some(unexpected)}" if unexpected else "")
            + " (set checkpoint_key / key_prefixes to map them)"
        )
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if shapes:
        raise WeightsError(f"{path}: shapes differ from the model's: {_some(shapes)}")
    if unexpected:
        log.warning("%s: %d checkpoint keys unused: %s", path, len(unexpected), _some(unexpected))
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
    log.info("%s: loaded %d tensors", path, len(expected) - len([k for k in expected if k not in state]))


def _some(keys, n=5) -> str:
    keys = list(keys)
    return ", ".join(keys[:n]) + (f" ... (+{len(keys) - n} more)" if len(keys) > n else "")


@contextlib.contextmanager
def refusing_pickles(what):
    """Turn torch's refusal of a checkpoint under weights_only=True into one line naming `what`."""
    try:
        yield
    except (pickle.UnpicklingError, RuntimeError) as err:
        if not _unsafe_pickle(err):
            raise
        raise WeightsError(_refused(what, err)) from None


def _first_line(err) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _unpickler_detail(err) -> str:
    """The reason in torch's weights-only message (its first line only advises loading unsafely)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    after = [line for i, line in enumerate(lines) if i and "WeightsUnpickler error" in lines[i - 1]]
    return after[0] if after else _first_line(err)


def _unsafe_pickle(err) -> bool:
    """Whether torch refused a checkpoint under weights_only=True (it holds other pickled objects)."""
    return "Unsupported global" in str(err)


def _refused(what, err) -> str:
    """One line for a checkpoint that holds pickled objects other than tensors: refused, never run."""
    detail = next((line.strip() for line in str(err).splitlines() if "Unsupported global" in line or "GLOBAL" in line), "")
    return (
        f"{what}: refused: the checkpoint holds pickled Python objects, not only weights"
        + (f" ({detail})" if detail else "")
        + "; checkpoints are read with weights_only=True. Re-save its state dict "
        "(torch.save(model.state_dict(), ...)) from a trusted copy, or use .safetensors"
    )
