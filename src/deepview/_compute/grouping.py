"""Group close pairs into duplicate sets of bounded diameter: pairs merge in ascending distance
while the group stays in a ball of radius ``threshold`` around its centroid (no chains)."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["bounded_groups"]


def _radius(x: np.ndarray, members: np.ndarray) -> float:
    pts = x[members].astype(np.float64)
    centre = pts.mean(axis=0)
    diff = pts - centre
    return float(np.sqrt(np.einsum("ij,ij->i", diff, diff).max()))


def _constrained_merge(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, dist: np.ndarray,
                       tol: float) -> list[np.ndarray]:
    """Greedy merge of the pairs (ascending distance) under the radius bound; the smaller group
    joins the larger one."""
    nodes = np.unique(np.concatenate([rows, cols])).tolist()
    group = {i: i for i in nodes}
    centre = {i: x[i].astype(np.float64) for i in nodes}
    radius = dict.fromkeys(nodes, 0.0)
    members = {i: [i] for i in nodes}
    for k in np.argsort(dist, kind="stable").tolist():
        a, b = group[int(rows[k])], group[int(cols[k])]
        if a == b:
            continue
        na, nb = len(members[a]), len(members[b])
        c = (centre[a] * na + centre[b] * nb) / (na + nb)
        r = max(float(np.linalg.norm(c - centre[a])) + radius[a],
                float(np.linalg.norm(c - centre[b])) + radius[b])
        if r > tol:
            continue
        if na < nb:
            a, b = b, a
        group.update(dict.fromkeys(members[b], a))
        centre[a], radius[a] = c, r
        members[a].extend(members.pop(b))
    return [np.array(sorted(m), dtype=np.int64) for m in members.values() if len(m) > 1]


def bounded_groups(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, dist: np.ndarray,
                   threshold: float) -> list[np.ndarray]:
    """Groups (sorted index arrays of 2+ members, by first member) from the close pairs
    ``(rows[i], cols[i])`` at ``dist[i]``, each within ``threshold`` of its centroid."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    dist = np.asarray(dist, dtype=np.float64)
    keep = rows != cols
    rows, cols, dist = rows[keep], cols[keep], dist[keep]
    if len(rows) == 0:
        return []
    nodes, inverse = np.unique(np.concatenate([rows, cols]), return_inverse=True)
    m = len(rows)
    graph = coo_matrix((np.ones(m), (inverse[:m], inverse[m:])), shape=(len(nodes),) * 2)
    n_comp, label = connected_components(graph, directed=False)
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(n_comp + 1))
    edge_comp = label[inverse[:m]]
    edge_order = np.argsort(edge_comp, kind="stable")
    edge_bounds = np.searchsorted(edge_comp[edge_order], np.arange(n_comp + 1))
    # rounding slack: centroids of identical points are not always bit-identical
    scale = float(np.sqrt(np.einsum("ij,ij->i", x[nodes], x[nodes]).max()))
    tol = threshold * (1 + 1e-9) + 1e-12 * scale
    groups: list[np.ndarray] = []
    for c in range(n_comp):
        comp = nodes[order[bounds[c]:bounds[c + 1]]]
        if len(comp) == 2 or _radius(x, comp) <= tol:
            groups.append(comp)
            continue
        sel = edge_order[edge_bounds[c]:edge_bounds[c + 1]]
        groups.extend(_constrained_merge(x, rows[sel], cols[sel], dist[sel], tol))
    groups.sort(key=lambda g: int(g[0]))
    return groups
