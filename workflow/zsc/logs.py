"""Run a stage with its log file: Python logging and anything written to stderr go to the rule's log."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from pathlib import Path

from . import jobs


def run_logged(log_path, stage, **kwargs):
    """Call `stage(**kwargs)` with logging (INFO), warnings and stderr sent to `log_path`. The job
    records itself and ends with its snakemake, even if snakemake is killed (zsc.jobs.guard), and
    runs numba's parallel code on the job's threads (use_threads)."""
    job = _job()
    if job is not None:
        use_threads(job.threads)
    with jobs.guard([str(path) for path in getattr(job, "output", [])]):
        return _run_logged(log_path, stage, **kwargs)


def _job():
    """The `snakemake` object snakemake gives the script this process runs (its threads, its output
    files, where a killed job's temporary files would lie), or None outside snakemake."""
    return getattr(sys.modules.get("__main__"), "snakemake", None)


def use_threads(threads: int) -> None:
    """Run numba's parallel loops on `threads` threads, the job's. Snakemake gives a job's script
    OMP_NUM_THREADS and OPENBLAS_NUM_THREADS (OpenMP, BLAS) equal to its `threads:`; numba reads
    neither, and would start one thread per core of the machine (of the node, under SLURM)."""
    numba = sys.modules.get("numba")  # imported by the script already, or not (then not here: a job may not need it)
    if numba is None:
        os.environ["NUMBA_NUM_THREADS"] = str(threads)  # read when numba is imported
    else:  # its pool has NUMBA_NUM_THREADS threads already (changing the variable now is an error)
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _run_logged(log_path, stage, **kwargs):
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    # backslashreplace: a file name that is not UTF-8 must never make a log line fail.
    with open(log_path, "w", encoding="utf-8", errors="backslashreplace") as log_file, contextlib.redirect_stderr(log_file):
        handler = logging.StreamHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        warnings.simplefilter("default")
        if (job := _job()) is not None:
            logging.getLogger(__name__).info("%d thread(s)", job.threads)
        try:
            return stage(**kwargs)
        except Exception as error:
            if _names_its_culprit(error):  # the message is the whole story: one line, no traceback
                logging.getLogger(stage.__module__).error("%s", error)
                print(f"error: {error}", file=sys.__stderr__, flush=True)
                raise SystemExit(1) from None
            logging.getLogger(stage.__module__).exception("%s failed", stage.__name__)
            raise
        finally:
            root.removeHandler(handler)


# Errors about the user's input (a dataset's files, weights, the config, an unreadable intermediate
# file) whose message names the file or key and what to do; a traceback would only bury it. Named,
# not imported: importing them would pull the config's, weights' and tables' libraries into every
# stage's environment (tests/test_envs.py).
USER_ERRORS = {
    "zsc.errors.ConfigError",
    "zsc.datasets.base.DatasetError",
    "zsc.tables.UnreadableTable",
    "zsc.weights.WeightsError",
}


def _names_its_culprit(error: Exception) -> bool:
    """Whether `error` is one of USER_ERRORS (or a subclass): anything else is a bug and keeps its traceback."""
    return any(f"{cls.__module__}.{cls.__qualname__}" in USER_ERRORS for cls in type(error).__mro__)
