"""The blocks of a torch network that can lose units (``Linear/Conv -> [norm, element-wise
ops, pooling, Flatten] -> Linear/Conv``), how to find them and cut units out of them."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import fx, nn

from deepview.exceptions import DeepViewException, InvalidTypeError

__all__ = ["CONVS", "NORMS", "Plan", "StopForward", "call_module", "cut", "eval_mode",
           "find_folds", "is_conv1d", "is_producer", "leaf_order", "plan_from_graph",
           "plan_from_pairs", "plans_from_run", "probe_module", "run_hooked", "set_sizes",
           "set_tensor", "trace", "units_of", "unsupported", "weight_rows"]

_OWNER = "apply_pfa_recipe"
_FOLD_RTOL = 1e-5
_BETWEEN = ("norm", "homogeneous", "elementwise")  # may sit between producer and consumer

CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class StopForward(Exception):
    """Raised from a forward hook to end the forward pass once what it needs has run."""


def is_conv1d(m: Any) -> bool:
    """transformers' ``Conv1D`` (GPT-2): a Linear whose weight is stored ``(in, out)``."""
    return type(m).__name__ == "Conv1D" and hasattr(m, "nf") and getattr(m, "weight", None) \
        is not None and m.weight.ndim == 2


def is_producer(m: Any) -> bool:
    """Layers whose output units can be removed and whose input units can be sliced."""
    return isinstance(m, (nn.Linear, *CONVS)) or is_conv1d(m)


def _probe(f: Any, shape: tuple[int, ...]) -> str:
    """What ``f`` does to the channels (axis 1) of a tensor of ``shape``: ``"elementwise"``
    (output channel ``c`` depends only on input channel ``c``, alike for all), also
    ``"homogeneous"`` if ``f(a x) = a f(x)`` for ``a > 0`` (ReLU, pooling), or ``"other"``."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen)
    perm = torch.randperm(shape[1], generator=gen)
    bump = x.clone()
    bump[:, 0] += torch.randn(bump[:, 0].shape, generator=gen)

    def close(a: Any, b: torch.Tensor) -> bool:
        return isinstance(a, torch.Tensor) and a.shape == b.shape and \
            torch.allclose(a, b, rtol=1e-4, atol=1e-5)

    try:
        with torch.no_grad():
            y = f(x)
            if not isinstance(y, torch.Tensor) or y.shape[:2] != x.shape[:2] or \
                    not close(f(x[:, perm]), y[:, perm]) or not close(f(bump)[:, 1:], y[:, 1:]):
                return "other"
            homogeneous = close(f(2.5 * x), 2.5 * y) and close(f(0.4 * x), 0.4 * y)
    except Exception:  # noqa: BLE001 - whatever fails the probe is not element-wise
        return "other"
    return "homogeneous" if homogeneous else "elementwise"


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in eval mode within the block; its train flag is restored after."""
    training = module.training
    try:
        yield module.eval()
    finally:
        module.train(training)


def probe_module(m: nn.Module, shape: tuple[int, ...]) -> str:
    with eval_mode(m):  # dropout is the identity in eval mode, as in the compressed network's use
        return _probe(m, shape)


def _probe_shape(producer: Any) -> tuple[int, ...]:
    """A probe input for the output of ``producer``: (samples, units[, spatial...])."""
    if isinstance(producer, CONVS):
        return (2, units_of(producer), *(10,) * (producer.weight.ndim - 2))
    return (4, units_of(producer))


@dataclasses.dataclass
class Plan:
    """What to cut for one block."""

    key: str
    producer: str
    consumer: str = ""
    chain: list[str] = dataclasses.field(default_factory=list)  # modules in between
    keep: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0, int))
    removed: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0, int))
    factor: int = 1  # consumer weight columns per unit (H*W after Flatten, kernel size, 1)
    fold: bool = True  # chain lets duplicates be folded
    unit_scale_only: bool = False  # chain has non-homogeneous ops: fold only scale 1
    fold_norm: str | None = None  # BatchNorm applied right after the producer
    folds: list[tuple[int, int, float]] = dataclasses.field(default_factory=list)


# ---------------------------------------------------------------------- planning
class _LeafTracer(fx.Tracer):
    """Modules without children stay single nodes (probed as a whole, not traced into)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return next(m.children(), None) is None or super().is_leaf_module(m, module_qualified_name)


def trace(module: nn.Module) -> fx.Graph:
    try:
        return _LeafTracer().trace(module)
    except Exception as exc:
        raise DeepViewException(
            f"{_OWNER}: cannot trace {type(module).__name__} with torch.fx ({exc}); give the "
            "consumer of each layer explicitly, e.g. pairs={'conv1': ['bn1', 'conv2']}, or "
            "calibration inputs (the layers are then found by running the network).") from exc


def _kind(m: nn.Module, shape: tuple[int, ...]) -> str:
    if is_producer(m):
        return "producer"
    if isinstance(m, NORMS):
        return "norm"
    if isinstance(m, nn.Flatten):
        return "flatten" if m.start_dim == 1 else "other"
    return probe_module(m, shape)


def unsupported(name: str, m: nn.Module, why: str) -> DeepViewException:
    return DeepViewException(
        f"{_OWNER}: cannot rewrite layer '{name}' ({type(m).__name__}): {why}. Supported: "
        "Linear/Conv -> [BatchNorm, element-wise ops (activations, dropout), pooling, "
        "Flatten] -> Linear/Conv chains without branches.")


def _check_producer(name: str, m: Any, role: str) -> None:
    if not is_producer(m):
        raise unsupported(name, m, f"a {role} must be a Linear or Conv1d/2d/3d layer")
    if isinstance(m, CONVS) and m.groups != 1:
        raise unsupported(name, m, f"grouped convolutions (groups={m.groups}) are not supported")


def units_of(m: Any) -> int:
    if isinstance(m, CONVS):
        return int(m.out_channels)
    return int(m.nf if is_conv1d(m) else m.out_features)


def _inputs(m: Any) -> int:
    if isinstance(m, CONVS):
        return int(m.in_channels)
    return int(m.weight.shape[0] if is_conv1d(m) else m.in_features)


def _walk_chain(plan: Plan, names: Sequence[str], kinds: Sequence[str],
                modules: Mapping[str, Any]) -> None:
    """Record the modules between producer and consumer and the consumer's ``factor``."""
    seen_nonlinear = False
    for name, kind in zip(names, kinds):
        if kind in ("producer", "other"):
            m = modules.get(name, nn.Identity())
            raise unsupported(name, m, f"it sits between '{plan.producer}' and its consumer")
        if name in modules:
            plan.chain.append(name)
        if kind == "norm":
            if seen_nonlinear or plan.fold_norm is not None:
                plan.fold = False  # a norm after a nonlinearity breaks the scale relation
            else:
                plan.fold_norm = name
        elif kind == "elementwise":
            plan.unit_scale_only = True
        seen_nonlinear = seen_nonlinear or kind in ("homogeneous", "elementwise")
    producer, consumer = modules[plan.producer], modules[plan.consumer]
    _check_producer(plan.consumer, consumer, f"consumer of '{plan.producer}'")
    units, inputs = units_of(producer), _inputs(consumer)
    conv_in, conv_out = isinstance(producer, CONVS), isinstance(consumer, CONVS)
    if conv_in and not conv_out:
        if inputs % units:
            raise unsupported(plan.consumer, consumer, f"its {inputs} inputs are not a whole "
                              f"number of maps of the {units} channels of '{plan.producer}'")
        plan.factor = inputs // units
    elif conv_out and not conv_in:
        raise unsupported(plan.consumer, consumer, f"it consumes the Linear '{plan.producer}'")
    elif inputs != units:
        raise unsupported(plan.consumer, consumer, f"it takes {inputs} inputs but "
                          f"'{plan.producer}' has {units} output units")
    if conv_out:
        plan.factor = int(np.prod(consumer.kernel_size))
    for name in plan.chain:
        m = modules[name]
        if isinstance(m, NORMS) and m.num_features != units:
            raise unsupported(name, m, f"it has {m.num_features} features, not {units}")


def plan_from_pairs(key: str, chain: Sequence[str], modules: Mapping[str, Any]) -> Plan:
    _check_producer(key, modules[key], "key of 'pairs'")
    if isinstance(chain, str) or not isinstance(chain, Sequence) or not chain:
        raise InvalidTypeError(
            f"{_OWNER}: pairs['{key}'] must be a non-empty list of module names ending with "
            f"the consumer, e.g. ['bn1', 'conv2']; got {chain!r}.")
    for name in chain:
        if name not in modules or name == "":
            raise DeepViewException(f"{_OWNER}: pairs['{key}'] names unknown layer '{name}'.")
    plan = Plan(key, key, chain[-1])
    shape = _probe_shape(modules[key])
    _walk_chain(plan, chain[:-1], [_kind(modules[n], shape) for n in chain[:-1]], modules)
    return plan


def _node_kind(node: fx.Node, source: fx.Node, modules: Mapping[str, Any],
               shape: tuple[int, ...]) -> str:
    """Kind of graph node ``node`` applied to ``source`` ('other' when unsupported)."""
    if not node.args or node.args[0] is not source:
        return "other"
    if node.op == "call_module":
        return _kind(modules[str(node.target)], shape)
    rest, kwargs, target = node.args[1:], dict(node.kwargs), node.target
    if target in (torch.flatten, "flatten"):
        return "flatten" if (rest[0] if rest else kwargs.get("start_dim", 0)) == 1 else "other"
    if target in ("view", "reshape") and len(rest) == 2 and rest[1] == -1:
        return "flatten"  # x.view(x.size(0), -1)
    others: list[fx.Node] = []
    fx.node.map_arg((rest, kwargs), others.append)
    if others or node.op not in ("call_function", "call_method"):
        return "other"
    if node.op == "call_method":
        return _probe(lambda x: getattr(x, str(target))(*rest, **kwargs), shape)
    return _probe(lambda x: target(x, *rest, **kwargs), shape)  # type: ignore[operator]


def _is_shape_query(node: fx.Node) -> bool:
    """``x.size(0)``, ``x.dim()``, ``x.shape``: uses that only read the shape."""
    if node.op == "call_method":
        return node.target in ("size", "dim")
    return node.op == "call_function" and node.target is getattr and node.args[1:2] == ("shape",)


def _describe(node: fx.Node) -> str:
    if node.op == "call_module":
        return f"layer '{node.target}'"
    if node.op == "output":
        return "the network's output"
    target = getattr(node.target, "__name__", node.target)
    if node.target in (operator.add, torch.add, torch.cat, operator.mul):
        return f"'{target}' (a branch or merge)"
    return f"operation '{target}'"


def plan_from_graph(key: str, graph: fx.Graph, modules: Mapping[str, Any]) -> Plan:
    calls: dict[str, list[fx.Node]] = collections.defaultdict(list)
    for node in graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)].append(node)
    if key not in calls:
        raise unsupported(
            key, modules[key], "it is not a single layer of the traced forward() (a container "
            "or unused module); use the name of a Linear/Conv layer inside it")
    if len(calls[key]) > 1:
        raise unsupported(key, modules[key], f"it is used {len(calls[key])} times in forward()")
    no_producer = unsupported(key, modules[key], "its units do not map one-to-one to the output "
                              "units of a Linear/Conv layer before it; give the producing "
                              "layer's name")
    node, between = calls[key][0], []
    # walk back from a norm/activation key to the layer producing its channels
    while not (node.op == "call_module" and is_producer(modules[str(node.target)])):
        prev = node.args[0] if node.args else None
        if not isinstance(prev, fx.Node):
            raise no_producer
        between.append((node, prev))
        node = prev
    producer = str(node.target)
    _check_producer(producer, modules[producer], f"layer producing '{key}'")
    shape = _probe_shape(modules[producer])
    if any(_node_kind(n, p, modules, shape) not in _BETWEEN for n, p in between):
        raise no_producer
    if len(calls[producer]) > 1:
        raise unsupported(producer, modules[producer], "it is used more than once in forward()")
    plan = Plan(key, producer)
    names, kinds, current = [], [], node
    while not plan.consumer:
        users = [u for u in current.users if not _is_shape_query(u)]
        where = f"'{current.target}'" if current.op == "call_module" else f"'{current.name}'"
        if len(users) != 1:
            raise unsupported(
                producer, modules[producer], f"the output of {where} feeds {len(users)} "
                f"operations ({', '.join(_describe(u) for u in users) or 'none'}); branches "
                "cannot be cut")
        nxt = users[0]
        kind = _node_kind(nxt, current, modules, shape)
        if kind == "other":
            raise unsupported(producer, modules[producer],
                              f"its output reaches {_describe(nxt)}, which cannot be rewritten")
        name = str(nxt.target) if nxt.op == "call_module" else f"<{nxt.name}>"
        if nxt.op == "call_module" and len(calls[name]) > 1 and kind in ("producer", "norm"):
            raise unsupported(name, modules[name], "it is used more than once in forward()")
        if kind == "producer":
            plan.consumer = name
        else:
            names.append(name)
            kinds.append(kind)
            current = nxt
    _walk_chain(plan, names, kinds, modules)
    return plan


def plans_from_run(module: nn.Module, example: Any) -> dict[str, Plan]:
    """Plans of every chain, found by running ``module`` once on ``example``: a chain goes on
    while the next module called takes the previous one's output and no other module does."""
    modules = dict(module.named_modules())
    calls: list[tuple[str, Any, Any]] = []
    run_hooked(module, example,
               lambda name, args, out: calls.append((name, args[0] if args else None, out)))
    count = collections.Counter(name for name, _, _ in calls)
    plans: dict[str, Plan] = {}
    for i, (name, _, out) in enumerate(calls):
        if not is_producer(modules[name]) or count[name] > 1:
            continue
        shape = _probe_shape(modules[name])
        plan = Plan(name, name)
        names, kinds, j = [], [], i
        while True:
            users = [k for k in range(j + 1, len(calls)) if calls[k][1] is out]
            if len(users) != 1 or count[calls[users[0]][0]] > 1:
                break
            j = users[0]
            kind = _kind(modules[calls[j][0]], shape)
            if kind == "producer":
                plan.consumer = calls[j][0]
            if kind not in _BETWEEN:
                break
            names.append(calls[j][0])
            kinds.append(kind)
            out = calls[j][2]
        if plan.consumer:
            try:
                _walk_chain(plan, names, kinds, modules)
            except DeepViewException:
                continue
            plans[name] = plan
    return plans


def call_module(module: nn.Module, batch: Any) -> Any:
    """``module(**batch)`` for a mapping, ``module(*batch)`` for a tuple, else ``module(batch)``."""
    if isinstance(batch, Mapping):
        return module(**batch)
    if isinstance(batch, tuple):
        return module(*batch)
    return module(batch)


def leaf_order(module: nn.Module, batch: Any) -> dict[str, int]:
    """Leaf modules by the order of their first call by ``module`` (in eval mode) on ``batch``."""
    order: dict[str, int] = {}
    run_hooked(module, batch,
               lambda name, _args, _out: order.update({name: order.get(name, len(order))}))
    return order


def run_hooked(module: nn.Module, batch: Any, record: Callable[[str, Any, Any], None], *,
               leaves_only: bool = True) -> Any:
    """``module``'s output on ``batch`` in eval mode (train flag restored), calling
    ``record(name, args, output)`` (returning None) after each named leaf, or each named
    module if not ``leaves_only``."""
    handles = [m.register_forward_hook(
        lambda _m, args, out, name=name: record(name, args, out))
        for name, m in module.named_modules()
        if name and (not leaves_only or next(m.children(), None) is None)]
    try:
        with eval_mode(module), torch.no_grad():
            return call_module(module, batch)
    finally:
        for handle in handles:
            handle.remove()


# ---------------------------------------------------------------------- folding
def _effective_rows(plan: Plan, modules: Mapping[str, Any]) -> np.ndarray | None:
    """Per unit: [weights..., bias] after the BatchNorm that follows the producer."""
    def f64(t: torch.Tensor) -> torch.Tensor:
        return t.detach().double().cpu()

    producer = modules[plan.producer]
    w = f64(weight_rows(producer))
    b = f64(producer.bias) if producer.bias is not None else torch.zeros_like(w[:, 0])
    if plan.fold_norm is not None:
        bn = modules[plan.fold_norm]
        if bn.running_mean is None or bn.running_var is None:
            return None  # normalised with batch statistics: no fixed affine map
        scale = 1.0 / torch.sqrt(f64(bn.running_var) + bn.eps)
        shift = -f64(bn.running_mean) * scale
        if bn.weight is not None:
            scale, shift = scale * f64(bn.weight), shift * f64(bn.weight)
        if bn.bias is not None:
            shift = shift + f64(bn.bias)
        w, b = w * scale[:, None], b * scale + shift
    return torch.cat([w, b[:, None]], dim=1).numpy()


def find_folds(plan: Plan, modules: Mapping[str, Any]) -> None:
    """Record in ``plan.folds`` each removed unit that is a positive multiple of a kept one."""
    rows = _effective_rows(plan, modules) if plan.fold and plan.removed.size else None
    if rows is None:
        return
    removed, kept = rows[plan.removed], rows[plan.keep]
    kept_sq = np.einsum("ij,ij->i", kept, kept)
    removed_sq = np.einsum("ij,ij->i", removed, removed)
    gram = removed @ kept.T
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(kept_sq > 0, gram / kept_sq, 0.0)
        residual = removed_sq[:, None] - np.where(kept_sq > 0, gram**2 / kept_sq, 0.0)
    residual[:, kept_sq == 0] = np.inf
    for i, r in enumerate(plan.removed):
        if removed_sq[i] == 0:
            continue  # constant unit: nothing to fold
        j = int(np.argmin(residual[i]))
        a = float(alpha[i, j])
        if residual[i, j] > (_FOLD_RTOL**2) * removed_sq[i] or a <= 0 or (
                plan.unit_scale_only and abs(a - 1.0) > _FOLD_RTOL):
            continue
        plan.folds.append((int(r), int(plan.keep[j]), a))


# ---------------------------------------------------------------------- cutting
def set_tensor(module: nn.Module, name: str, value: torch.Tensor | None) -> None:
    old = getattr(module, name)
    if value is None or old is None:
        return
    value = value.contiguous()
    if isinstance(old, nn.Parameter):
        value = nn.Parameter(value, requires_grad=old.requires_grad)
    setattr(module, name, value)


def set_sizes(m: Any) -> None:
    """Set the size attributes of a Linear / Conv / BatchNorm / ``Conv1D`` from its weight."""
    shape = [int(s) for s in m.weight.shape]
    if is_conv1d(m):
        m.nx, m.nf = shape
    elif isinstance(m, nn.Linear):
        m.out_features, m.in_features = shape
    elif isinstance(m, CONVS):
        m.out_channels, m.in_channels = shape[0], shape[1] * m.groups
    elif isinstance(m, NORMS):
        m.num_features = shape[0]


def weight_rows(m: Any) -> torch.Tensor:
    """The weights as ``(out, in * kernel size)``; columns ``c * k .. (c + 1) * k``: input ``c``."""
    w = m.weight.detach()
    return w.t() if is_conv1d(m) else w.reshape(w.shape[0], -1)


def cut(plan: Plan, modules: Mapping[str, Any],
        fit: tuple[torch.Tensor, torch.Tensor | None] | None = None) -> None:
    """Cut ``plan`` out of ``modules`` in place; ``fit``: the consumer's refitted weights and
    bias, else removed twins are folded."""
    producer, consumer = modules[plan.producer], modules[plan.consumer]
    keep = torch.as_tensor(plan.keep, device=producer.weight.device)
    f = plan.factor
    cols = (keep[:, None] * f + torch.arange(f, device=keep.device)).reshape(-1)
    if fit is None:
        weight = weight_rows(consumer).clone()
        for r, k, a in plan.folds:
            weight[:, k * f : (k + 1) * f] += a * weight[:, r * f : (r + 1) * f]
        weight, bias = weight[:, cols], None
    else:
        weight, bias = fit
    weight = weight.to(consumer.weight)
    if is_conv1d(consumer):
        weight = weight.t()
    elif isinstance(consumer, CONVS):
        weight = weight.reshape(len(weight), len(keep), *consumer.kernel_size)
    set_tensor(consumer, "weight", weight)
    set_tensor(consumer, "bias", None if bias is None else bias.to(weight))
    set_sizes(consumer)
    for name in plan.chain:
        norm = modules[name]
        if isinstance(norm, NORMS):
            for attr in ("weight", "bias", "running_mean", "running_var"):
                value = getattr(norm, attr)
                set_tensor(norm, attr, None if value is None else value.detach()[keep])
            norm.num_features = int(keep.numel())
    w = producer.weight.detach()
    set_tensor(producer, "weight", w[:, keep] if is_conv1d(producer) else w[keep])
    set_tensor(producer, "bias", None if producer.bias is None else producer.bias.detach()[keep])
    set_sizes(producer)
