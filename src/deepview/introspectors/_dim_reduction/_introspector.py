"""The :class:`DimensionReduction` introspector and pipeline stage."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import numpy as np
from tqdm.auto import tqdm

from deepview._compute.rowmatch import RowFingerprints
from deepview._progress import progress_disabled
from deepview._validation import check_batch_size, check_field
from deepview.base import Batch, PipelineStage, Producer, iter_batches
from deepview.exceptions import (
    DeepViewException,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
    MissingFieldError,
)
from deepview.introspectors._dim_reduction._manifold import TSNE, UMAP, PaCMAP
from deepview.introspectors._dim_reduction._pca import PCA, StandardPCA
from deepview.introspectors._dim_reduction._protocols import (
    DimensionReductionStrategyType,
    OneOrManyDimStrategies,
)

__all__ = ["DimensionReduction"]

logger = logging.getLogger(__name__)

_OWNER = "DimensionReduction"


class _OneShotRows:
    """Rows of a one-shot embedding for pipelined samples (by identifier, else by position),
    each checked against a fingerprint of the fitted sample."""

    def __init__(self, fields: Sequence[str]) -> None:
        self.fingerprints = {name: RowFingerprints() for name in fields}
        self._ids: list[Hashable] | None = []
        self.id_to_row: dict[Hashable, int] | None = None
        self.n = 0

    def observe(self, batch: Batch, data: Mapping[str, np.ndarray]) -> None:
        for name, fingerprints in self.fingerprints.items():
            fingerprints.update(data[name])
        if self._ids is not None:
            if Batch.StdKeys.IDENTIFIER in batch.metadata:
                self._ids.extend(batch.metadata[Batch.StdKeys.IDENTIFIER])
            else:
                self._ids = None
        self.n += batch.batch_size

    def finish(self) -> None:
        for fp in self.fingerprints.values():
            fp.finalize()
        ids, self._ids = self._ids, None
        try:
            mapping = {key: row for row, key in enumerate(ids or ())}
        except TypeError:  # unhashable identifiers
            mapping = {}
        if ids and len(mapping) == len(ids):
            self.id_to_row = mapping
        else:
            logger.info("DimensionReduction: no unique, hashable identifiers at fit; one-shot "
                        "rows by position")

    def rows_for(self, batch: Batch, position: int) -> tuple[np.ndarray, bool]:
        """Row indices for ``batch`` and whether they were found by identifier."""
        if self.id_to_row is not None and Batch.StdKeys.IDENTIFIER in batch.metadata:
            ids = batch.metadata[Batch.StdKeys.IDENTIFIER]
            rows = np.fromiter((self.id_to_row.get(i, -1) for i in ids), dtype=np.intp,
                               count=len(ids))
            if (rows < 0).any():
                unknown = [ids[j] for j in np.flatnonzero(rows < 0)[:5]]
                raise InvalidDataError(f"{_OWNER}: {int((rows < 0).sum())} sample(s) were not in "
                                       "the data the one-shot strategy was fitted on (identifiers "
                                       f"{unknown}...). t-SNE and PaCMAP can only return the "
                                       "embedding of fitted samples; fit DimensionReduction on "
                                       "this producer (or use PCA/UMAP, which transform new data).")
            return rows, True
        end = position + batch.batch_size
        if end > self.n:
            raise InvalidDataError(f"{_OWNER}: the pipelined producer yields more samples than the "
                                   f"{self.n} the one-shot strategy was fitted on. Without "
                                   "identifiers, pipeline the same producer (same samples, same "
                                   "order), or attach Batch.StdKeys.IDENTIFIER.")
        return np.arange(position, end, dtype=np.intp), False

    def verify(self, name: str, rows: np.ndarray, x: np.ndarray, by_id: bool) -> None:
        fingerprints = self.fingerprints.get(name)  # None in a result built by hand
        ok = np.ones(len(rows), bool) if fingerprints is None else fingerprints.matches(rows, x)
        if ok.all():
            return
        first = int(np.flatnonzero(~ok)[0])
        where = "with the same identifier" if by_id else f"at position {int(rows[first])}"
        raise InvalidDataError(f"{_OWNER}: field '{name}': {int((~ok).sum())} sample(s) differ "
                               f"from the fitted sample {where}; the one-shot embedding would give "
                               "them wrong coordinates. Pipeline the producer that was fitted "
                               "(same samples and order, or with identifiers), or re-fit "
                               "DimensionReduction on this data.")


@contextlib.contextmanager
def _naming(name: str) -> Iterator[None]:
    """Re-raise a DeepViewException as the same type, its message prefixed with the field."""
    try:
        yield
    except DeepViewException as exc:
        try:
            named = type(exc)(f"{_OWNER}: field '{name}': {exc.message or exc}")
        except Exception:  # pragma: no cover - exotic subclass signature
            named = exc
        raise named from exc


def _resolve_strategies(strategies: Any) -> tuple[DimensionReductionStrategyType | None,
                                                  dict[str, DimensionReductionStrategyType]]:
    """(single strategy or None, mapping) after type checks."""
    if isinstance(strategies, Mapping):
        if not strategies:
            raise InvalidParameterError(f"{_OWNER}.introspect: 'strategies' is an empty mapping; "
                                        "map at least one field name to a strategy, or pass one "
                                        "strategy for every field.")
        for name, strategy in strategies.items():
            if not isinstance(name, str):
                raise InvalidTypeError(f"{_OWNER}.introspect: 'strategies' keys must be field "
                                       f"names (str); got {name!r}.")
            if not isinstance(strategy, DimensionReductionStrategyType):
                raise InvalidTypeError(f"{_OWNER}.introspect: strategies['{name}'] must be a "
                                       "dimension reduction strategy (e.g. "
                                       "DimensionReduction.Strategy.PCA(40)); got "
                                       f"{type(strategy).__name__}.")
        return None, dict(strategies)
    if not isinstance(strategies, DimensionReductionStrategyType):
        raise InvalidTypeError(f"{_OWNER}.introspect: 'strategies' must be a strategy (e.g. "
                               "DimensionReduction.Strategy.PCA(40)) or a mapping {field: "
                               f"strategy}}; got {type(strategies).__name__}.")
    return strategies, {}


@dataclass(frozen=True, eq=False)  # a fitted model: identity semantics, hashable
class DimensionReduction(PipelineStage):
    """Reduces the dimension of batch fields; a :class:`~deepview.base.PipelineStage`.

    Fit it with :meth:`introspect`; in a :func:`~deepview.base.pipeline` it replaces each
    reduced field by its ``(batch, target_dimensions)`` projection.

    Examples
    --------
    >>> import numpy as np
    >>> from deepview.base import ArrayProducer, pipeline
    >>> from deepview.introspectors import DimensionReduction
    >>> rng = np.random.default_rng(0)
    >>> producer = ArrayProducer({"a": rng.normal(size=(200, 16)),
    ...                           "b": rng.normal(size=(200, 5))})
    >>> dr = DimensionReduction.introspect(
    ...     producer, strategies={"a": DimensionReduction.Strategy.PCA(2)})
    >>> batch = next(iter(pipeline(producer, dr)(50)))
    >>> batch.fields["a"].shape, batch.fields["b"].shape
    ((50, 2), (50, 5))
    """

    _reducers: Mapping[str, DimensionReductionStrategyType]
    _n_features: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)
    _one_shot: _OneShotRows | None = field(default=None, repr=False, compare=False)

    class Strategy:
        """Bundled strategies (any :class:`DimensionReductionStrategyType` also works)."""

        PCA: Final = PCA
        StandardPCA: Final = StandardPCA
        TSNE: Final = TSNE
        UMAP: Final = UMAP
        PaCMAP: Final = PaCMAP

    @property
    def reducers(self) -> Mapping[str, DimensionReductionStrategyType]:
        """The fitted reducer of each reduced field (read-only)."""
        return MappingProxyType(dict(self._reducers))

    @staticmethod
    def introspect(producer: Producer, *, strategies: OneOrManyDimStrategies,
                   batch_size: int | None = None) -> DimensionReduction:
        """Fit dimension reduction on ``producer`` (one pass) and return the pipeline stage.

        Parameters
        ----------
        producer : Producer
            Yields batches whose reduced fields are 2-D ``(batch, features)``.
        strategies : DimensionReductionStrategyType or Mapping[str, DimensionReductionStrategyType]
            One strategy for every field, or a mapping from field name to strategy.
        batch_size : int, optional
            Default: the strategy's ``default_batch_size()`` (the largest over a mapping).

        Returns
        -------
        DimensionReduction
            The fitted stage; the strategies passed in are not modified.

        Raises
        ------
        DeepViewException
            (subclasses) a field not 2-D, with NaN/inf or missing; a batch size below a
            PCA's ``target_dimensions``; an empty producer; too many target dimensions.
        """
        owner = f"{_OWNER}.introspect"
        single, mapping = _resolve_strategies(strategies)
        templates = [single] if single is not None else list(mapping.values())
        if batch_size is None:
            batch_size = max(int(t.default_batch_size()) for t in templates)
        else:
            batch_size = check_batch_size(batch_size, owner=owner)
            for template in templates:
                template.check_batch_size(batch_size)

        reducers: dict[str, DimensionReductionStrategyType] = {}
        n_features: dict[str, int] = {}
        one_shot: _OneShotRows | None = None
        batches = tqdm(iter_batches(producer, batch_size, owner=owner),
                       desc="DimensionReduction: fit", unit="batch", disable=progress_disabled())
        for index, batch in enumerate(batches):
            if index == 0:
                names = list(batch.fields) if single is not None else list(mapping)
                missing = [n for n in names if n not in batch.fields]
                if missing:
                    raise MissingFieldError(f"{owner}: strategies name field(s) {missing} that the "
                                            "producer does not yield; available fields: "
                                            f"{sorted(batch.fields)}. Fix the field names in the "
                                            "'strategies' mapping.")
                if not names:
                    raise InvalidDataError(f"{owner}: the batches have no fields to reduce "
                                           "(metadata only).")
                reducers = {n: (mapping[n] if single is None else single)._clone() for n in names}
                one_shot_fields = [n for n, r in reducers.items() if r.is_one_shot]
                one_shot = _OneShotRows(one_shot_fields) if one_shot_fields else None
            data: dict[str, np.ndarray] = {}
            for name, reducer in reducers.items():
                if name not in batch.fields:
                    raise MissingFieldError(f"{owner}: field '{name}' is missing from batch "
                                            f"{index}; available fields: {sorted(batch.fields)}. "
                                            "Every batch needs the same fields.")
                x = check_field(name, batch.fields[name], owner=owner)
                d = n_features.setdefault(name, int(x.shape[1]))
                if x.shape[1] != d:
                    raise InvalidDataError(f"{owner}: field '{name}' has {x.shape[1]} features in "
                                           f"batch {index} but {d} before; every batch needs the "
                                           "same shape.")
                data[name] = x
                with _naming(name):
                    reducer.fit_incremental(x)
            if one_shot is not None:
                one_shot.observe(batch, data)

        for name, reducer in reducers.items():
            with _naming(name):
                reducer.fit_complete()
        if one_shot is not None:
            one_shot.finish()
        return DimensionReduction(_reducers=reducers, _n_features=n_features, _one_shot=one_shot)

    def _pipeline(self, producer: Producer) -> Producer:
        return _ReducedProducer(producer, self)


class _ReducedProducer:
    """Producer of ``producer``'s batches with the reduced fields replaced."""

    def __init__(self, producer: Producer, stage: DimensionReduction) -> None:
        self._producer = producer
        self._stage = stage

    def __repr__(self) -> str:
        return f"{self._producer!r} -> DimensionReduction({sorted(self._stage._reducers)})"

    def __call__(self, batch_size: int) -> Iterator[Batch]:
        owner = f"{_OWNER} (pipeline)"
        batch_size = check_batch_size(batch_size, owner=owner)
        stage = self._stage
        reducers = stage._reducers
        one_shot = stage._one_shot
        embeddings: dict[str, np.ndarray] = {}
        for name, reducer in reducers.items():
            if reducer.is_one_shot:
                with _naming(name):
                    embeddings[name] = np.asarray(reducer.transform_one_shot())
        if embeddings and one_shot is None:  # built by hand: rows by position, unverified
            one_shot = _OneShotRows([])
            one_shot.n = min(len(e) for e in embeddings.values())
        position = 0
        all_positional = True
        for batch in self._producer(batch_size):
            builder = Batch.Builder(base=batch)
            rows: np.ndarray | None = None
            by_id = False
            for name, reducer in reducers.items():
                if name not in batch.fields:
                    raise MissingFieldError(f"{owner}: field '{name}' was reduced at fit time but "
                                            "is missing from the batch; available fields: "
                                            f"{sorted(batch.fields)}.")
                x = check_field(name, batch.fields[name], owner=owner)
                expected = stage._n_features.get(name)
                if expected is not None and x.shape[1] != expected:
                    raise InvalidDataError(f"{owner}: field '{name}' has {x.shape[1]} features but "
                                           f"DimensionReduction was fitted on {expected}.")
                if one_shot is not None and name in embeddings:
                    if rows is None:
                        rows, by_id = one_shot.rows_for(batch, position)
                        all_positional = all_positional and not by_id
                    one_shot.verify(name, rows, x, by_id)
                    builder.fields[name] = embeddings[name][rows]
                    continue
                with _naming(name):
                    builder.fields[name] = reducer.transform(x)
            position += batch.batch_size
            yield builder.make_batch()
        if one_shot is not None and embeddings and all_positional and position != one_shot.n:
            raise InvalidDataError(f"{owner}: the pipelined producer yielded {position} samples "
                                   f"but the one-shot strategy was fitted on {one_shot.n}. Without "
                                   "identifiers, pipeline the same producer (same samples, same "
                                   "order), or attach Batch.StdKeys.IDENTIFIER.")
