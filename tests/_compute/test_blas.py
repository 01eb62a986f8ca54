"""deepview._compute.blas: one thread policy that depends on the work, not the machine's load."""

from __future__ import annotations

import os
import sys
import threading
from typing import TypeVar

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from deepview._compute import blas
from deepview._compute.blas import (
    EIGH_SINGLE_MAX,
    SMALL_FLOPS,
    blas_threads_for,
    cpu_count,
    eigh_threads,
    in_threads,
    single_blas_thread,
    single_threaded,
)


def _blas_threads() -> set[int]:
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.fixture
def busy_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A load average far above the core count: must change nothing."""
    monkeypatch.setattr(os, "getloadavg", lambda: (100.0, 100.0, 100.0))


def test_small_work_runs_on_one_blas_thread_and_is_restored() -> None:
    before = _blas_threads()
    with blas_threads_for(SMALL_FLOPS / 2):
        assert _blas_threads() <= {1}
    assert _blas_threads() == before


@pytest.mark.usefixtures("busy_machine")
def test_large_work_keeps_the_library_threads_whatever_the_load() -> None:
    before = _blas_threads()
    with blas_threads_for(SMALL_FLOPS * 10):
        assert _blas_threads() == before
    with eigh_threads(EIGH_SINGLE_MAX + 1):
        assert _blas_threads() == before


def test_the_load_average_is_never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> tuple[float, float, float]:
        raise AssertionError("the thread policy must not depend on the load average")

    monkeypatch.setattr(os, "getloadavg", fail)
    for manager in (blas_threads_for(1.0), blas_threads_for(SMALL_FLOPS * 10),
                    single_blas_thread(), eigh_threads(10), single_threaded()):
        with manager:
            pass


def test_no_mutable_module_state() -> None:
    state = {k: v for k, v in vars(blas).items()
             if not k.startswith("__") and k != "annotations" and not callable(v)
             and not isinstance(v, (type(sys), TypeVar))}
    assert state == {"EIGH_SINGLE_MAX": EIGH_SINGLE_MAX, "SMALL_FLOPS": SMALL_FLOPS,
                     "MAX_WORK_THREADS": blas.MAX_WORK_THREADS}


def test_in_threads_runs_every_piece_and_raises_the_first_error() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def record(i: int) -> None:
        with lock:
            seen.append(i)

    in_threads(record, range(50), threads=4)
    assert sorted(seen) == list(range(50))

    def fail_on_three(i: int) -> None:
        if i == 3:
            raise ValueError("piece 3")

    with pytest.raises(ValueError, match="piece 3"):
        in_threads(fail_on_three, range(8), threads=2)
    with pytest.raises(ValueError, match="piece 3"):
        in_threads(fail_on_three, range(8), threads=1)
    assert cpu_count() >= 1


def test_single_blas_thread_as_decorator_and_eigh_rule() -> None:
    @single_blas_thread()
    def inside() -> set[int]:
        return _blas_threads()

    assert inside() <= {1}
    assert inside() <= {1}  # reusable
    with eigh_threads(EIGH_SINGLE_MAX):
        assert _blas_threads() <= {1}


def test_single_threaded_limits_numba_and_restores_it() -> None:
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()
    with single_threaded():
        assert numba.get_num_threads() == 1
        assert _blas_threads() <= {1}
    assert numba.get_num_threads() == before


def test_the_kernels_use_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    # kNN, diagonal GMM and the eigensolver of PCA and PFA go through deepview._compute.blas
    import scipy.linalg

    from deepview._compute import covariance, gmm, knn
    from deepview.introspectors._pfa import _covariances

    seen: list[set[int]] = []

    def spy(real):  # type: ignore[no-untyped-def]
        def solver(a, *args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(_blas_threads())
            return real(a, *args, **kwargs)

        return solver

    monkeypatch.setattr(np.linalg, "eigh", spy(np.linalg.eigh))
    monkeypatch.setattr(scipy.linalg, "eigh", spy(scipy.linalg.eigh))
    covariance.symmetric_eigh(np.eye(3))
    covariance.symmetric_eigh(np.eye(3), 1)
    assert len(seen) == 2 and all(threads <= {1} for threads in seen)
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    idx, _ = knn.knn_brute(x, 3)
    assert idx[:, 0].tolist() == list(range(50))
    params = gmm.fit_gmm([x], n_components=2, random_state=0)
    assert params.weights.shape == (2,)
    # the modules use the policy rather than threadpoolctl directly
    for module in (knn, gmm, covariance, _covariances):
        assert "threadpool_limits" not in vars(module)
