"""IUA: exact inactive counts, streaming consistency, show() and bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from deepview.base import ArrayProducer, Batch
from deepview.exceptions import DeepViewException, InvalidDataError, InvalidParameterError
from deepview.introspectors import IUA


def relu_layer(rng: np.random.Generator, n: int, units: int, dead: list[int],
               dtype: type = np.float32) -> np.ndarray:
    x = np.maximum(rng.normal(size=(n, units)), 0.0).astype(dtype)
    x[:, dead] = 0.0
    return x


def expected(x: np.ndarray, atol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    mask = np.isclose(x, 0, atol=atol)
    return mask.reshape(len(x), -1).sum(axis=1), mask.sum(axis=0)


@pytest.mark.parametrize("batch_size", [1, 32, 333, 5000])
def test_counts_exact_for_any_batch_size(rng, make_producer, batch_size):
    x = relu_layer(rng, 700, 24, dead=[0, 5, 17])
    producer = make_producer({"layer": x})
    iua = IUA.introspect(producer, batch_size=batch_size)
    assert producer.calls == 1
    r = iua.results["layer"]
    per_sample, per_unit = expected(x)
    np.testing.assert_array_equal(r.inactive, per_sample)
    np.testing.assert_array_equal(r.unit_inactive_count, per_unit)
    np.testing.assert_allclose(r.unit_inactive_proportion, per_unit / 700)
    assert r.mean_inactive == pytest.approx(per_sample.mean(), rel=1e-12)
    assert r.std_inactive == pytest.approx(per_sample.std(), rel=1e-12)
    always = np.flatnonzero(np.asarray(r.unit_inactive_proportion) == 1.0).tolist()
    assert always == [0, 5, 17]


@pytest.mark.parametrize("units", [1, 7, 2040, 2041, 5000])
def test_counts_exact_for_any_width(rng, units):
    # per-row counts are summed 8 bytes at a time in groups of up to 255 words
    x = np.maximum(rng.normal(size=(40, units)), 0.0)
    x[:3] = 0.0  # rows that are entirely inactive (count == units)
    r = IUA.introspect(ArrayProducer({"x": x}), batch_size=16).results["x"]
    per_sample, per_unit = expected(x)
    np.testing.assert_array_equal(r.inactive, per_sample)
    np.testing.assert_array_equal(r.unit_inactive_count, per_unit)
    assert r.inactive[0] == units


@pytest.mark.parametrize(("n", "units"), [(1000, 7), (20011, 5)])
@pytest.mark.parametrize("batch_size", [7, 4096])
def test_mean_and_std_are_numpys_to_the_last_bit(n, units, batch_size):
    # sample i has (7919 i mod units) inactive units: counts whose exact variance and
    # np.std differ in the last bit; 20011 samples exceed numpy's 8192-value reduction
    # buffer
    counts = [(7919 * i) % units for i in range(n)]  # a plain list, as user code has it
    x = (np.arange(units) >= np.array(counts)[:, None]).astype(np.float32)
    r = IUA.introspect(ArrayProducer({"x": x}), batch_size=batch_size).results["x"]
    assert r.inactive == counts
    assert r.mean_inactive == np.mean(counts)
    assert r.std_inactive == np.std(counts)
    assert r.std_inactive == np.std(r.inactive) and r.mean_inactive == np.mean(r.inactive)
    assert type(r.mean_inactive) is float and type(r.std_inactive) is float


def test_per_sample_counts_read_like_a_list_and_convert_to_an_array():
    x = np.array([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 2.0, 3.0]])
    r = IUA.introspect(ArrayProducer({"x": x})).results["x"]
    counts = r.inactive
    assert counts == [2, 0, 3, 1] and [2, 0, 3, 1] == counts  # a bool, either way round
    assert counts != [2, 0, 3] and counts != [2, 0, 3, 2] and counts != "2031"
    assert counts == (2, 0, 3, 1) and counts == np.array([2, 0, 3, 1])
    assert len(counts) == 4 and list(counts) == [2, 0, 3, 1] and counts.tolist() == [2, 0, 3, 1]
    assert counts[2] == 3 and type(counts[2]) is int and counts[-1] == 1
    assert counts[1:3] == [0, 3] and counts.index(3) == 2 and 0 in counts
    array = np.asarray(counts)
    assert array.dtype == np.int32 and not array.flags.writeable
    assert np.asarray(counts) is array or np.shares_memory(np.asarray(counts), array)
    assert np.asarray(counts, dtype=np.float64).tolist() == [2.0, 0.0, 3.0, 1.0]
    with pytest.raises(TypeError):
        counts[0] = 5  # type: ignore[index]
    with pytest.raises(TypeError):
        hash(counts)
    assert pickle.loads(pickle.dumps(counts)) == counts


def test_planted_dead_units_match_pfa(rng):
    from deepview.introspectors import PFA

    x = np.abs(rng.normal(size=(400, 12))) + 0.1
    dead = [2, 3, 9]
    x[:, dead] = 0.0
    iua = IUA.introspect(ArrayProducer({"fc": x}))
    r = iua.results["fc"]
    assert np.flatnonzero(np.asarray(r.unit_inactive_count) == 400).tolist() == dead
    assert r.mean_inactive == 3.0 and r.std_inactive == 0.0
    pfa = PFA.introspect(ArrayProducer({"fc": x}))
    assert pfa.covariances["fc"].inactive_units.tolist() == dead


def test_multi_dim_responses_keep_unit_shape(rng):
    x = np.maximum(rng.normal(size=(300, 4, 5, 3)), 0)
    x[:, 1, :, 2] = 0.0
    r = IUA.introspect(ArrayProducer({"conv": x}), batch_size=64).results["conv"]
    per_sample, per_unit = expected(x)
    counts = np.asarray(r.unit_inactive_count)
    assert counts.shape == (4, 5, 3)
    np.testing.assert_array_equal(counts, per_unit)
    np.testing.assert_array_equal(r.inactive, per_sample)
    assert np.all(counts[1, :, 2] == 300)


def test_atol_and_rtol_semantics(rng):
    x = np.array([[0.0, 1e-9, 1e-7, -1e-7, 1.0]] * 10)
    r = IUA.introspect(ArrayProducer({"x": x})).results["x"]
    assert np.asarray(r.unit_inactive_count).tolist() == [10, 10, 0, 0, 0]
    r = IUA.introspect(ArrayProducer({"x": x}), atol=1e-6).results["x"]
    assert np.asarray(r.unit_inactive_count).tolist() == [10, 10, 10, 10, 0]
    # rtol multiplies |0| in numpy.isclose(x, 0): no effect, as documented
    r = IUA.introspect(ArrayProducer({"x": x}), rtol=0.5).results["x"]
    assert np.asarray(r.unit_inactive_count).tolist() == [10, 10, 0, 0, 0]
    for dtype in (np.float32, np.float16):
        r = IUA.introspect(ArrayProducer({"x": x.astype(dtype)}), atol=1e-6).results["x"]
        np.testing.assert_array_equal(r.unit_inactive_count,
                                      expected(x.astype(dtype), atol=1e-6)[1])


def test_integer_bool_and_non_finite_values():
    ints = np.array([[0, 1, -128], [0, 0, 5]], dtype=np.int8)
    r = IUA.introspect(ArrayProducer({"x": ints})).results["x"]
    assert np.asarray(r.unit_inactive_count).tolist() == [2, 1, 0]
    flags = np.array([[True, False], [False, False]])
    r = IUA.introspect(ArrayProducer({"x": flags})).results["x"]
    assert np.asarray(r.unit_inactive_count).tolist() == [1, 2]
    for dtype in (np.float64, np.float32, np.float16):
        bad = np.array([[np.nan, 0.0, 1.0], [0.0, -np.inf, 0.0]], dtype=dtype)
        with pytest.raises(InvalidDataError, match="field 'x' contains NaN or inf"):
            IUA.introspect(ArrayProducer({"x": bad}))


def test_several_fields_and_mixed_batch_sizes(rng):
    a = relu_layer(rng, 90, 6, dead=[1])
    b = relu_layer(rng, 90, 3, dead=[], dtype=np.float64)

    def uneven(batch_size):
        for start, stop in ((0, 5), (5, 70), (70, 71), (71, 90)):
            yield Batch({"a": a[start:stop], "b": b[start:stop]})

    results = IUA.introspect(uneven).results
    for name, x in (("a", a), ("b", b)):
        per_sample, per_unit = expected(x)
        np.testing.assert_array_equal(results[name].inactive, per_sample)
        np.testing.assert_array_equal(results[name].unit_inactive_count, per_unit)


def test_many_batches_flush_uint8_accumulator(rng):
    x = relu_layer(rng, 600, 4, dead=[3])
    r = IUA.introspect(ArrayProducer({"x": x}), batch_size=1).results["x"]  # > 255 batches
    np.testing.assert_array_equal(r.unit_inactive_count, expected(x)[1])
    assert np.asarray(r.unit_inactive_count)[3] == 600


def test_bad_input(rng):
    x = rng.normal(size=(10, 3))
    with pytest.raises(InvalidParameterError):
        IUA.introspect(ArrayProducer({"x": x}), atol=-1.0)
    with pytest.raises(InvalidParameterError):
        IUA.introspect(ArrayProducer({"x": x}), batch_size=0)
    with pytest.raises(InvalidDataError, match="no batches"):
        IUA.introspect(lambda batch_size: iter(()))
    one = IUA.introspect(ArrayProducer({"x": np.array([0.0, 1.0, 0.0])})).results["x"]
    assert int(one.unit_inactive_count) == 2 and one.inactive.tolist() == [1, 0, 1]

    def reshaped(batch_size):
        yield Batch({"x": x[:5]})
        yield Batch({"x": x[5:, :2]})

    with pytest.raises(InvalidDataError, match="shape"):
        IUA.introspect(reshaped)


def test_show_table(rng):
    pytest.importorskip("pandas")
    iua = IUA.introspect(ArrayProducer({"b": np.zeros((10, 3)), "a": np.ones((10, 2))}))
    table = IUA.show(iua)
    assert list(table.columns) == ["response", "mean inactive", "std inactive"]
    assert table["response"].tolist() == ["a", "b"]
    assert table["mean inactive"].tolist() == [0.0, 3.0]
    only = IUA.show(iua, response_names=["b"])
    assert only["response"].tolist() == ["b"]


def test_show_chart_gives_axes_per_response(rng):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    iua = IUA.introspect(ArrayProducer({
        "dense": relu_layer(rng, 50, 8, dead=[2]),
        "conv": np.maximum(rng.normal(size=(50, 3, 4, 4)), 0),
        "map": np.maximum(rng.normal(size=(50, 4, 4)), 0),
    }))
    axes = IUA.show(iua, vis_type=IUA.VisType.CHART)
    try:
        # several responses: a 1-D array of Axes, sorted by response, in one figure
        assert isinstance(axes, np.ndarray) and axes.shape == (3,)
        assert all(isinstance(ax, Axes) for ax in axes)
        assert len({id(ax.figure) for ax in axes}) == 1
        width, height = axes[0].figure.get_size_inches()
        assert width <= 10 and height <= 12
        titles = [ax.get_title() for ax in axes]
        assert [t.split(":")[0] for t in titles] == ["conv", "dense", "map"]
        assert "1 of 8 always inactive" in titles[1]
    finally:
        plt.close(axes[0].figure)
    single = IUA.show(iua, vis_type="chart", response_names=["dense"])
    try:
        # one response: the Axes itself, not an array
        assert isinstance(single, Axes) and single.get_title().startswith("dense")
        assert [ax for ax in single.figure.axes if ax.get_title()] == [single]
    finally:
        plt.close(single.figure)


def test_show_bad_input(rng):
    iua = IUA.introspect(ArrayProducer({"x": np.zeros((4, 2))}))
    with pytest.raises(ValueError, match="unknown"):
        IUA.show(iua, response_names=["y"])
    with pytest.raises(ValueError, match="empty"):
        IUA.show(iua, response_names=[])
    with pytest.raises(ValueError):
        IUA.show(iua, vis_type="pie")
    with pytest.raises(DeepViewException):
        IUA.show({"x": 1})  # type: ignore[arg-type]
