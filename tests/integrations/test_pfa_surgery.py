"""apply_pfa_recipe: shapes, exact removal of dead/duplicate units, errors, original untouched."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from deepview.exceptions import DeepViewException, InvalidDataError  # noqa: E402
from deepview.integrations.torch import DigitsCNN, apply_pfa_recipe  # noqa: E402


def recipe(n: int, removed) -> SimpleNamespace:
    return SimpleNamespace(original_output_count=n, maximally_correlated_units=list(removed))


def _state(module: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().clone().numpy() for k, v in module.state_dict().items()}


def _assert_same_state(module: nn.Module, saved: dict[str, np.ndarray]) -> None:
    now = _state(module)
    assert now.keys() == saved.keys()
    for key, value in saved.items():
        np.testing.assert_array_equal(now[key], value, err_msg=key)


def _out(module: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return module.eval()(x).numpy()


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 3))


def test_linear_pair_shapes_and_original_untouched():
    net = _mlp()
    saved = _state(net)
    small = apply_pfa_recipe(net, {"0": recipe(8, [1, 6, 3]), "2": recipe(6, [0])})
    assert small is not net and type(small) is nn.Sequential
    assert (small[0].out_features, small[2].in_features) == (5, 5)
    assert (small[2].out_features, small[4].in_features) == (5, 5)
    assert tuple(small[0].weight.shape) == (5, 5) and tuple(small[0].bias.shape) == (5,)
    assert tuple(small[2].weight.shape) == (5, 5)
    assert tuple(small[4].weight.shape) == (3, 5)
    kept = [0, 2, 4, 5, 7]
    np.testing.assert_array_equal(small[0].weight.detach().numpy(), saved["0.weight"][kept])
    assert small[0].weight.requires_grad
    _assert_same_state(net, saved)
    assert _out(small, torch.randn(4, 5)).shape == (4, 3)


def test_dead_units_are_removed_without_changing_outputs():
    net = _mlp()
    with torch.no_grad():
        net[0].weight[[2, 5]] = 0.0
        net[0].bias[[2, 5]] = -1.0  # relu(-1) = 0: dead for every input
    x = torch.randn(64, 5, generator=torch.Generator().manual_seed(1))
    small = apply_pfa_recipe(net, {"0": recipe(8, [5, 2])}, fold_duplicates=False)
    assert small[0].out_features == 6
    np.testing.assert_allclose(_out(small, x), _out(net, x), rtol=0, atol=1e-6)
    # removing live units does change the output
    live = apply_pfa_recipe(net, {"0": recipe(8, [0, 1])})
    assert not np.allclose(_out(live, x), _out(net, x), atol=1e-3)


def test_scaled_duplicates_are_folded_into_their_twin():
    net = _mlp()
    with torch.no_grad():
        net[0].weight[6] = 2.5 * net[0].weight[1]  # relu(2.5 y) = 2.5 relu(y)
        net[0].bias[6] = 2.5 * net[0].bias[1]
        net[0].weight[4] = net[0].weight[3]
        net[0].bias[4] = net[0].bias[3]
    x = torch.randn(64, 5, generator=torch.Generator().manual_seed(2))
    rec = {"0": recipe(8, [6, 4])}
    folded = apply_pfa_recipe(net, rec)
    np.testing.assert_allclose(_out(folded, x), _out(net, x), rtol=1e-5, atol=1e-5)
    cut = apply_pfa_recipe(net, rec, fold_duplicates=False)
    assert not np.allclose(_out(cut, x), _out(net, x), atol=1e-3)


def test_negative_multiple_is_not_folded():
    net = _mlp()
    with torch.no_grad():
        net[0].weight[6] = -net[0].weight[1]
        net[0].bias[6] = -net[0].bias[1]
    folded = apply_pfa_recipe(net, {"0": recipe(8, [6])})
    cut = apply_pfa_recipe(net, {"0": recipe(8, [6])}, fold_duplicates=False)
    np.testing.assert_array_equal(folded[2].weight.detach(), cut[2].weight.detach())


def _cnn() -> DigitsCNN:
    torch.manual_seed(0)
    net = DigitsCNN(channels=(6, 8), hidden=10)
    gen = torch.Generator().manual_seed(3)
    for bn in (net.bn1, net.bn2):
        bn.running_mean.copy_(torch.rand(bn.num_features, generator=gen) - 0.5)
        bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
        bn.weight.data.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
        bn.bias.data.copy_(torch.rand(bn.num_features, generator=gen) - 0.5)
    return net


def test_conv_bn_conv_and_conv_flatten_linear_with_exact_removal():
    net = _cnn()
    with torch.no_grad():
        # conv1 channel 4 duplicates channel 1 after BatchNorm (same effective affine map)
        net.conv1.weight[4] = net.conv1.weight[1]
        net.conv1.bias[4] = net.conv1.bias[1]
        for t in (net.bn1.weight, net.bn1.bias, net.bn1.running_mean, net.bn1.running_var):
            t[4] = t[1]
        # conv2 channels 0 and 5 are dead: BatchNorm output is always negative -> relu 0
        net.conv2.weight[[0, 5]] = 0.0
        net.bn2.bias[[0, 5]] = -1.0
    saved = _state(net)
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    small = apply_pfa_recipe(net, {"conv1": recipe(6, [4]), "relu2": recipe(8, [5, 0])})
    assert small.conv1.out_channels == 5 and small.bn1.num_features == 5
    assert tuple(small.bn1.running_mean.shape) == (5,)
    assert small.conv2.in_channels == 5 and small.conv2.out_channels == 6
    assert small.bn2.num_features == 6 and tuple(small.bn2.running_var.shape) == (6,)
    assert small.fc1.in_features == 6 * 16 and tuple(small.fc1.weight.shape) == (10, 96)
    np.testing.assert_allclose(_out(small, x), _out(net, x), rtol=1e-5, atol=1e-5)
    _assert_same_state(net, saved)


def test_consumer_that_is_also_pruned_and_training_still_works():
    net = _cnn()
    small = apply_pfa_recipe(
        net, {"conv2": recipe(8, [1, 2, 3]), "fc1": recipe(10, [0, 9]), "bn1": recipe(6, [2])}
    )
    assert (small.conv1.out_channels, small.conv2.in_channels) == (5, 5)
    assert (small.fc1.in_features, small.fc1.out_features, small.fc2.in_features) == (80, 8, 8)
    small.train()
    loss = small(torch.rand(4, 1, 8, 8)).sum()
    loss.backward()
    assert small.fc1.weight.grad is not None and small.fc1.weight.grad.shape == (8, 80)


class _Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 2 * 2, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 3)
        return self.fc(x.view(x.size(0), -1))


def test_functional_ops_and_view_flatten():
    torch.manual_seed(0)
    net = _Functional()
    with torch.no_grad():
        net.conv.weight[2] = 0.0
        net.conv.bias[2] = -0.5
    x = torch.rand(8, 1, 8, 8)
    small = apply_pfa_recipe(net, {"conv": recipe(4, [2])})
    assert small.fc.in_features == 12
    np.testing.assert_allclose(_out(small, x), _out(net, x), atol=1e-6)


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.fc2 = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        return self.head(h + self.fc2(h))


class _Dynamic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent: not traceable
            x = x * 2
        return self.fc2(torch.relu(self.fc1(x)))


def test_unsupported_architectures_name_the_layer():
    with pytest.raises(DeepViewException, match=r"'fc1'.*feeds 2 operations"):
        apply_pfa_recipe(_Residual(), {"fc1": recipe(4, [0])})
    with pytest.raises(DeepViewException, match=r"'fc2'.*'add'"):
        apply_pfa_recipe(_Residual(), {"fc2": recipe(4, [0])})
    with pytest.raises(DeepViewException, match=r"'4' \(Linear\).*network's output"):
        apply_pfa_recipe(_mlp(), {"4": recipe(3, [0])})
    grouped = nn.Sequential(nn.Conv2d(4, 4, 1, groups=2), nn.Conv2d(4, 2, 1))
    with pytest.raises(DeepViewException, match=r"'0'.*groups=2"):
        apply_pfa_recipe(grouped, {"0": recipe(4, [0])})
    softmax = nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=1), nn.Linear(4, 2))
    with pytest.raises(DeepViewException, match=r"layer '1'"):
        apply_pfa_recipe(softmax, {"0": recipe(4, [0])})
    with pytest.raises(DeepViewException, match=r"'1' \(Softmax\).*one-to-one"):
        apply_pfa_recipe(softmax, {"1": recipe(4, [0])})
    with pytest.raises(DeepViewException, match="not a layer of Sequential"):
        apply_pfa_recipe(_mlp(), {"fc9": recipe(8, [0])})


def test_untraceable_model_needs_pairs():
    torch.manual_seed(0)
    net = _Dynamic()
    with pytest.raises(DeepViewException, match="pairs="):
        apply_pfa_recipe(net, {"fc1": recipe(4, [1])})
    with torch.no_grad():
        net.fc1.weight[1] = 0.0
        net.fc1.bias[1] = -1.0
    small = apply_pfa_recipe(net, {"fc1": recipe(4, [1])}, pairs={"fc1": ["fc2"]})
    assert (small.fc1.out_features, small.fc2.in_features) == (3, 3)
    x = torch.randn(5, 3)
    np.testing.assert_allclose(_out(small, x), _out(net, x), atol=1e-6)
    with pytest.raises(DeepViewException, match="'fc2'.*consumes the Linear|inputs"):
        apply_pfa_recipe(_cnn(), {"conv1": recipe(6, [0])}, pairs={"conv1": ["fc2"]})


def test_recipes_that_do_not_fit_the_layer():
    net = _mlp()
    with pytest.raises(InvalidDataError, match="for 7 units but layer '0' has 8"):
        apply_pfa_recipe(net, {"0": recipe(7, [0])})
    with pytest.raises(InvalidDataError, match=r"outside 0\.\.7: \[8\]"):
        apply_pfa_recipe(net, {"0": recipe(8, [0, 8])})
    with pytest.raises(InvalidDataError, match="removes all 8 units"):
        apply_pfa_recipe(net, {"0": recipe(8, range(8))})
    with pytest.raises(TypeError, match="PFARecipe"):
        apply_pfa_recipe(net, {"0": object()})
    with pytest.raises(ValueError, match="same layer"):
        apply_pfa_recipe(net, {"0": recipe(8, [0]), "1": recipe(8, [1])})
    same = apply_pfa_recipe(net, {"0": recipe(8, [])})
    assert same[0].out_features == 8


def test_pfa_recipe_from_torch_model_responses_removes_planted_redundancy():
    from deepview.base import ArrayProducer, pipeline
    from deepview.integrations.torch import TorchModel
    from deepview.introspectors import PFA

    net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        e = torch.eye(3)
        # three distinct units, three scaled copies of them, two dead units
        net[0].weight.copy_(torch.stack([e[0], e[1], e[2], 2 * e[0], 0.5 * e[0], 3 * e[1],
                                         torch.zeros(3), torch.zeros(3)]))
        net[0].bias.copy_(torch.tensor([0, 0, 0, 0, 0, 0, -1.0, -1.0]))
    x = np.random.default_rng(0).normal(size=(500, 3)).astype(np.float32)
    responses = pipeline(ArrayProducer(x), TorchModel(net, device="cpu")("1"))
    pfa = PFA.introspect(responses, batch_size=128)
    recipes = pfa.get_recipe(strategy=PFA.Strategy.Energy(energy_threshold=0.99))
    removed = set(recipes["1"].maximally_correlated_units)
    assert {6, 7} <= removed and len(removed) == 5 and 2 not in removed
    small = apply_pfa_recipe(net, recipes)  # key '1' (the ReLU) maps back to layer '0'
    assert (small[0].out_features, small[2].in_features) == (3, 3)
    xt = torch.from_numpy(x)
    np.testing.assert_allclose(_out(small, xt), _out(net, xt), rtol=1e-5, atol=1e-5)
