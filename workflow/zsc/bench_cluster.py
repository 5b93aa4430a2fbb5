"""Benchmark: the six-clusterer grid through this workflow against the original per-run pipeline.

    python -m zsc.bench_cluster [--dataset fashionmnist] [--n 10000 ...] [--mixture M] [--encoder raw]
                                [--settings-of resnet50] [--without spectral] [--cores 2] [--no-baseline] [--warm] [--workdir DIR]

On one (encoder, dataset) and with the study's settings of one encoder row of config/params/v5.0.yaml
(`--settings-of`; resnet50's row: UMAP-50 for five clusterers, none for Spectral), it times, on the
same machine and the same embeddings (computed first, not timed):

- workflow: `snakemake --cores C` from the embeddings to the tables: each reduction once per
  (embeddings, reducer), numba's compiled code cached on disk (started empty, so the one-time
  compilation is included), every metric of every run;
- baseline: the original code's shape: one fresh process per run (C at a time, as a job array on
  C cores would), each refitting its reduction, compiling UMAP's numba code again, clustering
  (Affinity Propagation with scikit-learn's, as the original) and scoring (the same metrics, in
  the original, reduced and UMAP-50 spaces; a run not clustered in UMAP-50 fits one for its
  silhouette, as the original's extract_silhouette.py does).

Both produce the runs' metrics; the workflow's target is its runs table (not the figures).

With --warm, the workflow is timed again with numba's cache filled, as every reduce job after the
first of a larger run finds it. It prints the wall times, their ratios and each run's AMI from
both, then each job's seconds and peak memory from the workflow's stage_times.csv (with
`--no-baseline` only these, for scaling in N).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _snakemake(workdir: Path, *args: str, env: dict) -> None:
    # mtime only: embeddings computed once (not timed) stay valid when this checkout's code or
    # option defaults change between benchmark runs
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--configfile",
        "config.yaml",
        "-q",
    ]
    cmd += ["--rerun-triggers", "mtime", *args]
    done = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"snakemake failed in {workdir}:\n{done.stderr[-3000:]}")


def _write_config(workdir: Path, args, n: int) -> None:
    params = yaml.safe_load((REPO / "config/params/v5.0.yaml").read_text())
    row = params["encoders"][args.settings_of]
    params["encoders"] = {args.encoder: {name: entry for name, entry in row.items() if name not in args.without}}
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    encoder = json.loads(args.encoder_spec) if args.encoder_spec else {}
    config = {
        "protocol": "params.yaml",
        "seeds": [1],
        "datasets": {args.dataset: {"max_samples": n, "split": args.split}},
        "encoders": {args.encoder: encoder},
        "metrics": {"silhouette_max_samples": args.silhouette_max_samples},
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def per_run(spec: dict) -> dict:
    """One run as the original code does it, in its own process: reduce, cluster, score."""
    import umap  # noqa: F401  the library as the original imports it: UMAP's code compiles in this process

    from . import metrics, tables
    from .clusterers import CLUSTERERS
    from .reducers import REDUCERS

    columns, _ = tables.read(spec["embeddings"], columns=["label", tables.VECTOR])
    X, y = columns[tables.VECTOR], columns["label"]
    Z = REDUCERS.build(spec["reducer"], seed=spec["seed"]).fit_transform(X)
    n_clusters = len(set(y.tolist()))
    if spec["clusterer"]["type"] == "affinity_propagation":  # the original's library (ours gives its labels, faster)
        from sklearn.cluster import AffinityPropagation

        options = {key: spec["clusterer"][key] for key in ("damping", "convergence_iter", "max_iter")}
        model = AffinityPropagation(**options, random_state=spec["seed"])
    else:
        model = CLUSTERERS.build(spec["clusterer"], n_clusters=n_clusters, n_samples=len(X), seed=spec["seed"])
    labels = model.fit_predict(Z)
    spaces = {"og": X, "reduced": Z}
    if spec["umap_reducer"]:  # the UMAP-50 silhouette: its own space if it clustered there, else a fresh fit (as the original)
        spaces["umap"] = (
            Z
            if spec["umap_reducer"] == spec["reducer"]
            else REDUCERS.build(spec["umap_reducer"], seed=spec["seed"]).fit_transform(X)
        )
    row = metrics.score(y, labels, spaces, spec["silhouette_max_samples"], spec["seed"])
    return {"AMI": row["AMI"]}


def baseline(workdir: Path, cores: int, env: dict) -> tuple[float, dict]:
    import zsc.config

    config = zsc.config.load(yaml.safe_load((workdir / "config.yaml").read_text()), search=[str(workdir)])
    specs, umap_reducer = [], config.umap_reducer
    for run in config.runs():
        embeddings = workdir / f"results/embeddings/{run['dataset']}/{run['split']}/{run['encoder']}.parquet"  # the workflow's
        specs.append(
            {
                "clusterer_name": run["clusterer"],
                "embeddings": str(embeddings),
                "reducer": config.entry("reducers", run["reducer"]),
                "clusterer": config.clusterer(run),
                "seed": run["seed"],
                "silhouette_max_samples": config["metrics"]["silhouette_max_samples"],
                "umap_reducer": umap_reducer and config.entry("reducers", umap_reducer),
            }
        )

    def one(spec):
        cmd = [sys.executable, "-m", "zsc.bench_cluster", "--per-run", json.dumps(spec)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        return spec["clusterer_name"], json.loads(out.strip().splitlines()[-1])["AMI"]

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(cores) as pool:
        amis = dict(pool.map(one, specs))
    return time.perf_counter() - start, amis


MIXTURE_COMPONENTS = 10


def add_mixture(embeddings_path: Path, n_extra: int, seed: int = 0) -> None:
    """Append `n_extra` points of a seeded Gaussian mixture of the embeddings' width (10 components,
    new labels), scaled like the embeddings: centres drawn per dimension from the embeddings' mean
    and std, points spread around them by half that std. Makes a set larger than any local dataset
    (Fashion-MNIST `all` has 70,000) for scaling measurements; idempotent (marked in the metadata)."""
    import numpy as np

    from . import tables

    columns, meta = tables.read(embeddings_path)
    if meta.get("mixture_points"):
        return
    X = columns[tables.VECTOR]
    rng = np.random.default_rng(seed)
    mean, std = X.mean(axis=0), X.std(axis=0)
    centres = mean + std * rng.standard_normal((MIXTURE_COMPONENTS, X.shape[1]))
    component = rng.integers(MIXTURE_COMPONENTS, size=n_extra)
    points = centres[component] + 0.5 * std * rng.standard_normal((n_extra, X.shape[1]))
    first_label = int(columns["label"].max()) + 1
    extra = {
        "index": np.arange(n_extra, dtype=np.int64) + int(columns["index"].max()) + 1,
        "label": (component + first_label).astype(columns["label"].dtype),
    }
    out = {name: np.concatenate([values, extra[name]]) for name, values in columns.items() if name in extra}
    out[tables.VECTOR] = np.concatenate([X, points.astype(np.float32)])
    meta["classes"] = [*meta["classes"], *(f"mixture-{c}" for c in range(MIXTURE_COMPONENTS))]
    tables.write(embeddings_path, out, {**meta, "mixture_points": n_extra, "mixture_seed": seed})


def bench(args, n: int) -> None:
    import pandas as pd

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_cluster_")) / f"{args.encoder}-n{n}"
    workdir.mkdir(parents=True, exist_ok=True)
    # a rerun in the same folder keeps the embeddings (not timed) and redoes everything after them
    for done in ("reduced", "clusters", "metrics", "tables", "figures", "numba-cache", "numba-baseline"):
        shutil.rmtree(workdir / "results" / done, ignore_errors=True)
    # the checkout's downloaded files (not its manifests, which belong to its own config)
    downloaded = REPO / "resources/datasets" / args.dataset
    for files in downloaded.iterdir() if downloaded.is_dir() else []:
        if files.is_dir():
            (workdir / "resources/datasets" / args.dataset).mkdir(parents=True, exist_ok=True)
            link = workdir / "resources/datasets" / args.dataset / files.name
            if not link.exists():
                link.symlink_to(files)
    _write_config(workdir, args, n)
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow"), "HF_HUB_OFFLINE": "1"}
    wf_env = {**env, "NUMBA_CACHE_DIR": str(workdir / "results/numba-cache")}  # empty: compilation counted once
    _snakemake(workdir, "--cores", str(args.cores), "--until", "embed", env=wf_env)
    if args.mixture:
        add_mixture(workdir / f"results/embeddings/{args.dataset}/{args.split}/{args.encoder}.parquet", args.mixture)
    if args.embed_only:
        return

    def timed_workflow() -> float:
        start = time.perf_counter()
        _snakemake(workdir, "--cores", str(args.cores), "results/tables/runs.parquet", env=wf_env)
        return time.perf_counter() - start

    workflow_s = timed_workflow()
    without = f" without {', '.join(args.without)}" if args.without else ""
    mixture = f" + {args.mixture} Gaussian-mixture points" if args.mixture else ""
    print(
        f"\n## {args.dataset} N={n}{mixture}, encoder {args.encoder}, settings of {args.settings_of}{without}, {args.cores} cores"
    )
    print(f"workflow: {workflow_s:.1f} s (reductions once each, numba cache from empty, all metrics)")
    if args.warm:
        # as every job after the first of a larger run finds it: the same work with the numba cache filled
        for done in ("reduced", "clusters", "metrics", "tables", "figures"):
            shutil.rmtree(workdir / "results" / done, ignore_errors=True)
        warm_s = timed_workflow()
        print(f"workflow, numba cache filled: {warm_s:.1f} s")
    runs = pd.read_parquet(workdir / "results/tables/runs.parquet")

    if not args.no_baseline:
        # one BLAS/OpenMP thread per process, as snakemake gives a one-thread job: UMAP's spectral
        # initialisation (and so its result) depends on the thread count
        threads = {
            var: "1"
            for var in (
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS",
                "GOTO_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS",
                "NUMEXPR_NUM_THREADS",
            )
        }
        base_env = {**env, **threads, "NUMBA_CACHE_DIR": str(workdir / "results/numba-baseline")}
        subprocess.run([sys.executable, "-c", "import umap"], env=base_env, check=True)  # its import-time cache, as installed
        baseline_s, base_amis = baseline(workdir, args.cores, base_env)
        print(f"baseline: {baseline_s:.1f} s (one process per run, reduction refit per run)")
        print(f"ratio baseline / workflow: {baseline_s / workflow_s:.2f}")
        if args.warm:
            print(f"ratio baseline / workflow with the numba cache filled: {baseline_s / warm_s:.2f}")
        print("\n| clusterer | reducer | AMI workflow | AMI baseline | difference |\n|---|---|---|---|---|")
        for row in runs.sort_values("clusterer").itertuples():
            print(
                f"| {row.clusterer} | {row.reducer} | {row.AMI:.4f} | {base_amis[row.clusterer]:.4f} | "
                f"{row.AMI - base_amis[row.clusterer]:+.4f} |"
            )
    times = pd.read_csv(workdir / "results/tables/stage_times.csv")
    times = times[times["stage"] != "embed"]
    times["job"] = times["job"].str.split("/").str[-2:].str.join("/")
    print("\n| stage | job | seconds | peak MB |\n|---|---|---|---|")
    for row in times.itertuples():
        print(f"| {row.stage} | {row.job} | {row.seconds:.1f} | {row.max_rss_mb:.0f} |")
    skipped = runs[runs["skipped"].fillna("") != ""]
    for row in skipped.itertuples():
        print(f"skipped: {row.skipped}")
    sys.stdout.flush()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashionmnist")
    parser.add_argument("--split", default="test", help="fashionmnist's 'all' has 70,000 images")
    parser.add_argument("--n", type=int, nargs="+", default=[10000], help="samples (stratified subsample); several: one run each")
    parser.add_argument("--encoder", default="raw", help="encoder name in the config")
    parser.add_argument(
        "--encoder-spec", default=None, help='its config entry as JSON, e.g. \'{"type": "timm", "model": "resnet50"}\''
    )
    parser.add_argument("--settings-of", default="resnet50", help="whose row of config/params/v5.0.yaml to run")
    parser.add_argument("--without", nargs="+", default=[], metavar="CLUSTERER", help="leave these clusterers of the row out")
    parser.add_argument("--silhouette-max-samples", type=int, default=None)
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--no-baseline", action="store_true", help="only the workflow and its per-job times")
    parser.add_argument("--warm", action="store_true", help="also time the workflow again with numba's cache filled")
    parser.add_argument("--workdir", default=None, help="kept: a rerun reuses its embeddings")
    parser.add_argument(
        "--mixture",
        type=int,
        default=0,
        metavar="M",
        help="append M seeded Gaussian-mixture points to the embeddings (N + M in all)",
    )
    parser.add_argument("--embed-only", action="store_true", help="only compute the embeddings (not timed), for a later run")
    parser.add_argument("--per-run", default=None, help=argparse.SUPPRESS)  # the baseline's child process
    args = parser.parse_args(argv)
    if args.per_run:
        print(json.dumps(per_run(json.loads(args.per_run))))
        return
    for n in args.n:
        bench(args, n)


if __name__ == "__main__":
    main()
