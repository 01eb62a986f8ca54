"""Gaussian mixture kernels: a blocked EM fit with diagonal covariances (scikit-learn's EM step
by step), full covariances through scikit-learn, and fast log-densities."""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from deepview._compute.blas import single_blas_thread

__all__ = ["GaussianMixtureParams", "as_random_state", "fit_gmm", "iter_blocks"]

_REG_COVAR = 1e-6
_LOG_2PI = math.log(2.0 * math.pi)
_BLOCK_ROWS = 4096


def as_random_state(seed: Any) -> np.random.RandomState:
    """``None``, an int, a ``RandomState`` or a ``Generator`` as a ``RandomState``."""
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.RandomState(int(seed.integers(0, 2**32 - 1)))
    return np.random.RandomState(None if seed is None else int(seed))


def iter_blocks(blocks: Sequence[np.ndarray], rows: int = _BLOCK_ROWS) -> Iterable[np.ndarray]:
    """Yield float64 copies of ``blocks`` cut into pieces of at most ``rows`` rows."""
    for block in blocks:
        for start in range(0, len(block), rows):
            yield np.array(block[start:start + rows], dtype=np.float64)  # a writable copy


@dataclasses.dataclass(frozen=True)
class GaussianMixtureParams:
    """Fitted mixture: ``weights``, ``means`` and diagonal ``variances`` or precision Cholesky
    factors; ``center`` is subtracted from data and means before scoring."""

    weights: np.ndarray
    means: np.ndarray
    covariance_type: str
    variances: np.ndarray | None = None
    precisions_cholesky: np.ndarray | None = None
    center: np.ndarray | None = None
    n_iter: int = 0
    converged: bool = True
    #: float64 log-densities of the training rows, if the fit computed them
    training_scores: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return int(self.means.shape[1])

    @property
    def covariances(self) -> np.ndarray:
        """Covariances as sklearn stores them: ``(K, D)`` for diag, ``(K, D, D)`` for full."""
        if self.variances is not None:
            return self.variances
        return np.stack([inv.T @ inv for inv in map(np.linalg.inv, self._cholesky())])

    def _cholesky(self) -> np.ndarray:
        if self.precisions_cholesky is None:
            raise ValueError("GaussianMixtureParams: needs variances or precisions_cholesky.")
        return self.precisions_cholesky

    @functools.cached_property
    def _diag_terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Linear, quadratic and constant terms of the diagonal log-densities."""
        means = self.means if self.center is None else self.means - self.center
        if self.variances is None:
            raise ValueError("GaussianMixtureParams: not a diagonal model.")
        mat, const = _e_step_matrix(self.weights, means, self.variances)
        d = self.n_features
        return np.ascontiguousarray(mat[:d]), np.ascontiguousarray(mat[d:]), const

    def component_log_density(self, x: np.ndarray) -> np.ndarray:
        """``log w_k + log N(x; mu_k, Sigma_k)``: ``(n, K)``."""
        xc = np.array(x, dtype=np.float64)  # a float64 copy we may centre in place
        means = self.means
        if self.center is not None:
            xc -= self.center
            means = means - self.center
        if self.variances is not None:
            lin, quad, const = self._diag_terms
            out = xc @ lin
            xc *= xc
            out += xc @ quad
            out += const
            return out
        d = self.n_features
        out = np.empty((len(xc), len(self.weights)))
        for k, chol in enumerate(self._cholesky()):
            y = xc @ chol - means[k] @ chol
            log_det = np.log(np.diagonal(chol)).sum()
            out[:, k] = -0.5 * (d * _LOG_2PI + np.einsum("ij,ij->i", y, y)) + log_det
        with np.errstate(divide="ignore"):
            out += np.log(self.weights)
        return out

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """Mixture log-density of every row: ``(n,)``."""
        return _logsumexp(self.component_log_density(x))


def _logsumexp(a: np.ndarray) -> np.ndarray:
    top = a.max(axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(under="ignore"):
        return np.log(np.exp(a - top[:, None]).sum(axis=1)) + top


def _kmeans_plusplus(xc: np.ndarray, xx: np.ndarray, k: int, rs: np.random.RandomState
                     ) -> np.ndarray:
    """scikit-learn's greedy k-means++ seeding (same draws) on centred rows."""
    n, d = xc.shape
    n_trials = 2 + int(np.log(k))
    row_sq = xx.sum(axis=1, dtype=np.float64)

    def sq_dist(points: np.ndarray) -> np.ndarray:
        pf = points.astype(xc.dtype)
        out = (xc @ pf.T).astype(np.float64)
        out *= -2.0
        out += row_sq[:, None]
        out += (points * points).sum(axis=1)
        return np.maximum(out, 0.0, out=out)

    seeds = np.empty((k, d))
    seeds[0] = xc[int(rs.choice(n, p=np.full(n, 1.0 / n)))]
    closest = sq_dist(seeds[:1])[:, 0]
    pot = closest.sum()
    for c in range(1, k):
        rand_vals = rs.uniform(size=n_trials) * pot
        ids = np.searchsorted(np.cumsum(closest), rand_vals)
        np.clip(ids, None, n - 1, out=ids)
        cand = xc[ids].astype(np.float64)
        dist = np.minimum(closest[:, None], sq_dist(cand))
        pots = dist.sum(axis=0)
        best = int(np.argmin(pots))
        seeds[c] = cand[best]
        closest = dist[:, best]
        pot = pots[best]
    return seeds


def _work_arrays(blocks: Sequence[np.ndarray]
                 ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Row count, float64 column means ``center``, and ``x - center`` and its square as
    float32 ``(n, D)`` arrays (two passes)."""
    n, d = sum(len(b) for b in blocks), blocks[0].shape[1]
    total = np.zeros(d)
    for xb in iter_blocks(blocks):
        total += xb.sum(axis=0)
    center = total / n
    xc = np.empty((n, d), dtype=np.float32)
    xx = np.empty((n, d), dtype=np.float32)
    pos = 0
    for xb in iter_blocks(blocks):
        xb -= center
        xc[pos:pos + len(xb)] = xb
        xb *= xb
        xx[pos:pos + len(xb)] = xb
        pos += len(xb)
    return n, center, xc, xx


def _e_step_matrix(weights: np.ndarray, means: np.ndarray, variances: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(2D, K)`` matrix and ``(K,)`` constant: ``[xc, xc**2] @ M + c`` = log-densities."""
    prec = 1.0 / variances
    const = (-0.5 * (means.shape[1] * _LOG_2PI + np.log(variances).sum(axis=1))
             - 0.5 * np.einsum("kd,kd->k", means * means, prec))
    with np.errstate(divide="ignore"):
        const = const + np.log(weights)
    return np.concatenate([(means * prec).T, -0.5 * prec.T]), const


def _fit_diag(blocks: Sequence[np.ndarray], k: int, tol: float, max_iter: int,
              rs: np.random.RandomState) -> GaussianMixtureParams:
    """EM on float32 ``xc`` and ``xc**2`` in row chunks (float64 after a drop of the bound)."""
    n, center, xc, xx = _work_arrays(blocks)
    d = len(center)
    eps = 10 * np.finfo(np.float64).eps
    # sklearn's initial parameters from one-hot responsibilities on the k-means++ seeds
    seeds = _kmeans_plusplus(xc, xx, k, rs) + center
    dtype = blocks[0].dtype if np.issubdtype(blocks[0].dtype, np.floating) else np.float64
    nk0 = 1.0 + 10 * float(np.finfo(dtype).eps)
    means = seeds / nk0 - center
    variances = seeds * seeds * (1.0 / nk0 - 1.0 / nk0**2) + _REG_COVAR
    weights = np.full(k, 1.0 / k)
    lower_bound = -np.inf
    converged = False
    precise = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        mat, const = _e_step_matrix(weights, means, variances)
        work = np.float64 if precise else np.float32
        lin, quad, cst = mat[:d].astype(work), mat[d:].astype(work), const.astype(work)
        nk = np.zeros(k)
        stats = np.zeros((k, 2 * d))
        total_log = 0.0
        for s in range(0, n, _BLOCK_ROWS):
            xb, xxb = xc[s:s + _BLOCK_ROWS], xx[s:s + _BLOCK_ROWS]
            if precise:
                xb = xb.astype(np.float64)
                xxb = xb * xb
            log_prob = xb @ lin
            log_prob += xxb @ quad
            log_prob += cst
            top = log_prob.max(axis=1, keepdims=True)
            log_prob -= top
            resp = np.exp(log_prob, out=log_prob)
            total = resp.sum(axis=1, keepdims=True)
            total_log += float(np.log(total).sum(dtype=np.float64) + top.sum(dtype=np.float64))
            resp /= total
            nk += resp.sum(axis=0, dtype=np.float64)
            stats[:, :d] += resp.T @ xb
            stats[:, d:] += resp.T @ xxb
        nk += eps
        means = stats[:, :d] / nk[:, None]
        variances = np.maximum(stats[:, d:] / nk[:, None] - means * means, 0.0) + _REG_COVAR
        weights = nk / nk.sum()
        previous, lower_bound = lower_bound, total_log / n
        if abs(lower_bound - previous) < tol:
            converged = True
            break
        if not precise and lower_bound < previous:
            # float32 rounding lowered the bound: finish in float64
            precise = True
    return GaussianMixtureParams(weights=weights, means=means + center, covariance_type="diag",
                                 variances=variances, center=center, n_iter=n_iter,
                                 converged=converged)


def _fit_full(blocks: Sequence[np.ndarray], k: int, tol: float, max_iter: int,
              rs: np.random.RandomState) -> GaussianMixtureParams:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    x = np.concatenate([np.asarray(b, dtype=np.float64) for b in blocks])
    center = x.mean(axis=0)
    model = GaussianMixture(n_components=k, covariance_type="full", tol=tol, max_iter=max_iter,
                            random_state=rs, init_params="k-means++")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x - center)
    params = GaussianMixtureParams(
        weights=np.asarray(model.weights_, dtype=np.float64),
        means=np.asarray(model.means_, dtype=np.float64) + center,
        covariance_type="full",
        precisions_cholesky=np.asarray(model.precisions_cholesky_, dtype=np.float64),
        center=center, n_iter=int(model.n_iter_), converged=bool(model.converged_))
    return dataclasses.replace(params, training_scores=params.log_density(x))


def fit_gmm(blocks: Sequence[np.ndarray], *, n_components: int, covariance_type: str = "diag",
            tol: float = 1e-3, max_iter: int = 200, random_state: Any = None
            ) -> GaussianMixtureParams:
    """Fit a Gaussian mixture to the rows of ``blocks`` (``(n_i, D)`` arrays)."""
    rs = as_random_state(random_state)
    if covariance_type == "diag":
        with single_blas_thread():  # skinny, memory-bound products
            return _drop_degenerate(_fit_diag(blocks, n_components, tol, max_iter, rs), blocks)
    if covariance_type == "full":
        return _drop_degenerate(_fit_full(blocks, n_components, tol, max_iter, rs), blocks)
    raise ValueError(f"fit_gmm: covariance_type must be 'diag' or 'full'; got {covariance_type!r}")


def _drop_degenerate(params: GaussianMixtureParams,
                     blocks: Sequence[np.ndarray]) -> GaussianMixtureParams:
    """Remove components of fewer than ``D + 1`` samples' weight (a far outlier's own component
    would make it the most familiar sample) and renormalise."""
    n = sum(len(b) for b in blocks)
    keep = params.weights * n >= params.n_features + 1
    if keep.all() or not keep.any():
        return params
    weights = params.weights[keep] / params.weights[keep].sum()
    pruned = dataclasses.replace(
        params, weights=weights, means=params.means[keep],
        variances=None if params.variances is None else params.variances[keep],
        precisions_cholesky=(None if params.precisions_cholesky is None
                             else params.precisions_cholesky[keep]),
        training_scores=None)
    scores = (None if params.training_scores is None
              else np.concatenate([pruned.log_density(b) for b in blocks]))
    return dataclasses.replace(pruned, training_scores=scores)
