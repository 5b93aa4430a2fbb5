"""The workflow passes Snakemake's linter and snakefmt, as the project requires."""

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO, snakemake

BIN = Path(sys.executable).parent


def test_snakemake_lint_is_clean():
    result = snakemake(REPO, "--lint", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_snakefmt_leaves_everything_unchanged():
    snakefmt = shutil.which("snakefmt", path=str(BIN)) or "snakefmt"
    result = subprocess.run([snakefmt, "--check", "Snakefile", "workflow"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
