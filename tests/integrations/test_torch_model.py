"""TorchModel: responses via forward hooks, response infos, order and metadata, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from deepview.base import ArrayProducer, Batch, ResponseInfo, pipeline  # noqa: E402
from deepview.exceptions import DeepViewException, InvalidParameterError  # noqa: E402
from deepview.integrations.torch import DigitsCNN, TorchModel, load_torch_model  # noqa: E402

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available"),
    ),
]


def _net() -> DigitsCNN:
    torch.manual_seed(0)
    net = DigitsCNN(channels=(4, 6), hidden=8)
    # non-trivial BatchNorm statistics so that eval mode matters
    for bn in (net.bn1, net.bn2):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return net


def _images(rng: np.random.Generator, n: int = 10) -> np.ndarray:
    return rng.random((n, 1, 8, 8), dtype=np.float32)


@pytest.mark.parametrize("device", DEVICES)
def test_responses_match_calling_the_layers_by_hand(rng, device):
    net = _net().eval()
    x = _images(rng)
    with torch.no_grad():
        t = torch.from_numpy(x)
        conv1 = net.conv1(t)
        relu1 = net.relu1(net.bn1(conv1))
        pool = net.pool(net.relu2(net.bn2(net.conv2(relu1))))
        fc1 = net.fc1(net.flatten(pool))
        logits = net.fc2(net.relu3(fc1))
    model = TorchModel(net, device=device)
    stage = model(["conv1", "relu1", "fc1", "fc2"])
    batches = list(pipeline(ArrayProducer(x, field="input"), stage)(4))
    assert [b.batch_size for b in batches] == [4, 4, 2]
    got = {k: np.concatenate([b.fields[k] for b in batches]) for k in batches[0].fields}
    assert sorted(got) == ["conv1", "fc1", "fc2", "relu1"]
    for name, expected in [("conv1", conv1), ("relu1", relu1), ("fc1", fc1), ("fc2", logits)]:
        np.testing.assert_allclose(got[name], expected.numpy(), rtol=1e-5, atol=1e-5)
        assert got[name].dtype == np.float32


def test_response_infos_names_kinds_and_shapes():
    model = TorchModel(_net(), device="cpu", input_shape=(1, 8, 8))
    infos = model.response_infos
    assert list(infos) == [
        "conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "pool", "flatten", "fc1", "relu3",
        "dropout", "fc2",
    ]
    kinds = {name: info.layer.kind for name, info in infos.items()}
    K = ResponseInfo.LayerKind
    assert kinds["conv1"] is K.CONV_2D and kinds["bn1"] is K.BATCH_NORM_2D
    assert kinds["relu1"] is K.RELU and kinds["pool"] is K.MAX_POOLING_2D
    assert kinds["fc1"] is K.LINEAR and kinds["dropout"] is K.DROPOUT
    assert kinds["flatten"] is K.UNKNOWN
    assert infos["fc1"].layer.typename == "Linear"
    assert infos["conv2"].shape == (None, 6, 8, 8)
    assert infos["pool"].shape == (None, 6, 4, 4)
    assert infos["fc2"].shape == (None, 10)
    assert infos["fc2"].dtype == np.float32
    (inp,) = model.input_layers.values()
    assert inp.name == "input" and inp.shape == (None, 1, 8, 8)
    assert inp.layer.kind is K.PLACEHOLDER


def test_shapes_learned_from_first_batch_without_input_shape(rng):
    model = TorchModel(_net(), device="cpu")
    assert model.response_infos["fc1"].shape == (None,)
    list(pipeline(ArrayProducer(_images(rng, 3)), model("fc1"))(3))
    assert model.response_infos["fc1"].shape == (None, 8)


def test_order_and_metadata_preserved(rng):
    net = _net()
    x = _images(rng, 9)
    ids = [f"img{i}" for i in range(9)][::-1]
    labels = {"digit": list(range(9)), "split": ["a", "b", "c"] * 3}
    producer = ArrayProducer(x, identifiers=ids, labels=labels, field="pixels")
    batches = list(pipeline(producer, load_torch_model(net, device="cpu")("fc2"))(4))
    out = np.concatenate([b.fields["fc2"] for b in batches])
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    got_ids = [i for b in batches for i in b.metadata[Batch.StdKeys.IDENTIFIER]]
    got_digits = [v for b in batches for v in b.metadata[Batch.StdKeys.LABELS]["digit"]]
    assert got_ids == ids
    assert got_digits == labels["digit"]
    assert list(batches[0].fields) == ["fc2"]  # input field replaced by the response


def test_unknown_layer_is_a_clear_error():
    model = TorchModel(_net(), device="cpu")
    with pytest.raises(DeepViewException, match="unknown response.*'nope'"):
        model(["fc1", "nope"])


def test_hooks_removed_and_train_flags_restored_after_error(rng):
    net = _net().train()
    model = TorchModel(net, device="cpu")
    bad = ArrayProducer(rng.random((4, 1, 5, 5), dtype=np.float32))  # wrong size for fc1
    with pytest.raises(RuntimeError):
        list(pipeline(bad, model("fc1"))(4))
    assert all(not m._forward_hooks for m in net.modules())
    assert all(m.training for m in net.modules())
    # and a good batch still works afterwards, leaving train mode untouched
    list(pipeline(ArrayProducer(_images(rng, 2)), model("fc1"))(2))
    assert all(not m._forward_hooks for m in net.modules())
    assert net.training and net.dropout.training


class _Counter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x


def test_forward_stops_early_once_layers_are_known_to_fire_once(rng):
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), _Counter(), nn.Linear(4, 2))
    model = TorchModel(net, device="cpu")
    producer = ArrayProducer(rng.normal(size=(6, 3)).astype(np.float32))
    out = list(pipeline(producer, model("1"))(2))
    assert len(out) == 3
    assert net[2].calls == 1  # the first batch runs the whole network (reuse check)
    with torch.no_grad():
        expected = torch.relu(net[0](torch.from_numpy(producer._fields["responses"])))
    np.testing.assert_allclose(
        np.concatenate([b.fields["1"] for b in out]), expected.numpy(), rtol=1e-6
    )
    eager = TorchModel(net, device="cpu", stop_early=False)
    list(pipeline(producer, eager("1"))(2))
    assert net[2].calls == 4


class _Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 3)
        self.fc2 = nn.Linear(3, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc2(self.act(self.fc1(x))))


def test_module_used_twice_is_ambiguous(rng):
    model = TorchModel(_Shared(), device="cpu")
    producer = ArrayProducer(rng.normal(size=(4, 3)).astype(np.float32))
    with pytest.raises(DeepViewException, match=r"\['act'\] ran more than once"):
        list(pipeline(producer, model("act"))(4))
    assert len(list(pipeline(producer, model("fc2"))(4))) == 1


def test_inplace_activation_does_not_overwrite_captured_response(rng):
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(inplace=True), nn.Linear(5, 1))
    x = rng.normal(size=(8, 3)).astype(np.float32)
    (batch,) = pipeline(ArrayProducer(x), TorchModel(net, device="cpu")(["0", "1"]))(8)
    with torch.no_grad():
        pre = net[0](torch.from_numpy(x)).numpy()
    assert (batch.fields["0"] < 0).any()
    np.testing.assert_allclose(batch.fields["0"], pre, rtol=1e-6)
    np.testing.assert_allclose(batch.fields["1"], np.maximum(pre, 0), rtol=1e-6)


def test_float64_input_and_batch_transform(rng):
    net = nn.Sequential(nn.Linear(4, 2))
    x = rng.normal(size=(5, 2, 2))  # float64, needs reshaping
    model = TorchModel(net, device="cpu", batch_transform=lambda a: a.reshape(len(a), -1))
    (batch,) = pipeline(ArrayProducer(x), model("0"))(5)
    with torch.no_grad():
        expected = net(torch.from_numpy(x.reshape(5, 4)).float()).numpy()
    np.testing.assert_allclose(batch.fields["0"], expected, rtol=1e-5)


def test_bad_arguments():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        TorchModel("not a module")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="no submodules"):
        TorchModel(nn.Linear(2, 2), device="cpu")
    with pytest.raises(InvalidParameterError, match="input_shape"):
        TorchModel(_net(), device="cpu", input_shape=(0, 8))
    with pytest.raises(InvalidParameterError, match="device"):
        TorchModel(_net(), device="not-a-device")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidParameterError, match="CUDA is not available"):
            TorchModel(_net(), device="cuda")


def test_importing_integrations_does_not_import_torch():
    code = (
        "import sys, deepview.integrations, deepview.base;"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
