"""TorchModel with several inputs (dict / tuple / several fields) and pooled responses."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from deepview.base import ArrayProducer, pipeline  # noqa: E402
from deepview.exceptions import InvalidDataError, InvalidParameterError  # noqa: E402
from deepview.integrations.torch import TorchModel, pool_response  # noqa: E402


class TinyEncoder(nn.Module):
    """Token embedding + a position-wise MLP; padding tokens would change nothing but the
    pooled mean if they were counted."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(20, 4)
        self.mlp = nn.Sequential(nn.Linear(4, 6), nn.GELU())

    def forward(self, input_ids, attention_mask, scale=1.0):
        hidden = self.embed(input_ids) * scale
        return {"last_hidden_state": self.mlp(hidden) * attention_mask[..., None]}


def _tokens():
    ids = np.array([[3, 4, 5, 0, 0], [7, 0, 0, 0, 0], [1, 2, 3, 4, 5]])
    mask = (np.arange(5)[None] < np.array([[3], [1], [5]])).astype(np.int64)
    return ids, mask


def test_several_fields_feed_keyword_inputs_and_pool_over_real_tokens():
    ids, mask = _tokens()
    model = TorchModel(TinyEncoder(), device="cpu", input_name=("input_ids", "attention_mask"),
                       pooling="mean", token_mask="attention_mask")
    producer = ArrayProducer({"input_ids": ids, "attention_mask": mask})
    out = next(iter(pipeline(producer, model(["mlp.1"]))(3))).fields["mlp.1"]
    assert out.shape == (3, 6)
    net = model.module
    with torch.no_grad():
        for row in range(3):
            n = int(mask[row].sum())
            alone = net.mlp(net.embed(torch.from_numpy(ids[row, :n]))).mean(0).numpy()
            np.testing.assert_allclose(out[row], alone, rtol=1e-5, atol=1e-6)


def test_batch_transform_may_return_a_dict_or_a_tuple():
    ids, mask = _tokens()
    by_kw = TorchModel(TinyEncoder(), device="cpu", pooling="mean", token_mask="attention_mask",
                       batch_transform=lambda x: {"input_ids": x, "attention_mask": mask,
                                                  "scale": 2.0})
    positional = TorchModel(TinyEncoder(), device="cpu", pooling="mean",
                            token_mask="attention_mask",
                            input_name=("input_ids", "attention_mask"),
                            batch_transform=lambda d: (d["input_ids"], d["attention_mask"], 2.0))
    a = next(iter(pipeline(ArrayProducer(ids), by_kw(["embed"]))(3))).fields["embed"]
    b = next(iter(pipeline(ArrayProducer({"input_ids": ids, "attention_mask": mask}),
                           positional(["embed"]))(3))).fields["embed"]
    np.testing.assert_allclose(a, b)
    # the mapping output of the root is no layer; a layer returning a mapping gives its first
    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = TinyEncoder()

        def forward(self, input_ids, attention_mask):
            return self.enc(input_ids, attention_mask)["last_hidden_state"]

    model = TorchModel(Wrapper(), device="cpu")
    got = model.responses((torch.from_numpy(ids), torch.from_numpy(mask)), "enc")["enc"]
    assert got.shape == (3, 5, 6)


def test_channels_first_pooling_and_errors():
    x = torch.arange(24, dtype=torch.float32).reshape(1, 2, 3, 4)
    np.testing.assert_allclose(pool_response(x, "mean").numpy(), [[5.5, 17.5]])
    np.testing.assert_allclose(pool_response(x, "max").numpy(), [[11.0, 23.0]])
    with pytest.raises(InvalidParameterError, match="first token"):
        pool_response(x, "first")
    t = torch.ones(2, 3, 4)
    with pytest.raises(InvalidDataError, match="token mask"):
        pool_response(t, "mean", mask=torch.ones(2, 5), token_level=True)
    np.testing.assert_allclose(pool_response(t * torch.arange(3.0)[None, :, None], "first",
                                             token_level=True).numpy(), np.zeros((2, 4)))
    conv = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU())
    model = TorchModel(conv, device="cpu", pooling="mean", input_shape=(1, 6, 6))
    assert model.response_infos["1"].shape == (None, 3)
    with pytest.raises(InvalidParameterError, match="'pooling'"):
        TorchModel(conv, device="cpu", pooling="avg")
    with pytest.raises(InvalidParameterError, match="pooling='mean'"):
        TorchModel(conv, device="cpu", token_mask="attention_mask")
    with pytest.raises(InvalidParameterError, match="input_name"):
        TorchModel(conv, device="cpu", input_name=("a", "a"))
    ids, _ = _tokens()
    model = TorchModel(TinyEncoder(), device="cpu", pooling="mean", token_mask="attention_mask")
    with pytest.raises(InvalidDataError, match="token_mask 'attention_mask'"):
        model.responses({"input_ids": torch.from_numpy(ids)}, ["embed"])


def test_unknown_layer_lists_close_names():
    model = TorchModel(TinyEncoder(), device="cpu")
    with pytest.raises(Exception, match=r"Did you mean \['mlp.1'"):
        model.responses(torch.zeros(1, 2, dtype=torch.long), ["mlp.l"])
