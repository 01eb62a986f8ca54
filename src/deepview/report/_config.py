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
_DIM_METHODS = ("fit_incremental", "fit_complete", "transform")
#: the default projection fits UMAP on at most this many samples and places the others
DEFAULT_UMAP_FIT_SAMPLES = 50_000


def _default_projection() -> Any:
    """The default UMAP projection, or ``None`` with a warning without umap-learn."""
    try:
        return DimensionReduction.Strategy.UMAP(2, max_fit_samples=DEFAULT_UMAP_FIT_SAMPLES)
    except (ImportError, MissingDependencyError) as exc:
        message = ("ReportConfig: umap-learn is not installed, so the default report has no "
                   f"2-D projection ({exc}). Install it with: pip install \"deepview[umap]\", "
                   "or pass projection=DimensionReduction.Strategy.PCA(2).")
        logger.warning(message)
        warnings.warn(message, DeepViewWarning, stacklevel=4)
        return None


@dataclasses.dataclass(frozen=True)
class DuplicatesConfig:
    """DeepView 3.x's pair of duplicate strategies, for ``ReportConfig(duplicates=...)``.

    The report applies only ``threshold``, to its own exact neighbour search; pass both to
    :meth:`Duplicates.introspect` to run that search.

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
    >>> type(config.strategy).__name__, DuplicatesConfig.default() == DuplicatesConfig()
    ('KNNAnnoy', True)
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
                kind = "ThresholdStrategy.Slope" if name == "threshold" else "KNNStrategy.KNNFaiss"
                raise InvalidTypeError(
                    f"DuplicatesConfig: '{name}' must be a Duplicates.{kind}()-like strategy "
                    f"instance or None; got {value!r}.")

    @classmethod
    def default(cls) -> DuplicatesConfig:
        """Both defaults: ``Slope()`` and ``KNNAnnoy()``."""
        return cls()


def _check_dim_strategies(value: Any, name: str, *, two_d: bool) -> None:
    if value is None:
        return
    items = value.items() if isinstance(value, Mapping) else [("", value)]
    for key, strategy in items:
        where = f"{name}[{key!r}]" if key else name
        if isinstance(value, Mapping) and not isinstance(key, str):
            raise InvalidTypeError(
                f"{_OWNER}: '{name}' keys must be field (response) names as str; got {key!r}.")
        if not all(callable(getattr(strategy, m, None)) for m in _DIM_METHODS):
            raise InvalidTypeError(
                f"{_OWNER}: '{where}' must be a DimensionReduction.Strategy (e.g. "
                f"DimensionReduction.Strategy.PCA(2)), a mapping of field name to one, or None; "
                f"got {strategy!r} of type {type(strategy).__name__}.")
        target = getattr(strategy, "target_dimensions", None)
        if two_d and isinstance(target, numbers.Integral) and int(target) != 2:
            raise InvalidTypeError(
                f"{_OWNER}: '{where}' must project to 2 dimensions for the scatterplot; got "
                f"target_dimensions={target}. Use e.g. DimensionReduction.Strategy.UMAP(2).")


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """Which components :class:`DatasetReport` builds and the strategies they use.

    Every component runs by default; set one to ``None`` to leave it out, e.g.
    ``dataclasses.replace(config, duplicates=None)``.

    Parameters
    ----------
    projection : DimensionReductionStrategyType, Mapping[str, ...] or None
        2-D projection of the (pre-reduced) responses; default
        ``DimensionReduction.Strategy.UMAP(2, max_fit_samples=50_000)`` (none, with a warning,
        without umap-learn).
    duplicates : DuplicatesThresholdStrategyType, DuplicatesConfig or None
        Threshold strategy of :class:`Duplicates` (default ``Relative()``), or a
        :class:`DuplicatesConfig`, whose ``threshold`` is used.
    familiarity : FamiliarityStrategyType or None
        Strategy of the per-label familiarity models (default ``Familiarity.Strategy.GMM()``);
        ``None`` also leaves out the overall ``familiarity_R``.
    dim_reduction : DimensionReductionStrategyType, Mapping[str, ...] or None, default=None
        Reduction applied before all components; ``None`` (or ``{}``) reduces fields wider than
        40 dimensions with ``PCA(40)``.
    split_familiarity_min : int, default=50
        Samples a label value needs for its own familiarity model.
    label_issues : bool, default=True
        Score labelled samples for a likely wrong label (``labelIssue_*`` columns).
    split_labels : Sequence[str] or None, default=None
        Label dimensions that name a sample's split (``leakage_*`` columns); ``None`` detects
        them by name (``split``, ``subset``, ``fold``, ``partition``) or values (train / test
        / val ...).
    seed : int or None, default=0
        Seed of every strategy that draws random numbers and has none of its own; ``None``
        leaves them unseeded.

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

    DEFAULT_UMAP_FIT_SAMPLES: ClassVar[int] = DEFAULT_UMAP_FIT_SAMPLES

    projection: Any = dataclasses.field(default_factory=_default_projection)
    duplicates: Any = dataclasses.field(default_factory=Duplicates.ThresholdStrategy.Relative)
    familiarity: Any = dataclasses.field(default_factory=Familiarity.Strategy.GMM)
    dim_reduction: Any = None
    split_familiarity_min: int = 50
    seed: int | None = 0
    label_issues: bool = True
    split_labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_dim_strategies(self.projection, "projection", two_d=True)
        _check_dim_strategies(self.dim_reduction, "dim_reduction", two_d=False)
        if self.duplicates is not None and not isinstance(self.duplicates, DuplicatesConfig) and (
                not callable(self.duplicates) or isinstance(self.duplicates, type)):
            raise InvalidTypeError(
                f"{_OWNER}: 'duplicates' must be a Duplicates.ThresholdStrategy instance (e.g. "
                f"Duplicates.ThresholdStrategy.Slope()), a DuplicatesConfig or None; got "
                f"{self.duplicates!r}.")
        if self.familiarity is not None and (
                not callable(self.familiarity) or isinstance(self.familiarity, type)
                or not hasattr(self.familiarity, "metadata_key")):
            raise InvalidTypeError(
                f"{_OWNER}: 'familiarity' must be a Familiarity strategy instance (e.g. "
                f"Familiarity.Strategy.GMM()) or None; got {self.familiarity!r}.")
        check_int(self.split_familiarity_min, name="split_familiarity_min", owner=_OWNER,
                  min_value=1)
        if self.seed is not None:
            check_int(self.seed, name="seed", owner=_OWNER, min_value=0)
        if not isinstance(self.label_issues, bool):
            raise InvalidTypeError(
                f"{_OWNER}: 'label_issues' must be True or False; got {self.label_issues!r}.")
        if self.split_labels is not None:
            if isinstance(self.split_labels, str) or not all(
                    isinstance(d, str) for d in self.split_labels):
                raise InvalidTypeError(
                    f"{_OWNER}: 'split_labels' must be a sequence of label dimension names "
                    f"(e.g. ('split',)) or None; got {self.split_labels!r}.")
            object.__setattr__(self, "split_labels", tuple(self.split_labels))

    @property
    def n_stages(self) -> int:
        """Passes the reference implementation would need (3, 2 or 1); this one reads once."""
        if self.familiarity is not None or self.projection is not None:
            return 3
        if self.duplicates is not None:
            return 2
        return 1

    @property
    def duplicates_threshold(self) -> Any:
        """The threshold strategy the report's duplicate search applies, or ``None``."""
        if isinstance(self.duplicates, DuplicatesConfig):
            return self.duplicates.threshold
        return self.duplicates

    @property
    def use_dim_reduction(self) -> bool:
        """Whether any component that reads the responses is enabled."""
        return any(c is not None for c in (self.familiarity, self.duplicates, self.projection))
