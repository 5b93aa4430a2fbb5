"""Spectral clustering with the Lanczos eigensolver: scikit-learn's route with no LU factorisation.

scikit-learn's default (ARPACK in shift-invert mode around -1e-5) factorises the graph Laplacian with a
sparse LU, whose fill on a k-NN graph of high-dimensional points grows far faster than the graph: at
100,000 points it is the bound in time and memory (docs/measurements.md, "Spectral clustering: where
the time goes"). The smallest eigenvalues of the normalised Laplacian L = I - D^-1/2 A D^-1/2 are the
largest of D^-1/2 A D^-1/2, which ARPACK's Lanczos finds with matrix-vector products alone. Run to
machine precision (tol=0, as scikit-learn runs ARPACK) it converges to the same eigenvectors, so where
the wanted eigenvalues are distinct the labels are scikit-learn's (cluster_qr depends on the subspace,
and signs are fixed the same way). A graph of several components has 0 once per component; Lanczos
from one start vector would find one vector of a repeated eigenvalue, so each component is solved on
its own. With fewer components than clusters the labels are still ARPACK's; with as many, both give
the components (numbered otherwise); with more, any n_clusters of the components' vectors are as right
as others and the two pick differently (tests/test_scale_methods.py).
"""

from __future__ import annotations

import numpy as np


def knn_affinity(X, n_neighbors: int):
    """SpectralClustering's affinity="nearest_neighbors": the exact k-NN connectivity of the float64
    points, each point its own neighbour, symmetrised."""
    from sklearn.neighbors import kneighbors_graph

    connectivity = kneighbors_graph(np.asarray(X, dtype=np.float64), n_neighbors=n_neighbors, include_self=True)
    return 0.5 * (connectivity + connectivity.T)


def lanczos_embedding(adjacency, n_components: int, random_state: np.random.RandomState) -> np.ndarray:
    """scikit-learn's spectral_embedding(adjacency, n_components, drop_first=False) by Lanczos: (n, n_components)."""
    from scipy.sparse import csgraph
    from sklearn.utils._arpack import _init_arpack_v0
    from sklearn.utils.extmath import _deterministic_vector_sign_flip

    laplacian, degree_root = csgraph.laplacian(adjacency, normed=True, return_diag=True)
    # I - L with scikit-learn's Laplacian, whose diagonal it sets to 1 (_set_diag): zero on the diagonal
    normalised_adjacency = (-laplacian).tocsr()
    normalised_adjacency.setdiag(0)
    # the same start vector as scikit-learn's ARPACK call, drawn from the same random state
    v0 = _init_arpack_v0(adjacency.shape[0], random_state)
    # Lanczos from one start vector finds one vector of a repeated eigenvalue: a graph of several
    # components (eigenvalue 1 once per component) is solved component by component
    n_parts, part = csgraph.connected_components(adjacency, directed=False)
    values, vectors = [], []
    for index in range(n_parts):
        members = np.flatnonzero(part == index)
        block = normalised_adjacency[members][:, members]
        block_values, block_vectors = _largest_eigenpairs(block, min(n_components, len(members)), v0[members])
        for value, vector in zip(block_values, block_vectors.T):
            full = np.zeros(adjacency.shape[0])
            full[members] = vector
            values.append(value)
            vectors.append(full)
    # the Laplacian's smallest eigenvalues first, as scikit-learn orders them; equal to rounding (each
    # component's eigenvalue 1) in the order of the components' first points
    order = np.argsort(-np.round(values, 12), kind="stable")[:n_components]
    embedding = np.stack([vectors[i] for i in order]) / degree_root  # u = D^-1/2 x, as scikit-learn recovers it
    return _deterministic_vector_sign_flip(embedding).T


def _largest_eigenpairs(matrix, k: int, v0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenvalues (descending) and their eigenvectors (columns) of a symmetric sparse matrix."""
    from scipy.sparse.linalg import eigsh

    if matrix.shape[0] <= 4 * k + 1:  # ARPACK wants k < n; a small component is solved densely
        values, vectors = np.linalg.eigh(matrix.toarray())
    else:
        values, vectors = eigsh(matrix, k=k, which="LA", tol=0, v0=v0)
    return values[::-1][:k], vectors[:, ::-1][:, :k]


class SpectralLanczos:
    """SpectralClustering(affinity="nearest_neighbors", assign_labels="cluster_qr") with the Lanczos eigensolver."""

    def __init__(self, n_clusters: int, n_neighbors: int, seed: int):
        self.n_clusters, self.n_neighbors, self.seed = n_clusters, n_neighbors, seed

    def fit_predict(self, X) -> np.ndarray:
        from sklearn.cluster._spectral import cluster_qr

        affinity = knn_affinity(X, self.n_neighbors)
        return cluster_qr(lanczos_embedding(affinity, self.n_clusters, np.random.RandomState(self.seed)))


def embedding(affinity, n_components: int, eigen_solver: str, seed: int) -> np.ndarray:
    """The spectral embedding SpectralClustering(random_state=seed) computes of `affinity` (its
    arpack, lobpcg, or the Lanczos route above): (n, n_components), the Laplacian's smallest first."""
    from sklearn.manifold import spectral_embedding

    random_state = np.random.RandomState(seed)
    if eigen_solver == "lanczos":
        return lanczos_embedding(affinity, n_components, random_state)
    solver = None if eigen_solver == "arpack" else eigen_solver  # None is scikit-learn's arpack route
    return spectral_embedding(
        affinity, n_components=n_components, eigen_solver=solver, random_state=random_state, drop_first=False
    )
