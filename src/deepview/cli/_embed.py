"""Raw inputs of ``deepview embed`` and ``deepview report --model`` (image folder, text file,
``hf:``), embedded through a model with a resumable cache."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from deepview._optional import require
from deepview.cli._load import CliError

__all__ = ["EmbedOptions", "embed_input", "open_input", "raw_summary_lines"]

#: suffixes of text inputs
TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".pq")

ModelOption = Annotated[str | None, typer.Option(
    "--model", help="Embed raw INPUT with this model: a factory 'my_pkg.models:build' or "
    "'file.py:build' returning a torch.nn.Module (or (module, transform)); a "
    "sentence-transformers model folder or name ('all-MiniLM-L6-v2' uses the weights of the "
    "text extra); 'timm:NAME' / 'torchvision:NAME'.")]
LayerOption = Annotated[str | None, typer.Option(
    "--layer", help="Layer whose (pooled) responses are the embeddings (default: the "
    "penultimate layer; for sentence-transformers the pooled last hidden state). An unknown "
    "name lists the layers.")]
LabelsFromOption = Annotated[str | None, typer.Option(
    "--labels-from", help="Image folder: 'folders' takes each image's label from its "
    "subfolder (cat/001.png -> cat).")]
ImageColumnOption = Annotated[str | None, typer.Option(
    "--image-column", help="hf: input: the image column (default: the only Image column).")]
SplitOption = Annotated[str | None, typer.Option(
    "--split", help="hf: input: the split to read (default: the only one, else 'train').")]
CacheOption = Annotated[Path | None, typer.Option(
    "--cache", help="Folder of the embedding cache (Parquet shards reused by a rerun; an "
    "interrupted run resumes). Default: beside the output, '<out>.cache'.")]
DeviceOption = Annotated[str | None, typer.Option(
    "--device", help="Torch device, e.g. cpu or cuda:0 (default: cuda when available).")]
WorkersOption = Annotated[int | None, typer.Option(
    "--workers", min=0, help="DataLoader processes decoding the samples (default: 0 for "
    "texts and on 2 CPUs or fewer, else up to 4 for images).")]
EmbedBatchOption = Annotated[int, typer.Option(
    "--embed-batch-size", min=1, help="Samples per forward pass of the model.")]
ImageSizeOption = Annotated[int | None, typer.Option(
    "--image-size", min=1, help="Input size of a factory's image model without its own "
    "transform (default 224).")]
WeightsOption = Annotated[Path | None, typer.Option(
    "--weights", help="Local weights (.safetensors or a state_dict file) of a timm / "
    "torchvision model, where pretrained weights cannot be downloaded.")]


@dataclasses.dataclass(kw_only=True)
class EmbedOptions:
    """The raw-input options shared by ``deepview embed`` and ``deepview report``."""

    model: str
    layer: str | None = None
    labels_from: str | None = None
    metadata: Path | None = None
    id_column: str | None = None
    label_columns: Sequence[str] = ()
    text_column: str | None = None
    image_column: str | None = None
    split: str | None = None
    cache: Path | None = None
    device: str | None = None
    workers: int | None = None
    batch_size: int = 64
    image_size: int | None = None
    weights: Path | None = None

    def __post_init__(self) -> None:
        self.label_columns = list(self.label_columns)


def open_input(source: str, options: EmbedOptions) -> Any:
    """The record producer of ``source``: ``hf:...``, an image folder or a text file."""
    from deepview.base import ImageFolderProducer, TextProducer

    if options.labels_from not in (None, "folders"):
        raise CliError(f"--labels-from must be 'folders'; got '{options.labels_from}' (labels "
                       "from a table: --metadata CSV).")
    if source.startswith("hf:"):
        require("datasets", feature="hf: inputs", extra="hf")
        from deepview.integrations.hf import HFDatasetProducer

        _refuse(options, "hf:", labels_from=options.labels_from, metadata=options.metadata)
        return HFDatasetProducer(source[3:], split=options.split,
                                 image_column=options.image_column, text_column=options.text_column,
                                 label_columns=options.label_columns, id_column=options.id_column)
    path = Path(source).expanduser()
    if not path.exists():
        raise CliError(f"input '{source}' does not exist: give an image folder, a text file "
                       f"({', '.join(TEXT_SUFFIXES)}) or hf:PATH_OR_NAME.")
    _refuse(options, "a folder or file", split=options.split,
            image_column=options.image_column)
    if path.is_dir():
        _refuse(options, "an image folder", text_column=options.text_column)
        if options.label_columns and options.metadata is None:
            raise CliError("--label needs --metadata CSV for an image folder (or use "
                           "--labels-from folders).")
        return ImageFolderProducer(path, labels_from=options.labels_from,
                                   metadata=options.metadata, id_column=options.id_column or "id",
                                   label_columns=options.label_columns or None)
    if path.suffix.lower() in TEXT_SUFFIXES:
        _refuse(options, "a text file", labels_from=options.labels_from,
                metadata=options.metadata)
        return TextProducer(path, text_column=options.text_column,
                            id_column=options.id_column, label_columns=options.label_columns)
    raise CliError(f"input '{source}' is neither a folder nor a text file "
                   f"({', '.join(TEXT_SUFFIXES)}); give an image folder, a text file or "
                   "hf:PATH_OR_NAME (an embeddings file .npy / .parquet needs no --model).")


def _refuse(options: EmbedOptions, what: str, **given: Any) -> None:
    names = {"labels_from": "--labels-from", "metadata": "--metadata", "split": "--split",
             "image_column": "--image-column", "text_column": "--text-column"}
    used = [names[k] for k, v in given.items() if v is not None]
    if used:
        raise CliError(f"{', '.join(used)} do(es) not apply to {what} input.")


def embed_input(source: str, options: EmbedOptions, *, default_cache: Path | None) -> Any:
    """Embed ``source`` with ``options.model``: an ``Embeddings`` (cache in ``options.cache``)."""
    require("torch", feature="--model", extra="torch")
    from deepview.integrations.torch import embed, load_embedder

    producer = open_input(source, options)
    embedder = load_embedder(options.model, modality=producer.modality, layer=options.layer,
                             device=options.device, image_size=options.image_size,
                             weights=options.weights)
    cache = options.cache if options.cache is not None else default_cache
    return embed(producer, embedder, cache_dir=cache, batch_size=options.batch_size,
                 num_workers=options.workers)


def raw_summary_lines(result: Any, cache: Path | None) -> list[str]:
    """What the embedding step did, for the printed summary."""
    rate = f", {result.samples_per_second:,.0f} samples/s" if result.computed else ""
    skipped = ", ".join(s.id for s in result.skipped[:5]) + (
        " ..." if len(result.skipped) > 5 else "")
    rows = [
        ("model", f"{result.model} (layer '{result.layer}', {result.vectors.shape[1]} "
                  "features)"),
        ("embedded", f"{len(result):,} samples ({result.computed:,} computed, "
                     f"{result.reused:,} from the cache{rate})"),
        ("skipped", f"{len(result.skipped):,} unreadable samples"
         + (f": {skipped}" if result.skipped else "")),
    ]
    if cache is not None:
        rows.append(("cache", str(cache)))
    width = max(len(key) for key, _ in rows)
    return [f"  {key:<{width}}  {value}" for key, value in rows]


def default_cache_for(out: Path) -> Path:
    """``<out>.cache`` beside the output (``emb.parquet`` -> ``emb.parquet.cache``)."""
    return out.with_name(out.name + ".cache")


def run_embed(source: str, *, out: Path, options: EmbedOptions, overwrite: bool = False
              ) -> tuple[Any, Path]:
    """What ``deepview embed`` does: returns ``(Embeddings, cache folder)``."""
    if out.suffix.lower() not in (".parquet", ".pq"):
        raise CliError(f"--out '{out}' must be a .parquet file.")
    if out.exists() and not overwrite:
        raise CliError(f"'{out}' already exists; pass --overwrite to replace it.")
    if out.exists() and not out.is_file():
        raise CliError(f"--out '{out}' exists and is not a file.")
    cache = options.cache if options.cache is not None else default_cache_for(out)
    result = embed_input(source, options, default_cache=cache)
    result.to_parquet(out)
    return result, cache
