"""The PFA introspector: streaming covariances, recipes, show()."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar, Final

import numpy as np
from tqdm import tqdm

from deepview._compute.covariance import CovarianceAccumulator
from deepview._progress import progress_disabled
from deepview._validation import check_choice, check_float
from deepview.base import Producer
from deepview.base._producer import iter_response_batches
from deepview.exceptions import (
    DeepViewException,
    DeepViewWarning,
    InvalidDataError,
    InvalidTypeError,
)
from deepview.introspectors._pfa import _show, _strategies, _units
from deepview.introspectors._pfa._covariances import (
    PFACovariancesResult,
    check_response,
    streaming_covariance,
)
from deepview.introspectors._pfa._recipe import PFARecipe
from deepview.introspectors._pfa._strategies import PFAStrategyType
from deepview.introspectors._pfa._units import PFAUnitSelectionStrategyType

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PFA:
    """Principal Filter Analysis: find correlated units of network layers to compress them.

    Build it with :meth:`PFA.introspect`, then ask for recipes with :meth:`get_recipe`.

    Parameters
    ----------
    failed_responses : Sequence[str]
        Do not instantiate ``PFA`` directly; use :meth:`PFA.introspect`.

    Examples
    --------
    >>> import numpy as np
    >>> from deepview.base import ArrayProducer
    >>> rng = np.random.default_rng(0)
    >>> sources = rng.normal(size=(2000, 3))
    >>> layer = np.hstack([sources, sources @ rng.normal(size=(3, 5)), np.zeros((2000, 2))])
    >>> pfa = PFA.introspect(ArrayProducer({"dense": layer}))
    >>> recipe = pfa.get_recipe(strategy=PFA.Strategy.Energy(energy_threshold=0.999))["dense"]
    >>> recipe.original_output_count, recipe.recommended_output_count
    (10, 3)
    """

    class Strategy:
        """Bundled PFA strategies (how many units to keep); see :class:`PFAStrategyType`."""

        KL: Final = _strategies.KL
        Energy: Final = _strategies.Energy
        Size: Final = _strategies.Size

    class UnitSelectionStrategy:
        """Bundled unit-selection strategies (which units to remove)."""

        AbsMax: Final = _units.AbsMax
        AbsMin: Final = _units.AbsMin
        L1Max: Final = _units.L1Max
        L1Min: Final = _units.L1Min

        @classmethod
        def get_algos(cls) -> Iterator[PFAUnitSelectionStrategyType]:
            """One instance of each bundled unit-selection strategy."""
            return _units.all_unit_strategies()

    class VisType:
        """Visualisation modes of :meth:`PFA.show`."""

        TABLE: Final = "table"
        CHART: Final = "chart"

    COLUMNS: ClassVar[tuple[str, ...]] = _show.COLUMNS

    failed_responses: Sequence[str]
    """Responses that could not be analysed (fewer samples than units)."""

    _covariance_result_by_response: Mapping[str, PFACovariancesResult] = field(repr=False)

    @staticmethod
    def introspect(producer: Producer, *, batch_size: int = 32,
                   epsilon_inactive: float = 1e-8) -> PFA:
        """Compute the covariance of every response (field) in one streaming pass.

        Parameters
        ----------
        producer : Producer
            Yields ``(batch, units)`` responses; pool or flatten conv responses first.
        batch_size : int, default=32
            Batch size requested from ``producer``.
        epsilon_inactive : float, default=1e-8
            Units with variance below this times the layer's largest (or 0) are inactive.

        Returns
        -------
        PFA
            Layers with fewer samples than units are skipped (see :attr:`failed_responses`).

        Raises
        ------
        InvalidDataError
            A response with more than 2 dims, no units, NaN/inf or a changing shape; no data.
        """
        owner = "PFA.introspect"
        eps = check_float(epsilon_inactive, name="epsilon_inactive", owner=owner,
                          min_value=0.0, max_value=1.0)
        scatters: dict[str, CovarianceAccumulator] = {}
        batches = iter_response_batches(producer, batch_size, owner=owner, analysis="PFA")
        for batch in tqdm(batches, desc="PFA: covariances", unit="batch",
                          disable=progress_disabled()):
            for name, raw in batch.fields.items():
                x = check_response(name, raw, owner=owner)
                acc = scatters.get(name)
                if acc is None:
                    acc = scatters[name] = streaming_covariance(name, owner=owner)
                elif x.shape[1] != acc.n_features:
                    raise InvalidDataError(f"{owner}: field '{name}' has {x.shape[1]} units in a "
                                           f"later batch but {acc.n_features} in the first; "
                                           "responses must keep their shape.")
                acc.update(x)
        return PFA._from_scatters(scatters, eps)

    @staticmethod
    def _from_scatters(scatters: Mapping[str, CovarianceAccumulator], eps: float) -> PFA:
        failed: list[str] = []
        results: dict[str, PFACovariancesResult] = {}
        for name, acc in scatters.items():
            n, _, cov = acc.finalize()
            if n < cov.shape[0]:
                warnings.warn(f"PFA.introspect: field '{name}' has {n} samples but {cov.shape[0]} "
                              "units; its covariance is rank-deficient, so it is skipped (see "
                              "pfa.failed_responses). Use at least as many samples as units.",
                              DeepViewWarning, stacklevel=3)
                failed.append(name)
                continue
            if not np.isfinite(cov).all():
                raise InvalidDataError(f"PFA.introspect: the covariance of field '{name}' is not "
                                       "finite (values too large); rescale the responses.")
            results[name] = PFACovariancesResult._from_symmetric(cov, eps)
        return PFA(tuple(failed), MappingProxyType(results))

    @property
    def covariances(self) -> Mapping[str, PFACovariancesResult]:
        """Per-layer covariance and eigen-decomposition (successful layers only)."""
        return self._covariance_result_by_response

    def get_recipe(self, *, strategy: PFAStrategyType | None = None,
                   unit_strategy: PFAUnitSelectionStrategyType | None = None
                   ) -> Mapping[str, PFARecipe]:
        """Recommend, per layer, how many units to keep and which units to remove.

        Parameters
        ----------
        strategy : PFAStrategyType, optional
            How many units to keep; default ``PFA.Strategy.KL()``.
        unit_strategy : PFAUnitSelectionStrategyType, optional
            Which units to remove; default ``PFA.UnitSelectionStrategy.L1Max()``.

        Returns
        -------
        Mapping[str, PFARecipe]
            One recipe per analysed layer; inactive units are removed first.
        """
        owner = "PFA.get_recipe"
        strategy = _strategies.KL() if strategy is None else strategy
        unit_strategy = _units.L1Max() if unit_strategy is None else unit_strategy
        for arg, value in (("strategy", strategy), ("unit_strategy", unit_strategy)):
            if isinstance(value, type):
                raise InvalidTypeError(f"{owner}: '{arg}' must be an instance, not the class "
                                       f"{value.__name__}; add parentheses, e.g. "
                                       f"{value.__name__}().")
            if not callable(value):
                raise InvalidTypeError(f"{owner}: '{arg}' must be callable (e.g. PFA.Strategy.KL() "
                                       "/ PFA.UnitSelectionStrategy.L1Max()); got "
                                       f"{type(value).__name__}.")
        covariances = self._covariance_result_by_response
        recipes = strategy(covariances)
        result: dict[str, PFARecipe] = {}
        for name, cov in covariances.items():
            recipe = recipes.get(name) if isinstance(recipes, Mapping) else None
            if not isinstance(recipe, PFARecipe):
                raise DeepViewException(f"{owner}: strategy {type(strategy).__name__} returned no "
                                        f"PFARecipe for layer '{name}'; a strategy must return one "
                                        "recipe per layer.")
            result[name] = self._apply_units(name, cov, recipe, unit_strategy, owner)
        return MappingProxyType(result)

    @staticmethod
    def _apply_units(name: str, cov: PFACovariancesResult, recipe: PFARecipe,
                     unit_strategy: PFAUnitSelectionStrategyType, owner: str) -> PFARecipe:
        n_units = cov.original_output_count
        keep = recipe.recommended_output_count
        if isinstance(keep, bool) or not isinstance(keep, (int, np.integer)) \
                or not 1 <= keep <= n_units:
            raise DeepViewException(f"{owner}: the strategy recommended {keep!r} units for layer "
                                    f"'{name}' but the count must be an int in [1, {n_units}]; fix "
                                    "the strategy.")
        removed = np.asarray(unit_strategy(cov, num_units_to_keep=int(keep)))
        if removed.size and not np.issubdtype(removed.dtype, np.integer) \
                or removed.ndim != 1 or removed.size >= n_units \
                or (removed.size and (removed.min() < 0 or removed.max() >= n_units)) \
                or np.unique(removed).size != removed.size:
            raise DeepViewException(f"{owner}: unit strategy {type(unit_strategy).__name__} "
                                    f"returned invalid indices for layer '{name}' (need distinct "
                                    f"ints in [0, {n_units}), fewer than {n_units}); got "
                                    f"{removed!r}.")
        units = [int(u) for u in removed]
        final = n_units - len(units)
        if final != keep:
            warnings.warn(f"{owner}: layer '{name}' has {n_units - cov.inactive_units.shape[0]} "
                          f"active units but the strategy asked to keep {keep}; only the "
                          f"{len(units)} inactive units are removed, recommending {final} units.",
                          DeepViewWarning, stacklevel=4)
        return replace(recipe, recommended_output_count=final, maximally_correlated_units=units,
                       number_inactive_units=int(cov.inactive_units.shape[0]))

    @staticmethod
    def show(recipe_result: Mapping[str, PFARecipe] | Sequence[Mapping[str, PFARecipe]], *,
             vis_type: str = VisType.TABLE, include_columns: Sequence[str] | None = None,
             exclude_columns: Sequence[str] | None = None) -> Any:
        """Table (pandas DataFrame) or chart (matplotlib Axes) of PFA recipes.

        Parameters
        ----------
        recipe_result : Mapping[str, PFARecipe] or collection of them
            Output(s) of :meth:`get_recipe`; several are stacked or drawn side by side.
        vis_type : {"table", "chart"}, default="table"
            ``PFA.VisType.TABLE`` or ``PFA.VisType.CHART``.
        include_columns : Sequence[str], optional
            Table only: columns of ``PFA.COLUMNS`` to return, in order; default all.
        exclude_columns : Sequence[str], optional
            Table only: columns to drop (applied after ``include_columns``).

        Returns
        -------
        pandas.DataFrame or matplotlib.axes.Axes
            The table, or the chart's ``Axes``.

        Raises
        ------
        InvalidParameterError
            Unknown ``vis_type`` or column name; empty ``recipe_result``; no column left.
        InvalidTypeError
            ``recipe_result`` is not a mapping (or collection of mappings) of ``PFARecipe``.
        """
        if isinstance(recipe_result, PFA):
            raise InvalidTypeError("PFA.show: got the PFA object itself; pass a recipe instead: "
                                   "recipe = pfa.get_recipe(); PFA.show(recipe).")
        vis_type = check_choice(vis_type, name="vis_type", owner="PFA.show",
                                choices=[PFA.VisType.TABLE, PFA.VisType.CHART])
        many = _show.normalize_recipes(recipe_result)
        if vis_type == PFA.VisType.TABLE:
            return _show.show_table(many, include_columns, exclude_columns)
        return _show.show_chart(many)
