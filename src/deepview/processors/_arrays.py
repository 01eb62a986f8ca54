"""Stock array processors: normalise, transpose, flatten, pool and concatenate fields."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from deepview._validation import check_choice, check_int
from deepview.base import Batch
from deepview.exceptions import InvalidDataError, InvalidParameterError, InvalidTypeError
from deepview.processors._base import EditStage, Processor, select_fields
from deepview.typing import OneManyOrNone, OneOrMany

__all__ = ["Concatenator", "Flattener", "MeanStdNormalizer", "Pooler", "Transposer"]


class MeanStdNormalizer(Processor):
    """Standardise fields: ``(x - mean) / std``.

    Parameters
    ----------
    mean : float or array-like
        Value subtracted (broadcast against each field).
    std : float or array-like
        Divisor; must be non-zero and finite everywhere.
    fields : str or Collection[str], optional
        Fields to transform; default every field.
    """

    def __init__(self, *, mean: Any, std: Any, fields: OneManyOrNone[str] = None) -> None:
        try:
            mean_arr = np.asarray(mean, dtype=np.float64)
            std_arr = np.asarray(std, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidTypeError(
                f"MeanStdNormalizer: 'mean' and 'std' must be numbers or numeric arrays ({exc})."
            ) from None
        if not np.isfinite(mean_arr).all():
            raise InvalidParameterError("MeanStdNormalizer: 'mean' must be finite.")
        if not np.isfinite(std_arr).all() or np.any(std_arr == 0):
            raise InvalidParameterError(
                f"MeanStdNormalizer: 'std' must be finite and non-zero; got {std!r}. "
                "Use 1.0 to only subtract the mean.")
        self.mean = mean
        self.std = std
        super().__init__(lambda x: (x - mean_arr) / std_arr, fields=fields)


class Transposer(Processor):
    """Permute the axes of fields with ``np.transpose(x, dim)``; the batch axis stays first.

    Parameters
    ----------
    dim : Sequence[int]
        A permutation of ``range(ndim)`` with ``dim[0] == 0``, e.g. ``(0, 2, 3, 1)``.
    fields : str or Collection[str], optional
        Fields to transpose; default every field.
    """

    def __init__(self, *, dim: Sequence[int], fields: OneManyOrNone[str] = None) -> None:
        if isinstance(dim, (str, bytes)) or not isinstance(dim, Sequence) or not dim:
            raise InvalidTypeError(
                f"Transposer: 'dim' must be a non-empty sequence of ints; got {dim!r}.")
        axes = tuple(check_int(d, name="dim", owner="Transposer") for d in dim)
        if sorted(axes) != list(range(len(axes))):
            raise InvalidParameterError(
                f"Transposer: 'dim' must be a permutation of 0..{len(axes) - 1}; got {axes}.")
        if axes[0] != 0:
            raise InvalidParameterError(
                f"Transposer: 'dim' must keep the batch axis first (dim[0] == 0); got {axes}.")
        self.dim = axes

        def transpose(x: np.ndarray) -> np.ndarray:
            if x.ndim != len(axes):
                raise InvalidDataError(
                    f"Transposer: 'dim' {axes} has {len(axes)} axes but a field has shape "
                    f"{x.shape} ({x.ndim} axes); give one entry per axis.")
            return np.transpose(x, axes)

        super().__init__(transpose, fields=fields)


class Flattener(Processor):
    """Reshape fields to ``(batch, -1)``, flattening each element in ``order``.

    Parameters
    ----------
    order : {"C", "F", "A", "K"}, default="C"
        Element flattening order, as in :meth:`numpy.ndarray.flatten`.
    fields : str or Collection[str], optional
        Fields to flatten; default every field.
    """

    def __init__(self, order: str = "C", fields: OneManyOrNone[str] = None) -> None:
        check_choice(order, name="order", owner="Flattener", choices=("C", "F", "A", "K"))
        self.order = order

        def flatten(x: np.ndarray) -> np.ndarray:
            width = math.prod(x.shape[1:])  # not -1: a 0-element batch has no rows
            if order == "C" or not len(x):
                return x.reshape(len(x), width)
            return np.stack([e.flatten(order) for e in x])

        super().__init__(flatten, fields=fields)


class Pooler(Processor):
    """Pool (reduce) fields over one or more non-batch axes.

    Parameters
    ----------
    dim : int or Collection[int]
        Axes to reduce; never 0 (the batch axis).  Negative values count from the end.
    method : Pooler.Method
        ``MAX``, ``SUM`` or ``AVERAGE``.
    fields : str or Collection[str], optional
        Fields to pool; default every field.
    """

    class Method(enum.Enum):
        """How :class:`Pooler` reduces."""

        MAX = "max"
        SUM = "sum"
        AVERAGE = "average"

    def __init__(self, *, dim: OneOrMany[int], method: Pooler.Method,
                 fields: OneManyOrNone[str] = None) -> None:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        if not dims:
            raise InvalidParameterError("Pooler: 'dim' must name at least one axis; got ().")
        dims = tuple(check_int(d, name="dim", owner="Pooler") for d in dims)
        if 0 in dims:
            raise InvalidParameterError(
                f"Pooler: cannot pool over the batch axis; 'dim' contains 0 (got {dims}). "
                "Use axes >= 1.")
        if len(set(dims)) != len(dims):
            raise InvalidParameterError(f"Pooler: 'dim' has repeated axes; got {dims}.")
        if not isinstance(method, Pooler.Method):
            raise InvalidTypeError(
                f"Pooler: 'method' must be a Pooler.Method (MAX, SUM, AVERAGE); got {method!r}.")
        self.dim = dims
        self.method = method
        reduce = getattr(np, {"max": "max", "sum": "sum", "average": "mean"}[method.value])

        def pool(x: np.ndarray) -> np.ndarray:
            ndim = x.ndim
            axes = tuple(d + ndim if d < 0 else d for d in dims)
            if any(not 1 <= a < ndim for a in axes) or len(set(axes)) != len(axes):
                raise InvalidDataError(
                    f"Pooler: cannot pool axes {dims} of a field with shape {x.shape}; valid "
                    f"axes are 1..{ndim - 1} (or -1..-{ndim - 1}).")
            return reduce(x, axis=axes)

        super().__init__(pool, fields=fields)

    def __repr__(self) -> str:
        return f"Pooler(dim={self.dim}, method={self.method}, fields={self.fields})"


class Concatenator(EditStage):
    """Add ``output_field``, the concatenation of ``fields`` (in order) along ``dim``.

    Parameters
    ----------
    dim : int
        Axis to concatenate along (not 0, the batch axis).
    output_field : str
        Name of the new field.
    fields : Sequence[str]
        At least one field, concatenated in this order.
    """

    def __init__(self, dim: int, output_field: str, fields: Sequence[str]) -> None:
        dim = check_int(dim, name="dim", owner="Concatenator")
        if dim == 0:
            raise InvalidParameterError(
                "Concatenator: cannot concatenate along the batch axis (dim=0); use dim >= 1.")
        if not isinstance(output_field, str) or not output_field:
            raise InvalidTypeError(
                f"Concatenator: 'output_field' must be a non-empty str; got {output_field!r}.")
        if isinstance(fields, str) or not isinstance(fields, Sequence) or not fields:
            raise InvalidParameterError(
                f"Concatenator: 'fields' must be a non-empty sequence of field names; got "
                f"{fields!r}.")
        self.dim = dim
        self.output_field = output_field
        self.fields = tuple(fields)

    def __repr__(self) -> str:
        return (f"Concatenator(dim={self.dim}, output_field={self.output_field!r}, "
                f"fields={list(self.fields)})")

    def _edit(self, builder: Batch.Builder, batch: Batch) -> None:
        select_fields(batch.fields, self.fields, owner="Concatenator")  # all present
        arrays = [batch.fields[n] for n in self.fields]
        try:
            builder.fields[self.output_field] = np.concatenate(arrays, axis=self.dim)
        except ValueError as exc:  # includes numpy AxisError
            shapes = {n: a.shape for n, a in zip(self.fields, arrays)}
            raise InvalidDataError(
                f"Concatenator: cannot concatenate fields {shapes} along dim={self.dim}: "
                f"{exc}. All other axes must match.") from None
