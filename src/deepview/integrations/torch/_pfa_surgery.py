""":func:`apply_pfa_recipe`: a smaller copy of a torch network without the units PFA removes."""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import fx, nn

from deepview.exceptions import (
    DeepViewException,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
)
from deepview.integrations.torch import _blocks as blocks
from deepview.integrations.torch._compress import refit_blocks

__all__ = ["apply_pfa_recipe"]

logger = logging.getLogger(__name__)

_OWNER = "apply_pfa_recipe"


def apply_pfa_recipe(module: nn.Module, recipes: Mapping[str, Any], *,
                     pairs: Mapping[str, Sequence[str]] | None = None,
                     fold_duplicates: bool = True,
                     calibration: Sequence[Any] | None = None) -> nn.Module:
    """A smaller copy of ``module`` without the units PFA recipes remove (see docs/compress.md).

    Parameters
    ----------
    module : torch.nn.Module
        The trained network; traceable by ``torch.fx`` unless ``pairs`` names every block.
    recipes : Mapping[str, PFARecipe]
        ``PFA.get_recipe()`` output, keyed by the producing layer or a layer after it.
    pairs : Mapping[str, Sequence[str]], optional
        ``{producer: [modules in between..., consumer]}`` for networks that cannot be traced.
    fold_duplicates : bool, default=True
        Fold a removed unit that is a positive multiple of a kept one into the consumer.
    calibration : sequence of model inputs, optional
        Given, each consumer is refitted by least squares instead (as :func:`compress` does).

    Raises
    ------
    DeepViewException
        A layer that cannot be rewritten (named in the message), or an unknown key.
    InvalidDataError
        A recipe that does not fit its layer (unit count, indices, nothing left).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> recipe = SimpleNamespace(original_output_count=8, maximally_correlated_units=[1, 5])
    >>> small = apply_pfa_recipe(net, {"0": recipe})
    >>> small[0].out_features, small[2].in_features
    (6, 6)
    """
    if not isinstance(module, nn.Module):
        raise InvalidTypeError(
            f"{_OWNER}: 'module' must be a torch.nn.Module; got {type(module).__name__}.")
    if not isinstance(recipes, Mapping):
        raise InvalidTypeError(
            f"{_OWNER}: 'recipes' must be a mapping {{layer name: PFARecipe}} as returned by "
            f"PFA.get_recipe(); got {type(recipes).__name__}.")
    pairs = dict(pairs or {})
    modules = dict(module.named_modules())
    for name in [*recipes, *pairs]:
        if name not in modules or name == "":
            raise DeepViewException(
                f"{_OWNER}: '{name}' is not a layer of {type(module).__name__}; recipe keys "
                f"must be names from named_modules(), e.g. {sorted(n for n in modules if n)[:10]}.")
    graph: fx.Graph | None = None
    found: dict[str, blocks.Plan] = {}
    if any(key not in pairs for key in recipes):
        try:
            graph = blocks.trace(module)
        except DeepViewException:
            if not calibration:
                raise
            found = blocks.plans_from_run(module, calibration[0])
    plans: list[blocks.Plan] = []
    for key, recipe in recipes.items():
        if key in pairs:
            plan = blocks.plan_from_pairs(key, pairs[key], modules)
        elif graph is not None:
            plan = blocks.plan_from_graph(key, graph, modules)
        else:
            match = [p for p in found.values() if key == p.producer or key in p.chain]
            if not match:
                raise blocks.unsupported(key, modules[key], "running the network found no "
                                         "Linear/Conv -> element-wise ops -> Linear/Conv chain "
                                         "through it")
            plan = dataclasses.replace(match[0], key=key)
        _attach_recipe(plan, recipe, modules)
        plans.append(plan)
    producers = [p.producer for p in plans]
    dupes = sorted({p for p in producers if producers.count(p) > 1})
    if dupes:
        raise InvalidParameterError(
            f"{_OWNER}: several recipes resolve to the same layer(s) {dupes} (e.g. 'conv1' and "
            "'relu1'); give one recipe per layer.")
    new = copy.deepcopy(module)
    if calibration is not None:
        refit_blocks(module, new, plans, calibration, lambda plan, _stats: plan.keep)
        return new
    new_modules = dict(new.named_modules())
    for plan in plans:
        if fold_duplicates:
            blocks.find_folds(plan, modules)
        with torch.no_grad():
            blocks.cut(plan, new_modules)
        logger.info("%s: %s keeps %d of %d units (%d folded into %s)", _OWNER, plan.producer,
                    len(plan.keep), len(plan.keep) + len(plan.removed), len(plan.folds),
                    plan.consumer)
    return new


def _attach_recipe(plan: blocks.Plan, recipe: Any, modules: Mapping[str, Any]) -> None:
    try:
        original = int(recipe.original_output_count)
        removed_raw = list(recipe.maximally_correlated_units)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidTypeError(
            f"{_OWNER}: recipe for '{plan.key}' must be a PFARecipe (with "
            f"original_output_count and maximally_correlated_units); got {recipe!r}.") from exc
    units = blocks.units_of(modules[plan.producer])
    if original != units:
        raise InvalidDataError(
            f"{_OWNER}: recipe for '{plan.key}' is for {original} units but layer "
            f"'{plan.producer}' has {units}; compute the recipe on this network's responses.")
    try:
        removed = np.unique(np.asarray(removed_raw, dtype=np.int64))
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(
            f"{_OWNER}: recipe for '{plan.key}' has non-integer unit indices {removed_raw[:10]}."
        ) from exc
    if removed.size and (removed.min() < 0 or removed.max() >= units):
        raise InvalidDataError(
            f"{_OWNER}: recipe for '{plan.key}' removes unit indices outside 0..{units - 1}: "
            f"{[int(i) for i in removed if i < 0 or i >= units][:10]}.")
    keep = np.setdiff1d(np.arange(units), removed)
    if keep.size == 0:
        raise InvalidDataError(
            f"{_OWNER}: recipe for '{plan.key}' removes all {units} units of "
            f"'{plan.producer}'; keep at least one.")
    plan.keep, plan.removed = keep, removed
