"""Parameter and data checks with messages ``owner: what is wrong: got X. How to fix.``"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from deepview.exceptions import InvalidDataError, InvalidParameterError, InvalidTypeError


def check_int(value: Any, *, name: str, owner: str, min_value: int | None = None,
              max_value: int | None = None) -> int:
    """Check that ``value`` is an int (not a bool) within ``[min_value, max_value]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidTypeError(
            f"{owner}: '{name}' must be an int; got {value!r} of type {type(value).__name__}.")
    value = int(value)
    if min_value is not None and value < min_value:
        raise InvalidParameterError(
            f"{owner}: '{name}' must be an int >= {min_value}; got {value}. "
            f"Use {min_value} or more.")
    if max_value is not None and value > max_value:
        raise InvalidParameterError(
            f"{owner}: '{name}' must be an int <= {max_value}; got {value}.")
    return value


def check_float(value: Any, *, name: str, owner: str, min_value: float | None = None,
                max_value: float | None = None, min_inclusive: bool = True,
                max_inclusive: bool = True) -> float:
    """Check that ``value`` is a finite real number within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(
            f"{owner}: '{name}' must be a number; got {value!r} of type {type(value).__name__}.")
    value = float(value)
    if not np.isfinite(value):
        raise InvalidParameterError(f"{owner}: '{name}' must be finite; got {value}.")
    low_ok = min_value is None or (value >= min_value if min_inclusive else value > min_value)
    high_ok = max_value is None or (value <= max_value if max_inclusive else value < max_value)
    if not (low_ok and high_ok):
        lo = "-inf" if min_value is None else f"{min_value}"
        hi = "inf" if max_value is None else f"{max_value}"
        lb = "[" if min_inclusive and min_value is not None else "("
        rb = "]" if max_inclusive and max_value is not None else ")"
        raise InvalidParameterError(
            f"{owner}: '{name}' must be in {lb}{lo}, {hi}{rb}; got {value}.")
    return value


def check_choice(value: Any, *, name: str, owner: str, choices: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``choices``."""
    options = list(choices)
    if value not in options:
        raise InvalidParameterError(f"{owner}: '{name}' must be one of {options}; got {value!r}.")
    return value


def check_batch_size(batch_size: Any, *, owner: str) -> int:
    """``batch_size`` must be an int >= 1."""
    return check_int(batch_size, name="batch_size", owner=owner, min_value=1)


def check_field(name: str, array: Any, *, owner: str, ndim: int | None = 2, finite: bool = True,
                fix: str | None = None) -> np.ndarray:
    """Return a response field after checking it is a numeric, finite ``ndim``-d array."""
    if not isinstance(array, np.ndarray):
        raise InvalidTypeError(
            f"{owner}: field '{name}' must be a numpy array; got {type(array).__name__}.")
    if ndim is not None and array.ndim != ndim:
        hint = fix or ("add Flattener() (deepview.processors) to the pipeline"
                       if array.ndim > ndim else "reshape it to (batch, features)")
        raise InvalidDataError(
            f"{owner}: field '{name}' has shape {array.shape} but needs {ndim} dims "
            f"(batch, features); {hint}.")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise InvalidTypeError(
            f"{owner}: field '{name}' must hold numbers; got dtype {array.dtype}.")
    if finite and np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all():
        bad_mask = ~np.isfinite(array)
        bad = int(np.count_nonzero(bad_mask.reshape(len(array), -1).any(axis=1)))
        raise InvalidDataError(
            f"{owner}: field '{name}' contains NaN or inf values in {bad} sample(s); "
            "remove or impute them (e.g. with Composer.from_element_filter) before introspecting.")
    return array
