"""Lazy imports of optional dependencies with an actionable error."""

from __future__ import annotations

import importlib
from types import ModuleType

from deepview.exceptions import MissingDependencyError

# import name -> (pip distribution name, deepview extra or None for a core dependency)
_KNOWN: dict[str, tuple[str, str | None]] = {
    "torch": ("torch==2.13.0", "torch"), "ray": ("ray[data]==2.60.0", "ray"),
    "ray.data": ("ray[data]==2.60.0", "ray"), "umap": ("umap-learn", "umap"),
    "pacmap": ("pacmap", "pacmap"), "faiss": ("faiss-cpu", "faiss"), "annoy": ("annoy", "annoy"),
    "matplotlib": ("matplotlib", "notebook"), "matplotlib.pyplot": ("matplotlib", "notebook"),
    "PIL": ("Pillow", "image"), "cv2": ("opencv-python-headless", "image"),
    "IPython": ("ipython", "notebook"), "typer": ("typer", None),
}


def require(module: str, *, feature: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        dist, known_extra = _KNOWN.get(module, (module, None))
        extra = extra or known_extra
        hint = f'pip install "deepview[{extra}]"' if extra else f"pip install {dist}"
        raise MissingDependencyError(
            f"{feature} needs '{dist}', which is not installed ({exc}). Install it with: {hint}"
        ) from exc
