"""``deepview compress MODEL --data INPUT --out DIR``: a smaller copy of a model, without
retraining, checked on held-out samples."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from deepview._optional import require
from deepview.exceptions import DeepViewException, InvalidParameterError

__all__ = ["compress_command", "run_compress"]

logger = logging.getLogger(__name__)

_OWNER = "deepview compress"


def _recipe(keep: float | None, energy: float | None, kl: bool) -> dict[str, Any]:
    """``compress()`` arguments of the chosen recipe (default ``keep=0.75``)."""
    if sum(x is not None and x is not False for x in (keep, energy, kl)) > 1:
        raise InvalidParameterError(
            f"{_OWNER}: give one of --keep, --energy and --kl; got several.")
    from deepview.introspectors import PFA

    if energy is not None:
        _share(energy, "--energy", "0.99")
        return {"strategy": PFA.Strategy.Energy(energy_threshold=energy)}
    if kl:
        return {"strategy": PFA.Strategy.KL()}
    return {"keep": _share(0.75 if keep is None else keep, "--keep", "0.75")}


def _share(value: float, name: str, example: str, *, top: bool = True) -> float:
    """``value`` if it is in (0, 1] (or (0, 1) without ``top``)."""
    if not (0.0 < value <= 1.0) or (not top and value == 1.0):
        raise InvalidParameterError(
            f"{_OWNER}: {name} must be a share in (0, 1{']' if top else ')'}; got {value}. "
            f"Use e.g. {example}.")
    return value


def _samples(data: str, modality: str | None, text_column: str | None, limit: int,
             held_out: float, seed: int) -> tuple[list[Any], list[Any]]:
    """The first ``limit`` readable samples of ``data``, shuffled: ``(calibration, held-out)``."""
    from deepview.cli._embed import EmbedOptions, open_input

    producer = open_input(data, EmbedOptions(model="", text_column=text_column))
    if modality is not None and producer.modality != modality:
        raise InvalidParameterError(
            f"{_OWNER}: the model takes {modality}s but --data '{data}' holds "
            f"{producer.modality}s; give {modality}s.")
    samples: list[Any] = []
    for record in producer.records():
        try:
            samples.append(producer.decoder(record.raw))
        except Exception as exc:  # noqa: BLE001 - an unreadable sample is skipped
            logger.warning("%s: skipping sample %s (%s)", _OWNER, record.id, exc)
        if len(samples) >= limit:
            break
    order = np.random.default_rng(seed).permutation(len(samples))
    n_held = int(round(held_out * len(samples)))
    if n_held < 11 or len(samples) - n_held < 2:
        raise InvalidParameterError(
            f"{_OWNER}: --data '{data}' gave {len(samples)} readable samples; with "
            f"--held-out {held_out} that leaves {n_held} held-out and {len(samples) - n_held} "
            "calibration samples. Give more samples (at least 11 held out and 2 for "
            "calibration, better 500+) or raise --max-samples.")
    return [samples[i] for i in order[n_held:]], [samples[i] for i in order[:n_held]]


def _batches(samples: list[Any], transform: Callable[[list[Any]], Any], size: int,
             device: Any) -> list[Any]:
    """Model inputs of ``size`` samples each (texts sorted by length: less padding)."""
    import torch

    if samples and isinstance(samples[0], str):
        samples = sorted(samples, key=len)

    def move(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return x.to(device)
        if isinstance(x, dict):
            return {k: move(v) for k, v in x.items()}
        return tuple(move(v) for v in x) if isinstance(x, tuple) else x

    return [move(transform(samples[i:i + size])) for i in range(0, len(samples), size)]


def _outputs(fn: Callable[[Any], Any], batches: Sequence[Any]) -> tuple[np.ndarray, float]:
    """``fn`` over the batches, rows flattened, and its seconds after one warm-up batch."""
    import torch

    with torch.inference_mode():
        fn(batches[0])
        start = time.perf_counter()
        out = [np.asarray(fn(b), dtype=np.float64).reshape(len(_rows(b)), -1) for b in batches]
    return np.concatenate(out), time.perf_counter() - start


def _rows(batch: Any) -> Any:
    if isinstance(batch, dict):
        return next(iter(batch.values()))
    return batch[0] if isinstance(batch, tuple) else batch


def similarity(before: np.ndarray, after: np.ndarray, k: int = 10) -> dict[str, float]:
    """Mean / min cosine between the rows of ``before`` and ``after``, and the mean share of the
    ``k`` nearest neighbours both agree on."""
    if before.shape != after.shape:
        raise DeepViewException(
            f"{_OWNER}: the compressed model's output has shape {after.shape[1:]} but the "
            f"original's {before.shape[1:]}; only inner units may be removed.")
    a = before / np.maximum(np.linalg.norm(before, axis=1, keepdims=True), 1e-12)
    b = after / np.maximum(np.linalg.norm(after, axis=1, keepdims=True), 1e-12)
    cos = (a * b).sum(axis=1)
    k = min(k, len(a) - 1)

    def knn(x: np.ndarray) -> np.ndarray:
        sim = x @ x.T
        np.fill_diagonal(sim, -np.inf)
        return np.argsort(-sim, axis=1, kind="stable")[:, :k]

    overlap = np.mean([len(set(p) & set(q)) / k for p, q in zip(knn(a), knn(b))])
    return {"mean_cosine": float(cos.mean()), "min_cosine": float(cos.min()),
            "knn_overlap": float(overlap), "k": k}


def _load(model: str, device: str | None) -> tuple[Any, Any]:
    """``(embedder, the SentenceTransformer or None for a factory)``."""
    import deepview.integrations.torch as integration

    embedder = integration.load_embedder(model, device=device)
    kind = embedder.details.get("kind")
    if kind == "sentence-transformers":
        st = integration.load_sentence_transformer(model, device=embedder.model.device)
        return integration.sentence_transformer_embedder(st, name=model), st
    if kind != "factory" or Path(model).expanduser().is_dir():
        raise InvalidParameterError(
            f"{_OWNER}: MODEL '{model}' is a {kind} model or folder; compress takes a "
            "sentence-transformers model or a factory 'my_pkg.models:build' (wrap a timm / "
            "torchvision model in a factory; to shrink a compressed factory model further, "
            "compress the original factory again with a smaller --keep).")
    return embedder, None


def _call(net: Any, batch: Any) -> Any:
    """The network's first output tensor on one batch, on the CPU."""
    import torch

    out = net(**batch) if isinstance(batch, dict) else net(*batch) \
        if isinstance(batch, tuple) else net(batch)
    while not isinstance(out, torch.Tensor):
        out = next(iter(out.values())) if isinstance(out, dict) else out[0]
    return out.float().cpu()


def run_compress(model: str, data: str, *, out: Path, keep: float | None = None,
                 energy: float | None = None, kl: bool = False, held_out: float = 0.2,
                 max_samples: int = 2500, batch_size: int = 32, text_column: str | None = None,
                 device: str | None = None, seed: int = 0, overwrite: bool = False
                 ) -> dict[str, Any]:
    """What ``deepview compress`` does; returns the summary (also ``DIR/compression.json``)."""
    require("torch", feature=_OWNER, extra="torch")
    import torch

    import deepview.integrations.torch as integration
    from deepview.report.files import write_directory

    recipe = _recipe(keep, energy, kl)
    _share(held_out, "--held-out", "0.2", top=False)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise InvalidParameterError(
            f"{_OWNER}: --out '{out}' exists; pass --overwrite to replace it, or choose "
            "another folder.")
    embedder, st = _load(model, device)
    module = embedder.model.module.eval()
    calibration, held = _samples(data, embedder.modality, text_column, max_samples, held_out,
                                 seed)
    cal_batches = _batches(calibration, embedder.transform, batch_size, embedder.model.device)
    held_batches = _batches(held, embedder.transform, batch_size, embedder.model.device)
    # a sentence-transformers model: the pooled, normalised embedding; else the output
    original: Callable[[Any], Any] = embedder if st is not None else \
        (lambda b: _call(module, b))
    before, seconds_before = _outputs(original, held_batches)
    result = integration.compress(module, cal_batches, same_width=st is not None, **recipe)
    smaller: Callable[[Any], Any] = lambda b: _call(result.module, b)  # noqa: E731
    if st is not None:
        for name, child in list(st[0].named_children()):  # auto_model or model
            if child is module:
                setattr(st[0], name, result.module)
        smaller = integration.sentence_transformer_embedder(st, name=model)
    after, seconds_after = _outputs(smaller, held_batches)
    # once more each, alternating, the faster run counts (less noise from other load)
    seconds_before = min(seconds_before, _outputs(original, held_batches)[1])
    seconds_after = min(seconds_after, _outputs(smaller, held_batches)[1])
    summary = {
        "model": model, "data": data, "recipe": {k: str(v) for k, v in recipe.items()},
        "calibration_samples": len(calibration), "held_out_samples": len(held),
        "parameters_before": integration.count_parameters(module),
        "parameters_after": integration.count_parameters(result.module),
        "blocks": [vars(layer) for layer in result.layers],
        "similarity": similarity(before, after),
        "seconds_before": seconds_before, "seconds_after": seconds_after,
    }

    def build(folder: Path) -> None:
        if st is not None:
            st.save(str(folder))
        else:
            target, _, attr = model.rpartition(":")
            if target.endswith(".py"):  # loadable from any folder
                target = str(Path(target).expanduser().resolve())
            integration.save_compressed(result.module, folder, factory=f"{target}:{attr}")
        (folder / "compression.json").write_text(json.dumps(summary, indent=2) + "\n")

    with torch.no_grad():
        write_directory(build, out, overwrite=overwrite, owner=_OWNER)
    return summary


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The printed summary of :func:`run_compress`."""
    before, after = summary["parameters_before"], summary["parameters_after"]
    blocks_before = sum(b["units"] for b in summary["blocks"])
    blocks_after = sum(b["kept"] for b in summary["blocks"])
    sim = summary["similarity"]
    speed = summary["seconds_before"] / max(summary["seconds_after"], 1e-9)
    lines = [
        f"  parameters   {before:,} -> {after:,} ({100 * (after / before - 1):+.1f} %)",
        f"  block units  {blocks_before:,} -> {blocks_after:,} in {len(summary['blocks'])} "
        "blocks (relative error of each consumer's output on the calibration samples):",
    ]
    lines += [f"    {b['producer']} -> {b['consumer']}: {b['kept']}/{b['units']} units, "
              f"error {b['error']:.4f}" for b in summary["blocks"]]
    lines += [
        f"  held out     {summary['held_out_samples']:,} samples (calibration: "
        f"{summary['calibration_samples']:,}): cosine to the original mean "
        f"{sim['mean_cosine']:.4f}, min {sim['min_cosine']:.4f}; {sim['k']}-NN overlap "
        f"{sim['knn_overlap']:.3f}",
        f"  speed        {summary['seconds_before']:.2f} s -> {summary['seconds_after']:.2f} s "
        f"on the held-out samples ({speed:.2f}x)",
    ]
    return lines


def compress_command(
    model: Annotated[str, typer.Argument(
        metavar="MODEL", help="A sentence-transformers model (folder or name; "
        "'all-MiniLM-L6-v2' uses the weights of the text extra) or a factory "
        "'my_pkg.models:build' / 'file.py:build' returning a torch.nn.Module (or (module, "
        "transform)).")],
    data: Annotated[str, typer.Option(
        "--data", help="Calibration samples, as deepview embed takes them: a text file "
        "(.txt one per line; .csv, .jsonl, .parquet with --text-column), an image folder or "
        "hf:PATH_OR_NAME.")],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Folder of the compressed model: SentenceTransformer(DIR) loads "
        "it, or deepview.integrations.torch.load_compressed(DIR) for a factory; both work as "
        "--model DIR.")],
    keep: Annotated[float | None, typer.Option(
        "--keep", help="Share of each MLP / inner block's units (so parameters) to keep "
        "(default 0.75).")] = None,
    energy: Annotated[float | None, typer.Option(
        "--energy", help="Instead: PFA Energy recipe, keep the units holding this share of "
        "the spectral energy of each block's token-level covariance, e.g. 0.99.")] = None,
    kl: Annotated[bool, typer.Option(
        "--kl", help="Instead: PFA KL recipe on each block's token-level covariance.")
    ] = False,
    held_out: Annotated[float, typer.Option(
        "--held-out", help="Share of the samples kept out of calibration, to check the "
        "result on.")] = 0.2,
    max_samples: Annotated[int, typer.Option(
        "--max-samples", min=13, help="Samples read from --data (calibration and held-out).")
    ] = 2500,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    text_column: Annotated[str | None, typer.Option(
        "--text-column", help="Text column of a .csv / .jsonl / .parquet file.")] = None,
    device: Annotated[str | None, typer.Option(
        "--device", help="Torch device (default: cuda when available).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the held-out draw.")] = 0,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing --out folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Make a model smaller without retraining (PFA + least-squares refit of each block)."""
    from deepview.cli._load import cli_errors, quiet_env

    quiet_env(quiet)
    with cli_errors():
        summary = run_compress(
            model, data, out=out, keep=keep, energy=energy, kl=kl, held_out=held_out,
            max_samples=max_samples, batch_size=batch_size, text_column=text_column,
            device=device, seed=seed, overwrite=overwrite)
    typer.echo("deepview compress")
    for line in summary_lines(summary):
        typer.echo(line)
    typer.echo(f"  output       {out}")
