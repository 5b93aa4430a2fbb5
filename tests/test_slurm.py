"""profiles/slurm on a real SLURM: a single-node cluster on 127.0.0.1 (Debian's slurm-wlm and munge),
started for this module by tests/slurm/setup-slurm-local.sh with one stand-in GPU, stopped after it.

tests/configs/slurm.yaml goes through `--profile profiles/slurm --profile tests/slurm/profile` (the
second holds only what the local cluster needs). Each SLURM job costs seconds of snakemake start-up
and status polling, so the module takes about 4 minutes on 2 cores.
"""

import os
import re
import shutil
import subprocess
import time

import pandas as pd
import pytest
import yaml

from conftest import REPO, SNAKEMAKE, snakemake
from test_workflow import job_counts, outputs_facts
from zsc import config as cfg
from zsc import resources
from zsc.outputs import OUTPUTS

pytestmark = pytest.mark.integration

SLURM = REPO / "tests" / "slurm"
CONFIG = REPO / "tests" / "configs" / "slurm.yaml"
PROFILES = ["--profile", str(REPO / "profiles" / "slurm"), "--profile", str(SLURM / "profile")]
N = 200  # digits' max_samples in CONFIG
GPU_EMBED = "rule_embed_wildcards_digits_all_random_tiny"  # the comment the plugin gives a job
CPU_EMBED = "rule_embed_wildcards_digits_all_raw"


def why_no_slurm() -> str | None:
    if os.geteuid() != 0:
        return "starting SLURM's daemons (munged, slurmctld, slurmd) needs root"
    if not shutil.which("sbatch") and not shutil.which("apt-get"):
        return "slurm-wlm is not installed and there is no apt-get to install it"
    return None


@pytest.fixture(scope="module")
def slurm():
    reason = why_no_slurm()
    if reason:
        pytest.skip(reason)
    # a cluster someone already runs here is used and left running
    was_up = (
        shutil.which("scontrol") is not None
        and "UP" in subprocess.run(["scontrol", "ping"], capture_output=True, text=True).stdout
    )
    env = {**os.environ, "SLURM_FAKE_GPUS": "1"}
    setup = subprocess.run(
        ["timeout", "-k", "10", "300", "bash", str(SLURM / "setup-slurm-local.sh")], env=env, capture_output=True, text=True
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    yield
    if not was_up:
        subprocess.run(["timeout", "-k", "10", "120", "bash", str(SLURM / "stop-slurm-local.sh")], capture_output=True)
        # its config is gone with it: client commands (snakemake's SLURM plugin runs scontrol at every
        # start) fail at once instead of waiting ~9 s for the stopped controller
        assert subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=5).returncode != 0


def new_workdir(tmp_path_factory, name):
    work = tmp_path_factory.mktemp(name)
    shutil.copy(CONFIG, work / "config.yaml")
    return work


def slurm_jobs(workdir) -> list[dict]:
    """What SLURM recorded for every job submitted from `workdir`, oldest first (finished jobs stay
    visible for MinJobAge, 10 min); `scontrol -d` adds JOB_GRES, the generic resources allocated."""
    out = subprocess.run(["scontrol", "show", "job", "-d", "-o"], capture_output=True, text=True).stdout
    jobs = [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in out.splitlines()]
    return sorted((job for job in jobs if job.get("WorkDir") == str(workdir)), key=lambda job: int(job["JobId"]))


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    work = new_workdir(tmp_path_factory, "local")
    result = snakemake(work, "--configfile", "config.yaml", "--cores", "2", timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return work


@pytest.fixture(scope="module")
def slurm_run(slurm, tmp_path_factory):
    work = new_workdir(tmp_path_factory, "slurm")
    # --verbose: the plugin logs each sbatch call it makes
    result = snakemake(work, "--configfile", "config.yaml", *PROFILES, "--verbose", timeout=400)
    assert result.returncode == 0, result.stderr[-4000:]
    return work, result.stdout + result.stderr


def rendered(workdir) -> int:
    """The render jobs of the workdir's config: one per output it can provide."""
    return len(OUTPUTS.names()) - len(outputs_facts(workdir)["not_produced"])


def test_dry_run_sends_one_group_job_per_dataset_and_encoder(slurm, tmp_path):
    shutil.copy(REPO / "tests" / "configs" / "tiny.yaml", tmp_path / "config.yaml")
    result = snakemake(tmp_path, "-n", "--configfile", "config.yaml", *PROFILES, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    # tiny.yaml: 2 encoders, each with 4 reductions (2, the shared UMAP space, the 2-D map) and 9 runs;
    # all of an encoder's reductions, clusterings and scorings are one SLURM job; its probes and its
    # 2-D map, which share no file with them, one job each; its embedding another; rendering is local
    assert output.count("Group job clustering") == 2 * 3
    assert job_counts(output) == {
        "prepare_dataset": 1,
        "embed": 2,
        "reduce": 8,
        "cluster": 18,
        "evaluate": 2,
        "labelfree": 2,
        "probes": 2,
        "aggregate": 1,
        "render": rendered(tmp_path),
        "all": 1,
    }
    grouped = re.findall(r"^ {4}rule (\w+):", output, re.M)
    assert len(grouped) == 8 + 18 + 2 + 2 + 2 and set(grouped) == {"reduce", "cluster", "evaluate", "labelfree", "probes"}


def test_slurm_run_equals_a_local_run(slurm_run, local_run):
    work, _ = slurm_run
    comments = [job["Comment"] for job in slurm_jobs(work)]
    # the two embeddings, then the rest as group jobs (prepare_dataset, aggregate and render are local)
    assert set(comments[:2]) == {CPU_EMBED, GPU_EMBED}
    assert comments[2:] and all(comment.startswith("rule_clustering_") for comment in comments[2:])
    assert all(job["JobState"] == "COMPLETED" for job in slurm_jobs(work))
    table = "results/tables/runs.parquet"
    assert (work / table).read_bytes() == (local_run / table).read_bytes()
    assert len(pd.read_parquet(work / table)) == 2 * 2 * 2  # encoders x reducers x clusterers


def test_embedding_asks_slurm_for_a_gpu_and_memory_by_dataset_size(slurm_run):
    work, output = slurm_run
    # as the rule plans it: a timm model states no dimension; random_tiny's 32-px inputs in batches of
    # the default 64; a job that asks for a GPU is planned with CUDA's host side
    settings = cfg.load(yaml.safe_load(CONFIG.read_text()))
    gpu_mem = resources.embed_mem_mb(
        N, resources.UNKNOWN_DIM, neural=True, image_size=32, batch_size=settings["embedding"]["batch_size"], gpu=True
    )
    cpu_mem = resources.embed_mem_mb(N, 3 * 32 * 32, neural=False)  # raw pixels at image_size 32
    calls = {
        comment: line
        for line in output.splitlines()
        if "sbatch call:" in line
        for comment in [GPU_EMBED, CPU_EMBED]
        if f"--comment {comment} " in line
    }
    assert f" --mem {gpu_mem} " in calls[GPU_EMBED] and "--gpus=1" in calls[GPU_EMBED]
    assert f" --mem {cpu_mem} " in calls[CPU_EMBED] and "--gpus" not in calls[CPU_EMBED]
    # ... and what SLURM made of them: the stand-in GPU allocated to the neural encoder's job only
    recorded = {job["Comment"]: job for job in slurm_jobs(work)}
    assert recorded[GPU_EMBED]["TresPerJob"] == "gres:gpu:1" and recorded[GPU_EMBED]["JOB_GRES"] == "gpu:1"
    assert recorded[GPU_EMBED]["MinMemoryNode"] == f"{gpu_mem}M"
    assert "TresPerJob" not in recorded[CPU_EMBED] and recorded[CPU_EMBED]["JOB_GRES"] == "(null)"
    assert recorded[CPU_EMBED]["MinMemoryNode"] == f"{cpu_mem}M"


def running_jobs(workdir, comment) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i|%k|%Z"], capture_output=True, text=True).stdout
    return [job for job, c, w in (line.split("|") for line in out.splitlines()) if c == comment and w == str(workdir)]


def test_killed_job_is_resubmitted_then_reported_and_a_rerun_finishes_only_the_rest(slurm, local_run, tmp_path_factory):
    work = new_workdir(tmp_path_factory, "resilience")
    cmd = [
        "timeout",
        "-k",
        "10",
        "400",
        SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(work),
        "--configfile",
        "config.yaml",
        *PROFILES,
    ]
    log = (work / "interrupted.log").open("w")
    run = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    # scancel the GPU embedding while it runs; the profile's `retries: 1` resubmits it: cancel that too
    cancelled = []
    deadline = time.monotonic() + 180
    while len(cancelled) < 2 and run.poll() is None and time.monotonic() < deadline:
        for job in running_jobs(work, GPU_EMBED):
            if job not in cancelled:
                subprocess.run(["scancel", job], check=True)
                cancelled.append(job)
        time.sleep(0.2)
    assert run.wait(timeout=400) == 1 and len(cancelled) == 2
    output = (work / "interrupted.log").read_text()
    for job in cancelled:
        assert f"Error in rule embed:\n    message: SLURM-job '{job}' failed, SLURM status is: 'CANCELLED'" in output
    assert output.count("Trying to restart job") == 1
    # the retry asked for twice the memory (resources.smk multiplies by the attempt)
    memory = {job["JobId"]: int(job["MinMemoryNode"].rstrip("M")) for job in slurm_jobs(work)}
    assert memory[cancelled[1]] == 2 * memory[cancelled[0]]
    # keep-going: the raw encoder's branch finished meanwhile
    done = sorted(p for p in (work / "results").rglob("*.parquet"))
    assert work / "results/embeddings/digits/all/raw.parquet" in done
    metrics = [p for p in done if "/metrics/" in str(p) and not p.name.endswith("-levels.parquet")]
    assert len(metrics) == 1 and not (work / "results/tables").exists()
    mtimes = {p: p.stat().st_mtime_ns for p in done}

    result = snakemake(work, "--configfile", "config.yaml", *PROFILES, timeout=400)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    # only the cancelled embedding and what depends on it ran; finished files were left alone (the
    # outputs_index reads no table: it was rendered before the kill)
    assert job_counts(output) == {
        "embed": 1,
        "reduce": 1,
        "cluster": 4,
        "evaluate": 1,
        "labelfree": 1,
        "probes": 1,
        "aggregate": 1,
        "render": rendered(work) - 1,
        "all": 1,
    }
    assert {p: p.stat().st_mtime_ns for p in done} == mtimes
    table = "results/tables/runs.parquet"
    assert (work / table).read_bytes() == (local_run / table).read_bytes()
