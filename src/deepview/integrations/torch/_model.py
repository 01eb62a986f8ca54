"""A :class:`deepview.base.Model` over a ``torch.nn.Module``: layer responses via forward hooks."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import AbstractSet, Any, cast

import numpy as np
import torch
from torch import nn

from deepview._validation import check_choice
from deepview.base import Model, ResponseInfo
from deepview.exceptions import (
    DeepViewException,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
)
from deepview.integrations.torch._blocks import StopForward

__all__ = ["POOLINGS", "TorchModel", "first_tensor", "load_torch_model", "pool_response"]

logger = logging.getLogger(__name__)

_Kind = ResponseInfo.LayerKind

# module type -> layer kind; looked up along the module's MRO (most specific first)
_KINDS: dict[type, ResponseInfo.LayerKind] = {
    nn.Linear: _Kind.LINEAR, nn.Bilinear: _Kind.LINEAR,
    nn.Conv1d: _Kind.CONV_1D, nn.Conv2d: _Kind.CONV_2D, nn.Conv3d: _Kind.CONV_3D,
    nn.ConvTranspose1d: _Kind.CONV_TRANSPOSE_1D, nn.ConvTranspose2d: _Kind.CONV_TRANSPOSE_2D,
    nn.ConvTranspose3d: _Kind.CONV_TRANSPOSE_3D,
    nn.MaxPool1d: _Kind.MAX_POOLING_1D, nn.AdaptiveMaxPool1d: _Kind.MAX_POOLING_1D,
    nn.MaxPool2d: _Kind.MAX_POOLING_2D, nn.AdaptiveMaxPool2d: _Kind.MAX_POOLING_2D,
    nn.MaxPool3d: _Kind.MAX_POOLING_3D, nn.AdaptiveMaxPool3d: _Kind.MAX_POOLING_3D,
    nn.AvgPool1d: _Kind.AVERAGE_POOLING_1D, nn.AdaptiveAvgPool1d: _Kind.AVERAGE_POOLING_1D,
    nn.AvgPool2d: _Kind.AVERAGE_POOLING_2D, nn.AdaptiveAvgPool2d: _Kind.AVERAGE_POOLING_2D,
    nn.AvgPool3d: _Kind.AVERAGE_POOLING_3D, nn.AdaptiveAvgPool3d: _Kind.AVERAGE_POOLING_3D,
    nn.RNN: _Kind.RNN, nn.LSTM: _Kind.LSTM, nn.GRU: _Kind.GRU,
    nn.BatchNorm1d: _Kind.BATCH_NORM, nn.BatchNorm2d: _Kind.BATCH_NORM_2D,
    nn.BatchNorm3d: _Kind.BATCH_NORM_3D, nn.LayerNorm: _Kind.LAYER_NORM,
    nn.Dropout: _Kind.DROPOUT, nn.Dropout1d: _Kind.DROPOUT, nn.AlphaDropout: _Kind.DROPOUT,
    nn.Dropout2d: _Kind.DROPOUT_2D, nn.Dropout3d: _Kind.DROPOUT_3D,
    nn.Sigmoid: _Kind.SIGMOID, nn.Tanh: _Kind.TANH, nn.ReLU: _Kind.RELU, nn.ReLU6: _Kind.RELU6,
    nn.LeakyReLU: _Kind.LEAKY_RELU, nn.PReLU: _Kind.PRELU, nn.ELU: _Kind.ELU,
    nn.Softmax: _Kind.SOFTMAX, nn.MultiheadAttention: _Kind.ATTENTION,
}


def layer_kind(module: nn.Module) -> ResponseInfo.LayerKind:
    """The :class:`~deepview.base.ResponseInfo.LayerKind` of a torch module (UNKNOWN if none)."""
    return next((_KINDS[c] for c in type(module).__mro__ if c in _KINDS), _Kind.UNKNOWN)


POOLINGS = ("mean", "max", "first")


def first_tensor(name: str, output: Any) -> torch.Tensor:
    """The tensor of a layer's output: the output itself, the first item of a tuple (LSTM,
    attention) or the first tensor of a mapping (a transformers ``ModelOutput``)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    tensors = output.values() if isinstance(output, Mapping) else ()
    found = next((v for v in tensors if isinstance(v, torch.Tensor)), None)
    if found is not None:
        return found
    raise DeepViewException(
        f"TorchModel: layer '{name}' returned {type(output).__name__}, not a tensor (or a tuple "
        "or mapping whose first item is a tensor); request another layer, e.g. one of its "
        "submodules.")


def pool_response(value: torch.Tensor, pooling: str, *, mask: torch.Tensor | None = None,
                  token_level: bool = False, name: str = "response") -> torch.Tensor:
    """Pool a response of more than two dimensions to ``(batch, features)``.

    Parameters
    ----------
    value : torch.Tensor
        ``(batch, tokens, features)`` if ``token_level``, else ``(batch, channels, *spatial)``.
    pooling : {"mean", "max", "first"}
        Over the (real) tokens or the spatial positions; ``"first"``: the first token.
    mask : torch.Tensor, optional
        ``(batch, tokens)``, non-zero for real tokens (an ``attention_mask``).
    token_level : bool, default=False
        Whether axis 1 holds the tokens rather than the channels.
    name : str
        The layer, for error messages.
    """
    if value.ndim <= 2:
        return value
    if not token_level:
        if pooling == "first":
            raise InvalidParameterError(
                f"TorchModel: pooling='first' takes the first token, but layer '{name}' has a "
                f"channels-first response {tuple(value.shape)}; use 'mean' or 'max', or set "
                "token_mask= for token-level responses.")
        flat = value.flatten(2)
        return flat.mean(dim=2) if pooling == "mean" else flat.amax(dim=2)
    if pooling == "first":
        return value[:, 0].flatten(1)
    if mask is None:
        return value.mean(dim=1).flatten(1) if pooling == "mean" else value.amax(dim=1).flatten(1)
    if mask.ndim != 2 or mask.shape[0] != value.shape[0] or mask.shape[1] != value.shape[1]:
        raise InvalidDataError(
            f"TorchModel: layer '{name}' has response shape {tuple(value.shape)} but the token "
            f"mask has shape {tuple(mask.shape)}; token pooling needs (batch, tokens, ...) "
            "responses whose token axis matches the mask. Request a token-level layer.")
    weights = mask.to(device=value.device, dtype=value.dtype)
    weights = weights.reshape(*weights.shape, *([1] * (value.ndim - 2)))
    if pooling == "mean":
        total = (value * weights).sum(dim=1)
        return (total / weights.sum(dim=1).clamp(min=1e-9)).flatten(1)
    filled = value.masked_fill(weights == 0, torch.finfo(value.dtype).min)
    return filled.amax(dim=1).flatten(1)


@dataclasses.dataclass(eq=False)
class _TorchModelDetails:
    """The :class:`~deepview.base.ModelDetails` of a torch module (see :class:`TorchModel`)."""

    module: nn.Module
    device: torch.device
    input_names: tuple[str, ...]
    input_shape: tuple[int, ...] | None
    batch_transform: Callable[[Any], Any] | None
    stop_early: bool
    pooling: str | None = None
    token_mask: str | None = None
    token_level: bool = False

    def __post_init__(self) -> None:
        self.input_name = self.input_names[0]
        self.modules: dict[str, nn.Module] = {n: m for n, m in self.module.named_modules() if n}
        if not self.modules:
            raise InvalidParameterError(
                f"TorchModel: module {type(self.module).__name__} has no submodules, so it has no "
                "named layers to read; wrap it, e.g. torch.nn.Sequential(module), and request '0'.")
        params = [p for p in self.module.parameters() if p.is_floating_point()]
        self.float_dtype = params[0].dtype if params else torch.get_default_dtype()
        self._shapes: dict[str, tuple[int | None, ...]] = {}
        self._dtypes: dict[str, np.dtype[Any]] = {}
        self._shapes_probed = False
        # layers seen firing exactly once per forward, so stopping early is safe for them
        self._single_call: set[str] = set()

    def _float_numpy_dtype(self) -> np.dtype[Any]:
        return np.dtype(torch.empty((), dtype=self.float_dtype).numpy().dtype)

    # ------------------------------------------------------------------ ModelDetails
    def get_response_infos(self) -> Iterable[ResponseInfo]:
        if not self._shapes_probed and self.input_shape is not None:
            self._shapes_probed = True
            dummy = np.zeros((1, *self.input_shape), dtype=np.float32)
            try:
                captured, calls = self._forward(self._prepare(dummy), set(self.modules), stop=False)
            except Exception as exc:  # shapes stay unknown; the real error shows on real data
                logger.warning("TorchModel: dummy forward for output shapes failed: %s", exc)
            else:
                for name, value in captured.items():
                    self._shapes[name] = (None, *value.shape[1:])
                    self._dtypes[name] = value.numpy().dtype
                self._single_call.update(n for n, c in calls.items() if c == 1)
        default_dtype = self._float_numpy_dtype()
        for name, sub in self.modules.items():
            layer = ResponseInfo.Layer(name=name, kind=layer_kind(sub), typename=type(sub).__name__)
            yield ResponseInfo(name=name, dtype=self._dtypes.get(name, default_dtype),
                               shape=self._shapes.get(name, (None,)), layer=layer)

    def get_input_layer_responses(self) -> Sequence[ResponseInfo]:
        one = self.input_shape is not None and len(self.input_names) == 1
        shape: tuple[int | None, ...] = (None, *(self.input_shape or ())) if one else (None,)
        return [ResponseInfo(name=name, dtype=self._float_numpy_dtype(), shape=shape,
                             layer=ResponseInfo.Layer(name=name, kind=_Kind.PLACEHOLDER,
                                                      typename="input"))
                for name in self.input_names]

    def run_inference(self, inputs: Mapping[str, np.ndarray],
                      outputs: AbstractSet[str]) -> Mapping[str, np.ndarray]:
        missing_inputs = [name for name in self.input_names if name not in inputs]
        if missing_inputs:
            raise InvalidDataError(
                f"TorchModel: no input named {missing_inputs}; got {sorted(inputs)}. Pass "
                "input_name= to TorchModel or rename the fields.")
        value: Any = {name: inputs[name] for name in self.input_names}
        if len(value) == 1:
            value = inputs[self.input_name]
        return self.responses(self._prepare(value), outputs)

    def check_layers(self, outputs: AbstractSet[str]) -> None:
        """Raise naming the available layers (closest first) if one of ``outputs`` is unknown."""
        unknown = sorted(set(outputs) - set(self.modules))
        if unknown:
            names = list(self.modules)
            close = difflib.get_close_matches(unknown[0], names, n=5, cutoff=0.5)
            listed = names if len(names) <= 60 else names[:60] + [f"... ({len(names)} in all)"]
            hint = f" Did you mean {close}?" if close else ""
            raise DeepViewException(
                f"TorchModel: unknown layer(s) {unknown} in {type(self.module).__name__}.{hint} "
                f"Available layers: {', '.join(listed)}.")

    def responses(self, call: tuple[tuple[Any, ...], dict[str, Any]],
                  outputs: AbstractSet[str]) -> dict[str, np.ndarray]:
        """Run the forward pass on prepared ``(args, kwargs)`` and return ``outputs``."""
        self.check_layers(outputs)
        stop = self.stop_early and set(outputs) <= self._single_call
        captured, calls = self._forward(call, outputs, stop=stop)
        if not stop:
            repeated = sorted(n for n, c in calls.items() if c > 1)
            if repeated:
                raise DeepViewException(
                    f"TorchModel: layer(s) {repeated} ran more than once in one forward pass "
                    "(a module reused in forward(), e.g. one shared nn.ReLU), so their response "
                    "is ambiguous; give each use its own module or request another layer.")
            self._single_call.update(outputs)
        missing = sorted(set(outputs) - set(captured))
        if missing:
            raise DeepViewException(
                f"TorchModel: layer(s) {missing} did not run in the forward pass of "
                f"{type(self.module).__name__}; request layers that forward() uses.")
        result = {name: captured[name].numpy() for name in outputs}
        for name, array in result.items():
            self._shapes.setdefault(name, (None, *array.shape[1:]))
            self._dtypes.setdefault(name, array.dtype)
        return result

    # ------------------------------------------------------------------ helpers
    def _forward(self, call: tuple[tuple[Any, ...], dict[str, Any]], outputs: AbstractSet[str],
                 *, stop: bool) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
        """Run the module once, capturing (CPU copies of) the outputs of ``outputs``."""
        captured: dict[str, torch.Tensor] = {}
        calls: dict[str, int] = dict.fromkeys(outputs, 0)
        args, kwargs = call
        mask = self._mask(args, kwargs) if self.pooling is not None else None

        def hook(name: str, output: Any) -> None:
            calls[name] += 1
            value = first_tensor(name, output).detach()
            if self.pooling is not None:
                value = pool_response(value, self.pooling, mask=mask,
                                      token_level=self.token_level, name=name)
            # copy now: a later in-place op (ReLU(inplace=True)) may overwrite the output
            captured[name] = value.to("cpu", copy=True)
            if stop and len(captured) == len(calls):
                raise StopForward

        handles = [self.modules[name].register_forward_hook(
            lambda _m, _a, output, name=name: hook(name, output)) for name in outputs]
        training = {m: m.training for m in self.module.modules()}
        try:
            with contextlib.suppress(StopForward), torch.inference_mode():
                self.module.eval()(*args, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
            for m, flag in training.items():
                m.training = flag
        return captured, calls

    def _mask(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
        if self.token_mask is None:
            return None
        mask = kwargs.get(self.token_mask)
        if mask is None and len(self.input_names) > 1 and self.token_mask in self.input_names:
            position = self.input_names.index(self.token_mask)
            mask = args[position] if position < len(args) else None
        if not isinstance(mask, torch.Tensor):
            raise InvalidDataError(
                f"TorchModel: token_mask '{self.token_mask}' is not among the model's inputs "
                f"(keyword inputs: {sorted(kwargs)}); the batch_transform must return a dict "
                "holding it (e.g. a tokenizer's 'attention_mask').")
        return mask

    def _prepare(self, value: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)`` of ``forward`` from an input, after ``batch_transform``."""
        if self.batch_transform is not None:
            value = self.batch_transform(value)
        return self.prepare_call(value)

    def prepare_call(self, value: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)`` of ``forward``: a dict as keywords, a tuple positionally."""
        if isinstance(value, Mapping):
            return (), {str(k): self._to_tensor(str(k), v) for k, v in value.items()}
        if isinstance(value, (tuple, list)):
            return tuple(self._to_tensor(f"{self.input_name}[{i}]", v)
                         for i, v in enumerate(value)), {}
        return (self._to_tensor(self.input_name, value),), {}

    def _to_tensor(self, name: str, value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value  # a plain keyword such as return_dict=False
        if isinstance(value, torch.Tensor):
            tensor = value
        else:
            arr = np.asarray(value)
            if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                           or arr.dtype == np.bool_):
                raise InvalidTypeError(
                    f"TorchModel: input '{name}' must be numeric; got dtype {arr.dtype}. "
                    "Convert it, or pass batch_transform= to build the tensor(s) (it may "
                    "return a tensor, a tuple of them for positional inputs or a dict for "
                    "keyword inputs).")
            if not arr.flags.writeable:
                arr = arr.copy()  # a Batch's arrays are read-only; forward() may write in place
            tensor = torch.from_numpy(np.ascontiguousarray(arr))
        if tensor.is_floating_point() and tensor.dtype != self.float_dtype:
            tensor = tensor.to(self.float_dtype)
        return tensor.to(self.device, non_blocking=tensor.is_pinned())


class TorchModel(Model):
    """A :class:`deepview.base.Model` over the layers (``named_modules()``) of a torch module:
    ``pipeline(producer, TorchModel(net)(["fc1"]))`` yields their responses (forward hooks).

    Parameters
    ----------
    module : torch.nn.Module
        The network; moved to ``device`` in place.
    device : str or torch.device, optional
        Where inference runs; default ``"cuda"`` when available, else ``"cpu"``.
    input_name : str or Sequence[str], default="input"
        The input field(s); several are passed to ``forward`` as keywords.
    input_shape : tuple of int, optional
        Shape of one sample; lets ``response_infos`` report output shapes before any batch.
    batch_transform : callable, optional
        ``f(numpy batch)`` returning a tensor, a tuple or a dict of arguments for ``forward``.
    stop_early : bool, default=True
        Stop the forward pass once all requested layers have fired.
    pooling : {"mean", "max", "first"}, optional
        Pool responses to ``(batch, features)`` (see :func:`pool_response`); default none.
    token_mask : str, optional
        The keyword input marking real tokens (``"attention_mask"``) for token pooling.
    token_level : bool, optional
        Whether responses are ``(batch, tokens, features)``; default when ``token_mask``.
    """

    def __init__(self, module: nn.Module, *, device: str | torch.device | None = None,
                 input_name: str | Sequence[str] = "input",
                 input_shape: Sequence[int] | None = None,
                 batch_transform: Callable[[Any], Any] | None = None, stop_early: bool = True,
                 pooling: str | None = None, token_mask: str | None = None,
                 token_level: bool | None = None) -> None:
        if not isinstance(module, nn.Module):
            raise InvalidTypeError(
                f"TorchModel: 'module' must be a torch.nn.Module; got {type(module).__name__}.")
        names = (input_name,) if isinstance(input_name, str) else tuple(input_name)
        if not names or not all(isinstance(n, str) and n for n in names) or (
                len(set(names)) != len(names)):
            raise InvalidParameterError(
                "TorchModel: 'input_name' must be a non-empty str or a sequence of distinct "
                f"non-empty str; got {input_name!r}.")
        if batch_transform is not None and not callable(batch_transform):
            raise InvalidTypeError("TorchModel: 'batch_transform' must be callable as f(numpy "
                                   f"batch); got {type(batch_transform).__name__}.")
        check_choice(pooling, name="pooling", owner="TorchModel", choices=(*POOLINGS, None))
        if token_mask is not None and (not isinstance(token_mask, str) or not token_mask):
            raise InvalidParameterError(
                f"TorchModel: 'token_mask' must be the name of a keyword input such as "
                f"'attention_mask'; got {token_mask!r}.")
        if token_mask is not None and pooling is None:
            raise InvalidParameterError(
                "TorchModel: 'token_mask' is used for pooling token-level responses; pass "
                "pooling='mean' (or 'max', 'first') with it.")
        try:
            shape = None if input_shape is None else tuple(int(s) for s in input_shape)
        except (TypeError, ValueError):
            shape = (0,)  # reported below
        if shape is not None and any(s <= 0 for s in shape):
            raise InvalidParameterError(
                "TorchModel: 'input_shape' must be the shape of ONE sample as positive "
                f"ints, e.g. (3, 32, 32); got {input_shape!r}.")
        dev = _resolve_device(device)
        module.to(dev)
        level = bool(token_mask is not None if token_level is None else token_level)
        details = _TorchModelDetails(module, dev, names, shape, batch_transform, bool(stop_early),
                                     pooling, token_mask, level)
        object.__setattr__(self, "_details", details)

    @property
    def module(self) -> nn.Module:
        """The wrapped ``torch.nn.Module``."""
        return self._torch_details.module

    @property
    def device(self) -> torch.device:
        """The device inference runs on."""
        return self._torch_details.device

    @property
    def layer_names(self) -> list[str]:
        """The names of the layers whose responses can be requested."""
        return list(self._torch_details.modules)

    def responses(self, inputs: Any, layers: str | Iterable[str]) -> dict[str, np.ndarray]:
        """The responses (pooled if the model pools) of ``layers`` to one batch of model inputs.

        Parameters
        ----------
        inputs : tensor, array, dict or tuple
            What ``forward`` takes (``batch_transform`` is not applied).
        layers : str or Iterable[str]
            Layer names (see :attr:`layer_names`).
        """
        names = {layers} if isinstance(layers, str) else set(layers)
        details = self._torch_details
        return details.responses(details.prepare_call(inputs), names)

    @property
    def _torch_details(self) -> _TorchModelDetails:
        return cast(_TorchModelDetails, self._details)

    def __repr__(self) -> str:
        return (f"TorchModel({type(self.module).__name__}, device='{self.device}', "
                f"layers={len(self._torch_details.modules)})")


load_torch_model = TorchModel  # wrap ``module`` as a deepview Model: TorchModel(module, ...)


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidParameterError(
            f"TorchModel: 'device' must be a torch device such as 'cpu' or 'cuda:0'; got "
            f"{device!r}.") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError(
            f"TorchModel: device '{dev}' was requested but CUDA is not available; use "
            "device='cpu' or leave device=None to pick automatically.")
    return dev
