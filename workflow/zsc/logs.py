"""Run a stage with its log file: Python logging and anything written to stderr go to the rule's log."""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path


def run_logged(log_path, stage, **kwargs):
    """Call `stage(**kwargs)` with logging (INFO), warnings and stderr sent to `log_path`."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log_file, contextlib.redirect_stderr(log_file):
        handler = logging.StreamHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        warnings.simplefilter("default")
        try:
            return stage(**kwargs)
        except Exception:
            logging.getLogger(stage.__module__).exception("%s failed", stage.__name__)
            raise
        finally:
            root.removeHandler(handler)
