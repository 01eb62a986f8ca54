"""deepview: see what is inside your datasets and networks (``import deepview`` imports numpy
only; optional libraries load with the features that need them)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
