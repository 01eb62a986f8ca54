"""A :class:`deepview.base.Model` over a ``torch.nn.Module``: layer responses via forward hooks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import AbstractSet, Any

import numpy as np
import torch
from torch import nn

from deepview.base import Model, ResponseInfo
from deepview.exceptions import (
    DeepViewException,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
)

__all__ = ["TorchModel", "load_torch_model"]

logger = logging.getLogger(__name__)

_Kind = ResponseInfo.LayerKind

#: module type -> layer kind; looked up along the module's MRO (most specific first)
_KINDS: dict[type, ResponseInfo.LayerKind] = {
    nn.Linear: _Kind.LINEAR,
    nn.Bilinear: _Kind.LINEAR,
    nn.Conv1d: _Kind.CONV_1D,
    nn.Conv2d: _Kind.CONV_2D,
    nn.Conv3d: _Kind.CONV_3D,
    nn.ConvTranspose1d: _Kind.CONV_TRANSPOSE_1D,
    nn.ConvTranspose2d: _Kind.CONV_TRANSPOSE_2D,
    nn.ConvTranspose3d: _Kind.CONV_TRANSPOSE_3D,
    nn.MaxPool1d: _Kind.MAX_POOLING_1D,
    nn.MaxPool2d: _Kind.MAX_POOLING_2D,
    nn.MaxPool3d: _Kind.MAX_POOLING_3D,
    nn.AdaptiveMaxPool1d: _Kind.MAX_POOLING_1D,
    nn.AdaptiveMaxPool2d: _Kind.MAX_POOLING_2D,
    nn.AdaptiveMaxPool3d: _Kind.MAX_POOLING_3D,
    nn.AvgPool1d: _Kind.AVERAGE_POOLING_1D,
    nn.AvgPool2d: _Kind.AVERAGE_POOLING_2D,
    nn.AvgPool3d: _Kind.AVERAGE_POOLING_3D,
    nn.AdaptiveAvgPool1d: _Kind.AVERAGE_POOLING_1D,
    nn.AdaptiveAvgPool2d: _Kind.AVERAGE_POOLING_2D,
    nn.AdaptiveAvgPool3d: _Kind.AVERAGE_POOLING_3D,
    nn.RNN: _Kind.RNN,
    nn.LSTM: _Kind.LSTM,
    nn.GRU: _Kind.GRU,
    nn.BatchNorm1d: _Kind.BATCH_NORM,
    nn.BatchNorm2d: _Kind.BATCH_NORM_2D,
    nn.BatchNorm3d: _Kind.BATCH_NORM_3D,
    nn.LayerNorm: _Kind.LAYER_NORM,
    nn.Dropout: _Kind.DROPOUT,
    nn.Dropout1d: _Kind.DROPOUT,
    nn.AlphaDropout: _Kind.DROPOUT,
    nn.Dropout2d: _Kind.DROPOUT_2D,
    nn.Dropout3d: _Kind.DROPOUT_3D,
    nn.Sigmoid: _Kind.SIGMOID,
    nn.Tanh: _Kind.TANH,
    nn.ReLU: _Kind.RELU,
    nn.ReLU6: _Kind.RELU6,
    nn.LeakyReLU: _Kind.LEAKY_RELU,
    nn.PReLU: _Kind.PRELU,
    nn.ELU: _Kind.ELU,
    nn.Softmax: _Kind.SOFTMAX,
    nn.MultiheadAttention: _Kind.ATTENTION,
}


def layer_kind(module: nn.Module) -> ResponseInfo.LayerKind:
    """The :class:`~deepview.base.ResponseInfo.LayerKind` of a torch module (UNKNOWN if none)."""
    for cls in type(module).__mro__:
        kind = _KINDS.get(cls)
        if kind is not None:
            return kind
    return _Kind.UNKNOWN


class _StopForward(Exception):
    """Raised from a hook once every requested layer has produced its response."""


def _first_tensor(name: str, output: Any) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]  # e.g. nn.LSTM -> (output, (h, c)), MultiheadAttention -> (out, w)
    raise DeepViewException(
        f"TorchModel: layer '{name}' returned {type(output).__name__}, not a tensor (or a tuple "
        "whose first item is a tensor); request another layer, e.g. one of its submodules."
    )


class _TorchModelDetails:
    """The :class:`~deepview.base.ModelDetails` of a torch module (see :class:`TorchModel`)."""

    def __init__(
        self,
        module: nn.Module,
        *,
        device: torch.device,
        input_name: str,
        input_shape: tuple[int, ...] | None,
        batch_transform: Callable[[np.ndarray], Any] | None,
        stop_early: bool,
    ) -> None:
        self.module = module
        self.device = device
        self.input_name = input_name
        self.input_shape = input_shape
        self.batch_transform = batch_transform
        self.stop_early = stop_early
        self.modules: dict[str, nn.Module] = {
            name: sub for name, sub in module.named_modules() if name
        }
        if not self.modules:
            raise InvalidParameterError(
                f"TorchModel: module {type(module).__name__} has no submodules, so it has no "
                "named layers to read; wrap it, e.g. torch.nn.Sequential(module), and request '0'."
            )
        params = [p for p in module.parameters() if p.is_floating_point()]
        self.float_dtype = params[0].dtype if params else torch.get_default_dtype()
        # response shapes/dtypes: filled from input_shape (dummy forward) or the first batch
        self._shapes: dict[str, tuple[int | None, ...]] = {}
        self._dtypes: dict[str, np.dtype[Any]] = {}
        self._shapes_probed = False
        # layers seen firing exactly once per forward, so stopping early is safe for them
        self._single_call: set[str] = set()

    # ------------------------------------------------------------------ ModelDetails
    def get_response_infos(self) -> Iterable[ResponseInfo]:
        if not self._shapes_probed and self.input_shape is not None:
            self._shapes_probed = True
            dummy = np.zeros((1, *self.input_shape), dtype=np.float32)
            try:
                captured, calls = self._forward(
                    self._to_tensor(dummy), set(self.modules), stop=False
                )
            except Exception as exc:  # shapes stay unknown; the real error shows on real data
                logger.warning("TorchModel: dummy forward for output shapes failed: %s", exc)
            else:
                for name, value in captured.items():
                    self._shapes[name] = (None, *value.shape[1:])
                    self._dtypes[name] = value.numpy().dtype
                self._single_call.update(n for n, c in calls.items() if c == 1)
        default_dtype = np.dtype(torch.empty((), dtype=self.float_dtype).numpy().dtype)
        for name, sub in self.modules.items():
            yield ResponseInfo(
                name=name,
                dtype=self._dtypes.get(name, default_dtype),
                shape=self._shapes.get(name, (None,)),
                layer=ResponseInfo.Layer(
                    name=name, kind=layer_kind(sub), typename=type(sub).__name__
                ),
            )

    def get_input_layer_responses(self) -> Sequence[ResponseInfo]:
        shape: tuple[int | None, ...] = (None,) + (self.input_shape or ())
        return [
            ResponseInfo(
                name=self.input_name,
                dtype=np.dtype(torch.empty((), dtype=self.float_dtype).numpy().dtype),
                shape=shape if self.input_shape is not None else (None,),
                layer=ResponseInfo.Layer(
                    name=self.input_name, kind=_Kind.PLACEHOLDER, typename="input"
                ),
            )
        ]

    def run_inference(
        self, inputs: Mapping[str, np.ndarray], outputs: AbstractSet[str]
    ) -> Mapping[str, np.ndarray]:
        if self.input_name not in inputs:
            raise InvalidDataError(
                f"TorchModel: no input named '{self.input_name}'; got {sorted(inputs)}. Pass "
                "input_name= to TorchModel or rename the field."
            )
        unknown = sorted(set(outputs) - set(self.modules))
        if unknown:
            raise DeepViewException(
                f"TorchModel: unknown layer(s) {unknown}; available: {sorted(self.modules)[:30]}."
            )
        tensor = self._to_tensor(inputs[self.input_name])
        stop = self.stop_early and set(outputs) <= self._single_call
        captured, calls = self._forward(tensor, outputs, stop=stop)
        if not stop:
            repeated = sorted(n for n, c in calls.items() if c > 1)
            if repeated:
                raise DeepViewException(
                    f"TorchModel: layer(s) {repeated} ran more than once in one forward pass "
                    "(a module reused in forward(), e.g. one shared nn.ReLU), so their response "
                    "is ambiguous; give each use its own module or request another layer."
                )
            self._single_call.update(outputs)
        missing = sorted(set(outputs) - set(captured))
        if missing:
            raise DeepViewException(
                f"TorchModel: layer(s) {missing} did not run in the forward pass of "
                f"{type(self.module).__name__}; request layers that forward() uses."
            )
        result: dict[str, np.ndarray] = {}
        for name in outputs:
            array = captured[name].numpy()
            self._shapes.setdefault(name, (None, *array.shape[1:]))
            self._dtypes.setdefault(name, array.dtype)
            result[name] = array
        return result

    # ------------------------------------------------------------------ helpers
    def _forward(
        self, tensor: torch.Tensor, outputs: AbstractSet[str], *, stop: bool
    ) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
        """Run the module once, capturing (CPU copies of) the outputs of ``outputs``."""
        captured: dict[str, torch.Tensor] = {}
        calls: dict[str, int] = dict.fromkeys(outputs, 0)

        def make_hook(name: str) -> Callable[..., None]:
            def hook(_module: nn.Module, _args: Any, output: Any) -> None:
                calls[name] += 1
                # copy now: a later in-place op (ReLU(inplace=True)) may overwrite the output
                captured[name] = _first_tensor(name, output).detach().to("cpu", copy=True)
                if stop and len(captured) == len(calls):
                    raise _StopForward

            return hook

        handles = [
            self.modules[name].register_forward_hook(make_hook(name)) for name in outputs
        ]
        training = {m: m.training for m in self.module.modules()}
        try:
            self.module.eval()
            with torch.inference_mode():
                try:
                    self.module(tensor)
                except _StopForward:
                    pass
        finally:
            for handle in handles:
                handle.remove()
            for m, flag in training.items():
                m.training = flag
        return captured, calls

    def _to_tensor(self, array: np.ndarray) -> torch.Tensor:
        value: Any = array
        if self.batch_transform is not None:
            value = self.batch_transform(array)
        if isinstance(value, torch.Tensor):
            tensor = value
        else:
            arr = np.asarray(value)
            if arr.dtype == object or not (
                np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
            ):
                raise InvalidTypeError(
                    f"TorchModel: input '{self.input_name}' must be numeric; got dtype "
                    f"{arr.dtype}. Convert it, or pass batch_transform= to build the tensor."
                )
            if not arr.flags.writeable:
                arr = arr.copy()  # a Batch's arrays are read-only; forward() may write in place
            tensor = torch.from_numpy(np.ascontiguousarray(arr))
        if tensor.is_floating_point() and tensor.dtype != self.float_dtype:
            tensor = tensor.to(self.float_dtype)
        return tensor.to(self.device)


class TorchModel(Model):
    """A :class:`deepview.base.Model` that reads the layer responses of a ``torch.nn.Module``.

    Layers are the module's ``named_modules()`` (without the root); call the model with
    the names you want to get a pipeline stage that replaces each batch's input field by
    those responses, as numpy arrays in the batch's order, keeping metadata::

        pipeline(producer, TorchModel(net)(["conv2", "fc1"]))

    Responses are captured with forward hooks in ``eval()`` mode under
    ``torch.inference_mode()``; the hooks are removed and the train/eval flags restored
    after every batch, also when the forward pass fails.  Once every requested layer is
    known to run exactly once per forward pass, the forward pass stops as soon as they
    have all fired (layers after them are not computed).

    Parameters
    ----------
    module : torch.nn.Module
        The network.  It is moved to ``device`` (in place, like ``module.to(device)``).
    device : str or torch.device, optional
        Where inference runs; default ``"cuda"`` when available, else ``"cpu"``.
    input_name : str, default="input"
        Name of the model input; a batch with a single field feeds it whatever the
        field's name.
    input_shape : tuple of int, optional
        Shape of one input sample, e.g. ``(1, 8, 8)``.  When given, ``response_infos``
        report each layer's output shape (from a dummy forward pass on one zero sample);
        otherwise shapes are ``(None,)`` until a batch has gone through.
    batch_transform : callable, optional
        ``f(numpy batch) -> tensor or array`` applied to the input before inference
        (normalisation, layout changes, ...).  Floating inputs are cast to the module's
        parameter dtype.
    stop_early : bool, default=True
        Stop the forward pass once all requested layers have fired.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from deepview.base import ArrayProducer, pipeline
    >>> from deepview.integrations.torch import TorchModel
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    >>> model = TorchModel(net, device="cpu", input_shape=(4,))
    >>> model.response_infos["0"].shape
    (None, 3)
    >>> batch = next(iter(pipeline(ArrayProducer(np.ones((5, 4))), model(["1"]))(5)))
    >>> batch.fields["1"].shape
    (5, 3)
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        device: str | torch.device | None = None,
        input_name: str = "input",
        input_shape: Sequence[int] | None = None,
        batch_transform: Callable[[np.ndarray], Any] | None = None,
        stop_early: bool = True,
    ) -> None:
        if not isinstance(module, nn.Module):
            raise InvalidTypeError(
                f"TorchModel: 'module' must be a torch.nn.Module; got {type(module).__name__}."
            )
        if not isinstance(input_name, str) or not input_name:
            raise InvalidParameterError(
                f"TorchModel: 'input_name' must be a non-empty str; got {input_name!r}."
            )
        if batch_transform is not None and not callable(batch_transform):
            raise InvalidTypeError(
                "TorchModel: 'batch_transform' must be callable as f(numpy batch); got "
                f"{type(batch_transform).__name__}."
            )
        shape: tuple[int, ...] | None = None
        if input_shape is not None:
            try:
                shape = tuple(int(s) for s in input_shape)
            except (TypeError, ValueError):
                shape = None
            if shape is None or any(s <= 0 for s in shape):
                raise InvalidParameterError(
                    "TorchModel: 'input_shape' must be the shape of ONE sample as positive "
                    f"ints, e.g. (3, 32, 32); got {input_shape!r}."
                )
        dev = _resolve_device(device)
        module.to(dev)
        details = _TorchModelDetails(
            module,
            device=dev,
            input_name=input_name,
            input_shape=shape,
            batch_transform=batch_transform,
            stop_early=bool(stop_early),
        )
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
    def _torch_details(self) -> _TorchModelDetails:
        details = self._details
        if not isinstance(details, _TorchModelDetails):  # pragma: no cover - defensive
            raise DeepViewException("TorchModel: corrupted model details.")
        return details

    def __repr__(self) -> str:
        return (
            f"TorchModel({type(self.module).__name__}, device='{self.device}', "
            f"layers={len(self._torch_details.modules)})"
        )


def load_torch_model(
    module: nn.Module,
    *,
    device: str | torch.device | None = None,
    input_name: str = "input",
    input_shape: Sequence[int] | None = None,
    batch_transform: Callable[[np.ndarray], Any] | None = None,
    stop_early: bool = True,
) -> TorchModel:
    """Wrap ``module`` as a :class:`deepview.base.Model`; same as :class:`TorchModel`."""
    return TorchModel(
        module,
        device=device,
        input_name=input_name,
        input_shape=input_shape,
        batch_transform=batch_transform,
        stop_early=stop_early,
    )


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidParameterError(
            f"TorchModel: 'device' must be a torch device such as 'cpu' or 'cuda:0'; got "
            f"{device!r}."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError(
            f"TorchModel: device '{dev}' was requested but CUDA is not available; use "
            "device='cpu' or leave device=None to pick automatically."
        )
    return dev
