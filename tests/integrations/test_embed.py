"""Raw samples through a model: MiniLM responses match sentence-transformers, PFA on its MLP
layers, the digits CNN on PNG files, the resumable shard cache, bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from deepview.base import ImageFolderProducer, TextProducer, pipeline  # noqa: E402
from deepview.exceptions import (  # noqa: E402
    DeepViewException,
    DeepViewWarning,
    InvalidDataError,
    InvalidParameterError,
    InvalidTypeError,
)
from deepview.integrations.torch import (  # noqa: E402
    Embedder,
    ImageTransform,
    TextTransform,
    TorchModel,
    digits_cnn_factory,
    embed,
    load_embedder,
    load_state_dict,
)

SENTENCES = [
    "The cat sat on the mat.",
    "A dog chased the ball across the park.",
    "numpy.linalg.svd returns the singular value decomposition of a matrix.",
    "Compute the mean along the given axis, ignoring NaNs.",
    "I would like a cup of tea, please.",
    "Return a new array of given shape and type, filled with zeros.",
    "Quantum computers use qubits.",
    "x",
    "The stock market fell sharply on Monday after the announcement of new tariffs on steel.",
    "Read a comma-separated values (csv) file into DataFrame.",
    "Deep learning models learn representations of data with multiple levels of abstraction.",
    "Paris is the capital of France.",
]


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def minilm_dir(tmp_path_factory) -> Path:
    pytest.importorskip("sentence_transformers")
    package = pytest.importorskip("all_minilm_l6_v2")
    return Path(package.extract_model(str(tmp_path_factory.mktemp("minilm"))))


@pytest.fixture(scope="module")
def st_model(minilm_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir), device="cpu")


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory) -> Path:
    """240 scikit-learn digits as 32x32 dark-ink PNGs, ``<digit>/<index>.png``."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digits")
    digits = load_digits()
    for i in range(240):
        folder = root / str(digits.target[i])
        folder.mkdir(exist_ok=True)
        pixels = np.clip(255 - digits.images[i] / 16 * 255, 0, 255).astype(np.uint8)
        Image.fromarray(np.kron(pixels, np.ones((4, 4), np.uint8)), "L").save(
            folder / f"{i:04d}.png")
    return root


@pytest.fixture(scope="module")
def digits_net():
    return digits_cnn_factory(epochs=2)


def _digits_embedder(digits_net) -> Embedder:
    net, transform = digits_net
    return Embedder(name="digits", model=TorchModel(net, device="cpu", pooling="mean"),
                    transform=transform, modality="image")


def _quiet_embed(*args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = embed(*args, **kwargs)
    return result, [w for w in caught if issubclass(w.category, DeepViewWarning)]


# -------------------------------------------------------------------------------- MiniLM
@pytest.mark.slow
def test_minilm_pooled_responses_match_sentence_transformers(minilm_dir, st_model):
    embedder = load_embedder(str(minilm_dir), modality="text", device="cpu")
    result, _ = _quiet_embed(TextProducer(SENTENCES), embedder, batch_size=5)
    assert result.layer == "encoder"  # the last hidden state, mean-pooled over real tokens
    assert embedder.normalize
    expected = st_model.encode(SENTENCES, convert_to_numpy=True)
    np.testing.assert_allclose(result.vectors, expected, atol=2e-5)
    assert result.texts == SENTENCES and result.ids == [str(i) for i in range(len(SENTENCES))]
    # padding does not change a sentence's response: alone or in a padded batch
    alone = embedder(embedder.transform([SENTENCES[7]]))
    np.testing.assert_allclose(alone[0], result.vectors[7], atol=2e-5)


def _random_sentences(n: int, seed: int = 0) -> list[str]:
    words = ("array matrix model data cat dog tree river quickly slowly returns computes the a "
             "of to with large small red blue mean axis value file reads writes sorted").split()
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, size=int(rng.integers(3, 9)))) for _ in range(n)]


@pytest.mark.slow
def test_pfa_gives_a_recipe_for_the_minilm_intermediate_layers(st_model):
    from deepview.introspectors import PFA

    model = TorchModel(st_model[0].auto_model, device="cpu", input_name="texts",
                       batch_transform=TextTransform(st_model.tokenizer, max_length=12),
                       pooling="mean", token_mask="attention_mask")
    layers = [f"encoder.layer.{i}.intermediate" for i in range(6)]
    texts = _random_sentences(1700)  # PFA needs more samples than the 1536 units
    responses = pipeline(TextProducer(texts), model(layers))
    pfa = PFA.introspect(responses, batch_size=256)
    assert not pfa.failed_responses
    recipes = pfa.get_recipe(strategy=PFA.Strategy.Energy(energy_threshold=0.99))
    assert sorted(recipes) == layers
    for name in layers:
        recipe = recipes[name]
        assert recipe.original_output_count == 1536
        # 34 words in short sentences: far fewer directions than units carry the energy
        assert 1 <= recipe.recommended_output_count < 1536 * 0.75


@pytest.mark.slow
def test_text_model_refuses_images_and_names_the_layers(minilm_dir, digits_dir):
    with pytest.raises(InvalidParameterError, match="takes texts but the input holds images"):
        load_embedder(str(minilm_dir), modality="image", device="cpu")
    with pytest.raises(DeepViewException, match=r"Did you mean.*encoder.layer.0.intermediate"):
        load_embedder(str(minilm_dir), layer="encoder.layer.0.intermediat", device="cpu")


# --------------------------------------------------------------------------- digits PNG
def test_digits_pngs_through_the_factory_match_the_in_memory_digits(digits_dir, digits_net):
    from sklearn.datasets import load_digits

    embedder = _digits_embedder(digits_net)
    producer = ImageFolderProducer(digits_dir, labels_from="folders")
    result, caught = _quiet_embed(producer, embedder, batch_size=64, num_workers=0)
    assert not caught and result.layer == "relu3"  # the penultimate layer by default
    assert result.vectors.shape == (240, 48)
    rows = [int(Path(i).stem) for i in result.ids]
    digits = load_digits()
    assert result.labels["label"] == [str(digits.target[r]) for r in rows]
    x = (digits.images[rows] / 16.0).astype(np.float32)[:, None]
    direct = TorchModel(digits_net[0], device="cpu").responses(torch.from_numpy(x), "relu3")
    # the PNGs hold 8-bit pixels: equal up to that rounding
    np.testing.assert_allclose(result.vectors, direct["relu3"], atol=0.05)
    assert result.paths[0] == str(digits_dir / result.ids[0])


def test_image_workers_give_the_same_embeddings(digits_dir, digits_net):
    embedder = _digits_embedder(digits_net)
    one, _ = _quiet_embed(ImageFolderProducer(digits_dir), embedder, batch_size=64,
                          num_workers=0)
    two, _ = _quiet_embed(ImageFolderProducer(digits_dir), embedder, batch_size=64,
                          num_workers=2)
    np.testing.assert_array_equal(one.vectors, two.vectors)
    assert one.ids == two.ids


# ---------------------------------------------------------------------------- the cache
def test_rerun_reuses_every_shard_and_a_damaged_or_missing_one_is_redone(
        digits_dir, digits_net, tmp_path):
    cache = tmp_path / "cache"
    embedder = _digits_embedder(digits_net)
    first, _ = _quiet_embed(ImageFolderProducer(digits_dir), embedder, cache_dir=cache,
                            shard_size=50, batch_size=32, num_workers=0)
    assert (first.computed, first.reused) == (240, 0)
    folder = cache / first.spec_hash
    shards = sorted(folder.glob("shard-*.parquet"))
    assert len(shards) == 5 and not list(folder.glob(".*.tmp"))
    again, _ = _quiet_embed(ImageFolderProducer(digits_dir), embedder, cache_dir=cache,
                            shard_size=50, num_workers=0)
    assert (again.computed, again.reused) == (0, 240)
    np.testing.assert_array_equal(again.vectors, first.vectors)
    assert again.labels == first.labels and again.paths == first.paths
    # a half-written shard (cut in the middle) and a missing one are embedded again
    data = shards[1].read_bytes()
    shards[1].write_bytes(data[: len(data) // 2])
    shards[3].unlink()
    (folder / ".shard-00004.parquet.999999999.tmp").write_bytes(b"left by a killed run")
    third, _ = _quiet_embed(ImageFolderProducer(digits_dir), embedder, cache_dir=cache,
                            shard_size=50, num_workers=0)
    assert (third.computed, third.reused) == (100, 140)
    np.testing.assert_allclose(third.vectors, first.vectors, rtol=1e-6, atol=1e-6)
    assert not list(folder.glob(".*.tmp"))
    # another layer is another cache entry: nothing reused
    other = _digits_embedder(digits_net)
    other.layer = "fc1"
    fourth, _ = _quiet_embed(ImageFolderProducer(digits_dir), other, cache_dir=cache,
                             shard_size=50, num_workers=0)
    assert fourth.reused == 0 and fourth.spec_hash != first.spec_hash


def test_an_interrupted_run_resumes_where_it_stopped(digits_dir, digits_net, tmp_path):
    net, transform = digits_net
    calls = {"n": 0}

    def failing(images):
        calls["n"] += 1
        if calls["n"] > 3:  # the probe, then two shards of one batch each
            raise KeyboardInterrupt
        return transform(images)

    broken = Embedder(name="digits", model=TorchModel(net, device="cpu", pooling="mean"),
                      transform=failing, modality="image",
                      details={"transform": transform.describe()})
    with pytest.raises(KeyboardInterrupt):
        embed(ImageFolderProducer(digits_dir), broken, cache_dir=tmp_path, shard_size=60,
              batch_size=60, num_workers=0)
    working = Embedder(name="digits", model=TorchModel(net, device="cpu", pooling="mean"),
                       transform=transform, modality="image",
                       details={"transform": transform.describe()})
    resumed, _ = _quiet_embed(ImageFolderProducer(digits_dir), working, cache_dir=tmp_path,
                              shard_size=60, batch_size=60, num_workers=0)
    assert (resumed.reused, resumed.computed) == (120, 120)


# ----------------------------------------------------------------------------- bad input
def test_unreadable_images_are_skipped_counted_and_remembered(digits_dir, digits_net,
                                                              tmp_path):
    import shutil

    folder = tmp_path / "images"
    shutil.copytree(digits_dir / "3", folder / "3")
    (folder / "3" / "zz-broken.png").write_bytes(b"\x89PNG broken")
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(folder / "3" / "zz-rgba.png")  # other size, RGBA
    embedder = _digits_embedder(digits_net)
    result, caught = _quiet_embed(ImageFolderProducer(folder), embedder, cache_dir=tmp_path / "c",
                                  num_workers=0)
    assert [s.id for s in result.skipped] == ["3/zz-broken.png"]
    assert len(caught) == 1 and "3/zz-broken.png" in str(caught[0].message)
    assert "3/zz-rgba.png" in result.ids and "3/zz-broken.png" not in result.ids
    again, caught = _quiet_embed(ImageFolderProducer(folder), embedder,
                                 cache_dir=tmp_path / "c", num_workers=0)
    assert again.computed == 0 and [s.id for s in again.skipped] == ["3/zz-broken.png"]
    assert len(caught) == 1


def test_no_readable_sample_is_an_error(tmp_path, digits_net):
    (tmp_path / "a.png").write_bytes(b"nope")
    with pytest.raises(InvalidDataError, match="none of the 1 samples"):
        embed(ImageFolderProducer(tmp_path), _digits_embedder(digits_net), num_workers=0)


def test_model_specs_that_cannot_load(tmp_path, digits_net):
    with pytest.raises(InvalidParameterError, match="unknown model 'resnet-ish'"):
        load_embedder("resnet-ish")
    with pytest.raises(InvalidParameterError, match="cannot import module"):
        load_embedder("no_such_module_xyz:build")
    (tmp_path / "factory.py").write_text(
        "import torch\n"
        "def build():\n    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4),"
        " torch.nn.ReLU(), torch.nn.Linear(4, 2))\n"
        "def bad():\n    return 3\n")
    with pytest.raises(InvalidParameterError, match=r"has no 'nope'; its functions.*build"):
        load_embedder(f"{tmp_path / 'factory.py'}:nope")
    with pytest.raises(InvalidTypeError, match="returned int"):
        load_embedder(f"{tmp_path / 'factory.py'}:bad")
    with pytest.raises(InvalidParameterError, match="without a transform, and the input holds"):
        load_embedder(f"{tmp_path / 'factory.py'}:build", modality="text")
    embedder = load_embedder(f"{tmp_path / 'factory.py'}:build", modality="image",
                             image_size=2, device="cpu")
    assert isinstance(embedder.transform, ImageTransform)
    out = embedder.transform([np.zeros((5, 5, 3), np.uint8)])
    assert tuple(out.shape) == (1, 3, 2, 2)
    assert embedder.resolve_layer(out) == "2"  # the ReLU before the last Linear
    with pytest.raises(InvalidParameterError, match="not a sentence-transformers model"):
        load_embedder(str(tmp_path))
    (tmp_path / "w.pt").write_bytes(b"not a torch file")
    with pytest.raises(InvalidParameterError, match="cannot read weights"):
        load_state_dict(tmp_path / "w.pt")
    torch.save({"state_dict": digits_net[0].state_dict()}, tmp_path / "ok.pt")
    assert set(load_state_dict(tmp_path / "ok.pt")) == set(digits_net[0].state_dict())


def test_hf_image_dataset_through_the_cnn(tmp_path, digits_dir, digits_net):
    datasets = pytest.importorskip("datasets")
    from deepview.integrations.hf import HFDatasetProducer

    files = sorted(digits_dir.rglob("*.png"))[:30]
    data = datasets.Dataset.from_dict(
        {"image": [str(f) for f in files], "digit": [int(f.parent.name) for f in files]},
        features=datasets.Features({"image": datasets.Image(),
                                    "digit": datasets.ClassLabel(names=list("0123456789"))}))
    data.save_to_disk(str(tmp_path / "ds"))
    producer = HFDatasetProducer(tmp_path / "ds", label_columns=["digit"])
    assert producer.modality == "image" and producer.num_records == 30
    result, _ = _quiet_embed(producer, _digits_embedder(digits_net), num_workers=0)
    folder, _ = _quiet_embed(ImageFolderProducer(digits_dir), _digits_embedder(digits_net),
                             num_workers=0)
    index = {i: k for k, i in enumerate(folder.ids)}
    rows = [index[f.relative_to(digits_dir).as_posix()] for f in files]
    np.testing.assert_allclose(result.vectors, folder.vectors[rows], atol=1e-6)
    assert result.labels["digit"] == [f.parent.name for f in files]
    with pytest.raises(InvalidParameterError, match=r"no column 'caption'.*\['image', 'digit'\]"):
        HFDatasetProducer(tmp_path / "ds", text_column="caption")
    with pytest.raises(InvalidParameterError, match="no split 'test'"):
        HFDatasetProducer(tmp_path / "ds", split="test")
    datasets.DatasetDict({"train": data, "val": data}).save_to_disk(str(tmp_path / "dd"))
    assert HFDatasetProducer(tmp_path / "dd").split == "train"
    with pytest.raises(InvalidParameterError, match=r"no split 'test'.*\['train', 'val'\]"):
        HFDatasetProducer(tmp_path / "dd", split="test")
    with pytest.raises(InvalidParameterError, match="cannot open the Hugging Face dataset"):
        HFDatasetProducer(tmp_path / "missing")
