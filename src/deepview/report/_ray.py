"""The report's per-row passes on a Ray cluster (statistics, then the reduction); the driver
gets the reduced matrix and runs the rest as in-process (see the scale-out guide)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from deepview._compute.covariance import CovarianceAccumulator
from deepview._compute.pca import EXACT_MAX_FEATURES, CovariancePCA, LinearProjection
from deepview._validation import check_field
from deepview.base import Batch
from deepview.exceptions import DeepViewWarning, InvalidDataError
from deepview.introspectors._dim_reduction._pca import PCA
from deepview.report import _analysis as analysis
from deepview.report._collect import Collected
from deepview.report._collect import collect as collect_in_process
from deepview.report.files import RowFile

logger = logging.getLogger(__name__)

__all__ = ["collect", "is_ray_input"]

_OWNER = "DatasetReport"
_RAW = "__deepview_raw_{}"
_REDUCED = "__deepview_reduced_{}"
_RESIDUAL = "__deepview_residual_{}"


def is_ray_input(producer: Any) -> bool:
    """A RayDatasetProducer or a ray Dataset (checked without importing ray)."""
    return any((cls.__module__.startswith("deepview.integrations.ray")
                and cls.__name__ == "RayDatasetProducer")
               or (cls.__module__.startswith("ray.data")
                   and cls.__name__ in ("Dataset", "MaterializedDataset"))
               for cls in type(producer).__mro__)


class _FieldStats:
    """Partial state of the statistics pass: rows, widths, covariance of PCA fields."""

    def __init__(self) -> None:
        self.rows = 0
        self.widths: dict[str, int] = {}
        self.accumulators: dict[str, CovarianceAccumulator] = {}

    def update(self, batch: Batch) -> None:
        if batch.batch_size == 0:
            return
        if not batch.fields:
            raise InvalidDataError(
                f"{_OWNER}: the dataset has no response columns; give fields= to "
                "RayDatasetProducer (e.g. the embedding column).")
        for name, value in batch.fields.items():
            x = check_field(name, value, owner=_OWNER, ndim=2)
            if self._width(name, int(x.shape[1])) <= EXACT_MAX_FEATURES:
                acc = self.accumulators.get(name)
                if acc is None:  # the in-process report's PCA: float64, on float32 rows
                    acc = self.accumulators[name] = CovariancePCA(1)._acc
                acc.update(np.asarray(x, dtype=np.float32))
        self.rows += batch.batch_size

    def _width(self, name: str, width: int) -> int:
        """Record a field's width; raises InvalidDataError for another than before."""
        mine = self.widths.setdefault(name, width)
        if mine != width:
            raise InvalidDataError(
                f"{_OWNER}: field '{name}' has {width} features in one block but {mine} "
                "in another; responses must keep one size.")
        return width

    def merge(self, other: _FieldStats) -> _FieldStats:
        for name, width in other.widths.items():
            self._width(name, width)
        for name, acc in other.accumulators.items():
            if name in self.accumulators:
                self.accumulators[name].merge(acc)
            else:
                self.accumulators[name] = acc
        self.rows += other.rows
        return self

    def finish(self) -> _FieldStats:
        return self


@dataclasses.dataclass
class _FieldPlan:
    """How one field is reduced on the cluster (``model`` None: carried whole)."""

    number: int
    width: int
    model: LinearProjection | None = None
    residual: bool = False
    carry_raw: bool = True


def _plan(stats: _FieldStats, config: Any) -> dict[str, _FieldPlan]:
    dim_reduction = config.dim_reduction
    if isinstance(dim_reduction, Mapping) and not dim_reduction:
        dim_reduction = None
    plans: dict[str, _FieldPlan] = {}
    for number, (name, width) in enumerate(sorted(stats.widths.items())):
        plan = plans[name] = _FieldPlan(number, width)
        if not config.use_dim_reduction:
            continue
        if dim_reduction is None:
            if width <= analysis.DEFAULT_REDUCED_DIMS:
                continue  # used as is, like in-process
            k, residual = analysis.DEFAULT_REDUCED_DIMS, True
        else:
            strategy = analysis.strategy_for(dim_reduction, name)
            if strategy is None:
                continue
            if type(strategy) is not PCA:
                warnings.warn(
                    f"{_OWNER}: field '{name}' is reduced with {type(strategy).__name__}, "
                    "which runs on the driver: its full responses are brought there. Only "
                    "the default reduction and DimensionReduction.Strategy.PCA run on the "
                    "cluster.", DeepViewWarning, stacklevel=4)
                continue
            k, residual = strategy.target_dimensions, False
            if k > width:
                continue  # the driver's DimensionReduction reports it, as in-process
        acc = stats.accumulators.get(name)
        if acc is None:
            warnings.warn(
                f"{_OWNER}: field '{name}' has {width} features, more than the "
                f"{EXACT_MAX_FEATURES} whose exact covariance the cluster merges; it is "
                "reduced on the driver (its full responses are brought there).",
                DeepViewWarning, stacklevel=4)
            continue
        fitter = CovariancePCA(k)
        fitter._acc = acc
        plan.model = fitter.finalize()
        plan.residual = residual
        plan.carry_raw = config.duplicates is not None
    return plans


class _Transform:
    """``map_batches`` function of the reduction pass."""

    def __init__(self, spec: Any, plans: Mapping[str, _FieldPlan]) -> None:
        self.spec = spec
        self.plans = dict(plans)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        fields = self.spec.field_arrays(batch)
        out = {c: batch[c] for c in self.spec.metadata_columns}
        for name, plan in self.plans.items():
            x = np.asarray(check_field(name, fields[name], owner=_OWNER, ndim=2),
                           dtype=np.float32)
            if plan.carry_raw:
                out[_RAW.format(plan.number)] = x
            if plan.model is None:
                continue
            z = plan.model.transform(x)
            out[_REDUCED.format(plan.number)] = np.asarray(z, dtype=np.float32)
            if plan.residual:
                centred = x.astype(np.float64) - plan.model.mean
                z64 = z.astype(np.float64)
                out[_RESIDUAL.format(plan.number)] = np.maximum(
                    np.einsum("ij,ij->i", centred, centred)
                    - np.einsum("ij,ij->i", z64, z64), 0.0)
        return out


class _Prereduced(RowFile):
    """A field's rows on the driver, with its reduction done on the cluster."""

    def __init__(self, rows: RowFile, prereduced: analysis.Reduced) -> None:
        super().__init__(rows.path, rows.shape, rows.dtype, rows.offset)
        self.prereduced = prereduced


@dataclasses.dataclass(eq=False)
class _DriverProducer:
    """The reduction pass's output as the report's producer; the reduced rows go to their files
    and the residuals to their arrays (``rows``: the statistics pass's count)."""

    dataset: Any
    spec: Any
    plans: Mapping[str, _FieldPlan]
    reduced: Mapping[str, BinaryIO]
    residual: Mapping[str, np.ndarray]
    rows: int
    seen: int = 0

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        from deepview.integrations.ray._producer import worker_errors

        self.seen = 0
        with worker_errors():
            for batch in self.dataset.iter_batches(batch_size=batch_size, batch_format="numpy",
                                                   prefetch_batches=2):
                stop = self.seen + len(next(iter(batch.values())))
                if stop > self.rows:
                    raise InvalidDataError(
                        f"{_OWNER}: the reduction pass yielded more rows than the {self.rows} "
                        "of the statistics pass; the dataset changed between passes.")
                for name, plan in self.plans.items():
                    if name in self.reduced:  # plain appends: no resident pages
                        np.ascontiguousarray(batch[_REDUCED.format(plan.number)],
                                             dtype=np.float32).tofile(self.reduced[name])
                    if name in self.residual:
                        self.residual[name][self.seen:stop] = batch[
                            _RESIDUAL.format(plan.number)]
                self.seen = stop
                yield self.spec.to_batch(batch)


def collect(producer: Any, *, config: Any, batch_size: int, cache_dir: Path,
            progress: Any) -> Collected:
    """The report's :class:`Collected` from a Ray Dataset; raises InvalidDataError for fewer
    than 3 rows, NaN/inf, inconsistent widths or a pass that loses rows."""
    from deepview.integrations.ray import RayDatasetProducer, reduce_dataset

    source = producer if isinstance(producer, RayDatasetProducer) else RayDatasetProducer(
        producer)
    stats = reduce_dataset(source, _FieldStats, expected_rows=source.rows)
    if stats.rows < 3:
        raise InvalidDataError(
            f"{_OWNER}: the dataset has {stats.rows} row(s); a report needs at least 3.")
    plans = _plan(stats, config)
    logger.info("%s on Ray: %d rows; fields %s", _OWNER, stats.rows,
                {k: (p.width, None if p.model is None else p.model.n_components)
                 for k, p in plans.items()})
    transformed = source.selected().map_batches(
        _Transform(source.spec, plans), batch_size=max(batch_size, 4096), batch_format="numpy")
    transformed.context.execution_options.preserve_order = True
    carried = {name: _RAW.format(p.number) if p.carry_raw else _REDUCED.format(p.number)
               for name, p in plans.items()}
    spec = dataclasses.replace(source.spec, fields=carried)
    reduced: dict[str, BinaryIO] = {}
    residual: dict[str, np.ndarray] = {}
    with contextlib.ExitStack() as files:
        for name, plan in plans.items():
            if plan.model is not None and plan.carry_raw:  # else the carried column is reduced
                reduced[name] = files.enter_context(
                    open(cache_dir / f"ray-reduced{plan.number}.f32", "wb"))
            if plan.residual:
                residual[name] = np.empty(stats.rows, dtype=np.float64)
        driver = _DriverProducer(transformed, spec, plans, reduced, residual, stats.rows)
        collected = collect_in_process(driver, batch_size=batch_size, cache_dir=cache_dir,
                                       progress=progress)
    if driver.seen != stats.rows or collected.n != stats.rows:
        raise InvalidDataError(
            f"{_OWNER}: the reduction pass yielded {driver.seen} rows but the statistics "
            f"pass counted {stats.rows}; rows were lost between passes (a failed worker?).")
    if source.after_read is not None:  # e.g. the CLI's own cluster: no longer needed
        source.after_read()
    for name, plan in plans.items():
        if plan.model is None:
            continue
        k = plan.model.n_components
        values = (RowFile(cache_dir / f"ray-reduced{plan.number}.f32", (stats.rows, k))
                  if plan.carry_raw else collected.fields[name])
        result = analysis.Reduced(values, residual.get(name),
                                  plan.width - k if plan.residual else 0)
        collected.fields[name] = _Prereduced(collected.fields[name], result)
    return collected
