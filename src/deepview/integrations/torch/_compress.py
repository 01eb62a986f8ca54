"""Make a network smaller without retraining: :func:`compress` (the method: docs/compress.md)."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from deepview._progress import progress_disabled
from deepview._validation import check_choice, check_float
from deepview.exceptions import DeepViewException, InvalidParameterError, InvalidTypeError
from deepview.integrations.torch import _blocks as blocks

__all__ = ["CompressedLayer", "Compression", "compress"]

logger = logging.getLogger(__name__)

_OWNER = "compress"
SELECTIONS = ("pfa", "magnitude", "random")  # the last two are baselines
_WIDTH_KEYS = ("intermediate_size", "n_inner", "ffn_dim", "d_ff", "hidden_dim")
# ridges of the unit choice and of the refit, relative to the mean variance of the inputs
_RIDGE, _RIDGE_FIT = 1e-4, 1e-6


@dataclasses.dataclass(frozen=True)
class CompressedLayer:
    """What :func:`compress` did to one block.

    Attributes
    ----------
    producer, consumer : str
        The layer that lost units and the layer reading them.
    units, kept : int
        Units of ``producer`` before and after.
    error : float
        Relative error of the consumer's output, ``E|y - y'|² / E|y - E y|²`` (0: unchanged).
    """

    producer: str
    consumer: str
    units: int
    kept: int
    error: float


@dataclasses.dataclass(frozen=True)
class Compression:
    """Result of :func:`compress`: the smaller network and a :class:`CompressedLayer` per block."""

    module: nn.Module
    layers: tuple[CompressedLayer, ...]


def compress(module: nn.Module, calibration: Sequence[Any], *, keep: float | None = None,
             strategy: Any = None, same_width: bool = False, selection: str = "pfa",
             refit: bool = True, pairs: Mapping[str, Sequence[str]] | None = None,
             seed: int = 0) -> Compression:
    """Return a smaller copy of ``module`` whose outputs stay close to the original's.

    Parameters
    ----------
    module : torch.nn.Module
        The trained network (left unchanged).
    calibration : sequence of model inputs
        A list of batches: tensors, tuples of arguments or keyword mappings (a tokenizer's).
    keep : float, optional
        Share of each block's units to keep, in (0, 1]; default 0.75 without ``strategy``.
    strategy : PFAStrategyType, optional
        A PFA strategy (``PFA.Strategy.Energy(0.99)``) deciding each block's count instead.
    same_width : bool, default=False
        Keep the same number of units in every block (a transformer: its MLPs only).
    selection : {"pfa", "magnitude", "random"}, default="pfa"
        Backward elimination, or the baselines: largest weight norms, a random draw.
    refit : bool, default=True
        Refit the consumer's weights and bias by least squares (else just cut).
    pairs : Mapping[str, Sequence[str]], optional
        Blocks ``{producer: [modules in between..., consumer]}``; default all found.
    seed : int, default=0
        Seed of ``selection="random"``.

    Raises
    ------
    InvalidParameterError
        Bad ``keep`` / ``selection``, both ``keep`` and ``strategy``, no block to compress.
    """
    if not isinstance(module, nn.Module):
        raise InvalidTypeError(
            f"{_OWNER}: 'module' must be a torch.nn.Module; got {type(module).__name__}.")
    if isinstance(calibration, (str, bytes)) or not isinstance(calibration, Sequence) \
            or not calibration:
        raise InvalidParameterError(
            f"{_OWNER}: 'calibration' must be a non-empty list of model inputs (batches); got "
            f"{type(calibration).__name__}. Pass list(batches).")
    if keep is not None and strategy is not None:
        raise InvalidParameterError(
            f"{_OWNER}: give 'keep' (a share of the units) or 'strategy' (a PFA strategy), "
            "not both.")
    if keep is None and strategy is None:
        keep = 0.75
    if keep is not None:
        keep = check_float(keep, name="keep", owner=_OWNER, min_value=0.0, max_value=1.0,
                           min_inclusive=False)
    selection = check_choice(selection, name="selection", owner=_OWNER, choices=SELECTIONS)
    with blocks.eval_mode(module):
        plans = find_blocks(module, calibration[0], pairs=pairs)
        width_key, plans = _configured_width(module, plans) if same_width else (None, plans)
        counts = _counts(module, plans, calibration, keep, strategy, same_width)
    new = copy.deepcopy(module)
    if width_key is not None:  # e.g. config.intermediate_size: the model loads as before
        setattr(new.config, width_key, max(counts.values()))

    def choose(plan: blocks.Plan, stats: _Stats | None) -> np.ndarray:
        return _select(plan, stats, counts[plan.producer], module, selection, seed)

    layers = refit_blocks(module, new, plans, calibration, choose, refit=refit,
                          measure=refit or selection == "pfa")
    return Compression(new, tuple(layers))


def find_blocks(module: nn.Module, example: Any, *,
                pairs: Mapping[str, Sequence[str]] | None = None) -> list[blocks.Plan]:
    """Every block that can lose units (or those of ``pairs``), in forward order: from the
    torch.fx graph, or by running ``example`` where the network cannot be traced."""
    modules = dict(module.named_modules())
    order = blocks.leaf_order(module, example)
    if pairs:
        plans = {key: blocks.plan_from_pairs(key, chain, modules) for key, chain in pairs.items()}
    else:
        try:
            graph = blocks.trace(module)
        except DeepViewException:  # untraceable (e.g. transformers): run it instead
            plans = blocks.plans_from_run(module, example)
        else:
            plans = {}
            for name in (n for n in order if blocks.is_producer(modules[n])):
                with contextlib.suppress(DeepViewException):
                    plans[name] = blocks.plan_from_graph(name, graph, modules)
    found = sorted(plans.values(), key=lambda p: order.get(p.producer, len(order)))
    if not found:
        raise InvalidParameterError(
            f"{_OWNER}: {type(module).__name__} has no Linear/Conv layer feeding another "
            "through element-wise ops only (no branch), so no units can be removed; name the "
            "blocks with pairs={'fc1': ['act', 'fc2']}.")
    return found


def _configured_width(module: nn.Module, plans: list[blocks.Plan]
                      ) -> tuple[str | None, list[blocks.Plan]]:
    """The configuration attribute holding a transformer's MLP width, and its MLP blocks."""
    config = getattr(module, "config", None)
    keys = [k for k in _WIDTH_KEYS if hasattr(config, k)]
    if not keys:
        return None, plans
    width = next((getattr(config, k) for k in keys if getattr(config, k)), None) or \
        4 * int(getattr(config, "n_embd", 0) or 0)  # GPT-2: n_inner=None means 4 x n_embd
    modules = dict(module.named_modules())
    mlps = [p for p in plans if blocks.units_of(modules[p.producer]) == width]
    if not mlps:
        raise InvalidParameterError(
            f"{_OWNER}: found no block of the width {width} that {type(module).__name__}'s "
            f"configuration records ({keys[0]}); pass same_width=False.")
    return next(k for k in keys if getattr(config, k) in (width, None)), mlps


# ---------------------------------------------------------------------- statistics
class _Moments:
    """Streaming mean and covariance of row batches on their device, summed in float64."""

    def __init__(self) -> None:
        self.n = 0
        self.shift: torch.Tensor | None = None
        self.sums = self.products = torch.zeros(0)

    def update(self, x: torch.Tensor) -> None:
        if self.shift is None:
            self.shift = x.mean(dim=0)
            self.sums = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
            self.products = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64,
                                        device=x.device)
        x = x - self.shift
        self.n += len(x)
        self.sums += x.sum(dim=0, dtype=torch.float64)
        self.products += (x.T @ x).double()

    def finish(self, width: int) -> _Stats:
        if self.shift is None or self.n == 0:
            raise DeepViewException(f"{_OWNER}: the calibration inputs gave no rows.")
        mean = self.sums / self.n
        cov = (self.products / self.n - torch.outer(mean, mean)).cpu().numpy()
        if not np.isfinite(cov).all():
            raise DeepViewException(
                f"{_OWNER}: the responses contain NaN or inf; check the calibration inputs.")
        return _Stats((mean + self.shift.double()).cpu().numpy(), (cov + cov.T) / 2, width)


@dataclasses.dataclass
class _Stats:
    """Mean and covariance of ``[consumer input z, original consumer output y]`` rows."""

    mean: np.ndarray
    cov: np.ndarray
    width: int  # columns of z

    def parts(self, centered: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(S_zz, S_zy, S_yy)``: covariances, or second moments when not ``centered``."""
        cov = self.cov if centered else self.cov + np.outer(self.mean, self.mean)
        w = self.width
        return cov[:w, :w], cov[:w, w:], cov[w:, w:]


def _rows_of(t: torch.Tensor, consumer: Any, mask: Any, unfold: bool) -> torch.Tensor:
    """``(rows, features)``: per real token / position; a conv's input unfolded to patches."""
    if isinstance(consumer, blocks.CONVS):
        if not unfold:
            return t.movedim(1, -1).reshape(-1, t.shape[1])
        if isinstance(consumer, nn.Conv3d) or consumer.padding_mode != "zeros" or \
                isinstance(consumer.padding, str) and consumer.padding != "valid":
            raise DeepViewException(
                f"{_OWNER}: cannot refit {consumer}: only Conv1d/Conv2d with zero padding "
                "given as numbers; pass refit=False, or leave this block out (pairs=...).")
        pad = (0,) * (t.ndim - 2) if isinstance(consumer.padding, str) else consumer.padding
        extra: tuple[int, ...] = (1,) if t.ndim == 3 else ()  # Conv1d: a Conv2d of width 1
        t = t.unsqueeze(-1) if extra else t
        patches = F.unfold(t, consumer.kernel_size + extra, dilation=consumer.dilation + extra,
                           padding=tuple(pad) + (0,) * len(extra),
                           stride=consumer.stride + extra)
        return patches.transpose(1, 2).reshape(-1, patches.shape[1])
    if mask is not None and t.ndim == 3 and tuple(t.shape[:2]) == tuple(mask.shape):
        return t[mask.bool()]
    return t.reshape(-1, t.shape[-1])


def _capture(original: nn.Module, current: nn.Module, plans: Sequence[blocks.Plan], batch: Any
             ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per plan, the rows of ``z`` (consumer input in ``current``) and ``y`` (consumer
    output in ``original``) of one batch."""
    mask = batch.get("attention_mask") if isinstance(batch, Mapping) else None
    got: dict[tuple[str, str], torch.Tensor] = {}
    residual: dict[tuple[str, str], torch.Tensor] = {}

    def keep(part: str, plan: blocks.Plan, t: Any, consumer: Any, need: int) -> None:
        got[part, plan.producer] = _rows_of(t, consumer, mask, part == "z").float()
        if len(got) == need:
            raise blocks.StopForward

    def remember(key: tuple[str, str], args: tuple[Any, ...]) -> None:
        if len(args) > 1 and isinstance(args[1], torch.Tensor):
            residual[key] = args[1]

    runs = [(current, ("z", "y"))] if current is original else \
        [(current, ("z",)), (original, ("y",))]
    for model, parts in runs:
        need = len(got) + len(plans) * len(parts)
        handles = []
        modules = dict(model.named_modules())
        for plan in plans:
            consumer = modules[plan.consumer]
            parent = modules[plan.consumer.rpartition(".")[0]]
            if current is not original and parent is not model:
                handles.append(parent.register_forward_pre_hook(
                    lambda _m, a, key=(parts[0], plan.producer): remember(key, a)))
            if "z" in parts:
                handles.append(consumer.register_forward_pre_hook(
                    lambda _m, a, p=plan, c=consumer, n=need: keep("z", p, a[0], c, n)))
            if "y" in parts:
                handles.append(consumer.register_forward_hook(
                    lambda _m, _a, o, p=plan, c=consumer, n=need: keep("y", p, o, c, n)))
        try:
            with contextlib.suppress(blocks.StopForward), torch.inference_mode():
                blocks.call_module(model, batch)
        finally:
            for handle in handles:
                handle.remove()
    out = {}
    for plan in plans:
        z, y = got["z", plan.producer], got["y", plan.producer]
        r_z, r_y = residual.get(("z", plan.producer)), residual.get(("y", plan.producer))
        if r_z is not None and r_y is not None and r_z.shape == r_y.shape:
            # a residual input added to the output (BERT's BertOutput): make up for its change
            r = _rows_of(r_y - r_z, dict(original.named_modules())[plan.consumer], mask,
                         False).float()
            y = y + r if r.shape == y.shape else y
        if len(z) != len(y):
            raise DeepViewException(
                f"{_OWNER}: '{plan.consumer}' sees {len(z)} rows but outputs {len(y)}; "
                "its input and output positions do not match, so it cannot be refitted.")
        out[plan.producer] = (z, y)
    return out


def _moments(original: nn.Module, current: nn.Module, plans: Sequence[blocks.Plan],
             calibration: Sequence[Any], desc: str) -> dict[str, _Stats]:
    """One pass over ``calibration``: ``z`` from ``current``, ``y`` from ``original``."""
    moments = {p.producer: _Moments() for p in plans}
    for batch in tqdm(calibration, desc=desc, unit="batch", disable=progress_disabled()):
        for name, (z, y) in _capture(original, current, plans, batch).items():
            moments[name].update(torch.cat([z, y], dim=1))
    modules = dict(current.named_modules())
    widths = {p.producer: int(blocks.weight_rows(modules[p.consumer]).shape[1]) for p in plans}
    return {name: moments[name].finish(width) for name, width in widths.items()}


# ---------------------------------------------------------------------- choosing units
def _counts(module: nn.Module, plans: Sequence[blocks.Plan], calibration: Sequence[Any],
            keep: float | None, strategy: Any, same_width: bool) -> dict[str, int]:
    """Units to keep per block: ``keep`` of each, or what the PFA strategy recommends."""
    modules = dict(module.named_modules())
    units = {p.producer: blocks.units_of(modules[p.producer]) for p in plans}
    if strategy is None:
        assert keep is not None
        counts = {name: max(1, int(round(keep * n))) for name, n in units.items()}
    else:
        stats = _moments(module, module, plans, calibration, "compress: PFA covariances")
        covariances = {}
        for plan in plans:
            s_zz = stats[plan.producer].parts(centered=True)[0]
            n, g = units[plan.producer], plan.factor
            covariances[plan.producer] = _pfa_covariance(
                np.einsum("iaja->ij", s_zz.reshape(n, g, n, g)) / g)
        recipes = strategy(covariances)
        counts = {name: int(recipes[name].recommended_output_count) for name in units}
    if same_width:
        counts = dict.fromkeys(counts, max(counts.values()))
    return counts


def _pfa_covariance(cov: np.ndarray, epsilon_inactive: float = 1e-8) -> Any:
    """What a PFA strategy reads of a layer (the fields of ``PFACovariancesResult``)."""
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1]
    var = np.abs(np.diag(cov))
    inactive = np.flatnonzero((var < epsilon_inactive * var.max()) | (var == 0.0))
    return types.SimpleNamespace(
        covariances=cov, eigenvalues=np.clip(values[order], 0.0, None),
        eigenvectors=vectors[:, order], original_output_count=len(cov),
        inactive_units=inactive)


def _select(plan: blocks.Plan, stats: _Stats | None, count: int, module: nn.Module, how: str,
            seed: int) -> np.ndarray:
    modules = dict(module.named_modules())
    n = blocks.units_of(modules[plan.producer])
    count = min(max(count, 1), n)
    if how == "random":
        return np.sort(np.random.default_rng(seed).choice(n, count, replace=False))
    if how == "magnitude":
        out_norm = blocks.weight_rows(modules[plan.producer]).float().norm(dim=1)
        in_norm = blocks.weight_rows(modules[plan.consumer]).float().reshape(-1, n, plan.factor)
        score = (out_norm * in_norm.norm(dim=(0, 2))).cpu().numpy()
        return np.sort(np.argsort(-score, kind="stable")[:count])
    assert stats is not None
    consumer = modules[plan.consumer]
    s_zz, s_zy, _ = stats.parts(centered=getattr(consumer, "bias", None) is not None)
    return _backward_elimination(s_zz, s_zy, count, plan.factor)


def _backward_elimination(s_zz: np.ndarray, s_zy: np.ndarray, count: int, group: int) -> np.ndarray:
    """Units (groups of ``group`` columns of ``z``) to keep, removing one at a time the unit
    that raises the least-squares error of ``y`` least: ``tr(A_j P_jj⁻¹ A_jᵀ)``."""
    width = s_zz.shape[0]
    n = width // group
    ridge = _RIDGE * max(float(np.trace(s_zz)) / width, 1e-30)
    p = np.linalg.inv(s_zz + ridge * np.eye(width))
    a = s_zy.T @ p
    idx = np.arange(width).reshape(n, group)
    alive = np.ones(n, dtype=bool)
    for _ in range(n - count):
        diag = p[idx[:, :, None], idx[:, None, :]]
        a_g = a[:, idx].transpose(1, 2, 0)
        if group == 1:
            cost = (a_g[:, 0] ** 2).sum(axis=1) / diag[:, 0, 0]
        else:
            cost = (np.linalg.solve(diag, a_g) * a_g).sum(axis=(1, 2))
        cost[~alive] = np.inf
        j = int(np.argmin(cost))
        cols = idx[j]
        k = np.linalg.solve(p[np.ix_(cols, cols)], p[cols])
        a -= a[:, cols] @ k
        p -= p[:, cols] @ k
        p[cols, :] = 0.0
        p[:, cols] = 0.0
        p[cols, cols] = 1.0
        a[:, cols] = 0.0
        alive[j] = False
    return np.flatnonzero(alive)


# ---------------------------------------------------------------------- refitting
def _fit(plan: blocks.Plan, stats: _Stats, consumer: Any, refit: bool
         ) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """The consumer's weights for the kept columns and bias, and the relative error."""
    cols = (plan.keep[:, None] * plan.factor + np.arange(plan.factor)).reshape(-1)
    has_bias = getattr(consumer, "bias", None) is not None
    s_zz, s_zy, s_yy = stats.parts(centered=True)
    m_z, m_y = stats.mean[:stats.width][cols], stats.mean[stats.width:]
    if refit:
        r_zz, r_zy, _ = stats.parts(centered=has_bias)
        sub = r_zz[np.ix_(cols, cols)]
        ridge = _RIDGE_FIT * max(float(np.trace(sub)) / len(cols), 1e-30)
        w = np.linalg.solve(sub + ridge * np.eye(len(cols)), r_zy[cols]).T
        b = m_y - w @ m_z if has_bias else np.zeros(len(m_y))
    else:
        w = blocks.weight_rows(consumer).double().cpu().numpy()[:, cols]
        b = consumer.bias.detach().double().cpu().numpy() if has_bias else np.zeros(len(m_y))
    s = s_zz[np.ix_(cols, cols)]
    total = float(np.trace(s_yy))
    err = total - 2 * float(np.sum(w * s_zy[cols].T)) + float(np.sum((w @ s) * w))
    err += float(np.sum((m_y - w @ m_z - b) ** 2))
    weight = torch.as_tensor(w, dtype=torch.float32)
    bias = torch.as_tensor(b, dtype=torch.float32) if has_bias else None
    return weight, bias, max(err, 0.0) / max(total, 1e-30)


def refit_blocks(original: nn.Module, new: nn.Module, plans: Sequence[blocks.Plan],
                 calibration: Sequence[Any],
                 choose: Callable[[blocks.Plan, _Stats | None], np.ndarray], *, refit: bool = True,
                 measure: bool = True) -> list[CompressedLayer]:
    """Cut the blocks of ``new`` (a copy of ``original``) in forward order, calibrated on
    ``new`` against ``original``; ``choose`` returns the units to keep."""
    order = blocks.leaf_order(original, calibration[0])
    plans = sorted(plans, key=lambda p: order.get(p.producer, len(order)))
    layers = []
    new_modules = dict(new.named_modules())
    with blocks.eval_mode(original), blocks.eval_mode(new):
        for i, plan in enumerate(plans):
            stats = _moments(original, new, [plan], calibration,
                             f"compress: block {i + 1}/{len(plans)}")[plan.producer] \
                if refit or measure else None
            plan.keep = np.asarray(choose(plan, stats), dtype=np.int64)
            consumer = new_modules[plan.consumer]
            weight, bias, error = _fit(plan, stats, consumer, refit) if stats is not None else \
                (None, None, float("nan"))
            units = blocks.units_of(new_modules[plan.producer])
            with torch.no_grad():
                blocks.cut(plan, new_modules, (weight, bias) if weight is not None else None)
            layers.append(
                CompressedLayer(plan.producer, plan.consumer, units, len(plan.keep), error))
            logger.info("%s: %s keeps %d of %d units; relative error of %s: %.4f", _OWNER,
                        plan.producer, len(plan.keep), units, plan.consumer, error)
    return layers
