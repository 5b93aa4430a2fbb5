"""Checks every registry entry must pass, as scikit-learn's estimator checks do: the tests are
parametrized over the registries themselves, so a new clusterer, reducer, label-free score or
output is covered without editing this file.

- every clusterer fits and predicts on small, well-separated blobs and declares its memory and time;
  one given a number may choose it (choose_k), its candidates being the labels of runs given each k;
- every reducer round-trips through the reduce stage (embeddings file in, reduction file out);
- every label-free score is computed on a small embedding by its stage, and its declared direction
  is the one the encoder choice follows;
- every output renders on the study-sized synthetic grid (tests/synthetic.py; those that read every
  run's clusters and the images on a small run of digits);
- a registry refuses an entry that lacks one of the facts it requires.
"""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_mutual_info_score
from synthetic import output_suffixes, reads_images, write_image_study, write_study

from zsc import aggregate, labelfree, metrics, outputs, selection, tables
from zsc.clusterers import CLUSTERERS
from zsc.json_schema import validate
from zsc.reducers import REDUCERS, reduce
from zsc.registry import Registry


def example(prop: dict):
    """A valid value of an option's schema: its default, else the smallest value past its bound."""
    if "default" in prop:
        return prop["default"]
    if "oneOf" in prop:
        return example(prop["oneOf"][0])
    if "enum" in prop:
        return prop["enum"][0]
    kind = prop["type"] if isinstance(prop["type"], str) else prop["type"][0]
    low = prop.get("minimum", prop.get("exclusiveMinimum", 0))
    return int(low) + 1 if kind == "integer" else float(low) + 1.0


def spec_of(entry) -> dict:
    """A config entry of `entry` with every option set (its defaults, examples of the required ones)."""
    return {"type": entry.name, "name": entry.name, **{key: example(prop) for key, prop in entry.options.items()}}


def blobs(n_blobs: int = 6, per_blob: int = 20, d: int = 5, seed: int = 0):
    """Gaussian blobs far apart (centres at scale 10, unit spread): (X float32, true labels)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_blobs), per_blob)
    return (rng.normal(0, 10, (n_blobs, d))[y] + rng.normal(0, 1, (len(y), d))).astype(np.float32), y


# --- clusterers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", list(CLUSTERERS), ids=CLUSTERERS.names())
def test_every_clusterer_finds_well_separated_blobs(entry):
    spec = spec_of(entry)
    validate({k: v for k, v in spec.items() if k != "name"}, CLUSTERERS.schema())  # the examples are valid settings
    X, y = blobs()
    labels = [CLUSTERERS.build(spec, n_clusters=6, n_samples=len(X), seed=1).fit_predict(X) for _ in range(2)]
    assert len(labels[0]) == len(X) and np.issubdtype(np.asarray(labels[0]).dtype, np.integer)
    assert np.array_equal(labels[0], labels[1])  # seeded: the same labels again
    assert adjusted_mutual_info_score(y, labels[0]) > 0.5
    if entry.info["uses_n_clusters"]:
        assert len(np.unique(labels[0])) == 6


@pytest.mark.parametrize("entry", list(CLUSTERERS), ids=CLUSTERERS.names())
def test_every_clusterer_declares_its_memory_time_and_label(entry):
    spec = spec_of(entry)
    small, large = (entry.info["memory"](n, 50, spec) for n in (1_000, 10_000))
    assert 0 < small <= large  # bytes, growing with N
    seconds = [entry.info["seconds"](n, 50, 10, spec) for n in (1_000, 10_000)]
    assert all(math.isfinite(s) and s >= 0 for s in seconds) and seconds[0] <= seconds[1]
    assert isinstance(entry.info["label"], str) and entry.info["label"]
    assert isinstance(entry.info["uses_n_clusters"], bool)


@pytest.mark.parametrize("entry", list(CLUSTERERS), ids=CLUSTERERS.names())
def test_every_clusterer_given_a_number_may_choose_it_with_the_labels_of_a_run_given_that_k(entry):
    """A clusterer given the number of clusters declares the option choose_k (a flat folder has no
    count: zsc.choose_k), and its candidates (registry info `candidates`, or one fit per k) give at
    every k the labels of a run given that k."""
    from zsc.clusterers import candidates

    if not entry.info["uses_n_clusters"]:
        assert "choose_k" not in entry.options and "candidates" not in entry.info
        return
    assert "choose_k" in entry.options
    spec = spec_of(entry)
    X, _ = blobs()
    _, labels_at = candidates(spec, X, [3, 6], 1)
    for k in (3, 6):
        assert np.array_equal(labels_at(k), CLUSTERERS.build(spec, n_clusters=k, n_samples=len(X), seed=1).fit_predict(X))


# --- reducers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", list(REDUCERS), ids=REDUCERS.names())
def test_every_reducer_round_trips_through_the_reduce_stage(entry, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 64)).astype(np.float32)
    embeddings = tmp_path / "embeddings.parquet"
    tables.write(embeddings, {"index": np.arange(100) * 3, "label": np.arange(100) % 4, tables.VECTOR: X})
    spec = spec_of(entry)
    reduce(embeddings, tmp_path / "reduced.parquet", spec, seed=1, embeddings="the test's embeddings")
    assert tables.not_run(tmp_path / "reduced.parquet") is None
    columns, meta = tables.read(tmp_path / "reduced.parquet")
    assert np.array_equal(columns["index"], np.arange(100) * 3) and meta["reducer"] == spec
    Z = columns[tables.VECTOR]
    assert Z.shape == (100, spec.get("n_components", 64)) and np.isfinite(Z).all()
    if entry.info["identity"]:
        assert np.array_equal(Z, X)
    for n in (1_000, 10_000):
        assert entry.info["memory"](n, 64, spec) >= 0 and math.isfinite(entry.info["seconds"](n, 64, spec))
    assert isinstance(entry.info["label"], str) and entry.info["label"]  # its name in tables and figures


# --- label-free scores --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """Every label-free score of one small embedding (blobs), as its stage computes it: the labelfree
    job's rows, and the silhouettes the evaluate job computes, as the aggregate rule names them."""
    folder = tmp_path_factory.mktemp("scored")
    X, y = blobs(n_blobs=4, per_blob=30, d=12)
    tables.write(folder / "embeddings.parquet", {"index": np.arange(len(y)), "label": y, tables.VECTOR: X})
    tables.write(folder / "umap.parquet", {"index": np.arange(len(y)), tables.VECTOR: X[:, :3]})  # a shared low-d space
    runs = []
    for clusterer, pred in {"kmeans": y, "other": (y + (np.arange(len(y)) % 10 == 0)) % 4}.items():
        tables.write(folder / f"{clusterer}.parquet", {"index": np.arange(len(y)), "label_pred": pred})
        keys = {"dataset": "d", "split": "test", "encoder": "e", "reducer": "none", "clusterer": clusterer, "seed": 1}
        runs.append(
            {"run": keys, "clusters": str(folder / f"{clusterer}.parquet"), "reduced": str(folder / "embeddings.parquet")}
        )
    settings = {"agreement_seeds": 3, "entropy_knn_k": 5, "entropy_max_samples": None}
    labelfree.score_embeddings(
        folder / "embeddings.parquet", runs, folder / "scores.parquet", settings, None, 1, folder / "umap.parquet"
    )
    metrics.evaluate(
        folder / "embeddings.parquet", runs, folder / "metrics.parquet", {"silhouette_max_samples": None}, folder / "umap.parquet"
    )
    ran = aggregate.collect_runs([str(folder / "metrics.parquet")], {"d": "Other"})
    evaluated = aggregate.silhouette_scores(ran)
    # the scores that only rank pipelines: the runs table's column, named here as the evaluate stage's are
    per_run = [
        pd.DataFrame({"score": f"{entry.name}_" + ran["clusterer"], "value": entry.factory(ran)})
        for entry in labelfree.SCORES
        if entry.info["stage"] == "run"
    ]
    rows = pd.concat([pd.read_parquet(folder / "scores.parquet"), evaluated, *per_run], ignore_index=True)
    return rows.set_index("score")["value"]


@pytest.mark.parametrize("entry", list(labelfree.SCORES), ids=labelfree.SCORES.names())
def test_every_label_free_score_is_computed_by_its_stage(entry, scored):
    names = [entry.name] if entry.info["stage"] == "labelfree" else [f"{entry.name}_kmeans", f"{entry.name}_other"]
    assert entry.info["stage"] in ("labelfree", "evaluate", "run")
    for name in names:
        assert name in scored.index and math.isfinite(scored[name]), name


@pytest.mark.parametrize("entry", list(labelfree.SCORES), ids=labelfree.SCORES.names())
def test_every_label_free_score_is_ranked_in_its_declared_direction(entry):
    assert entry.info["direction"] in ("higher", "lower")
    assert isinstance(entry.info["family"], str) and isinstance(entry.info["across_widths"], bool)
    score = entry.name if entry.info["stage"] in ("labelfree", "run") else f"{entry.name}_kmeans"
    assert labelfree.direction(score) == entry.info["direction"]
    scores = pd.DataFrame({"dataset": "x", "encoder": ["low", "high"], "score": score, "value": [0.2, 0.8]})
    choice = selection.recommendation(selection.encoder_choice(scores, None))
    best = "high" if entry.info["direction"] == "higher" else "low"
    assert choice["recommended"].iloc[0] == best
    if entry.info["stage"] in ("evaluate", "run"):  # a runs table's column: it ranks a dataset's pipelines too
        assert entry.name in selection.PIPELINE_SCORES
        pipelines = pd.DataFrame({"dataset": "x", "encoder": ["low", "high"], "reducer": "none", "clusterer": "kmeans"})
        pipelines = pipelines.assign(k=3, AMI=0.5, **{name: [0.2, 0.8] for name in selection.PIPELINE_SCORES})
        assert selection.recommend(pipelines, score=entry.name)["encoder"].iloc[0] == best


def test_every_pipeline_score_is_a_registry_entry_of_the_runs_table():
    assert all(labelfree.SCORES[name].info["stage"] in ("evaluate", "run") for name in selection.PIPELINE_SCORES)


# --- outputs ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The synthetic study at the study's size, complete, and as a grid of reducers without a protocol:
    every output is produced from one of the two."""
    folder = tmp_path_factory.mktemp("study")
    written, facts, files = write_study(folder, complete=True)
    grid_folder = tmp_path_factory.mktemp("grid")
    return {"study": (written, facts, files, folder), "grid": (*write_study(grid_folder, grid=True), grid_folder)}


@pytest.fixture(scope="module")
def image_study(tmp_path_factory):
    """A small run of digits with its manifest and every run's clusters: the outputs that read images."""
    folder = tmp_path_factory.mktemp("images")
    written, facts, files = write_image_study(folder)
    return written, facts, files, folder


def test_the_synthetic_study_produces_every_output(study, image_study):
    assert set(study["study"][1]["not_produced"]) == {"reducer_ami", "reducer_effect", "reducer_dimensions"}
    assert set(study["study"][1]["not_produced"]) & set(study["grid"][1]["not_produced"]) == set()
    assert not [e.name for e in outputs.OUTPUTS if reads_images(e) and e.name in image_study[1]["not_produced"]]


@pytest.mark.parametrize("entry", list(outputs.OUTPUTS), ids=outputs.OUTPUTS.names())
def test_every_output_renders_on_the_study_sized_grid_and_every_figure_passes_the_checks(entry, study, image_study, monkeypatch):
    """Each figure passes tests/figure_text.py's check_figure: the page's size, no overlapping text, no
    config key where its display name belongs, no two legend entries drawn alike. The outputs that read
    images render on a small run of digits (image_study)."""
    from figure_text import check_figure

    from zsc import plots

    if reads_images(entry):
        written, facts, files, folder = image_study
    else:
        written, facts, files, folder = study["grid" if entry.name in study["study"][1]["not_produced"] else "study"]
    keys, overlaps = outputs.display_keys(facts), {}

    def save_checked(fig, out, name, pdf=True):
        overlaps[name] = check_figure(fig, keys)
        plots.save_figure(fig, out / name, pdf=pdf)

    for module in (outputs.index, outputs.study, outputs.labelfree, outputs.clusters):  # where the entries save figures
        monkeypatch.setattr(module, "save", save_checked, raising=False)
    out = folder / "outputs" / entry.name
    outputs.render(
        entry.name, {t: written[t] for t in entry.info["reads"]}, facts, {k: files[k] for k in entry.info["files"]}, out
    )
    assert {p.suffix for p in out.iterdir()} == output_suffixes(entry)
    assert {name: pairs for name, pairs in overlaps.items() if pairs} == {}


# --- the registries themselves ------------------------------------------------------------------------


def test_a_registry_refuses_an_entry_without_the_facts_it_requires():
    things = Registry("things", required=("memory", "label"))
    with pytest.raises(ValueError, match=r"^things: 'a' does not declare label \(every entry must\)$"):
        things.add("a", "an entry without a label", memory=lambda n, d, spec: 0)
    things.add("b", "a complete entry", memory=lambda n, d, spec: 0, label="B")(lambda: None)
    assert things.names() == ["b"]
    for registry in (CLUSTERERS, REDUCERS, labelfree.SCORES, outputs.OUTPUTS):
        assert registry.required and all(set(registry.required) <= set(entry.info) for entry in registry)
