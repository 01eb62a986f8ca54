"""Familiarity: fit a density model (a Gaussian mixture) per field and score samples with it."""

from __future__ import annotations

import dataclasses
import enum
import logging
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol, overload, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from deepview._compute.gmm import GaussianMixtureParams, fit_gmm
from deepview._progress import progress_disabled
from deepview._validation import check_batch_size, check_field, check_float, check_int
from deepview.base import Batch, PipelineStage, Producer, iter_batches
from deepview.base._batch import DictMetaKey
from deepview.exceptions import (
    DeepViewException,
    DeepViewWarning,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
)
from deepview.partial import batch_fields

__all__ = ["Familiarity", "FamiliarityDistribution", "FamiliarityScores", "FamiliarityResult",
           "FamiliarityResults", "FamiliarityStrategyType", "GMMCovarianceType"]

logger = logging.getLogger(__name__)

_OWNER = "Familiarity"
_GMM_OWNER = "Familiarity.Strategy.GMM"
#: percentiles are ranks among the scores of at most this many (evenly spaced) training rows
_PERCENTILE_SAMPLE = 20000


@dataclasses.dataclass(frozen=True, slots=True)
class FamiliarityResult:
    """Familiarity of one sample.

    Attributes
    ----------
    score : float
        Log-likelihood under the fitted model; higher means more typical.
    percentile : float
        Share (0..100) of the training samples scoring <= ``score``; ``nan`` when unknown.
    """

    score: float
    percentile: float = float("nan")


class FamiliarityResults(Sequence[FamiliarityResult]):
    """Read-only sequence of :class:`FamiliarityResult` (arrays ``scores``, ``percentiles``)."""

    __slots__ = ("scores", "percentiles")

    def __init__(self, scores: np.ndarray, percentiles: np.ndarray) -> None:
        self.scores = scores
        self.percentiles = percentiles
        scores.flags.writeable = False
        percentiles.flags.writeable = False

    def __len__(self) -> int:
        return len(self.scores)

    @overload
    def __getitem__(self, index: int) -> FamiliarityResult: ...

    @overload
    def __getitem__(self, index: slice) -> FamiliarityResults: ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return FamiliarityResults(self.scores[index], self.percentiles[index])
        return FamiliarityResult(float(self.scores[index]), float(self.percentiles[index]))

    def __iter__(self) -> Iterator[FamiliarityResult]:
        return map(FamiliarityResult, self.scores.tolist(), self.percentiles.tolist())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FamiliarityResults):
            return bool(np.array_equal(self.scores, other.scores)
                        and np.array_equal(self.percentiles, other.percentiles, equal_nan=True))
        if isinstance(other, Sequence):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FamiliarityResults(n={len(self)})"


class GMMCovarianceType(str, enum.Enum):
    """Covariance type learnt per Gaussian: ``DIAG`` for embeddings, ``FULL`` for few dimensions."""

    DIAG = "diag"
    FULL = "full"


@runtime_checkable
class FamiliarityDistribution(Protocol):
    """Density model of one field; scores responses ``x`` of shape ``(N, D)``."""

    def compute_familiarity_score(self, x: np.ndarray) -> Sequence[FamiliarityResult]: ...


@runtime_checkable
class FamiliarityStrategyType(Protocol):
    """Fits one :class:`FamiliarityDistribution` per field of a producer."""

    metadata_key: ClassVar[DictMetaKey[FamiliarityResult]]

    def __call__(self, producer: Producer,
                 batch_size: int = 1024) -> Mapping[str, FamiliarityDistribution]: ...


class _GMMDistribution:
    """A fitted Gaussian mixture of one field and its sorted training scores."""

    def __init__(self, params: GaussianMixtureParams, training_scores: np.ndarray) -> None:
        self.params = params
        self._sorted_scores = np.sort(np.asarray(training_scores, dtype=np.float64))

    def score_samples(self, x: np.ndarray, name: str = "x") -> np.ndarray:
        """Log-likelihood of every row of ``x``: ``(N,)`` float64."""
        arr, d = np.asarray(x), self.params.n_features
        if arr.ndim != 2 or arr.shape[1] != d:
            raise InvalidDataError(f"{_OWNER}: field '{name}' must have shape (N, {d}) to be "
                                   f"scored by this model; got {arr.shape}. Score the same "
                                   "field/layer it was fitted on.")
        return self.params.log_density(check_field(name, arr, owner=_OWNER))

    def compute_familiarity_score(self, x: np.ndarray, name: str = "x") -> FamiliarityResults:
        """One :class:`FamiliarityResult` (score and percentile) per row of ``x``."""
        scores = self.score_samples(x, name)
        ranks = np.searchsorted(self._sorted_scores, scores, side="right")
        return FamiliarityResults(scores, ranks * (100.0 / len(self._sorted_scores)))

    def __repr__(self) -> str:
        p = self.params
        return (f"GMMDistribution(components={len(p.weights)}, dim={p.n_features}, "
                f"covariance_type={p.covariance_type!r})")


def _check_random_state(value: Any) -> None:
    ok = value is None or isinstance(value, (np.random.RandomState, np.random.Generator))
    ok = ok or (isinstance(value, (int, np.integer)) and not isinstance(value, bool))
    if not ok:
        raise InvalidTypeError(f"{_GMM_OWNER}: '_random_state' must be None, an int, a numpy "
                               f"RandomState or Generator; got {type(value).__name__}.")


def _collect_blocks(producer: Producer, batch_size: int, owner: str) -> dict[str, list[np.ndarray]]:
    """Read every batch; per field, the list of the batches' arrays (kept, not copied)."""
    blocks: dict[str, list[np.ndarray]] = {}
    for batch in tqdm(iter_batches(producer, batch_size, owner=owner), desc=f"{owner}: reading",
                      unit="batch", disable=progress_disabled()):
        if blocks and set(batch.fields) != set(blocks):
            raise InvalidDataError(f"{owner}: every batch needs the same fields; first batch had "
                                   f"{sorted(blocks)}, a later one {sorted(batch.fields)}.")
        for name, value in batch.fields.items():
            arr = check_field(name, value, owner=owner)
            kept = blocks.setdefault(name, [])
            if kept and arr.shape[1] != kept[0].shape[1]:
                raise InvalidDataError(f"{owner}: field '{name}' changed width from "
                                       f"{kept[0].shape[1]} to {arr.shape[1]} between batches; "
                                       "all batches need the same shape.")
            kept.append(arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64))
    return blocks


def _evenly_spaced_rows(blocks: Sequence[np.ndarray], n: int, limit: int) -> np.ndarray:
    """All rows if ``n <= limit``, else ``limit`` evenly spaced rows (deterministic)."""
    if n <= limit:
        return np.concatenate(blocks)
    wanted = np.linspace(0, n - 1, limit).round().astype(np.int64)
    offsets = np.cumsum([0] + [len(b) for b in blocks])
    pieces = np.split(wanted, np.searchsorted(wanted, offsets[1:-1]))
    return np.concatenate([b[w - o] for b, w, o in zip(blocks, pieces, offsets)])


@dataclasses.dataclass(frozen=True, kw_only=True)
class _GMM:
    """Gaussian mixture familiarity: ``gaussian_count`` Gaussians per field.

    Parameters
    ----------
    gaussian_count : int, default=5
        Number of Gaussians in the mixture.
    convergence_threshold : float, default=1e-3
        EM stops when the mean log-likelihood changes by less than this.
    max_iterations : int, default=200
        Maximum number of EM iterations.
    covariance_type : GMMCovarianceType, default=GMMCovarianceType.DIAG
        ``DIAG`` for high-dimensional data (embeddings), ``FULL`` for low-dimensional data.
    _random_state : int, numpy RandomState or Generator, optional
        Older name of ``random_state``; give one of the two.
    random_state : int, numpy RandomState or Generator, optional
        Seed of the k-means++ initialisation.
    """

    metadata_key: ClassVar[DictMetaKey[FamiliarityResult]] = Batch.DictMetaKey("GMM")

    gaussian_count: int = 5
    convergence_threshold: float = 1e-3
    max_iterations: int = 200
    covariance_type: GMMCovarianceType = GMMCovarianceType.DIAG
    _random_state: int | np.random.RandomState | np.random.Generator | None = None
    random_state: int | np.random.RandomState | np.random.Generator | None = None

    def __post_init__(self) -> None:
        check_int(self.gaussian_count, name="gaussian_count", owner=_GMM_OWNER, min_value=1)
        check_float(self.convergence_threshold, name="convergence_threshold", owner=_GMM_OWNER,
                    min_value=0.0)
        check_int(self.max_iterations, name="max_iterations", owner=_GMM_OWNER, min_value=1)
        try:
            cov = GMMCovarianceType(self.covariance_type)
        except ValueError:
            raise InvalidParameterError(f"{_GMM_OWNER}: 'covariance_type' must be "
                                        "GMMCovarianceType.DIAG or .FULL; got "
                                        f"{self.covariance_type!r}.") from None
        object.__setattr__(self, "covariance_type", cov)
        _check_random_state(self._random_state)
        _check_random_state(self.random_state)
        if self._random_state is not None and self.random_state is not None:
            raise InvalidParameterError(f"{_GMM_OWNER}: give either 'random_state' or its older "
                                        "name '_random_state', not both.")

    @property
    def seed(self) -> int | np.random.RandomState | np.random.Generator | None:
        """The effective seed: ``random_state``, else ``_random_state``."""
        return self.random_state if self.random_state is not None else self._random_state

    def with_random_state(self, random_state: Any) -> _GMM:
        """A copy seeded with ``random_state`` (the same strategy if it already has a seed)."""
        seeded = self.seed is not None
        return self if seeded else dataclasses.replace(self, random_state=random_state)

    def fit_field(self, name: str, blocks: Sequence[np.ndarray]) -> _GMMDistribution:
        """Fit the mixture to one field's row blocks."""
        n = sum(len(b) for b in blocks)
        if n < self.gaussian_count:
            raise InvalidDataError(f"{_GMM_OWNER}: field '{name}' has {n} sample(s) but "
                                   f"gaussian_count={self.gaussian_count}; give at least "
                                   f"{self.gaussian_count} samples or use "
                                   f"GMM(gaussian_count={max(n, 1)}).")
        params = fit_gmm(blocks, n_components=self.gaussian_count,
                         covariance_type=self.covariance_type.value, tol=self.convergence_threshold,
                         max_iter=self.max_iterations, random_state=self.seed)
        if not params.converged:
            warnings.warn(f"{_GMM_OWNER}: the mixture of field '{name}' did not converge in "
                          f"{self.max_iterations} iterations; raise max_iterations or "
                          "convergence_threshold.", DeepViewWarning, stacklevel=3)
        scores = params.training_scores
        if scores is None:
            scores = params.log_density(_evenly_spaced_rows(blocks, n, _PERCENTILE_SAMPLE))
        logger.debug("GMM fitted on '%s': %d samples, %d iterations", name, n, params.n_iter)
        return _GMMDistribution(params, scores)

    def __call__(self, producer: Producer,
                 batch_size: int = 1024) -> Mapping[str, _GMMDistribution]:
        """Read ``producer`` once and fit one mixture per field."""
        blocks = _collect_blocks(producer, batch_size, _GMM_OWNER)
        return {name: self.fit_field(name, field_blocks) for name, field_blocks in blocks.items()}


_GMM.__name__ = "GMM"
_GMM.__qualname__ = "Familiarity.Strategy.GMM"


def _make_meta_key(strategy: Any, meta_key: str | DictMetaKey[FamiliarityResult] | None
                   ) -> DictMetaKey[FamiliarityResult]:
    if isinstance(meta_key, Batch.DictMetaKey):
        return meta_key
    if isinstance(meta_key, str):
        return Batch.DictMetaKey(meta_key)
    if meta_key is not None:
        raise InvalidTypeError(f"{_OWNER}: 'meta_key' must be None, a str or a Batch.DictMetaKey; "
                               f"got {type(meta_key).__name__}.")
    base = getattr(strategy, "metadata_key", None)
    name = base.name if isinstance(base, Batch.DictMetaKey) else type(strategy).__name__
    return Batch.DictMetaKey(f"{name}:{uuid.uuid4().hex[:12]}")


@dataclasses.dataclass(frozen=True)
class Familiarity(PipelineStage):
    """Density model of responses that scores how familiar (typical) each sample is.

    Create it with :meth:`introspect`.  In a :func:`~deepview.base.pipeline` it attaches one
    :class:`FamiliarityResult` per sample and field under :attr:`meta_key`.

    Parameters
    ----------
    meta_key : DictMetaKey[FamiliarityResult]
        Do not instantiate directly; use :meth:`introspect`.
    _distributions : Mapping[str, FamiliarityDistribution]
        Do not instantiate directly; use :meth:`introspect`.

    Examples
    --------
    >>> import numpy as np
    >>> from deepview.base import ArrayProducer
    >>> x = np.random.default_rng(0).normal(size=(500, 4))
    >>> x[0] = 12.0                                   # one planted outlier
    >>> fam = Familiarity.introspect(ArrayProducer(x, field="emb"),
    ...                              strategy=Familiarity.Strategy.GMM(random_state=0))
    >>> int(np.argmin(fam.score(x)["emb"]))
    0
    """

    meta_key: DictMetaKey[FamiliarityResult]
    _distributions: Mapping[str, FamiliarityDistribution]

    class Strategy:
        """Bundled familiarity strategies (see :class:`FamiliarityStrategyType`)."""

        GMM = _GMM

    @staticmethod
    def introspect(producer: Producer, *, strategy: FamiliarityStrategyType | None = None,
                   batch_size: int = 1024,
                   meta_key: str | DictMetaKey[FamiliarityResult] | None = None) -> Familiarity:
        """Fit a familiarity model to every field of ``producer`` (one pass).

        Parameters
        ----------
        producer : Producer
            Responses to fit; every field must be 2-D ``(N, D)`` (use ``Flattener`` first).
        strategy : FamiliarityStrategyType, optional
            Default ``Familiarity.Strategy.GMM()``.
        batch_size : int, default=1024
            Batch size used to read ``producer``.
        meta_key : str or Batch.DictMetaKey, optional
            Metadata key for the results; default ``"<strategy key>:<12 hex digits>"``.

        Returns
        -------
        Familiarity
            A :class:`~deepview.base.PipelineStage` that scores batches.

        Raises
        ------
        InvalidDataError
            Empty producer, NaN/inf values, fields not 2-D, fewer samples than Gaussians.
        """
        check_batch_size(batch_size, owner=_OWNER)
        strategy = _GMM() if strategy is None else strategy
        if not callable(strategy):
            raise InvalidTypeError(f"{_OWNER}: 'strategy' must be a FamiliarityStrategyType such "
                                   f"as Familiarity.Strategy.GMM(); got {type(strategy).__name__}.")
        key = _make_meta_key(strategy, meta_key)
        distributions = dict(strategy(producer, batch_size))
        if not distributions:
            raise InvalidDataError(f"{_OWNER}: the strategy fitted no fields; check the producer.")
        return Familiarity(meta_key=key, _distributions=distributions)

    @property
    def distributions(self) -> Mapping[str, FamiliarityDistribution]:
        """Fitted model per field name."""
        return dict(self._distributions)

    def _distribution(self, name: str) -> FamiliarityDistribution:
        try:
            return self._distributions[name]
        except KeyError:
            raise DeepViewException(f"{_OWNER}: no familiarity model for field '{name}'; the model "
                                    f"was fitted on {sorted(self._distributions)}. Remove the "
                                    "field from the pipeline or fit Familiarity on a producer that "
                                    "has it.") from None

    def _results(self, name: str, x: np.ndarray) -> Sequence[FamiliarityResult]:
        dist = self._distribution(name)
        if isinstance(dist, _GMMDistribution):
            return dist.compute_familiarity_score(x, name)
        check_field(name, x, owner=_OWNER)
        results = dist.compute_familiarity_score(x)
        if len(results) != len(x):
            raise InvalidDataError(f"{_OWNER}: the model of field '{name}' returned {len(results)} "
                                   f"results for {len(x)} samples.")
        return results

    def score(self, data: Producer | Mapping[str, np.ndarray] | np.ndarray, *,
              batch_size: int = 8192) -> dict[str, np.ndarray]:
        """Familiarity scores of in-memory data or a producer, as one array per field.

        Parameters
        ----------
        data : Producer, Mapping[str, numpy.ndarray] or numpy.ndarray
            A producer, ``{field: (N, D) array}``, or one array for a one-field model.
        batch_size : int, default=8192
            Batch size for reading a producer.

        Returns
        -------
        dict[str, numpy.ndarray]
            ``(N,)`` float64 scores per field (higher = more familiar), in data order.
        """
        if isinstance(data, np.ndarray):
            if len(self._distributions) != 1:
                raise InvalidParameterError(f"{_OWNER}.score: the model has fields "
                                            f"{sorted(self._distributions)}; pass a mapping "
                                            "{field: array} instead of one array.")
            data = {next(iter(self._distributions)): data}
        if isinstance(data, Mapping):
            return {name: self._scores(name, np.asarray(x)) for name, x in data.items()}
        parts: dict[str, list[np.ndarray]] = {}
        batches = tqdm(iter_batches(data, batch_size, owner=f"{_OWNER}.score"),
                       desc=f"{_OWNER}: scoring", unit="batch", disable=progress_disabled())
        for batch in batches:
            for name, x in batch.fields.items():
                parts.setdefault(name, []).append(self._scores(name, x))
        return {name: np.concatenate(p) for name, p in parts.items()}

    def partial_scores(self) -> FamiliarityScores:
        """An empty :class:`FamiliarityScores`: :meth:`score` as a partial state."""
        return FamiliarityScores(self)

    def _scores(self, name: str, x: np.ndarray) -> np.ndarray:
        dist = self._distribution(name)
        if isinstance(dist, _GMMDistribution):
            return dist.score_samples(x, name)
        return np.array([r.score for r in self._results(name, x)], dtype=np.float64)

    def _get_batch_processor(self) -> Callable[[Batch], Batch]:
        def process(batch: Batch) -> Batch:
            results = {name: self._results(name, x) for name, x in batch.fields.items()}
            return batch.with_metadata(self.meta_key, results)

        return process


class FamiliarityScores:
    """The scores of a fitted :class:`Familiarity` as a partial state (update / merge / finish);
    ``finish()`` gives what :meth:`Familiarity.score` gives for the same rows.

    Parameters
    ----------
    familiarity : Familiarity
        The fitted model (from :meth:`Familiarity.introspect`).
    """

    _OWNER = "FamiliarityScores"

    def __init__(self, familiarity: Familiarity) -> None:
        if not isinstance(familiarity, Familiarity):
            raise InvalidTypeError(f"{self._OWNER}: 'familiarity' must be a fitted Familiarity "
                                   "(from Familiarity.introspect); got "
                                   f"{type(familiarity).__name__}.")
        self.familiarity = familiarity
        self._parts: dict[str, list[np.ndarray]] = {}

    @property
    def samples(self) -> int:
        """Samples scored so far."""
        return sum(len(p) for p in next(iter(self._parts.values()), []))

    def update(self, batch: Any) -> None:
        """Score every field of ``batch`` (a :class:`~deepview.base.Batch`)."""
        fields = batch_fields(batch, self._parts, self._OWNER)
        if fields is None:
            return
        for name, x in fields.items():
            self._parts.setdefault(name, []).append(self.familiarity._scores(name, x))

    def merge(self, other: FamiliarityScores) -> FamiliarityScores:
        """Append ``other``'s scores after this state's; returns ``self``."""
        if not isinstance(other, FamiliarityScores):
            raise InvalidTypeError(f"{self._OWNER}.merge: can only merge other FamiliarityScores; "
                                   f"got {type(other).__name__}.")
        if other.familiarity.meta_key != self.familiarity.meta_key:
            raise InvalidParameterError(f"{self._OWNER}.merge: the states score with different "
                                        f"fitted models ({self.familiarity.meta_key.name} and "
                                        f"{other.familiarity.meta_key.name}); build every state "
                                        "from the same Familiarity.")
        if self._parts and other._parts and set(other._parts) != set(self._parts):
            raise InvalidDataError(f"{self._OWNER}.merge: one state scored fields "
                                   f"{sorted(self._parts)}, the other {sorted(other._parts)}; "
                                   "every block needs the same fields.")
        for name, parts in other._parts.items():
            self._parts.setdefault(name, []).extend(parts)
        return self

    def finish(self) -> dict[str, np.ndarray]:
        """``{field: (N,) float64 scores}`` of every row scored or merged, in row order."""
        if not self._parts:
            raise InvalidDataError(f"{self._OWNER}.finish: no samples were scored; update the "
                                   "state with at least one non-empty batch.")
        return {name: np.concatenate(parts) for name, parts in self._parts.items()}

    def __repr__(self) -> str:
        return f"FamiliarityScores(samples={self.samples}, fields={sorted(self._parts)})"
