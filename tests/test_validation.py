"""deepview._validation, deepview._optional and deepview.exceptions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from deepview._optional import require
from deepview._validation import check_batch_size, check_choice, check_field, check_float, check_int
from deepview.exceptions import (
    DeepViewDeprecationWarning,
    DeepViewException,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
    MissingDependencyError,
    MissingFieldError,
    enable_deprecation_warnings,
)


def test_check_int() -> None:
    assert check_int(np.int64(3), name="k", owner="O", min_value=1) == 3
    with pytest.raises(InvalidTypeError, match="O: 'k' must be an int; got True"):
        check_int(True, name="k", owner="O")
    with pytest.raises(InvalidParameterError, match="'k' must be an int >= 1; got 0. Use 1"):
        check_int(0, name="k", owner="O", min_value=1)
    with pytest.raises(InvalidParameterError, match="<= 5"):
        check_int(6, name="k", owner="O", max_value=5)
    assert check_batch_size(2, owner="O") == 2


def test_check_float_and_choice() -> None:
    assert check_float(1, name="x", owner="O", min_value=0, max_value=1) == 1.0
    with pytest.raises(InvalidParameterError, match=r"must be in \(0, inf\)"):
        check_float(0, name="x", owner="O", min_value=0, min_inclusive=False)
    with pytest.raises(InvalidParameterError, match="finite"):
        check_float(float("nan"), name="x", owner="O")
    with pytest.raises(InvalidTypeError):
        check_float("1", name="x", owner="O")
    assert check_choice("a", name="c", owner="O", choices="ab") == "a"
    with pytest.raises(InvalidParameterError, match=r"one of \['a', 'b'\]"):
        check_choice("z", name="c", owner="O", choices=["a", "b"])


def test_check_field() -> None:
    x = np.zeros((3, 2))
    assert check_field("f", x, owner="O") is x
    with pytest.raises(InvalidDataError, match="Flattener"):
        check_field("f", np.zeros((3, 2, 2)), owner="O")
    with pytest.raises(InvalidDataError, match="reshape"):
        check_field("f", np.zeros(3), owner="O")
    with pytest.raises(InvalidTypeError, match="numbers"):
        check_field("f", np.array([["a"]]), owner="O")
    with pytest.raises(InvalidTypeError, match="numpy array"):
        check_field("f", [[1.0]], owner="O")
    bad = np.zeros((4, 2))
    bad[1, 0] = np.nan
    bad[3, 1] = np.inf
    with pytest.raises(InvalidDataError, match="in 2 sample"):
        check_field("f", bad, owner="O")
    assert check_field("f", bad, owner="O", finite=False) is bad


def test_require() -> None:
    assert require("json", feature="F").dumps([]) == "[]"
    with pytest.raises(MissingDependencyError, match=r'pip install "deepview\[image\]"'):
        require("cv2_not_installed_here", feature="F", extra="image")
    with pytest.raises(ImportError, match="pip install nope_mod"):
        require("nope_mod", feature="F")


def test_exception_family() -> None:
    err = MissingFieldError("Owner: field 'x' missing")
    assert str(err) == err.message == "Owner: field 'x' missing"
    assert isinstance(err, KeyError) and isinstance(err, DeepViewException)
    assert isinstance(InvalidParameterError("m"), ValueError)
    assert isinstance(InvalidTypeError("m"), TypeError)
    with warnings.catch_warnings():
        enable_deprecation_warnings(error=True)
        with pytest.raises(DeepViewDeprecationWarning):
            warnings.warn("old", DeepViewDeprecationWarning, stacklevel=1)
