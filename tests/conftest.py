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
