"""A compressed network of a model factory on disk: its ``state_dict`` and the factory."""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import torch
from torch import nn

from deepview.exceptions import InvalidParameterError
from deepview.integrations.torch._blocks import set_sizes, set_tensor

__all__ = ["MANIFEST", "read_manifest", "resize_to_state_dict", "save_compressed"]

MANIFEST = "deepview-compressed.json"  # marks a folder written by save_compressed
_WEIGHTS = "weights.pt"


def save_compressed(module: nn.Module, folder: str | os.PathLike[str], *, factory: str,
                    **details: Any) -> None:
    """Write ``module``'s ``state_dict`` and a manifest naming ``factory`` into ``folder``."""
    folder = pathlib.Path(folder)
    torch.save(module.state_dict(), folder / _WEIGHTS)
    manifest = {"format": 1, "factory": factory, "weights": _WEIGHTS, **details}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def resize_to_state_dict(module: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Resize ``module``'s Linear / Conv / BatchNorm layers to ``state`` and load it (in place)."""
    for name, m in module.named_modules():
        prefix = f"{name}." if name else ""
        weight = state.get(prefix + "weight")
        if weight is None or getattr(m, "weight", None) is None or m.weight.shape == weight.shape:
            continue
        for attr in ("weight", "bias", "running_mean", "running_var"):
            if getattr(m, attr, None) is not None and prefix + attr in state:
                set_tensor(m, attr, torch.zeros_like(state[prefix + attr]))
        set_sizes(m)
    module.load_state_dict(state)
    return module


def read_manifest(folder: str | os.PathLike[str]) -> tuple[str, pathlib.Path]:
    """``(factory, weights file)`` of a folder written by :func:`save_compressed`."""
    folder = pathlib.Path(folder).expanduser()
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        return str(manifest["factory"]), folder / str(manifest.get("weights", _WEIGHTS))
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidParameterError(
            f"'{folder}' holds no readable {MANIFEST} ({exc}); give a folder written by "
            "deepview compress.") from None
