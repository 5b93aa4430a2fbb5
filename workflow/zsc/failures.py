"""Which errors are a result and which stop the run (docs/failures.md).

A *cell failure* is a method that cannot run on this data: PCA asked for more components than the
embeddings have dimensions or samples, more clusters than samples, a method raising one of a few
known data-dependent errors. The job then writes its normal output file holding no data and, in its
metadata, `status: failed` and the reason (as a clusterer over the memory limit records `status:
skipped`), so the run's row in runs.parquet says why and every table and figure is still written.
What is checked before the method starts names the config key; what the method raises is recorded
with the config entry it came from.

Everything else stops the run: a bug (TypeError, KeyError, ...), a missing or unreadable file, a
MemoryError or an out-of-memory kill, a KeyboardInterrupt. Retrying is for what can succeed on a
second try: a download that met a network error (`retry_network`).
"""

from __future__ import annotations

import functools
import logging
import time

log = logging.getLogger(__name__)

RAN, SKIPPED, FAILED = "ran", "skipped", "failed"

# ValueErrors whose message names one of these are about the data's size or values, not the code:
# scikit-learn's and umap-learn's checks of n_components/n_neighbors/n_clusters/perplexity against
# n_samples/n_features, and inputs holding NaN or infinity.
DATA_VALUE_ERRORS = (
    "n_samples",
    "n_features",
    "n_components",
    "n_neighbors",
    "n_clusters",
    "min_samples",
    "perplexity",
    "contains NaN",
    "contains infinity",
)


def embeddings_name(dataset: str, split: str, encoder: str) -> str:
    """How messages name an embeddings file (the reduce rule's and the plan's)."""
    return f"the embeddings of dataset {dataset} (split {split}) by encoder {encoder}"


def reduction_not_run(status: str, reason: str) -> str:
    """The reason a clustering records when its reduction did not run."""
    return f"not run, its reduction {status}: {reason}"


def cell_failure(error: BaseException) -> str | None:
    """The reason to record when `error`, raised by a reducer's or clusterer's fit, means the
    method cannot run on this data; None when it must stop the run."""
    from numpy.linalg import LinAlgError
    from scipy.sparse.linalg import ArpackError, ArpackNoConvergence

    if isinstance(error, (ArpackNoConvergence, ArpackError, LinAlgError)):  # no convergence, a singular matrix
        return f"{type(error).__name__}: {error}"
    if type(error) is ValueError and any(term in str(error) for term in DATA_VALUE_ERRORS):
        return f"ValueError: {error}"
    return None


def network_error(error: BaseException) -> bool:
    """Whether `error` (or an error it was raised from) is a network failure a second try may not
    meet: a refused or reset connection, a time-out, a server error (HTTP 5xx, 408, 429). A 404, a
    checksum mismatch or a bad file are not: they fail the same way every time."""
    import http.client
    import urllib.error

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, urllib.error.HTTPError):
            return error.code >= 500 or error.code in (408, 429)
        if isinstance(error, (urllib.error.URLError, ConnectionError, TimeoutError, http.client.IncompleteRead)):
            return True
        if type(error).__module__.split(".")[0] in ("requests", "httpx", "urllib3") and any(
            word in type(error).__name__ for word in ("Connection", "Timeout", "Transport", "Protocol")
        ):
            return True
        error = error.__cause__ or error.__context__
    return False


def retry_network(stage, attempts: int = 3, delay_s: float = 10.0):
    """`stage`, called again (up to `attempts` times in all, waiting delay_s, 2 delay_s, ...) when it
    fails with a network error; any other error is raised at once, never retried."""

    @functools.wraps(stage)
    def retrying(*args, **kwargs):
        for attempt in range(1, attempts + 1):
            try:
                return stage(*args, **kwargs)
            except Exception as error:
                if attempt == attempts or not network_error(error):
                    raise
                wait = delay_s * 2 ** (attempt - 1)
                log.warning("network error (attempt %d of %d), trying again in %.0f s: %s", attempt, attempts, wait, error)
                time.sleep(wait)

    return retrying
