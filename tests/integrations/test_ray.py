"""deepview.integrations.ray on a local Ray instance (2 CPUs, no dashboard, loopback only):
RayDatasetProducer equals ArrayProducer for every introspector, reduce_dataset's merged
block states equal the single-process introspectors, map_responses equals the in-process
model pipeline (issue 11)."""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from ray import cloudpickle  # noqa: E402

from deepview.base import ArrayProducer, pipeline  # noqa: E402
from deepview.exceptions import InvalidDataError, InvalidTypeError, MissingFieldError  # noqa: E402
from deepview.integrations.ray import (  # noqa: E402
    RayDatasetProducer,
    map_responses,
    ray_session,
    reduce_dataset,
)
from deepview.introspectors import (  # noqa: E402
    IUA,
    PFA,
    DimensionReduction,
    Duplicates,
    Familiarity,
)
from deepview.introspectors.states import IUAState, PCAState, PFAState  # noqa: E402

# the factories below travel to the workers by value (the test module is not importable there)
cloudpickle.register_pickle_by_value(sys.modules[__name__])

N = 1200


STORE = 256 << 20


@pytest.fixture(scope="module")
def cluster() -> Any:
    with ray_session(num_cpus=2, object_store_memory=STORE):
        yield


def test_local_cluster_gets_the_object_store_size_asked_for(cluster) -> None:
    # the report's driver maps the store's pages it reads: a bounded store bounds them
    assert ray.cluster_resources()["object_store_memory"] == pytest.approx(STORE, rel=0.01)


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    emb = (rng.normal(size=(N, 12)) @ rng.normal(size=(12, 12))).astype(np.float32)
    emb[5] = emb[900]  # a copy
    emb[17] = emb[400] + 1e-4  # a near copy
    relu = np.maximum(rng.normal(size=(N, 8)), 0).astype(np.float32)
    relu[:, 2] = 0.0
    return {"emb": emb, "relu": relu, "id": [f"s{i:05d}" for i in range(N)],
            "label": [str(v) for v in rng.integers(0, 3, N)]}


def make_dataset(data: dict[str, Any], blocks: int) -> Any:
    items = {"emb": data["emb"], "relu": data["relu"], "id": np.array(data["id"]),
             "label": np.array(data["label"])}
    return ray.data.from_numpy(np.arange(N)).map_batches(
        lambda b: {k: v[b["data"]] for k, v in items.items()}, batch_size=None
    ).repartition(blocks).materialize()


def array_producer(data: dict[str, Any]) -> ArrayProducer:
    return ArrayProducer({"emb": data["emb"], "relu": data["relu"]}, identifiers=data["id"],
                         labels={"label": data["label"]})


@pytest.fixture(scope="module")
def producer(cluster, data) -> RayDatasetProducer:
    return RayDatasetProducer(make_dataset(data, 8), fields=["emb", "relu"], id_column="id",
                              label_columns=["label"])


def test_batches_keep_row_order_sizes_and_metadata(producer, data) -> None:
    for batch_size in (100, 512):
        batches = list(producer(batch_size))
        assert [b.batch_size for b in batches][:-1] == [batch_size] * (len(batches) - 1)
        ids = [i for b in batches for i in b.metadata[b.StdKeys.IDENTIFIER]]
        assert ids == data["id"]  # the same order on every pass
        labels = [v for b in batches for v in b.metadata[b.StdKeys.LABELS]["label"]]
        assert labels == data["label"]
        emb = np.concatenate([b.fields["emb"] for b in batches])
        assert np.array_equal(emb, data["emb"])
    assert producer.rows == N


def test_every_introspector_equals_array_producer(producer, data) -> None:
    reference = array_producer(data)
    # duplicates: identical groups
    ours = Duplicates.introspect(producer, batch_size=256).results["emb"]
    theirs = Duplicates.introspect(reference, batch_size=256).results["emb"]
    assert [list(c.indices) for c in ours] == [list(c.indices) for c in theirs]
    assert {5, 900} in [set(c.indices) for c in ours]
    # familiarity: the same model and scores
    strategy = Familiarity.Strategy.GMM(gaussian_count=2, random_state=0)
    fam_ray = Familiarity.introspect(producer, strategy=strategy)
    fam_ref = Familiarity.introspect(reference, strategy=strategy)
    np.testing.assert_allclose(fam_ray.score(producer)["emb"], fam_ref.score(reference)["emb"],
                               rtol=1e-5)
    # PCA
    dr_ray = DimensionReduction.introspect(producer, strategies={
        "emb": DimensionReduction.Strategy.PCA(3)})
    dr_ref = DimensionReduction.introspect(reference, strategies={
        "emb": DimensionReduction.Strategy.PCA(3)})
    a = np.concatenate([b.fields["emb"] for b in pipeline(producer, dr_ray)(500)])
    b = np.concatenate([b.fields["emb"] for b in pipeline(reference, dr_ref)(500)])
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # PFA: the same recipe
    pfa_ray, pfa_ref = PFA.introspect(producer), PFA.introspect(reference)
    for name in ("emb", "relu"):
        r1, r2 = pfa_ray.get_recipe()[name], pfa_ref.get_recipe()[name]
        assert r1.recommended_output_count == r2.recommended_output_count
        assert list(r1.maximally_correlated_units) == list(r2.maximally_correlated_units)
    # IUA: the same counts
    iua_ray, iua_ref = IUA.introspect(producer).results, IUA.introspect(reference).results
    for name in ("emb", "relu"):
        assert np.array_equal(iua_ray[name].inactive, iua_ref[name].inactive)
        assert np.array_equal(iua_ray[name].unit_inactive_count,
                              iua_ref[name].unit_inactive_count)


@pytest.mark.parametrize("blocks", [1, 2, 8])
def test_merged_block_states_equal_single_process(cluster, data, blocks) -> None:
    dataset = make_dataset(data, blocks)
    assert dataset.num_blocks() == blocks
    source = RayDatasetProducer(dataset, fields=["emb", "relu"])
    reference = array_producer(data)

    pfa = reduce_dataset(source, PFAState).finish()
    whole = PFA.introspect(reference)
    for name in ("emb", "relu"):
        a, b = pfa.covariances[name].covariances, whole.covariances[name].covariances
        assert np.abs(a - b).max() <= 5e-6 * np.abs(b).max()  # PFA's float32 products

    iua = reduce_dataset(source, IUAState).finish().results
    iua_ref = IUA.introspect(reference).results
    for name in ("emb", "relu"):
        assert np.array_equal(iua[name].inactive, iua_ref[name].inactive)
        assert iua[name].std_inactive == iua_ref[name].std_inactive

    stage = reduce_dataset(RayDatasetProducer(dataset, fields="emb"),
                           functools.partial(PCAState, 4)).finish()
    whole_pca = DimensionReduction.introspect(ArrayProducer({"emb": data["emb"]}),
                                              strategies=DimensionReduction.Strategy.PCA(4))
    p1 = stage.reducers["emb"].projection
    p2 = whole_pca.reducers["emb"].projection
    np.testing.assert_allclose(p1.explained_variance, p2.explained_variance, rtol=1e-6)
    np.testing.assert_allclose(np.abs(p1.components @ p2.components.T), np.eye(4), atol=1e-6)

    fam = Familiarity.introspect(ArrayProducer({"emb": data["emb"]}),
                                 strategy=Familiarity.Strategy.GMM(gaussian_count=2,
                                                                   random_state=0))
    scores = reduce_dataset(RayDatasetProducer(dataset, fields="emb"),
                            fam.partial_scores).finish()["emb"]
    np.testing.assert_allclose(scores, fam.score(data["emb"])["emb"], rtol=1e-6)


def test_producer_rejects_bad_input(cluster, data) -> None:
    with pytest.raises(InvalidTypeError, match="ray.data.Dataset"):
        RayDatasetProducer(data["emb"])
    with pytest.raises(InvalidTypeError, match="'fields'"):
        RayDatasetProducer(make_dataset(data, 1), fields=3)
    missing = RayDatasetProducer(make_dataset(data, 1), fields="nope")
    with pytest.raises(Exception, match="nope"):
        list(missing(10))
    bad_id = RayDatasetProducer(make_dataset(data, 1), fields="emb", id_column="ident")
    with pytest.raises(Exception, match="ident"):
        list(bad_id(10))


def test_empty_dataset_is_a_clear_error(cluster) -> None:
    empty = ray.data.from_numpy(np.zeros((4, 3), dtype=np.float32)).filter(lambda r: False)
    producer = RayDatasetProducer(empty)
    with pytest.raises(InvalidDataError, match="no rows"):
        list(producer(8))
    with pytest.raises(InvalidDataError, match="no rows"):
        reduce_dataset(empty, PFAState)
    with pytest.raises(InvalidDataError):
        PFA.introspect(producer)


def test_a_short_pass_is_never_silent(cluster, data) -> None:
    producer = RayDatasetProducer(make_dataset(data, 2), fields="emb")
    list(producer(500))
    producer.dataset = producer.dataset.limit(N - 7)  # a pass that loses rows
    with pytest.raises(InvalidDataError, match=f"yielded {N - 7} rows but an earlier pass"):
        list(producer(500))
    with pytest.raises(InvalidDataError, match=f"cover {N - 7} rows but the dataset has {N}"):
        reduce_dataset(producer, PFAState)


# ----------------------------------------------------------------------------- inference
torch = pytest.importorskip("torch")


def digits_model(state: dict[str, Any], crash_marker: str | None = None) -> Any:
    """The demo's digits CNN (fixed weights) as a TorchModel; with ``crash_marker``, the
    actor's process dies on its second batch the first time (the marker file records it)."""
    import os

    import torch as th

    from deepview.integrations.torch import DigitsCNN, TorchModel

    th.set_num_threads(1)
    net = DigitsCNN(channels=(8, 16), hidden=48)
    net.load_state_dict(state)
    model = TorchModel(net, device="cpu", input_shape=(1, 8, 8))
    if crash_marker is None:
        return model
    details = model._details
    run = details.run_inference
    calls = {"n": 0}

    def crashing(inputs: Any, outputs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2 and not os.path.exists(crash_marker):
            open(crash_marker, "w").close()
            os._exit(1)  # the actor's process dies mid-pass
        return run(inputs, outputs)

    object.__setattr__(details, "run_inference", crashing)
    return model


@pytest.fixture(scope="module")
def digits() -> dict[str, Any]:
    from deepview.integrations.torch import DigitsCNN, load_digits_split

    torch.manual_seed(0)
    net = DigitsCNN(channels=(8, 16), hidden=48)
    split = load_digits_split()
    images = np.concatenate([split.x_train, split.x_test])[:600]
    digits = np.concatenate([split.y_train, split.y_test])[:600]
    return {"state": {k: v.clone() for k, v in net.state_dict().items()}, "images": images,
            "digit": digits, "id": np.array([f"img{i:04d}" for i in range(len(images))])}


def reference_responses(digits: dict[str, Any]) -> np.ndarray:
    model = digits_model(digits["state"])
    batches = pipeline(ArrayProducer({"input": digits["images"]}), model(["relu3"]))(128)
    return np.concatenate([b.fields["relu3"] for b in batches])


@pytest.mark.parametrize("concurrency", [1, 2])
def test_map_responses_equals_the_in_process_model(cluster, digits, concurrency) -> None:
    images = ray.data.from_items([
        {"image": digits["images"][i], "id": digits["id"][i], "digit": int(digits["digit"][i])}
        for i in range(len(digits["images"]))
    ]).repartition(4).materialize()
    # the actors hold their CPUs for the whole pass: 2 x 0.5 of the cluster's 2
    responses = map_responses(images, functools.partial(digits_model, digits["state"]),
                              ["relu3", "fc2"], input_column="image", batch_size=64,
                              concurrency=concurrency, num_cpus=0.5)
    producer = RayDatasetProducer(responses, fields="relu3", id_column="id",
                                  label_columns=["digit"])
    batches = list(producer(100))
    got = np.concatenate([b.fields["relu3"] for b in batches])
    np.testing.assert_allclose(got, reference_responses(digits), rtol=1e-5, atol=1e-6)
    assert [i for b in batches for i in b.metadata[b.StdKeys.IDENTIFIER]] == list(digits["id"])
    assert [v for b in batches for v in b.metadata[b.StdKeys.LABELS]["digit"]] == list(
        digits["digit"])


def test_map_responses_checks_its_arguments(cluster, digits) -> None:
    from deepview.exceptions import InvalidParameterError

    images = ray.data.from_items([{"image": digits["images"][0]}])
    factory = functools.partial(digits_model, digits["state"])
    with pytest.raises(InvalidTypeError, match="ray.data.Dataset"):
        map_responses([1], factory, "relu3", input_column="image")
    with pytest.raises(InvalidParameterError, match="response_names"):
        map_responses(images, factory, [], input_column="image")
    with pytest.raises(InvalidParameterError, match="concurrency"):
        map_responses(images, factory, "relu3", input_column="image", concurrency=0)
    wrong = map_responses(images, lambda: "not a model", "relu3", input_column="image")
    with pytest.raises(Exception, match="must return a deepview Model"):
        wrong.take_all()
    with pytest.raises(Exception, match="unknown response"):
        map_responses(images, factory, "nope", input_column="image").take_all()
    with pytest.raises(MissingFieldError, match="image2"):
        list(RayDatasetProducer(images, fields="image2")(1))


def test_an_actor_killed_mid_pass_is_retried_and_no_row_is_lost(cluster, digits,
                                                                  tmp_path) -> None:
    """The actor's process dies on its second batch; Ray restarts it and retries the batch:
    the pass completes with every row, in order, equal to the in-process responses."""
    marker = str(tmp_path / "crashed")
    images = ray.data.from_items([
        {"image": digits["images"][i], "id": digits["id"][i]}
        for i in range(len(digits["images"]))
    ]).repartition(3).materialize()
    responses = map_responses(images, functools.partial(digits_model, digits["state"], marker),
                              "relu3", input_column="image", batch_size=100, concurrency=1,
                              num_cpus=0.5)
    producer = RayDatasetProducer(responses, fields="relu3", id_column="id")
    batches = list(producer(200))
    import os

    assert os.path.exists(marker)  # the actor did die
    assert producer.rows == len(digits["images"])
    got = np.concatenate([b.fields["relu3"] for b in batches])
    np.testing.assert_allclose(got, reference_responses(digits), rtol=1e-5, atol=1e-6)
