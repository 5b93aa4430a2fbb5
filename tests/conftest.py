import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

# A hub lookup would retry for ~46 s before failing offline; with this it fails at once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the workflow's Snakefile in `workdir` (bounded, output captured)."""
    cmd = ["timeout", "-k", "10", str(timeout), SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def snakemake_errors(result) -> list[str]:
    """stderr without Snakemake's own banner lines (the workflow profile it read, ...)."""
    banner = ("Using workflow specific profile", "Assuming unrestricted shared filesystem usage")
    return [line for line in result.stderr.splitlines() if not line.startswith(banner)]


# One small run shared by tests/test_plan.py and tests/test_failures.py (a run costs about a minute):
# a memory limit small enough that Affinity Propagation (24 N^2 bytes: 2.2 MB on 300 points) and
# K-Means on the 512-d network embeddings (2.5 MB) are skipped while K-Means on the 192-d pixels
# runs, and the study's zpca200d, which cannot reduce digits' 192-d raw pixels (failed cells) but
# reduces the network's 512-d embeddings.
GUARDED = {
    "seeds": [1],
    "limits": {"memory_gb": 0.0019},
    "datasets": {"digits": {"max_samples": 300}},
    "encoders": {"raw": {}, "random_tiny": {"type": "timm", "model": "resnet10t", "image_size": 32}},
    "reducers": {"none": {}, "zpca10": {"type": "pca", "n_components": 10}, "zpca200d": {"type": "pca", "n_components": 200}},
    "clusterers": {"kmeans": {}, "ac_ward": {"type": "agglomerative"}, "affinity_propagation": {}, "hdbscan": {}},
    "metrics": {"umap_silhouette": False},
    "outputs": {"embedding_maps": False},
}
GUARDED_TARGETS = [
    "results/tables/runs.parquet",
    "results/tables/stage_times.csv",
    "results/tables/ami_summary.md",
    "results/outputs/main_ami",  # an output's folder is its render job's target
    "results/outputs/ami_heatmap",
]


@pytest.fixture(scope="session")
def guarded_run(tmp_path_factory):
    """(workdir, the plan made before the run) of GUARDED, run to GUARDED_TARGETS."""
    import yaml

    from zsc import plan as planning

    work = tmp_path_factory.mktemp("guarded")
    (work / "config.yaml").write_text(yaml.safe_dump(GUARDED))
    # the plan is made before anything exists: shapes from the catalogue and the meta device
    before = planning.make_plan(planning.load_config(work / "config.yaml"), work, str(work / "config.yaml"), gpu=False)
    result = snakemake(work, "--configfile", "config.yaml", "--cores", "2", *GUARDED_TARGETS)
    assert result.returncode == 0, result.stderr[-4000:]
    return work, before


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def server(tmp_path):
    """A folder served over HTTP on 127.0.0.1, for the real download code: (folder, base URL ending in /)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
