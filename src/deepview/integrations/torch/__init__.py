"""PyTorch integration (extra ``torch``): models, data bridges, embedding and compression."""

from __future__ import annotations

from deepview._optional import require

require("torch", feature="deepview.integrations.torch", extra="torch")

from deepview.integrations.torch._compress import CompressedLayer, Compression, compress  # noqa: E402
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
