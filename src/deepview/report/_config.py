"""ReportConfig: which DatasetReport components run, and with which strategies."""

from __future__ import annotations

import dataclasses
import logging
import numbers
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

from deepview._validation import check_int
from deepview.exceptions import DeepViewWarning, InvalidTypeError, MissingDependencyError
from deepview.introspectors._dim_reduction import DimensionReduction
from deepview.introspectors._duplicates import Duplicates
from deepview.introspectors._familiarity import Familiarity

logger = logging.getLogger(__name__)

__all__ = ["DuplicatesConfig", "ReportConfig"]

_OWNER = "ReportConfig"
#: methods every dimension reduction strategy has (DimensionReductionStrategyType protocol)
_DIM_METHODS = ("fit_incremental", "fit_complete", "transform")
#: the default projection fits UMAP on at most this many samples (stratified by label) and
#: places the others from their neighbours; measured in benchmarks/RESULTS.md
DEFAULT_UMAP_FIT_SAMPLES = 50_000


def _default_projection() -> Any:
    """``DimensionReduction.Strategy.UMAP(2, max_fit_samples=DEFAULT_UMAP_FIT_SAMPLES)`` if
    umap-learn imports, else ``None`` + warning."""
    try:
        return DimensionReduction.Strategy.UMAP(2, max_fit_samples=DEFAULT_UMAP_FIT_SAMPLES)
    except (ImportError, MissingDependencyError) as exc:
        message = (
            "ReportConfig: umap-learn is not installed, so the default report has no 2-D "
            f"projection ({exc}). Install it with: pip install \"deepview[umap]\", or pass "
            "projection=DimensionReduction.Strategy.PCA(2)."
        )
        logger.warning(message)
        warnings.warn(message, DeepViewWarning, stacklevel=4)
        return None


def _default_duplicates() -> Any:
    return Duplicates.ThresholdStrategy.Relative()


@dataclasses.dataclass(frozen=True)
class DuplicatesConfig:
    """DeepView 3.x's pair of duplicate strategies, for ``ReportConfig(duplicates=...)``.

    ``None`` fields take DeepView's defaults: ``Duplicates.ThresholdStrategy.Slope()`` and
    ``Duplicates.KNNStrategy.KNNAnnoy()``.  Pass both to :meth:`Duplicates.introspect`
    (``threshold=config.threshold, strategy=config.strategy``) to run that search.  In a
    :class:`ReportConfig` the report applies ``threshold`` to its own exact neighbour search,
    so ``strategy`` is not used there: an exact search finds every pair an approximate one
    finds.

    Parameters
    ----------
    threshold : DuplicatesThresholdStrategyType or None, default=None
        How close a pair must be to count as duplicates (``None``: ``Slope()``).
    strategy : DuplicatesStrategyType or None, default=None
        The neighbour search of :meth:`Duplicates.introspect` (``None``: ``KNNAnnoy()``).

    Examples
    --------
    >>> from deepview.introspectors import Duplicates, DuplicatesConfig
    >>> config = DuplicatesConfig(threshold=Duplicates.ThresholdStrategy.Percentile(98))
    >>> type(config.strategy).__name__
    'KNNAnnoy'
    >>> DuplicatesConfig.default() == DuplicatesConfig()
    True
    """

    threshold: Any = None
    strategy: Any = None

    def __post_init__(self) -> None:
        if self.threshold is None:
            object.__setattr__(self, "threshold", Duplicates.ThresholdStrategy.Slope())
        if self.strategy is None:
            object.__setattr__(self, "strategy", Duplicates.KNNStrategy.KNNAnnoy())
        for name in ("threshold", "strategy"):
            value = getattr(self, name)
            if not callable(value) or isinstance(value, type):
                kind = "ThresholdStrategy.Slope()" if name == "threshold" else \
                    "KNNStrategy.KNNFaiss()"
                raise InvalidTypeError(
                    f"DuplicatesConfig: '{name}' must be a Duplicates.{kind}-like strategy "
                    f"instance or None; got {value!r}."
                )

    @classmethod
    def default(cls) -> DuplicatesConfig:
        """Both defaults: ``Slope()`` and ``KNNAnnoy()``."""
        return cls()


def _default_familiarity() -> Any:
    return Familiarity.Strategy.GMM()


def _is_dim_strategy(value: Any) -> bool:
    return all(callable(getattr(value, name, None)) for name in _DIM_METHODS)


def _check_dim_strategies(value: Any, name: str, *, two_d: bool) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        items = list(value.items())
    else:
        items = [("", value)]
    for key, strategy in items:
        where = f"{name}[{key!r}]" if key else name
        if isinstance(value, Mapping) and not isinstance(key, str):
            raise InvalidTypeError(
                f"{_OWNER}: '{name}' keys must be field (response) names as str; got {key!r}."
            )
        if not _is_dim_strategy(strategy):
            raise InvalidTypeError(
                f"{_OWNER}: '{where}' must be a DimensionReduction.Strategy (e.g. "
                f"DimensionReduction.Strategy.PCA(2)), a mapping of field name to one, or None; "
                f"got {strategy!r} of type {type(strategy).__name__}."
            )
        target = getattr(strategy, "target_dimensions", None)
        if two_d and isinstance(target, numbers.Integral) and int(target) != 2:
            raise InvalidTypeError(
                f"{_OWNER}: '{where}' must project to 2 dimensions for the scatterplot; got "
                f"target_dimensions={target}. Use e.g. DimensionReduction.Strategy.UMAP(2)."
            )


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """Which components :class:`DatasetReport` builds and the strategies they use.

    The default runs every component: duplicates (``Duplicates.ThresholdStrategy.Relative()``:
    identical samples always, and near-duplicates closer than 0.35 of the median neighbour
    distance),
    overall familiarity (a k-NN density on the report's neighbour graph) and per-label
    ("split") familiarity (``Familiarity.Strategy.GMM()``) and a 2-D
    projection (``DimensionReduction.Strategy.UMAP(2, max_fit_samples=50_000)``, or none
    with a warning when umap-learn is not installed).  Set a component to ``None`` to leave
    it out, e.g. ``dataclasses.replace(config, duplicates=None)``.

    Parameters
    ----------
    projection : DimensionReductionStrategyType, Mapping[str, ...] or None
        Strategy that projects the (pre-reduced) responses to 2-D for the scatterplot.  The
        default, ``UMAP(2, max_fit_samples=50_000)``, is plain UMAP up to 50 000 samples;
        above that UMAP is fitted on 50 000 of them (stratified by the first non-split label
        with 2 to 1000 values, seeded) and every other sample is placed at the weighted mean
        of its 10 nearest fitted samples' coordinates, so the projection's time stops
        growing with the data (``benchmarks/RESULTS.md``: quality against full UMAP).  Full
        UMAP on every sample: ``projection=DimensionReduction.Strategy.UMAP(2)``.
    duplicates : DuplicatesThresholdStrategyType, DuplicatesConfig or None
        Threshold strategy of :class:`Duplicates` (default ``Relative()``; ``Slope()``,
        ``Percentile(p)`` and ``Distance(d)`` work too), or DeepView 3.x's
        :class:`DuplicatesConfig`, whose ``threshold`` is used; ``None`` = no duplicate
        detection.
    familiarity : FamiliarityStrategyType or None
        Strategy of the per-label familiarity models (a model per label value: who is typical
        *of that value*).  The overall ``familiarity_R`` column is the k-NN density on the
        report's neighbour graph, which ranks unusual samples at least as well as k-NN
        distance; ``None`` leaves both out.  :class:`Familiarity` itself, outside the
        report, scores with the strategy as before.
    dim_reduction : DimensionReductionStrategyType, Mapping[str, ...] or None, default=None
        Reduction applied before all components.  ``None`` (or an empty mapping) reduces every
        field wider than 40 dimensions with ``DimensionReduction.Strategy.PCA(40)``.
    split_familiarity_min : int, default=50
        Minimum number of samples a label value needs to get its own familiarity model.
    label_issues : bool, default=True
        Score every labelled sample for how likely its label is wrong (``labelIssue_*``
        columns), for each label dimension with two or more values that is not a split label.
    split_labels : Sequence[str] or None, default=None
        Label dimensions that say which split (train / test / ...) a sample is in: duplicate
        groups spanning two of their values are leaks (``leakage_*`` columns).  ``None``
        takes the dimensions named ``split``, ``subset``, ``fold`` or ``partition`` and those
        whose values are all split names (``train``, ``test``, ``val``, ``validation``,
        ``dev``, ...).
    seed : int or None, default=0
        Seed given to every strategy that draws random numbers and has no seed of its own
        (the familiarity GMM's initialisation, UMAP / t-SNE / PaCMAP), so that two runs give
        identical reports.  ``None`` leaves them unseeded.  A seeded UMAP runs
        single-threaded (umap-learn's rule), see ``benchmarks/RESULTS.md`` for the cost.

    Raises
    ------
    TypeError
        (:class:`~deepview.exceptions.InvalidTypeError`) naming the field with the wrong type.

    Examples
    --------
    >>> import dataclasses
    >>> from deepview.introspectors import DimensionReduction
    >>> from deepview.report import ReportConfig
    >>> config = ReportConfig(projection=DimensionReduction.Strategy.PCA(2))
    >>> config.n_stages
    3
    >>> dataclasses.replace(config, projection=None, familiarity=None).n_stages
    2
    """

    #: ``max_fit_samples`` of the default projection (UMAP on a sample above it)
    DEFAULT_UMAP_FIT_SAMPLES: ClassVar[int] = DEFAULT_UMAP_FIT_SAMPLES

    projection: Any = dataclasses.field(default_factory=_default_projection)
    duplicates: Any = dataclasses.field(default_factory=_default_duplicates)
    familiarity: Any = dataclasses.field(default_factory=_default_familiarity)
    dim_reduction: Any = None
    split_familiarity_min: int = 50
    seed: int | None = 0
    label_issues: bool = True
    split_labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_dim_strategies(self.projection, "projection", two_d=True)
        _check_dim_strategies(self.dim_reduction, "dim_reduction", two_d=False)
        if self.duplicates is not None and not isinstance(self.duplicates, DuplicatesConfig) and (
            not callable(self.duplicates) or isinstance(self.duplicates, type)
        ):
            raise InvalidTypeError(
                f"{_OWNER}: 'duplicates' must be a Duplicates.ThresholdStrategy instance (e.g. "
                f"Duplicates.ThresholdStrategy.Slope()), a DuplicatesConfig or None; got "
                f"{self.duplicates!r}."
            )
        if self.familiarity is not None and (
            not callable(self.familiarity)
            or isinstance(self.familiarity, type)
            or not hasattr(self.familiarity, "metadata_key")
        ):
            raise InvalidTypeError(
                f"{_OWNER}: 'familiarity' must be a Familiarity strategy instance (e.g. "
                f"Familiarity.Strategy.GMM()) or None; got {self.familiarity!r}."
            )
        check_int(self.split_familiarity_min, name="split_familiarity_min", owner=_OWNER,
                  min_value=1)
        if self.seed is not None:
            check_int(self.seed, name="seed", owner=_OWNER, min_value=0)
        if not isinstance(self.label_issues, bool):
            raise InvalidTypeError(
                f"{_OWNER}: 'label_issues' must be True or False; got {self.label_issues!r}."
            )
        if self.split_labels is not None:
            if isinstance(self.split_labels, str) or not all(
                    isinstance(d, str) for d in self.split_labels):
                raise InvalidTypeError(
                    f"{_OWNER}: 'split_labels' must be a sequence of label dimension names "
                    f"(e.g. ('split',)) or None; got {self.split_labels!r}."
                )
            object.__setattr__(self, "split_labels", tuple(self.split_labels))

    @property
    def n_stages(self) -> int:
        """Passes the reference implementation would need: 3 with familiarity or projection,
        2 with only duplicates, else 1.  (This implementation reads the producer once.)"""
        if self.familiarity is not None or self.projection is not None:
            return 3
        if self.duplicates is not None:
            return 2
        return 1

    @property
    def duplicates_threshold(self) -> Any:
        """The threshold strategy the report's duplicate search applies (``duplicates``
        itself, or its ``threshold`` when it is a :class:`DuplicatesConfig`), or ``None``."""
        if isinstance(self.duplicates, DuplicatesConfig):
            return self.duplicates.threshold
        return self.duplicates

    @property
    def use_dim_reduction(self) -> bool:
        """Whether any component that works on (pre-reduced) responses is enabled."""
        return any(c is not None for c in (self.familiarity, self.duplicates, self.projection))
