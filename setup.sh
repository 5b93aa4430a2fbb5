#!/usr/bin/env bash
# Sets this workflow up on a fresh machine (Python 3.11 + pip; Debian for the optional extras):
# a virtual environment in .venv holding the zsc package and every dependency, at the versions of
# requirements.lock (those the tests passed with). With --test, also what the test suite needs.
# With --lock, writes requirements.lock anew from the .venv as it is (after an upgrade that the
# tests passed with) and installs nothing. As root on Debian it installs Debian's
# dataset-fashion-mnist (the real Fashion-MNIST files, so the default config runs offline;
# elsewhere torchvision downloads them) and, with --test, slurm-wlm and munge for the SLURM test
# and chromium for the report test.
# Last, it compiles the workflow's numba code into the jobs' cache (python -m zsc warm-cache), so the
# first run compiles nothing. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
if [ "${1:-}" = "--lock" ]; then
  # name==version of every installed distribution (also those installed from a file), less the
  # project itself and the installers; the header is kept
  { sed -n '/^#/p;/^[^#]/q' requirements.lock
    .venv/bin/python -m pip list --format=freeze --exclude-editable --exclude pip --exclude setuptools --exclude wheel | sort -f
  } > requirements.lock.new && mv requirements.lock.new requirements.lock
  echo "setup.sh: requirements.lock written ($(grep -c == requirements.lock) distributions)"
  exit 0
fi

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
# The lock as constraints: the resolution is pip's usual one, each distribution held at the locked
# version (torch's included: a newer one would be a several-GB download on these machines). The
# machine's own pip configuration (constraints, local wheels) applies as well.
.venv/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -e ".${extras}"
.venv/bin/python -m pip check
# numba's code for the jobs (umap-learn's, pynndescent's and the package's kernels), compiled once here
# into resources/cache/numba for the pinned AVX2 target instead of in the first run's jobs (zsc.warm_cache)
.venv/bin/python -m zsc warm-cache
echo "setup.sh: ready ($(.venv/bin/python -c 'import torch, snakemake; print("snakemake", snakemake.__version__, "torch", torch.__version__)'))"
