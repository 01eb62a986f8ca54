"""Tables (pandas) and charts (matplotlib) of PFA recipes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from deepview._optional import require
from deepview.exceptions import InvalidParameterError, InvalidTypeError
from deepview.introspectors._pfa._recipe import PFAEnergyDiagnostics, PFAKLDiagnostics, PFARecipe

COLUMNS: tuple[str, ...] = ("layer name", "original count", "recommended count", "units to keep",
                            "KL divergence", "PFA strategy", "units ratio", "kept energy")

_OWNER = "PFA.show"


def normalize_recipes(recipe_result: Any) -> list[Mapping[str, PFARecipe]]:
    """One mapping or a collection of mappings -> non-empty list of validated mappings."""
    if isinstance(recipe_result, Mapping):
        many = [recipe_result]
    elif isinstance(recipe_result, (str, bytes)) or not hasattr(recipe_result, "__iter__"):
        raise InvalidTypeError(f"{_OWNER}: 'recipe_result' must be the mapping returned by "
                               "pfa.get_recipe() or a collection of them; got "
                               f"{type(recipe_result).__name__}.")
    else:
        many = list(recipe_result)
    if not many:
        raise InvalidParameterError(f"{_OWNER}: 'recipe_result' is empty; pass the output of "
                                    "pfa.get_recipe().")
    for item in many:
        if not isinstance(item, Mapping):
            raise InvalidTypeError(f"{_OWNER}: every element of 'recipe_result' must be a mapping "
                                   "of layer name to PFARecipe (the output of pfa.get_recipe()); "
                                   f"got {type(item).__name__}.")
        if not item:
            raise InvalidParameterError(f"{_OWNER}: 'recipe_result' contains an empty mapping; PFA "
                                        "had no layer to analyse (see pfa.failed_responses).")
        for name, recipe in item.items():
            if not isinstance(recipe, PFARecipe):
                raise InvalidTypeError(f"{_OWNER}: layer '{name}' maps to {type(recipe).__name__}, "
                                       "not a PFARecipe; pass the output of pfa.get_recipe().")
    return many


def _row(name: str, recipe: PFARecipe) -> dict[str, Any]:
    diag = recipe.diagnostics
    row: dict[str, Any] = dict.fromkeys(COLUMNS, "N/A")
    row.update({"layer name": name, "original count": recipe.original_output_count,
                "recommended count": recipe.recommended_output_count,
                "units to keep": set(recipe.units_to_keep)})
    if isinstance(diag, PFAKLDiagnostics):
        row.update({"KL divergence": diag.kl_divergence, "PFA strategy": "PFA KL",
                    "units ratio": diag.units_ratio})
    elif isinstance(diag, PFAEnergyDiagnostics):
        row.update({"PFA strategy": "PFA Energy", "kept energy": diag.total_kept_energy})
    return row


def _select_columns(include_columns: Sequence[str] | None,
                    exclude_columns: Sequence[str] | None) -> list[str]:
    for arg, value in (("include_columns", include_columns), ("exclude_columns", exclude_columns)):
        if value is None:
            continue
        if isinstance(value, str):
            raise InvalidTypeError(f"{_OWNER}: '{arg}' must be a sequence of column names, not a "
                                   f"string; got {value!r}. Wrap it in a list: [{value!r}].")
        unknown = [c for c in value if c not in COLUMNS]
        if unknown:
            raise InvalidParameterError(f"{_OWNER}: '{arg}' has unknown column(s) {unknown}; "
                                        f"options are {list(COLUMNS)}.")
    columns = list(include_columns) if include_columns else list(COLUMNS)
    if exclude_columns:
        columns = [c for c in columns if c not in set(exclude_columns)]
    if not columns:
        raise InvalidParameterError(f"{_OWNER}: no columns left after "
                                    f"include_columns={include_columns!r} and "
                                    f"exclude_columns={exclude_columns!r}; exclude fewer columns.")
    return columns


def show_table(many: list[Mapping[str, PFARecipe]], include_columns: Sequence[str] | None,
               exclude_columns: Sequence[str] | None) -> Any:
    columns = _select_columns(include_columns, exclude_columns)
    pd = require("pandas", feature="PFA.show(vis_type='table')", extra="notebook")
    rows = [_row(name, recipe) for recipes in many for name, recipe in recipes.items()]
    return pd.DataFrame(rows, columns=list(COLUMNS))[columns].reset_index(drop=True)


def _label(index: int, recipes: Mapping[str, PFARecipe]) -> str:
    kinds = {type(r.diagnostics) for r in recipes.values()}
    names = {PFAKLDiagnostics: " (KL)", PFAEnergyDiagnostics: " (Energy)"}
    kind = names.get(kinds.pop(), "") if len(kinds) == 1 else ""
    return f"recommended {index + 1}{kind}" if index >= 0 else "recommended"


def show_chart(many: list[Mapping[str, PFARecipe]]) -> Any:
    """One ``Axes`` of grouped bars per layer: original count and each recipe's
    recommended count (a pyplot figure, so Jupyter shows it)."""
    plt = require("matplotlib.pyplot", feature="PFA.show(vis_type='chart')", extra="notebook")
    original: dict[str, int] = {}
    for recipes in many:
        for name, recipe in recipes.items():
            original.setdefault(name, recipe.original_output_count)
    layers = list(original)
    groups = len(many) + 1
    width = 0.8 / groups
    fig, ax = plt.subplots(figsize=(min(max(6.0, 0.35 * len(layers) * groups + 2), 20.0), 4.8))
    xs = list(range(len(layers)))
    ax.bar([x - 0.4 + width / 2 for x in xs], [original[n] for n in layers], width,
           label="original", color="0.6")
    for i, recipes in enumerate(many):
        offset = -0.4 + width * (i + 1.5)
        values = [recipes[n].recommended_output_count if n in recipes else 0 for n in layers]
        ax.bar([x + offset for x in xs], values, width,
               label=_label(i if len(many) > 1 else -1, recipes))
    tilted = len(layers) > 4
    ax.set_xticks(xs, layers, rotation=45 if tilted else 0, ha="right" if tilted else "center")
    ax.set(xlabel="layer name", ylabel="number of units",
           title="PFA: original vs. recommended unit counts")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return ax
