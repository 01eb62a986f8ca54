"""Inactive Unit Analysis (IUA): how often each unit of each layer is (close to) zero."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, overload

import numpy as np
from tqdm import tqdm

from deepview._optional import require
from deepview._progress import progress_disabled
from deepview._validation import check_choice, check_field, check_float
from deepview.base import Producer
from deepview.base._producer import iter_response_batches
from deepview.exceptions import InvalidDataError, InvalidParameterError, InvalidTypeError
from deepview.introspectors._pfa._covariances import check_response
from deepview.partial import batch_fields

_CHUNK = 65536  # per-sample counts are stored in int32 chunks of this many samples


class _InactiveCounter:
    """Streaming per-unit and per-sample inactive counts of one response field."""

    def __init__(self, name: str, unit_shape: tuple[int, ...], dtype: np.dtype,
                 atol: float, owner: str) -> None:
        self.name = name
        self.owner = owner
        self.atol = atol
        self.unit_shape = unit_shape
        self.units = int(math.prod(unit_shape))
        self.work_dtype = np.dtype(dtype) if dtype in (np.float32, np.float64) else None
        # compare in the data's own precision, like numpy.isclose(x, 0, atol=atol)
        self.threshold = self.work_dtype.type(atol) if self.work_dtype is not None else atol
        self.unit_counts = np.zeros(self.units, dtype=np.int64)
        self.samples = 0
        self._rows = 0
        self._pending = 0
        self._chunks: list[np.ndarray] = []
        self._chunk = np.empty(_CHUNK, dtype=np.int32)
        self._pos = 0

    def _allocate(self, rows: int) -> None:
        self._flush_units()
        self._rows = rows
        units = self.units
        # row counts add the bool mask as uint64 words (8 byte lanes, at most 255 words
        # without carries), so it is padded with False to groups of 8 or 2040 columns
        group = 8 if units <= 2040 else 2040
        self._width = -(-units // group) * group
        self._groups = 1 if units <= 2040 else self._width // 2040
        self._abs = np.empty((rows, units), dtype=self.work_dtype or np.float64)
        self._mask = np.zeros((rows, self._width), dtype=np.bool_)
        self._acc = np.zeros((rows, self._width), dtype=np.uint8)
        self._views: dict[int, tuple[np.ndarray, ...]] = {}

    def _views_for(self, k: int) -> tuple[np.ndarray, ...]:
        views = self._views.get(k)
        if views is None:
            mask = self._mask[:k]
            words = mask.view(np.uint64).reshape(k, self._groups, -1)
            views = (self._abs[:k], mask[:, :self.units], mask.view(np.uint8), self._acc[:k], words)
            self._views[k] = views
        return views

    def _flush_units(self) -> None:
        if self._pending:
            counts = np.add.reduce(self._acc, axis=0, dtype=np.int64)
            self.unit_counts += counts[:self.units]
            self._acc[...] = 0
            self._pending = 0

    def update(self, x: np.ndarray) -> None:
        k = x.shape[0]
        if x.shape[1:] != self.unit_shape:
            raise InvalidDataError(f"{self.owner}: field '{self.name}' has shape {x.shape[1:]} per "
                                   f"sample in a later batch but {self.unit_shape} in the first; "
                                   "responses must keep their shape.")
        if k > self._rows:
            self._allocate(k)
        flat = x if x.ndim == 2 else x.reshape(k, self.units)
        absolute, mask, as_u8, acc, words = self._views_for(k)
        if flat.dtype == self.work_dtype:
            np.abs(flat, out=absolute)
            if not np.isfinite(absolute.max()):  # NaN propagates through max, inf is the max
                check_field(self.name, flat, owner=self.owner, ndim=None)
            np.less_equal(absolute, self.threshold, out=mask)
        elif flat.dtype == np.bool_:
            np.logical_not(flat, out=mask)
        else:  # ints, float16, mixed dtypes: two comparisons, no abs() overflow
            wide = flat.astype(np.float64) if flat.dtype.kind == "f" else flat
            if wide.dtype.kind == "f":
                check_field(self.name, wide, owner=self.owner, ndim=None)
            np.less_equal(wide, self.threshold, out=mask)
            mask &= wide >= -self.threshold
        np.add(acc, as_u8, out=acc)
        self._pending += 1
        if self._pending == 255:  # uint8 accumulator is full
            self._flush_units()
        if self._pos + k > self._chunk.shape[0]:
            if self._pos:
                self._close_chunk()
            self._chunk = np.empty(max(_CHUNK, k), dtype=np.int32)
        lanes = np.add.reduce(words, axis=2).view(np.uint8)  # (k, groups * 8) byte lanes
        np.add.reduce(lanes, axis=1, dtype=np.int32, out=self._chunk[self._pos:self._pos + k])
        self._pos += k
        self.samples += k

    def _close_chunk(self) -> None:
        self._chunks.append(self._chunk[:self._pos])
        self._pos = 0

    def _seal(self) -> None:
        """Fold the pending counts and the open chunk into the totals."""
        self._flush_units()
        if self._pos:
            self._close_chunk()
            self._chunk = np.empty(_CHUNK, dtype=np.int32)

    def merge(self, other: _InactiveCounter) -> _InactiveCounter:
        """Add ``other``'s samples after this counter's (per-sample counts in that order)."""
        if other.unit_shape != self.unit_shape or other.atol != self.atol:
            raise InvalidDataError(f"{self.owner}: cannot merge the counts of field '{self.name}': "
                                   f"one part has {other.unit_shape} units per sample (atol="
                                   f"{other.atol}), the other {self.unit_shape} (atol="
                                   f"{self.atol}); every block needs the same shape and tolerance.")
        self._seal()
        other._seal()
        self.unit_counts += other.unit_counts
        self.samples += other.samples
        self._chunks.extend(other._chunks)
        return self

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the work buffers: counts only (4 bytes per sample)."""
        self._seal()
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("_abs", "_mask", "_acc", "_views")}
        return {**state, "_rows": 0, "_chunk": np.empty(0, dtype=np.int32)}

    def finalize(self) -> tuple[np.ndarray, np.ndarray]:
        self._flush_units()
        self._close_chunk()
        per_sample = np.concatenate(self._chunks)
        units = self.unit_counts.reshape(self.unit_shape)
        per_sample.flags.writeable = units.flags.writeable = False
        return per_sample, units


class InactiveCounts(Sequence[int]):
    """Per-sample inactive-unit counts: compares like a list, ``numpy.asarray`` gives the int32
    array without a copy."""

    __slots__ = ("_counts",)

    def __init__(self, counts: np.ndarray) -> None:
        self._counts = counts

    def __len__(self) -> int:
        return len(self._counts)

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> list[int]: ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self._counts[index].tolist()
        return int(self._counts[index])

    def __iter__(self) -> Iterator[int]:
        for start in range(0, len(self._counts), _CHUNK):  # no list of every sample at once
            yield from self._counts[start:start + _CHUNK].tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        counts = self._counts if dtype is None else self._counts.astype(dtype, copy=False)
        return counts.copy() if copy else counts

    def tolist(self) -> list[int]:
        """The counts as a list of ints."""
        return self._counts.tolist()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, InactiveCounts):
            other = other._counts
        if isinstance(other, (str, bytes)) or not isinstance(other, (Sequence, np.ndarray)):
            return NotImplemented
        return len(other) == len(self) and bool(np.array_equal(self._counts, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"InactiveCounts(n={len(self)})"


@dataclass(frozen=True)
class IUA:
    """Inactive Unit Analysis: statistics of inactive (≈ 0) units per layer.

    Build it with :meth:`IUA.introspect`; read :attr:`results`.

    Parameters
    ----------
    _layer_counts : Mapping[str, numpy.ndarray]
        Do not instantiate ``IUA`` directly; use :meth:`IUA.introspect`.

    Examples
    --------
    >>> import numpy as np
    >>> from deepview.base import ArrayProducer
    >>> x = np.maximum(np.random.default_rng(0).normal(size=(1000, 6)), 0.0)
    >>> x[:, 2] = 0.0  # a dead unit
    >>> result = IUA.introspect(ArrayProducer({"relu": x})).results["relu"]
    >>> float(result.unit_inactive_proportion[2])
    1.0
    """

    _layer_counts: Mapping[str, np.ndarray]
    _unit_counts: Mapping[str, np.ndarray]
    _total_probe_counts: int

    @dataclass(frozen=True)
    class Result:
        """IUA statistics of one response (layer).

        Parameters
        ----------
        mean_inactive : float
            ``numpy.mean(inactive)``.
        std_inactive : float
            ``numpy.std(inactive)``.
        inactive : Sequence[float]
            Number of inactive units of each sample, in producer order.
        unit_inactive_count : Sequence[float]
            Samples in which each unit was inactive (the response's per-sample shape).
        unit_inactive_proportion : Sequence[float]
            ``unit_inactive_count`` divided by the number of samples.
        """

        mean_inactive: float
        std_inactive: float
        inactive: Sequence[float]
        unit_inactive_count: Sequence[float]
        unit_inactive_proportion: Sequence[float]

    class VisType:
        """Visualisation modes of :meth:`IUA.show`."""

        TABLE: Final = "table"
        CHART: Final = "chart"

    @staticmethod
    def introspect(producer: Producer, *, batch_size: int = 32, rtol: float = 1e-5,
                   atol: float = 1e-8) -> IUA:
        """Count the inactive units (``numpy.isclose(x, 0)``) of every field in one pass.

        Parameters
        ----------
        producer : Producer
            Yields responses of any shape ``(batch, ...)``; each per-sample position is a unit.
        batch_size : int, default=32
            Batch size requested from ``producer``.
        rtol : float, default=1e-5
            Relative tolerance of ``numpy.isclose`` (no effect against 0).
        atol : float, default=1e-8
            Absolute tolerance: ``|x| <= atol`` is inactive.

        Raises
        ------
        InvalidDataError
            NaN or inf values, a per-sample shape that changes, or an empty producer.
        """
        owner = "IUA.introspect"
        check_float(rtol, name="rtol", owner=owner, min_value=0.0)
        atol = check_float(atol, name="atol", owner=owner, min_value=0.0)
        counters: dict[str, _InactiveCounter] = {}
        batches = iter_response_batches(producer, batch_size, owner=owner, analysis="IUA")
        for batch in tqdm(batches, desc="IUA: inactive units", unit="batch",
                          disable=progress_disabled()):
            IUA._count(counters, batch.fields, atol, owner)
        return IUA._from_counters(counters)

    @staticmethod
    def _from_counters(counters: Mapping[str, _InactiveCounter]) -> IUA:
        counts = {name: counter.finalize() for name, counter in counters.items()}
        total = list(counters.values())[-1].samples if counters else 0
        return IUA(MappingProxyType({name: c[0] for name, c in counts.items()}),
                   MappingProxyType({name: c[1] for name, c in counts.items()}), total)

    @staticmethod
    def partial(*, rtol: float = 1e-5, atol: float = 1e-8) -> IUAState:
        """An empty :class:`IUAState`: :meth:`introspect` as a partial state."""
        return IUAState(rtol=rtol, atol=atol)

    @staticmethod
    def _count(counters: dict[str, _InactiveCounter], fields: Mapping[str, Any], atol: float,
               owner: str) -> None:
        """Count every field into its counter (created on the field's first batch)."""
        for name, x in fields.items():
            if name not in counters:
                x = check_response(name, x, owner=owner, pfa=False)
                counters[name] = _InactiveCounter(name, x.shape[1:], x.dtype, atol, owner)
            counters[name].update(x)

    @property
    def results(self) -> Mapping[str, IUA.Result]:
        """Per-layer :class:`IUA.Result`."""
        out: dict[str, IUA.Result] = {}
        n = self._total_probe_counts
        for name, per_sample in self._layer_counts.items():
            units = self._unit_counts[name]
            proportion = np.asarray(units / n if n else np.zeros(units.shape))
            proportion.flags.writeable = False
            out[name] = IUA.Result(mean_inactive=float(np.mean(per_sample)) if n else 0.0,
                                   std_inactive=float(np.std(per_sample)) if n else 0.0,
                                   inactive=InactiveCounts(per_sample),
                                   unit_inactive_count=units,  # type: ignore[arg-type]
                                   unit_inactive_proportion=proportion)  # type: ignore[arg-type]
        return MappingProxyType(out)

    @staticmethod
    def show(iua: IUA, *, vis_type: str = VisType.TABLE,
             response_names: Sequence[str] | None = None) -> Any:
        """Table (pandas DataFrame) or chart (matplotlib Axes) of IUA results.

        Parameters
        ----------
        iua : IUA
            Result of :meth:`IUA.introspect`.
        vis_type : {"table", "chart"}, default="table"
            ``IUA.VisType.TABLE`` (mean and std per response) or ``IUA.VisType.CHART``.
        response_names : Sequence[str], optional
            Responses to show (default all), sorted by name.

        Returns
        -------
        pandas.DataFrame or matplotlib.axes.Axes or numpy.ndarray of Axes
            The table; or the chart's ``Axes`` (an array of them for several responses).

        Raises
        ------
        InvalidParameterError
            Unknown ``vis_type``; empty or unknown ``response_names``.
        """
        owner = "IUA.show"
        if not isinstance(iua, IUA):
            raise InvalidTypeError(f"{owner}: 'iua' must be the result of IUA.introspect(); got "
                                   f"{type(iua).__name__}.")
        vis_type = check_choice(vis_type, name="vis_type", owner=owner,
                                choices=[IUA.VisType.TABLE, IUA.VisType.CHART])
        results = iua.results
        names = IUA._select_responses(results, response_names, owner)
        if vis_type == IUA.VisType.TABLE:
            pd = require("pandas", feature="IUA.show(vis_type='table')", extra="notebook")
            return pd.DataFrame({"response": names,
                                 "mean inactive": [results[n].mean_inactive for n in names],
                                 "std inactive": [results[n].std_inactive for n in names]})
        return IUA._chart(results, names)

    @staticmethod
    def _select_responses(results: Mapping[str, IUA.Result], response_names: Sequence[str] | None,
                          owner: str) -> list[str]:
        if response_names is None:
            return sorted(results)
        names = [response_names] if isinstance(response_names, str) else list(response_names)
        if not names:
            raise InvalidParameterError(f"{owner}: 'response_names' is empty; pass None to show "
                                        f"all responses {sorted(results)}.")
        unknown = [n for n in names if n not in results]
        if unknown:
            raise InvalidParameterError(f"{owner}: unknown response(s) {unknown}; choose from "
                                        f"{sorted(results)}.")
        return sorted(dict.fromkeys(names))

    @staticmethod
    def _chart(results: Mapping[str, IUA.Result], names: list[str]) -> Any:
        plt = require("matplotlib.pyplot", feature="IUA.show(vis_type='chart')", extra="notebook")
        rows = len(names)
        fig, grid = plt.subplots(rows, 1, squeeze=False, figsize=(8.0, min(2.0 + 2.6 * rows, 40.0)))
        axes = grid[:, 0]
        for ax, name in zip(axes, names):
            prop = np.atleast_1d(
                np.asarray(results[name].unit_inactive_proportion, dtype=np.float64))
            dead = int(np.count_nonzero(prop >= 1.0))
            title = f"{name}: inactive proportion per unit ({dead} of {prop.size} always inactive)"
            if prop.ndim == 1:
                ax.bar(np.arange(prop.size), prop, width=1.0, color="tab:red")
                ax.set(xlim=(-0.5, prop.size - 0.5), ylim=(0.0, 1.0), xlabel="unit",
                       ylabel="proportion inactive")
            else:
                image = prop.reshape(-1, *prop.shape[-2:]).mean(axis=0)
                handle = ax.imshow(image, cmap="hot", vmin=0.0, vmax=1.0, aspect="auto",
                                   interpolation="nearest")
                fig.colorbar(handle, ax=ax, label="proportion inactive")
                ax.set(xlabel=f"axis {prop.ndim}", ylabel=f"axis {prop.ndim - 1}")
                if prop.ndim > 2:
                    title += f" (mean over the first {prop.ndim - 2} axes)"
            ax.set_title(title, fontsize=9)
        fig.tight_layout()
        return axes[0] if rows == 1 else axes


class IUAState:
    """The counts of :meth:`IUA.introspect` as a partial state (update / merge in row order /
    finish); ``finish()`` gives the same :class:`IUA`, exactly.

    Parameters
    ----------
    rtol, atol : float
        As in :meth:`IUA.introspect`; states merge only with states of the same ``atol``.
    """

    _OWNER = "IUAState"

    def __init__(self, *, rtol: float = 1e-5, atol: float = 1e-8) -> None:
        check_float(rtol, name="rtol", owner=self._OWNER, min_value=0.0)
        self.atol = check_float(atol, name="atol", owner=self._OWNER, min_value=0.0)
        self._counters: dict[str, _InactiveCounter] = {}

    @property
    def samples(self) -> int:
        """Samples counted so far."""
        return next(iter(self._counters.values())).samples if self._counters else 0

    def update(self, batch: Any) -> None:
        """Count the inactive units of every field of ``batch`` (a :class:`Batch`)."""
        fields = batch_fields(batch, self._counters, self._OWNER)
        if fields is None:
            return
        if not fields:
            raise InvalidDataError(f"{self._OWNER}.update: the batch has no fields; IUA analyses "
                                   "the response fields of a batch (e.g. from a Model in the "
                                   "pipeline).")
        IUA._count(self._counters, fields, self.atol, self._OWNER)

    def merge(self, other: IUAState) -> IUAState:
        """Add ``other``'s counts after this state's; returns ``self``."""
        if not isinstance(other, IUAState):
            raise InvalidTypeError(f"{self._OWNER}.merge: can only merge another IUAState; got "
                                   f"{type(other).__name__}.")
        if other.atol != self.atol:
            raise InvalidParameterError(f"{self._OWNER}.merge: the states use different tolerances "
                                        f"(atol={self.atol} and {other.atol}); build every state "
                                        "with the same atol.")
        if self._counters and other._counters and set(other._counters) != set(self._counters):
            raise InvalidDataError(
                f"{self._OWNER}.merge: one state counted fields {sorted(self._counters)}, the "
                f"other {sorted(other._counters)}; every block must carry the same responses.")
        for name, counter in other._counters.items():
            kept = self._counters.setdefault(name, counter)
            if kept is not counter:
                kept.merge(counter)
        return self

    def finish(self) -> IUA:
        """The :class:`IUA` of every sample counted or merged."""
        if not self._counters:
            raise InvalidDataError(f"{self._OWNER}.finish: no samples were counted; update the "
                                   "state with at least one non-empty batch.")
        return IUA._from_counters(self._counters)

    def __repr__(self) -> str:
        return f"IUAState(samples={self.samples}, fields={sorted(self._counters)})"
