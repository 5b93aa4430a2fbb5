"""The training-run fixture (tests/training_run.py): its checkpoints load through the workflow's own
encoder path with exactly the saved weights, a linear probe on their embeddings improves over the
series, and the run is deterministic."""

import time

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from training_run import held_out_indices, train_checkpoints, train_indices
from zsc import config as cfg
from zsc import datasets, weights
from zsc.encoders import build_network, embed_images, load_encoder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    start = time.perf_counter()
    paths = train_checkpoints(tmp_path_factory.mktemp("run"))
    print(f"\ntrain_checkpoints: {time.perf_counter() - start:.1f} s")
    return paths


def test_checkpoints_saved_in_training_order(run):
    assert list(run) == ["ep000", "ep001", "ep004"]
    assert all(path.name == f"{label}.pth" and path.is_file() for label, path in run.items())
    assert train_indices().size + held_out_indices().size == 1797
    assert not set(train_indices()) & set(held_out_indices())


def test_checkpoints_load_through_the_workflow_and_a_probe_improves(run, tmp_path):
    # The checkpoint series as a config names it: one encoder per file, run@<label>.
    series = {"type": "timm", "model": "resnet10t", "image_size": 32, "checkpoints": {k: str(p) for k, p in run.items()}}
    config = cfg.load(
        {"datasets": {"digits": {}}, "encoders": {"run": series}, "reducers": {"none": {}}, "clusterers": {"kmeans": {}}}
    )
    assert list(config["encoders"]) == [f"run@{label}" for label in run]
    images = datasets.open_split(config.entry("datasets", "digits"), tmp_path)
    train, held_out = train_indices(), held_out_indices()
    accuracy = {}
    for label, path in run.items():
        encoder = load_encoder(config.entry("encoders", f"run@{label}"), config["embedding"], native_size=8)
        # timm's pretrained path loads non-strictly when num_classes=0, so check the weights themselves:
        # every key of the file, and only those, with the saved values.
        saved, loaded = torch.load(path, map_location="cpu", weights_only=True), encoder.module.state_dict()
        assert saved.keys() == loaded.keys()
        assert all(torch.equal(saved[k], loaded[k]) for k in saved), label
        # The strict loader (missing keys raise) accepts the file too.
        weights.load_into(build_network("timm:resnet10t", 0), path)

        vectors = embed_images(encoder, images, np.arange(len(images)), config["embedding"], desc=label)
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        probe.fit(vectors[train], images.labels[train])
        accuracy[label] = probe.score(vectors[held_out], images.labels[held_out])
    print("held-out linear-probe accuracy:", {k: round(v, 3) for k, v in accuracy.items()})
    # Random features of digits already probe well (about 0.96); training must at least halve the error.
    assert 1 - accuracy["ep004"] <= (1 - accuracy["ep000"]) / 2
    assert accuracy["ep001"] > accuracy["ep000"]


def test_run_is_deterministic(run, tmp_path):
    again = train_checkpoints(tmp_path, epochs=1)
    assert list(again) == ["ep000", "ep001"]
    for label in again:
        first, second = (torch.load(p[label], weights_only=True) for p in (run, again))
        assert all(torch.equal(first[k], second[k]) for k in first), label
