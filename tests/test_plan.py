"""`python -m zsc plan`: its job counts are the DAG's, and the cells it flags are the ones the
memory guard then skips. The real run (about a minute) also checks every job's memory estimate
against the peak the workflow measured (tests/test_estimates.py has the documented runs)."""

import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from conftest import REPO, snakemake
from zsc import plan as planning
from zsc import resources

pytestmark = pytest.mark.integration

CONFIGS = REPO / "tests" / "configs"


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a snakemake run or dry run."""
    table = output.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"}


def plan_of(config_file, workdir, **options):
    return planning.make_plan(planning.load_config(config_file), workdir, str(config_file), **options)


PROTOCOL = {
    "protocol": "config/params/v5.0.yaml",
    "datasets": {"digits": {"max_samples": 500}},
    "encoders": {"raw": {}, "resnet50": {}},
}


@pytest.mark.parametrize("name", ["tiny.yaml", "slurm.yaml", "search.yaml", "default", "protocol", "paper"])
def test_job_counts_are_the_dry_runs(tmp_path, name):
    if name == "default":
        source = REPO / "config" / "config.yaml"  # Fashion-MNIST's probe split: a second prepare and embed
    elif name == "paper":
        source = REPO / "config" / "paper.yaml"  # as shipped, without the five unreleased fine-tuned checkpoints
    elif name == "protocol":
        source = tmp_path / "protocol.yaml"
        source.write_text(yaml.safe_dump(PROTOCOL))  # fetch_weights, shared reductions
    else:
        source = CONFIGS / name
    shutil.copy(source, tmp_path / "config.yaml")
    result = snakemake(tmp_path, "-n", "--configfile", "config.yaml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    plan = plan_of(tmp_path / "config.yaml", tmp_path)
    assert plan.counts() == job_counts(result.stdout + result.stderr)
    if name == "paper":  # the study's config dry-runs and plans on a fresh clone; the left-out encoders are named
        said = [line for line in result.stderr.splitlines() if line.startswith("config warning: encoders.ft_")]
        assert len(said) == 5 and all(line.endswith("(if_missing: skip): its 156 runs are left out") for line in said)
        assert plan.left_out == [line.removeprefix("config warning: ") for line in said]
        assert plan.counts()["cluster"] == 26 * 13 * 6
        assert "encoders left out (if_missing: skip): 5" in planning.text(plan)


def test_plan_flags_exactly_the_cells_the_memory_guard_skips_and_those_that_will_fail(guarded_run):
    work, before = guarded_run
    runs = pd.read_parquet(work / "results/tables/runs.parquet")
    recorded = {
        status: {
            f"{r.dataset}/{r.split}/{r.encoder}/seed{r.seed}/{r.reducer}/{r.clusterer}": r.skipped
            for r in runs.itertuples()
            if r.status == status
        }
        for status in ("skipped", "failed")
    }
    assert recorded["skipped"] and recorded["failed"] and len(recorded["skipped"]) + len(recorded["failed"]) < len(runs)
    # the same cells, each with the same reason word for word
    assert {job.key: job.skipped for job in before.skipped()} == recorded["skipped"]
    assert {job.key: job.failed for job in before.failed() if job.stage == "cluster"} == recorded["failed"]


def test_every_jobs_memory_estimate_bounds_its_measured_peak(guarded_run):
    work, before = guarded_run
    times = pd.read_csv(work / "results/tables/stage_times.csv")
    predicted = {f"results/benchmarks/{job.stage}/{job.key}": job for job in before.jobs}
    assert set(times["stage"]) >= {"embed", "reduce", "cluster", "evaluate", "labelfree", "probes"}
    for row in times.itertuples():
        estimate = predicted[row.job].mem_mb
        assert (
            row.max_rss_mb
            <= estimate
            <= max(resources.MEMORY_FACTOR * row.max_rss_mb, row.max_rss_mb + resources.MEMORY_SLACK_MB)
        ), row.job


def test_compare_sets_predictions_beside_the_measured_times(guarded_run):
    work, _ = guarded_run
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "zsc",
            "plan",
            "--directory",
            str(work),
            "--configfile",
            str(work / "config.yaml"),
            "--compare",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO / "workflow",
    )
    assert result.returncode == 0, result.stderr
    import json

    rows = {row["stage"]: row for row in json.loads(result.stdout)}
    times = pd.read_csv(work / "results/tables/stage_times.csv")
    for stage, group in times.groupby("stage"):
        assert rows[stage]["jobs"] == len(group) and rows[stage]["unmatched"] == 0
        assert rows[stage]["measured_peak_mb"] == pytest.approx(group["max_rss_mb"].max())
        assert rows[stage]["over"] == 0


def test_plan_command_from_the_repository_and_from_workflow(tmp_path):
    outputs = []
    for cwd in (REPO, REPO / "workflow"):
        result = subprocess.run(
            [sys.executable, "-m", "zsc", "plan", "--memory-gb", "24", "--json"], capture_output=True, text=True, cwd=cwd
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    result = subprocess.run(
        [sys.executable, "-m", "zsc", "plan", "--configfile", "nowhere.yaml"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0 and "nowhere.yaml" in result.stderr


def test_a_dataset_of_unknown_size_is_named(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    config = {
        "datasets": {"mine": {"type": "imagefolder", "root": str(folder)}},
        "encoders": {"raw": {}},
        "reducers": {"none": {}},
        "clusterers": {"kmeans": {}},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(planning.PlanError, match="datasets.mine"):
        plan_of(tmp_path / "config.yaml", tmp_path)
    config["datasets"]["mine"]["max_samples"] = 50  # an upper bound is enough
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert {job.n for job in plan_of(tmp_path / "config.yaml", tmp_path).jobs if job.stage == "cluster"} == {50}
