"""The clusterers' distance metrics and what the libraries they run on call them.

A leaf below the clusterers and zsc.linkage, which both translate a config's metric name: the
config's names are the study's (l1, arccos); scikit-learn calls L1 'manhattan' and scipy
'cityblock', and neither knows arccos (the angle between points), which is given to scikit-learn
as a precomputed distance matrix.
"""

from __future__ import annotations

# The metrics a clusterer's `metric` option accepts.
METRICS = ("euclidean", "l1", "chebyshev", "cosine", "arccos")

# scipy.spatial.distance.pdist's names (arccos is computed by zsc.linkage itself).
SCIPY_METRIC = {"euclidean": "euclidean", "l1": "cityblock", "chebyshev": "chebyshev", "cosine": "cosine"}


def sklearn_metric(metric: str) -> str:
    """scikit-learn's neighbour searches call L1 'manhattan'; arccos is given to them as a precomputed matrix."""
    return {"l1": "manhattan", "arccos": "precomputed"}.get(metric, metric)
