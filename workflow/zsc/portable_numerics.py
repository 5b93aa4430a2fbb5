"""The same floating-point results on every x86-64 CPU with AVX2, not only on the CPU a run happened on.

OpenBLAS (numpy's and scipy's) and numba both pick their machine code by the CPU they run on:
OpenBLAS its kernels (SkylakeX on a CPU with AVX-512, Haswell on one with AVX2 only), numba the
instruction set LLVM compiles for (AVX-512 or not). Sums then run in another order and round
differently, and a seeded UMAP (its spectral initialisation is BLAS, its layout is numba code) ends in
another layout: UMAP-50 + K-Means on raw digits scored AMI 0.9208 with OpenBLAS's SkylakeX kernels
and 0.8995 with its Haswell kernels on the same machine (docs/reproducibility.md). On a SLURM cluster
with mixed nodes, a run's numbers would depend on where each job landed.

`pin` fixes both to the Haswell level (AVX2 + FMA, every x86-64 server CPU since 2013-2015):
OPENBLAS_CORETYPE for OpenBLAS, NUMBA_CPU_NAME/NUMBA_CPU_FEATURES for numba (whose on-disk cache is
then also valid on every node). Both are read when the libraries load, so they are set in the
environment the jobs start with (rules/common.smk). A value the user set wins; a CPU without AVX2,
or another architecture, gets nothing pinned (its results are its own).

Only the standard library here: the Snakefile imports this at parse time.
"""

from __future__ import annotations

import os
import platform

# OpenBLAS's kernel (its DYNAMIC_ARCH name) and LLVM's CPU for numba; with an explicit feature list
# numba does not add the host's features (AVX-512 among them) to the named CPU's.
PINNED = {"OPENBLAS_CORETYPE": "Haswell", "NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": "+avx2,+fma"}
REQUIRED_FLAGS = {"avx2", "fma"}  # what the pinned code executes; /proc/cpuinfo's names


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The instruction-set flags of this CPU (Linux), or an empty set where they cannot be read."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as lines:
            for line in lines:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def pinned_environment(machine: str | None = None, flags: set[str] | None = None) -> dict[str, str]:
    """The variables that pin the kernels on this CPU: all of PINNED on x86-64 with AVX2 and FMA, else none."""
    machine = platform.machine() if machine is None else machine
    flags = cpu_flags() if flags is None else flags
    if machine.lower() not in ("x86_64", "amd64") or not REQUIRED_FLAGS <= flags:
        return {}
    return dict(PINNED)


def pin(environ=os.environ, pinned: dict[str, str] | None = None) -> dict[str, str]:
    """Set the pinned variables in `environ` where the user has not set them; returns what it set.

    numba's two variables go together: a user's NUMBA_CPU_NAME alone keeps numba's own pairing."""
    pinned = pinned_environment() if pinned is None else pinned
    chosen = {}
    if "OPENBLAS_CORETYPE" in pinned and "OPENBLAS_CORETYPE" not in environ:
        chosen["OPENBLAS_CORETYPE"] = pinned["OPENBLAS_CORETYPE"]
    if "NUMBA_CPU_NAME" in pinned and not {"NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES"} & set(environ):
        chosen.update(NUMBA_CPU_NAME=pinned["NUMBA_CPU_NAME"], NUMBA_CPU_FEATURES=pinned["NUMBA_CPU_FEATURES"])
    environ.update(chosen)
    return chosen
