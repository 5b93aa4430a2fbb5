#!/usr/bin/env bash
# Sets this workflow up on a fresh machine (Python 3.11 + pip; Debian for the optional extras):
# a virtual environment in .venv holding the zsc package and every dependency. With --test, also
# what the test suite needs. As root on Debian it installs Debian's dataset-fashion-mnist (the real
# Fashion-MNIST files, so the default config runs offline; elsewhere torchvision downloads them) and,
# with --test, slurm-wlm and munge for the SLURM test and chromium for the report test.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  pkgs="dataset-fashion-mnist"
  # tests/test_slurm.py runs the SLURM profile on a real single-node SLURM (its fixture starts the
  # daemons); tests/test_report.py opens the HTML report in a real headless browser
  [ -n "$extras" ] && pkgs="$pkgs slurm-wlm munge chromium chromium-driver"
  missing=""
  for pkg in $pkgs; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
  if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# torch is pinned (pyproject.toml): a newer one would be a several-GB download on these machines.
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
echo "setup.sh: ready ($(.venv/bin/python -c 'import torch, snakemake; print("snakemake", snakemake.__version__, "torch", torch.__version__)'))"
