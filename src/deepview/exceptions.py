"""Exceptions and warnings raised by deepview: every error derives from
:class:`DeepViewException` and from the matching built-in (``ValueError``, ``TypeError``...)."""

from __future__ import annotations

import warnings

__all__ = ["DeepViewDeprecationWarning", "DeepViewException", "DeepViewWarning",
           "InvalidDataError", "InvalidParameterError", "InvalidTypeError",
           "MissingDependencyError", "MissingFieldError", "enable_deprecation_warnings"]


class DeepViewException(RuntimeError):
    """Base class of every error deepview raises on purpose.

    Parameters
    ----------
    message : str
        What went wrong and how to fix it; also ``.message``.
    """

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidParameterError(DeepViewException, ValueError):
    """A parameter has a value outside what the function accepts."""


class InvalidTypeError(DeepViewException, TypeError):
    """A parameter or data field has the wrong type."""


class InvalidDataError(DeepViewException, ValueError):
    """Data (responses, metadata) cannot be used as given: NaN/inf, wrong shape, empty."""


class MissingFieldError(DeepViewException, KeyError):
    """A named field (or metadata entry) is not in the batch; the message lists those that are."""


class MissingDependencyError(DeepViewException, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


class DeepViewWarning(UserWarning):
    """A recoverable problem: the result is still usable, but worth a look."""


class DeepViewDeprecationWarning(DeprecationWarning):
    """A deprecated part of the deepview API was used."""


def enable_deprecation_warnings(*, error: bool = False) -> None:
    """Show deepview deprecation warnings (or turn them into errors with ``error=True``)."""
    warnings.filterwarnings("error" if error else "default", category=DeepViewDeprecationWarning)
