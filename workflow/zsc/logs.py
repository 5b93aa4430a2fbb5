"""Run a stage with its log file: Python logging and anything written to stderr go to the rule's log."""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from pathlib import Path

from . import jobs


def run_logged(log_path, stage, **kwargs):
    """Call `stage(**kwargs)` with logging (INFO), warnings and stderr sent to `log_path`. The job
    records itself and ends with its snakemake, even if snakemake is killed (zsc.jobs.guard)."""
    with jobs.guard(_job_outputs()):
        return _run_logged(log_path, stage, **kwargs)


def _job_outputs() -> list[str]:
    """The output files of the snakemake job this process runs (the `snakemake` object snakemake
    gives its script), where a killed job's temporary files would lie."""
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    return [str(path) for path in getattr(job, "output", [])]


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
