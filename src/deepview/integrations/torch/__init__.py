"""PyTorch integration (extra ``torch``): models, data bridges and PFA applied to a network.

- :class:`TorchModel` / :func:`load_torch_model`: a :class:`deepview.base.Model` reading
  the responses of any layer of a ``torch.nn.Module`` (names from ``named_modules()``);
  several inputs (dict / tuple), token-level responses pooled over the real tokens
  (:func:`pool_response`).
- :class:`TorchProducer`: a producer over a torch ``DataLoader`` or ``Dataset``.
- :class:`ProducerTorchDataset`: a torch ``IterableDataset`` over a producer.
- :func:`load_embedder` / :class:`Embedder` and :func:`embed`: raw samples (images, texts)
  through a model (a factory's ``nn.Module``, sentence-transformers, timm / torchvision) into
  :class:`Embeddings`, with a resumable cache of Parquet shards; :class:`ImageTransform`
  (Pillow + numpy) and :class:`TextTransform` (a tokenizer) build the model input.
- :func:`apply_pfa_recipe`: turn PFA recipes into a smaller working network;
  :func:`compress`: PFA, unit choice and least-squares refit of every block, without
  retraining (``deepview compress``); :func:`load_compressed` /
  :func:`resize_to_state_dict` load a compressed network into the original's class.
- :class:`DigitsCNN`, :func:`load_digits_split`, :func:`train_digits_cnn`,
  :func:`evaluate_accuracy`, :func:`count_parameters`: a small CNN on scikit-learn's
  ``load_digits`` (8x8 images, no download) used by the examples and ``deepview demo``.

Importing this package imports torch; ``import deepview.integrations`` does not.
"""

from __future__ import annotations

from deepview._optional import require

require("torch", feature="deepview.integrations.torch", extra="torch")

from deepview.integrations.torch._compress import (  # noqa: E402
    CompressedLayer,
    Compression,
    compress,
)
from deepview.integrations.torch._digits import (  # noqa: E402
    DigitsCNN,
    count_parameters,
    digits_cnn_factory,
    evaluate_accuracy,
    load_digits_split,
    train_digits_cnn,
)
from deepview.integrations.torch._embed import Embeddings, embed  # noqa: E402
from deepview.integrations.torch._embedder import (  # noqa: E402
    MODEL_FORMS,
    Embedder,
    hidden_state_layer,
    load_compressed,
    load_embedder,
    load_sentence_transformer,
    load_state_dict,
    penultimate_layer,
    sentence_transformer_embedder,
    weights_digest,
)
from deepview.integrations.torch._model import (  # noqa: E402
    TorchModel,
    layer_kind,
    load_torch_model,
    pool_response,
)
from deepview.integrations.torch._pfa_surgery import apply_pfa_recipe  # noqa: E402
from deepview.integrations.torch._producer import ProducerTorchDataset, TorchProducer  # noqa: E402
from deepview.integrations.torch._saved import resize_to_state_dict, save_compressed  # noqa: E402
from deepview.integrations.torch._transforms import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageTransform,
    TextTransform,
)

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "MODEL_FORMS", "CompressedLayer", "Compression",
           "DigitsCNN", "Embedder", "Embeddings", "ImageTransform", "TextTransform",
           "ProducerTorchDataset", "TorchModel", "TorchProducer", "apply_pfa_recipe", "compress",
           "count_parameters", "digits_cnn_factory", "embed", "evaluate_accuracy",
           "hidden_state_layer", "layer_kind", "load_digits_split", "load_compressed",
           "load_embedder", "load_sentence_transformer", "load_state_dict", "load_torch_model",
           "penultimate_layer", "pool_response", "resize_to_state_dict", "save_compressed",
           "sentence_transformer_embedder", "train_digits_cnn", "weights_digest"]
