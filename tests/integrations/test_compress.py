"""compress() / apply_pfa_recipe(calibration=...) / deepview compress: element-wise ops found
by behaviour, least-squares refit, transformers' MLPs and residual blocks, the CLI."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from deepview.exceptions import InvalidParameterError  # noqa: E402
from deepview.integrations.torch import (  # noqa: E402
    DigitsCNN,
    apply_pfa_recipe,
    compress,
    count_parameters,
    evaluate_accuracy,
    load_compressed,
    load_digits_split,
    train_digits_cnn,
)
from deepview.integrations.torch._blocks import probe_module  # noqa: E402


def recipe(n: int, removed) -> SimpleNamespace:
    return SimpleNamespace(original_output_count=n, maximally_correlated_units=list(removed))


def _out(module, x):
    with torch.no_grad():
        return module.eval()(x).numpy()


def _rel_error(small, net, x) -> float:
    a, b = _out(small, x), _out(net, x)
    return float(((a - b) ** 2).sum() / ((b - b.mean(0)) ** 2).sum())


def _gelu_mlp(act: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 24), act, nn.Linear(24, 5))


def test_elementwise_ops_are_recognised_by_behaviour():
    assert probe_module(nn.ReLU(), (4, 6)) == "homogeneous"
    assert probe_module(nn.Dropout(0.5), (4, 6)) == "homogeneous"  # the identity in eval
    assert probe_module(nn.MaxPool2d(2), (2, 6, 10, 10)) == "homogeneous"
    assert probe_module(nn.GELU(), (4, 6)) == "elementwise"
    assert probe_module(nn.Tanh(), (4, 6)) == "elementwise"
    for mixing in (nn.Softmax(dim=1), nn.LayerNorm(6), nn.Linear(6, 6), nn.Flatten(0)):
        assert probe_module(mixing, (4, 6)) == "other", mixing
    transformers = pytest.importorskip("transformers")
    activations = transformers.activations
    for act in (activations.GELUActivation(), activations.NewGELUActivation()):
        assert probe_module(act, (4, 6)) == "elementwise"
        small = apply_pfa_recipe(_gelu_mlp(act), {"0": recipe(24, [1, 2])})
        assert (small[0].out_features, small[2].in_features) == (22, 22)


def test_refit_reconstructs_better_than_cutting_and_keeps_duplicates_exact():
    net = _gelu_mlp(nn.GELU())
    with torch.no_grad():  # unit 7 is an exact copy of unit 3
        net[0].weight[7] = net[0].weight[3]
        net[0].bias[7] = net[0].bias[3]
    gen = torch.Generator().manual_seed(1)
    calibration = [torch.randn(200, 6, generator=gen) for _ in range(3)]
    x = torch.randn(300, 6, generator=gen)
    # the duplicate: folded without calibration, reconstructed by the refit with it
    for kwargs in ({}, {"calibration": calibration}):
        small = apply_pfa_recipe(net, {"0": recipe(24, [7])}, **kwargs)
        np.testing.assert_allclose(_out(small, x), _out(net, x), rtol=1e-4, atol=1e-4)
    removed = [0, 2, 5, 9, 11, 13, 17, 20]
    cut = apply_pfa_recipe(net, {"0": recipe(24, removed)}, fold_duplicates=False)
    refit = apply_pfa_recipe(net, {"0": recipe(24, removed)}, calibration=calibration)
    assert refit[0].out_features == cut[0].out_features == 16
    assert _rel_error(refit, net, x) < 0.5 * _rel_error(cut, net, x)
    # compress() picks the units itself and reports the error per block
    result = compress(net, calibration, keep=0.5)
    (layer,) = result.layers
    assert (layer.producer, layer.consumer, layer.units, layer.kept) == ("0", "2", 24, 12)
    assert 0 <= layer.error < 0.1
    assert _rel_error(result.module, net, x) < 0.2
    plain = compress(net, calibration, keep=0.5, refit=False, selection="random")
    assert _rel_error(result.module, net, x) < _rel_error(plain.module, net, x)


def _tiny_bert():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32,
                                     max_position_embeddings=32)
    torch.manual_seed(0)
    return transformers.BertModel(config, add_pooling_layer=False).eval()


def _token_batches(n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n):
        ids = torch.randint(5, 50, (8, 12), generator=gen)
        mask = torch.ones(8, 12, dtype=torch.long)
        mask[:4, 7:] = 0  # padding: left out of the statistics
        batches.append({"input_ids": ids * mask, "attention_mask": mask})
    return batches


def _pooled(model, batches):
    out = []
    with torch.no_grad():
        for b in batches:
            h = model(**b).last_hidden_state
            m = b["attention_mask"].unsqueeze(-1).float()
            out.append(((h * m).sum(1) / m.sum(1)).numpy())
    return np.concatenate(out)


def test_transformer_mlps_found_without_pairs_and_refit_token_level():
    bert = _tiny_bert()
    calibration, held = _token_batches(6, 0), _token_batches(3, 1)
    result = compress(bert, calibration, keep=0.5, same_width=True)
    assert [(lay.producer, lay.consumer) for lay in result.layers] == [
        (f"encoder.layer.{i}.intermediate.dense", f"encoder.layer.{i}.output.dense")
        for i in range(2)
    ]
    small = result.module
    for layer in small.encoder.layer:
        assert layer.intermediate.dense.out_features == 16
        assert layer.output.dense.in_features == 16
    before = _pooled(bert, held)
    cut = compress(bert, calibration, keep=0.5, refit=False, selection="magnitude").module

    def cosine(a, b):
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        return float(np.mean((a * b).sum(1) / norms))

    assert cosine(before, _pooled(small, held)) > cosine(before, _pooled(cut, held))
    assert cosine(before, _pooled(small, held)) > 0.9
    # recipes for an untraceable model: its blocks are found by running it
    act = "encoder.layer.0.intermediate.intermediate_act_fn"
    own = apply_pfa_recipe(bert, {act: recipe(32, range(10))}, calibration=calibration)
    assert own.encoder.layer[0].output.dense.in_features == 22
    energy = pytest.importorskip("deepview.introspectors").PFA.Strategy.Energy(0.9)
    by_energy = compress(bert, calibration, strategy=energy, same_width=True)
    assert len({lay.kept for lay in by_energy.layers}) == 1


class _Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class _TinyResNet(nn.Module):
    def __init__(self, c: int = 16) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, c, 3, padding=1)
        self.block1 = _Block(c)
        self.block2 = _Block(c)
        self.head = nn.Linear(c, 10)

    def forward(self, x):
        x = self.block2(self.block1(torch.relu(self.stem(x))))
        return self.head(x.mean(dim=(2, 3)))


def test_residual_blocks_lose_inner_channels_only():
    split = load_digits_split()
    torch.manual_seed(0)
    net = train_digits_cnn(_TinyResNet(), split=split, epochs=3)
    x = torch.as_tensor(split.x_train)
    calibration = [x[i:i + 256] for i in range(0, 768, 256)]
    result = compress(net, calibration, keep=0.75)
    assert [lay.producer for lay in result.layers] == ["block1.conv1", "block2.conv1"]
    small = result.module
    assert small.block1.conv1.out_channels == small.block1.bn1.num_features == 12
    assert small.block1.conv2.in_channels == 12 and small.block1.conv2.out_channels == 16
    assert small.stem.out_channels == 16  # feeds a residual sum: fixed
    assert count_parameters(small) < count_parameters(net)
    cut = compress(net, calibration, keep=0.75, refit=False).module
    acc, acc_small, acc_cut = (evaluate_accuracy(m, split.x_test, split.y_test)
                               for m in (net, small, cut))
    assert acc_small > acc_cut and acc_small > acc - 0.1


def test_digits_cnn_compresses_through_flatten_and_pairs_are_respected():
    torch.manual_seed(0)
    net = DigitsCNN(channels=(6, 8), hidden=12).eval()
    x = torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    result = compress(net, [x[:150], x[150:]], keep=0.5)
    assert [lay.producer for lay in result.layers] == ["conv1", "conv2", "fc1"]
    assert (result.module.conv2.out_channels, result.module.fc1.in_features) == (4, 64)
    only = compress(net, [x], keep=0.5, pairs={"fc1": ["relu3", "dropout", "fc2"]})
    assert [lay.producer for lay in only.layers] == ["fc1"]
    assert only.module.conv1.out_channels == 6
    with pytest.raises(InvalidParameterError, match="'keep'"):
        compress(net, [x], keep=1.5)
    with pytest.raises(InvalidParameterError, match="not both"):
        compress(net, [x], keep=0.5, strategy=object())
    with pytest.raises(InvalidParameterError, match="list of model inputs"):
        compress(net, iter([x]))


_FACTORY = """
import torch
from deepview.integrations.torch import DigitsCNN, ImageTransform

def build():
    torch.manual_seed(0)
    net = DigitsCNN(channels=(4, 8), hidden=16).eval()
    return net, ImageTransform(size=8, mode="L", resize="stretch", resample="box", invert=True)
"""


def test_cli_writes_a_loadable_model_and_nothing_on_failure(tmp_path):
    from typer.testing import CliRunner

    from deepview.cli import app
    from deepview.cli._demo import _write_digit_images
    from deepview.integrations.torch import load_embedder

    split = load_digits_split()
    _write_digit_images(split.x_test[:120], [f"data/digits/{i:03d}.png" for i in range(120)],
                        tmp_path)
    (tmp_path / "factory.py").write_text(_FACTORY)
    factory, images, out = f"{tmp_path / 'factory.py'}:build", str(tmp_path / "data/digits"), \
        tmp_path / "small"
    runner = CliRunner()
    for bad, message in ((["--keep", "1.5"], "--keep"), (["--keep", "0.5", "--kl"], "one of"),
                         (["--held-out", "0.01"], "held-out")):
        result = runner.invoke(app, ["compress", factory, "--data", images, "--out", str(out),
                                     "--quiet", *bad])
        assert result.exit_code == 1 and message in result.output, result.output
    result = runner.invoke(app, ["compress", factory, "--data", str(tmp_path / "none"),
                                 "--out", str(out), "--quiet"])
    assert result.exit_code == 1 and "does not exist" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "factory.py"]
    result = runner.invoke(app, ["compress", factory, "--data", images, "--out", str(out),
                                 "--keep", "0.5", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "parameters" in result.output and "10-NN overlap" in result.output
    summary = json.loads((out / "compression.json").read_text())
    assert summary["parameters_after"] < summary["parameters_before"]
    module, transform = load_compressed(out)
    assert (module.conv1.out_channels, module.conv2.in_channels, module.fc1.out_features) == (
        2, 2, 8)
    assert count_parameters(module) == summary["parameters_after"]
    embedder = load_embedder(str(out), device="cpu")
    assert embedder.model._torch_details.module.fc1.out_features == 8
    again = runner.invoke(app, ["compress", factory, "--data", images, "--out", str(out)])
    assert again.exit_code == 1 and "--overwrite" in again.output


def test_cli_sentence_transformer_loads_as_before(tmp_path):
    transformers = pytest.importorskip("transformers")
    st_lib = pytest.importorskip("sentence_transformers")
    from typer.testing import CliRunner

    from deepview.cli import app

    words = "the a of to and in is for on with data array value function return model".split()
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                   "[MASK]", *words]) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    config = transformers.BertConfig(vocab_size=len(words) + 5, hidden_size=16,
                                     num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=64)
    torch.manual_seed(0)
    transformers.BertModel(config, add_pooling_layer=False).save_pretrained(tmp_path / "hf")
    tokenizer.save_pretrained(tmp_path / "hf")
    models = pytest.importorskip("sentence_transformers.models")
    st = st_lib.SentenceTransformer(modules=[
        models.Transformer(str(tmp_path / "hf"), max_seq_length=32),
        models.Pooling(16, "mean"), models.Normalize()])
    st.save(str(tmp_path / "st"))
    rng = np.random.default_rng(0)
    (tmp_path / "texts.txt").write_text("\n".join(
        " ".join(rng.choice(words, size=rng.integers(3, 12))) for _ in range(150)) + "\n")
    out = tmp_path / "small"
    result = CliRunner().invoke(app, ["compress", str(tmp_path / "st"), "--data",
                                      str(tmp_path / "texts.txt"), "--out", str(out),
                                      "--keep", "0.5", "--quiet"])
    assert result.exit_code == 0, result.output
    small = st_lib.SentenceTransformer(str(out), device="cpu")
    for layer in small[0].auto_model.encoder.layer:
        assert layer.intermediate.dense.out_features == layer.output.dense.in_features == 16
    assert small[0].auto_model.config.intermediate_size == 16
    texts = ["the data array", "return a value of the model"]
    before, after = st.encode(texts), small.encode(texts)
    assert after.shape == before.shape and float((before * after).sum(1).min()) > 0.9


def test_gpt2_mlps_with_transposed_conv1d_weights():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=50, n_positions=32, n_embd=16, n_layer=2,
                                     n_head=2)
    torch.manual_seed(0)
    gpt = transformers.GPT2Model(config).eval()
    calibration = [{k: v for k, v in b.items()} for b in _token_batches(4, 2)]
    result = compress(gpt, calibration, keep=0.5, same_width=True)
    assert [(lay.producer, lay.consumer) for lay in result.layers] == [
        (f"h.{i}.mlp.c_fc", f"h.{i}.mlp.c_proj") for i in range(2)]
    mlp = result.module.h[0].mlp
    assert tuple(mlp.c_fc.weight.shape) == (16, 32) and tuple(mlp.c_proj.weight.shape) == (32, 16)
    from deepview.integrations.torch import resize_to_state_dict

    again = resize_to_state_dict(transformers.GPT2Model(config), result.module.state_dict())
    assert tuple(again.h[1].mlp.c_fc.weight.shape) == (16, 32)
