"""The ``deepview`` commands: ``deepview report`` and ``deepview demo``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from deepview.cli._build import (
    PROJECTIONS,
    check_output,
    check_split_labels,
    duplicate_threshold_strategy,
    issues_lines,
    make_config,
    summary_lines,
    write_output,
)
from deepview.cli._compress import compress_command
from deepview.cli._demo import run_demo
from deepview.cli._embed import (
    CacheOption,
    DeviceOption,
    EmbedBatchOption,
    EmbedOptions,
    ImageColumnOption,
    ImageSizeOption,
    LabelsFromOption,
    LayerOption,
    ModelOption,
    SplitOption,
    WeightsOption,
    WorkersOption,
    default_cache_for,
    embed_input,
    raw_summary_lines,
    run_embed,
)
from deepview.cli._load import (
    CliError,
    SampleProducer,
    cli_errors,
    image_paths,
    load_embeddings,
    load_metadata,
    load_predictions,
    quiet_env,
)
from deepview.report import columns

__all__ = ["app", "main", "run_embed", "run_report"]

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="deepview", help="See what is inside your datasets: duplicates, familiarity and a 2-D "
    "map, as a static HTML report.", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False)


def _projection_name(projection: str) -> str:
    """The ``--projection`` value, lower-cased; a usage error unless in PROJECTIONS."""
    projection = projection.lower()
    if projection not in PROJECTIONS:
        raise typer.BadParameter(f"must be one of {', '.join(PROJECTIONS)}; got '{projection}'.",
                                 param_hint="--projection")
    return projection


def run_report(embeddings: Path, *, out: Path, metadata: Path | None = None,
               id_column: str | None = None, label: Sequence[str] = (),
               text_column: str | None = None, images: Path | None = None,
               duplicates: bool = True, familiarity: bool = True,
               projection: str | None = "umap", overwrite: bool = False, batch_size: int = 1024,
               duplicate_threshold: str = "auto", seed: int | None = 0,
               split_labels: Sequence[str] | None = None, predictions: Path | None = None,
               predictions_label: str | None = None, label_issues: bool = True, raw: Any = None,
               engine: str = "local", ray_address: str | None = None) -> tuple[Any, Path]:
    """What ``deepview report`` does, as a function: returns ``(report, index.html path)``.
    ``raw``: samples embedded by ``--model`` in place of the embeddings file; the other
    parameters are the command's options."""
    from deepview.report import DatasetReport

    if engine == "ray":
        from deepview.cli._ray import run_ray_report

        given = {"--metadata": metadata, "--images": images, "--predictions": predictions,
                 "--label": list(label), "--model": raw}
        return run_ray_report(
            embeddings, out=out, ray_address=ray_address, id_column=id_column,
            text_column=text_column, duplicates=duplicates, familiarity=familiarity,
            projection=projection, overwrite=overwrite, batch_size=batch_size,
            duplicate_threshold=duplicate_threshold, seed=seed, split_labels=split_labels,
            label_issues=label_issues, unsupported=[k for k, v in given.items() if v])

    check_output(out, overwrite=overwrite)  # fail fast, before any work
    ids: Any  # a list, or a pandas str array from the metadata CSV
    if raw is not None:
        array, ids, labels = raw.vectors, list(raw.ids), dict(raw.labels)
    else:
        array, ids, labels = load_embeddings(embeddings, id_column)
    n = len(array)
    if n < 3:
        raise CliError(f"'{embeddings}' has {n} sample(s); a report needs at least 3.")
    paths = texts = None
    if raw is not None:
        paths, texts = raw.paths, raw.texts
    elif metadata is not None:
        ids, csv_labels, paths, texts = load_metadata(
            metadata, n=n, id_column=id_column, embedding_ids=ids, label_columns=label,
            text_column=text_column)
        labels = {**labels, **csv_labels}
    elif label:
        raise CliError("--label needs --metadata CSV (the labels come from its columns).")
    elif text_column is not None:
        if text_column not in labels:
            raise CliError(f"--text-column '{text_column}': the embeddings file has no such text "
                           f"column (its non-numeric columns: {sorted(labels)[:20]}); pass "
                           "--metadata CSV with that column.")
        texts = labels.pop(text_column)
    # Parquet columns "text" and "path" are the samples' texts and files, never labels
    parquet_text, parquet_paths = labels.pop(columns.TEXT, None), labels.pop(columns.PATH, None)
    texts = parquet_text if texts is None else texts
    paths = parquet_paths if paths is None else paths
    if ids is not None and len(set(ids)) != len(ids):
        raise CliError("the sample ids must be unique.")
    splits = check_split_labels(split_labels, labels,
                                "from --metadata CSV columns or the Parquet file")
    chosen: dict[str, Any] | None = None
    if predictions is not None:
        if not label_issues:
            raise CliError("--predictions feed the label issues; drop --no-label-issues.")
        probabilities = load_predictions(predictions, n=n, ids=ids, id_column=id_column)
        dim = _predictions_label(predictions, predictions_label, probabilities, labels,
                                 splits or ())
        chosen = {dim: probabilities}
    elif predictions_label is not None:
        raise CliError("--predictions-label needs --predictions CSV.")
    image_root = None
    if images is not None:
        if ids is None:
            raise CliError("--images needs ids (a metadata CSV or an id column) to name files.")
        paths = image_paths(images, ids)
        image_root = images.resolve()
    config = make_config(duplicates=duplicates, familiarity=familiarity, projection=projection,
                         threshold=duplicate_threshold, seed=seed, label_issues=label_issues,
                         split_labels=splits)
    producer = SampleProducer(array, identifiers=ids, labels=labels, paths=paths, texts=texts)
    report = DatasetReport.introspect(producer, config=config, batch_size=batch_size,
                                      predictions=chosen)
    for dim in chosen or ():
        scored = [c for c in report.data.columns if (p := columns.parse(str(c))) is not None
                  and p.kind == columns.LABEL_ISSUE and p.detail == dim]
        if not scored:
            logger.warning(
                "--predictions were not used: label '%s' got no label-issue scores (it is a "
                "split label, or no component that reads the embeddings is enabled).", dim)
    index = write_output(report, out, overwrite=overwrite, title=f"deepview: {embeddings.name}",
                         image_root=image_root)
    return report, index


def _predictions_label(path: Path, chosen: str | None, probabilities: Any,
                       labels: dict[str, list[str]], splits: Sequence[str]) -> str:
    """The label the ``--predictions`` are for: named, else the one whose values are the columns."""
    classes = [str(c) for c in probabilities.columns]

    def mismatch(dim: str) -> str:
        values = sorted(set(labels[dim]) - {""})
        missing = [v for v in values if v not in classes]
        unknown = [c for c in classes if c not in values]
        problems = ([f"no column for {missing[:10]}"] if missing else []) + (
            [f"unknown columns {unknown[:10]}"] if unknown else [])
        return f"label '{dim}' has values {values[:20]}: {', '.join(problems)}"

    def matches(dim: str) -> bool:
        return set(labels[dim]) - {""} == set(classes)

    if chosen is not None:
        if chosen not in labels:
            raise CliError(f"--predictions-label '{chosen}': no such label; the labels are "
                           f"{sorted(labels)[:20]}.")
        if chosen in splits:
            raise CliError(f"--predictions-label '{chosen}' is a --split-label; predictions "
                           "are class probabilities of a class label.")
        if not matches(chosen):
            raise CliError(f"--predictions '{path}' needs one column per value of the label: "
                           f"{mismatch(chosen)}.")
        return chosen
    candidates = [d for d in labels if d not in splits]
    found = [d for d in candidates if matches(d)]
    if len(found) == 1:
        return found[0]
    if found:
        raise CliError(f"--predictions '{path}': its columns are the values of labels {found}; "
                       "name one with --predictions-label NAME.")
    if not candidates:
        raise CliError("--predictions need a class label (--metadata CSV column) besides the "
                       "split labels.")
    raise CliError(
        f"--predictions '{path}' needs one column per value of a label (columns: "
        f"{classes[:20]}); " + "; ".join(mismatch(d) for d in candidates[:5]) +
        ". Rename the columns, or name the label with --predictions-label NAME.")


@app.command()
def report(
    embeddings: Annotated[Path, typer.Argument(
        help="Embeddings: .npy (N x D) or .parquet file; with --model the raw samples: an "
        "image folder, a text file (.txt, .csv, .jsonl, .parquet) or hf:PATH_OR_NAME.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the report site.")],
    metadata: Annotated[Path | None, typer.Option(
        "--metadata", "-m", help="CSV with one row per sample: an id column and labels.")] = None,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Id column of the metadata CSV, the Parquet file(s), or with "
        "--model the text table / hf: dataset (default: a column named 'id', if any).")] = None,
    label: Annotated[list[str] | None, typer.Option(
        "--label", "-l", "--label-column", help="Label column of the CSV (repeat it; "
        "default: all other columns); with --model, of the text table or hf: dataset.")
    ] = None,
    text_column: Annotated[str | None, typer.Option(
        "--text-column", help="Column of the CSV holding each sample's text (e.g. the "
        "embedded sentence), shown with the sample, not used as a label (default: a column "
        "named 'text', if any).")] = None,
    images: Annotated[Path | None, typer.Option(
        "--images", help="Folder holding the images named by the ids (thumbnails).")] = None,
    no_duplicates: Annotated[bool, typer.Option(
        "--no-duplicates", help="Skip near-duplicate detection.")] = False,
    no_familiarity: Annotated[bool, typer.Option(
        "--no-familiarity", help="Skip familiarity.")] = False,
    no_projection: Annotated[bool, typer.Option(
        "--no-projection", help="Skip the 2-D map.")] = False,
    projection: Annotated[str, typer.Option(
        "--projection", "-p",
        help="2-D projection: umap (above 50,000 samples fitted on a 50,000 sample, the "
             "others placed from their neighbours), umap-full (fitted on every sample), pca, "
             "tsne or pacmap.")] = "umap",
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing --out folder.")] = False,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Samples per batch.")] = 1024,
    duplicate_threshold: Annotated[str, typer.Option(
        "--duplicate-threshold", help="Near-duplicate distance: 'auto' (0.35 of the median "
        "neighbour distance), 'slope', a percentile 'p99.5', 'relative:0.4' or a distance "
        "such as 0.05. Identical samples are always grouped.")] = "auto",
    seed: Annotated[int, typer.Option(
        "--seed", min=0, help="Seed of every random step (GMM, UMAP, t-SNE, PaCMAP): the "
        "same seed gives the same report.")] = 0,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bars (they are off anyway when the output is "
        "not a terminal).")] = False,
    split_label: Annotated[list[str] | None, typer.Option(
        "--split-label", help="Label that says which split (train / test / val ...) a "
        "sample is in: duplicates spanning two of its values are leaks; never checked for "
        "label issues (repeat it; default: labels named split, subset, fold or partition, "
        "or whose values are all train/test/val...).")] = None,
    predictions: Annotated[Path | None, typer.Option(
        "--predictions", help="CSV of a model's class probabilities for the label issues: "
        "one row per sample (an id column as --id-column, or rows in sample order) and one "
        "column per label value. Use out-of-sample predictions (e.g. cross-validated).")
    ] = None,
    predictions_label: Annotated[str | None, typer.Option(
        "--predictions-label", help="The label --predictions are for (default: the one "
        "label, not a split label, whose values are the CSV's columns).")] = None,
    no_label_issues: Annotated[bool, typer.Option(
        "--no-label-issues", help="Skip the label-issue scores.")] = False,
    model: ModelOption = None,
    layer: LayerOption = None,
    labels_from: LabelsFromOption = None,
    image_column: ImageColumnOption = None,
    split: SplitOption = None,
    cache: CacheOption = None,
    device: DeviceOption = None,
    workers: WorkersOption = None,
    embed_batch_size: EmbedBatchOption = 64,
    image_size: ImageSizeOption = None,
    weights: WeightsOption = None,
    engine: Annotated[str, typer.Option(
        "--engine", help="Where the per-row passes run: local (this process) or ray (a Ray "
        "cluster; EMBEDDINGS may then be a folder of Parquet shards).")] = "local",
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="With --engine ray: HOST:PORT of a running cluster's head node "
        "(default: a local cluster, started and shut down with the command).")] = None,
) -> None:
    """Build a dataset report from embeddings (+ metadata), or from raw images / texts and
    a model (--model), and write it as a static site."""
    projection = _projection_name(projection)
    if engine not in ("local", "ray"):
        raise typer.BadParameter(f"must be local or ray; got '{engine}'.",
                                 param_hint="--engine")
    if ray_address is not None and engine != "ray":
        raise typer.BadParameter("needs --engine ray.", param_hint="--ray-address")
    duplicate_threshold_strategy(duplicate_threshold)  # a usage error before any work
    quiet_env(quiet)
    raw = None
    embedded_lines: list[str] = []
    with cli_errors():
        if model is not None and engine == "ray":
            raise CliError("--model cannot be used with --engine ray: embed first (deepview "
                           "embed ... --out FILE.parquet), then report that file.")
        if model is not None:
            check_output(out, overwrite=overwrite)  # fail fast, before embedding
            options = EmbedOptions(
                model=model, layer=layer, labels_from=labels_from, metadata=metadata,
                id_column=id_column, label_columns=label or (), text_column=text_column,
                image_column=image_column, split=split, cache=cache, device=device,
                workers=workers, batch_size=embed_batch_size, image_size=image_size,
                weights=weights)
            default = default_cache_for(out)
            raw = embed_input(str(embeddings), options, default_cache=default)
            embedded_lines = raw_summary_lines(raw, cache or default)
            metadata = label = text_column = None
        elif any(v is not None for v in (layer, labels_from, image_column, split, cache,
                                         weights, image_size)):
            raise CliError("--layer, --labels-from, --image-column, --split, --cache, "
                           "--image-size and --weights need --model (raw input).")
        result, index = run_report(
            embeddings, out=out, metadata=metadata, id_column=id_column, label=label or (),
            text_column=text_column, images=images, duplicates=not no_duplicates,
            familiarity=not no_familiarity,
            projection=None if no_projection else projection, overwrite=overwrite,
            batch_size=batch_size, duplicate_threshold=duplicate_threshold, seed=seed,
            split_labels=split_label or None, predictions=predictions,
            predictions_label=predictions_label, label_issues=not no_label_issues, raw=raw,
            engine=engine, ray_address=ray_address)
    typer.echo("\n".join([
        "deepview report", *embedded_lines, *summary_lines(result.data, index), "",
        "Audit (score: 1 = not found, 0 = every sample affected)", *issues_lines(result.issues()),
        f"Open {index} in a browser."]))


@app.command()
def embed(
    source: Annotated[str, typer.Argument(
        metavar="INPUT", help="An image folder, a text file (.txt one text per line; .csv, "
        ".tsv, .jsonl or .parquet with --text-column) or hf:PATH_OR_NAME (a Hugging Face "
        "dataset saved with save_to_disk, or in the datasets cache).")],
    model: Annotated[str, typer.Option(
        "--model", help="A factory 'my_pkg.models:build' or 'file.py:build' returning a "
        "torch.nn.Module (or (module, transform)); a sentence-transformers model folder or "
        "name ('all-MiniLM-L6-v2' uses the weights of the text extra); 'timm:NAME' / "
        "'torchvision:NAME'.")],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Output .parquet file: id, path / text, labels and the "
        "embedding (a list column).")],
    layer: LayerOption = None,
    labels_from: LabelsFromOption = None,
    metadata: Annotated[Path | None, typer.Option(
        "--metadata", "-m", help="Image folder: CSV with one row per image (an id column "
        "with the image's path relative to the folder, or its file name) and labels.")
    ] = None,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Id column of the metadata CSV, text table or hf: dataset "
        "(default: a column named 'id', if any).")
    ] = None,
    label_column: Annotated[list[str] | None, typer.Option(
        "--label-column", "--label", "-l", help="Label column of the metadata CSV, text "
        "table or hf: dataset (repeat it).")] = None,
    text_column: Annotated[str | None, typer.Option(
        "--text-column", help="Text column of a .csv / .jsonl / .parquet file or hf: "
        "dataset (default 'text').")] = None,
    image_column: ImageColumnOption = None,
    split: SplitOption = None,
    cache: CacheOption = None,
    device: DeviceOption = None,
    workers: WorkersOption = None,
    batch_size: EmbedBatchOption = 64,
    image_size: ImageSizeOption = None,
    weights: WeightsOption = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing --out file.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Embed raw images or texts through a model into a Parquet file (resumable cache)."""
    quiet_env(quiet)
    options = EmbedOptions(
        model=model, layer=layer, labels_from=labels_from, metadata=metadata,
        id_column=id_column, label_columns=label_column or (), text_column=text_column,
        image_column=image_column, split=split, cache=cache, device=device, workers=workers,
        batch_size=batch_size, image_size=image_size, weights=weights)
    with cli_errors():
        result, used_cache = run_embed(source, out=out, options=options, overwrite=overwrite)
    typer.echo("\n".join(["deepview embed", *raw_summary_lines(result, used_cache),
                          f"  output    {out}"]))


@app.command()
def demo(
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Output folder for the demo report.")] = Path("deepview-demo-report"),
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing --out folder.")] = False,
    projection: Annotated[str, typer.Option(
        "--projection", "-p", help="2-D projection: umap, pca, tsne or pacmap.")] = "umap",
) -> None:
    """Train a small CNN on scikit-learn's digits and write its dataset report."""
    projection = _projection_name(projection)
    with cli_errors():
        index = run_demo(out, overwrite=overwrite, projection=projection)
    typer.echo(f"Demo report written. Open {index} in a browser.")


app.command("compress")(compress_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point (``deepview``)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    app(args=list(argv) if argv is not None else None, prog_name="deepview")
