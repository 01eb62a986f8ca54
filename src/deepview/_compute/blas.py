"""deepview's policy on BLAS (and OpenMP / numba) threads: small products and memory-bound
kernels on one BLAS thread, seeded fits single-threaded, independent pieces in threads."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from threadpoolctl import ThreadpoolController

__all__ = ["EIGH_SINGLE_MAX", "SMALL_FLOPS", "blas_threads_for", "cpu_count", "in_threads",
           "eigh_threads", "single_blas_thread", "single_threaded"]

#: products below this many floating point operations run on one BLAS thread
SMALL_FLOPS = 2.0e8

#: at most this many threads share independent pieces of work (:func:`in_threads`)
MAX_WORK_THREADS = 8

_T = TypeVar("_T")

#: symmetric eigenproblems up to this order run on one BLAS thread (memory-bound)
EIGH_SINGLE_MAX = 2048


@functools.lru_cache(maxsize=1)
def _controller(n_modules: int) -> ThreadpoolController:
    """The thread pools of the libraries loaded now (cached per count of loaded modules)."""
    return ThreadpoolController()


def _pools() -> ThreadpoolController:
    return _controller(len(sys.modules))


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread inside the block (also a decorator).

    Examples
    --------
    >>> from threadpoolctl import threadpool_info
    >>> with single_blas_thread():
    ...     threads = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    >>> threads <= {1}
    True
    """
    with _pools().limit(limits=1, user_api="blas"):
        yield


def blas_threads_for(flops: float) -> contextlib.AbstractContextManager[None]:
    """One BLAS thread for work of fewer than :data:`SMALL_FLOPS` floating point operations
    (e.g. ``2 * m * n * k`` for an ``(m, k) @ (k, n)`` product), else the library's count."""
    return single_blas_thread() if flops < SMALL_FLOPS else contextlib.nullcontext()


def eigh_threads(order: int) -> contextlib.AbstractContextManager[None]:
    """One BLAS thread for a symmetric eigenproblem up to :data:`EIGH_SINGLE_MAX`."""
    return single_blas_thread() if order <= EIGH_SINGLE_MAX else contextlib.nullcontext()


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Limit BLAS, OpenMP and numba (if imported) to one thread inside the block."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(_pools().limit(limits=1))
        numba = sys.modules.get("numba")
        if numba is not None:
            previous = numba.get_num_threads()
            numba.set_num_threads(1)
            stack.callback(numba.set_num_threads, previous)
        yield


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def in_threads(work: Callable[[_T], None], pieces: Sequence[_T],
               threads: int | None = None) -> None:
    """``work(piece)`` for every piece on up to ``threads`` Python threads (default: the CPUs, at
    most :data:`MAX_WORK_THREADS`); the first exception is raised after the running pieces end.

    Examples
    --------
    >>> out = [0] * 4
    >>> def square(i):
    ...     out[i] = i * i
    >>> in_threads(square, range(4), threads=2)
    >>> out
    [0, 1, 4, 9]
    """
    count = min(len(pieces), threads or min(cpu_count(), MAX_WORK_THREADS))
    if count <= 1:
        for piece in pieces:
            work(piece)
        return
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="deepview") as pool:
        list(pool.map(work, pieces))  # the first error cancels the pieces not yet started
