"""The workflow passes Snakemake's linter and snakefmt, and its Python files keep black's format at the
line length pyproject.toml sets (130), as the project requires."""

import shutil
import subprocess
import sys
import tomllib
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


def line_length() -> int:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["black"]["line-length"]


def test_black_leaves_every_python_file_unchanged():
    black = shutil.which("black", path=str(BIN)) or "black"
    result = subprocess.run(
        [black, "--check", "workflow", "tests"], cwd=REPO, capture_output=True, text=True
    )  # pyproject's settings
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_line_is_longer_than_the_line_length():
    """Black leaves a long string as it is: no line of the code, the rules or the tests is longer either."""
    files = [*REPO.glob("workflow/**/*.py"), *REPO.glob("tests/**/*.py"), *REPO.glob("workflow/rules/*.smk"), REPO / "Snakefile"]
    limit = line_length()
    long = [
        f"{path.relative_to(REPO)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if len(line) > limit
    ]
    assert limit == 130 and long == []
