"""Compression without retraining (issue 22): all-MiniLM-L6-v2's MLPs on real texts, a small
ResNet and the digits CNN on scikit-learn's digits.

    python benchmarks/bench_compress.py [--calibration 1000] [--held-out 500]
        [--keeps 0.75,0.59] [--baselines] [--baseline-keeps 0.59] [--skip-minilm]
        [--skip-digits]

Texts are built at run time from installed packages (no download): calibration = docstrings
of numpy and scipy, held-out = docstrings of pandas and scikit-learn (another source).
Prints markdown tables and writes them to benchmarks/results/compress.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import pkgutil  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from deepview.cli._compress import similarity  # noqa: E402
from deepview.integrations.torch import (  # noqa: E402
    DigitsCNN,
    compress,
    count_parameters,
    evaluate_accuracy,
    load_digits_split,
    train_digits_cnn,
)

_SIGNATURE = re.compile(r"^[\w.]+\(.*\)(\s*->.*)?$")
LINES: list[str] = []


def say(line: str = "") -> None:
    print(line, flush=True)
    LINES.append(line)


# ---------------------------------------------------------------------- texts
def _summary(doc: str, max_chars: int) -> str:
    """The leading prose paragraphs of a docstring (no signatures, sections or examples)."""
    kept: list[str] = []
    for para in doc.split("\n\n"):
        lines = [ln.strip() for ln in para.strip().splitlines()]
        header = any(len(ln) > 2 and set(ln) <= set("-=~^") for ln in lines)
        if not lines or header or _SIGNATURE.match(para.strip()) or ">>>" in para:
            if kept:
                break
            continue
        kept.append(" ".join(lines))
        if sum(map(len, kept)) > max_chars:
            break
    return re.sub(r"\s+", " ", " ".join(kept)).strip()[:max_chars]


def docstrings(packages: list[str], min_chars: int = 60, max_chars: int = 600) -> list[str]:
    """Distinct docstring summaries of the public callables of ``packages`` (and their
    public submodules)."""
    seen: set[str] = set()
    out: list[str] = []
    warnings.simplefilter("ignore")
    for package in packages:
        root = importlib.import_module(package)
        modules = [root]
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            parts = info.name.split(".")[1:]
            if any(p.startswith("_") or p in ("tests", "testing", "conftest") for p in parts):
                continue
            try:
                modules.append(importlib.import_module(info.name))
            except Exception:  # noqa: BLE001 - optional submodules that do not import
                pass
        for module in modules:
            for name, obj in sorted(vars(module).items()):
                if name.startswith("_") or not callable(obj):
                    continue
                text = _summary(inspect.getdoc(obj) or "", max_chars)
                if len(text) >= min_chars and text not in seen:
                    seen.add(text)
                    out.append(text)
    warnings.resetwarnings()
    return out


# ---------------------------------------------------------------------- MiniLM
def minilm(args: argparse.Namespace) -> None:
    from deepview.integrations.torch import load_sentence_transformer

    rng = np.random.default_rng(0)
    calibration_texts = docstrings(["numpy", "scipy"])
    held_texts = docstrings(["pandas", "sklearn"])
    rng.shuffle(calibration_texts)
    rng.shuffle(held_texts)
    calibration_texts = calibration_texts[:args.calibration]
    held_texts = sorted(held_texts[:args.held_out], key=len)
    st = load_sentence_transformer("all-MiniLM-L6-v2", device="cpu")
    tokenizer, bert = st.tokenizer, st[0].auto_model.eval()

    def batches(texts: list[str], size: int) -> list[dict]:
        texts = sorted(texts, key=len)
        return [dict(tokenizer(texts[i:i + size], padding=True, truncation=True,
                               max_length=st.max_seq_length, return_tensors="pt"))
                for i in range(0, len(texts), size)]

    calibration, held = batches(calibration_texts, 32), batches(held_texts, 32)
    tokens = sum(int(b["attention_mask"].sum()) for b in calibration)
    say(f"calibration: {len(calibration_texts)} numpy/scipy docstrings ({tokens:,} tokens); "
        f"held out: {len(held_texts)} pandas/scikit-learn docstrings")

    def embed(model: nn.Module) -> tuple[np.ndarray, float]:
        out, start = [], time.perf_counter()
        with torch.inference_mode():
            for b in held:
                h = model(**b).last_hidden_state
                m = b["attention_mask"].unsqueeze(-1).float()
                out.append(torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1))
        return torch.cat(out).numpy(), time.perf_counter() - start

    def mlp_params(model: nn.Module) -> int:
        return sum(p.numel() for n, p in model.named_parameters()
                   if ".intermediate.dense." in n or (".output.dense." in n
                                                      and ".attention." not in n))

    if args.recipes:
        recipes(bert, calibration)
        return
    before, _ = embed(bert)
    mlp0 = mlp_params(bert)
    say(f"MLP parameters {mlp0:,} of {count_parameters(bert):,}")
    say()
    say("| kept units | units chosen by | refit | MLP params | mean cos | min cos | "
        "10-NN overlap | s |")
    say("|---|---|---|---|---|---|---|---|")
    smallest: dict[float, nn.Module] = {}
    for keep in args.keeps:
        runs = [("pfa", True)]
        if args.baselines and keep in args.baseline_keeps:
            runs += [("pfa", False), ("magnitude", True), ("magnitude", False),
                     ("random", True), ("random", False)]
        for selection, refit in runs:
            start = time.perf_counter()
            result = compress(bert, calibration, keep=keep, same_width=True,
                              selection=selection, refit=refit)
            seconds = time.perf_counter() - start
            after, _ = embed(result.module)
            sim = similarity(before, after)
            mlp = mlp_params(result.module)
            name = {"pfa": "PFA (token-level, consumer error)", "magnitude": "weight magnitude",
                    "random": "random"}[selection]
            say(f"| {result.layers[0].kept}/1536 | {name} | {'yes' if refit else 'no'} | "
                f"{mlp:,} ({100 * (mlp / mlp0 - 1):+.1f} %) | {sim['mean_cosine']:.4f} | "
                f"{sim['min_cosine']:.3f} | {sim['knn_overlap']:.3f} | {seconds:.0f} |")
            if selection == "pfa" and refit:
                smallest[keep] = result.module
                errors = ", ".join(f"{lay.error:.4f}" for lay in result.layers)
                LINES.append(f"<!-- keep {keep}: relative errors per block {errors} -->")
    say()
    speed(embed, {"original": bert, **{f"keep {k}": m for k, m in smallest.items()}},
          len(held_texts), args.repeats)


def speed(embed: Any, models: dict[str, nn.Module], n: int, repeats: int) -> None:
    """Wall and CPU seconds to encode the held-out texts: the models take turns, ``repeats``
    rounds, the fastest round of each counts (the machine is shared)."""
    wall = {name: np.inf for name in models}
    cpu = dict(wall)
    for _ in range(repeats):
        for name, model in models.items():
            start = time.process_time()
            wall[name] = min(wall[name], embed(model)[1])
            cpu[name] = min(cpu[name], time.process_time() - start)
    say()
    say(f"Encoding the {n} held-out texts, {torch.get_num_threads()} threads, fastest of "
        f"{repeats} alternating rounds:")
    say()
    say("| model | wall s | speed-up | CPU s | speed-up |")
    say("|---|---|---|---|---|")
    first = next(iter(models))
    for name in models:
        say(f"| {name} | {wall[name]:.2f} | {wall[first] / wall[name]:.2f}x | "
            f"{cpu[name]:.2f} | {cpu[first] / cpu[name]:.2f}x |")


def recipes(bert: nn.Module, calibration: list[dict]) -> None:
    """Units per MLP that PFA's recipes keep, from the token-level covariance."""
    from deepview.integrations.torch._compress import _moments, find_blocks
    from deepview.introspectors import PFA, PFACovariancesResult

    plans = find_blocks(bert, calibration[0])
    stats = _moments(bert, bert, plans, calibration, "token-level covariances")
    covariances = {p.producer: PFACovariancesResult.make_covariance_result(
        covariances=stats[p.producer].parts(centered=True)[0]) for p in plans}
    say()
    say("| PFA recipe (token-level covariance) | units kept per MLP (of 1536) |")
    say("|---|---|")
    for name, strategy in (("Energy(0.99)", PFA.Strategy.Energy(0.99)),
                           ("Energy(0.95)", PFA.Strategy.Energy(0.95)),
                           ("KL()", PFA.Strategy.KL())):
        counts = [strategy(covariances)[p.producer].recommended_output_count for p in plans]
        say(f"| {name} | {', '.join(map(str, counts))} |")


# ---------------------------------------------------------------------- digits
class BasicBlock(nn.Module):
    """``relu(x + bn2(conv2(relu(bn1(conv1(x))))))``, as torchvision's ResNet block."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class DigitsResNet(nn.Module):
    """A stem convolution, ``blocks`` residual blocks at 8x8, global pooling, a linear head."""

    def __init__(self, channels: int = 48, blocks: int = 3) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.blocks = nn.Sequential(*(BasicBlock(channels) for _ in range(blocks)))
        self.head = nn.Linear(channels, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(torch.relu(self.bn(self.stem(x))))
        return self.head(x.mean(dim=(2, 3)))


def digits(args: argparse.Namespace) -> None:
    split = load_digits_split(seed=0)
    x = torch.as_tensor(split.x_train)
    calibration = [x[i:i + 256] for i in range(0, len(x), 256)]
    for title, build, specs in (
        ("DigitsResNet (48 channels, 3 basic blocks)",
         DigitsResNet, [{"keep": k} for k in (0.6, 0.5, 0.4, 0.3)]),
        ("DigitsCNN (32/64 channels, 128 hidden; examples/pfa_compress_digits.py)",
         DigitsCNN, [{"keep": k} for k in (0.4, 0.3, 0.23)] + [{"kl": True}]),
    ):
        torch.manual_seed(0)
        start = time.perf_counter()
        net = train_digits_cnn(build(), split=split, epochs=args.epochs, seed=0)
        acc = evaluate_accuracy(net, split.x_test, split.y_test)
        params = count_parameters(net)
        say()
        say(f"{title}: {params:,} parameters, test accuracy {acc:.3f} "
            f"(trained in {time.perf_counter() - start:.0f} s); no retraining after compress")
        say()
        say("| recipe | units chosen by | refit | parameters | test accuracy |")
        say("|---|---|---|---|---|")
        for spec in specs:
            runs = [("pfa", True)] + ([("magnitude", True), ("magnitude", False),
                                       ("random", True), ("random", False)]
                                      if args.baselines and "keep" in spec else [])
            for selection, refit in runs:
                if "kl" in spec:
                    from deepview.introspectors import PFA

                    kwargs: dict = {"strategy": PFA.Strategy.KL()}
                else:
                    kwargs = {"keep": spec["keep"]}
                small = compress(net, calibration, selection=selection, refit=refit,
                                 **kwargs).module
                n = count_parameters(small)
                a = evaluate_accuracy(small, split.x_test, split.y_test)
                say(f"| {'PFA KL' if 'kl' in spec else 'keep ' + str(spec['keep'])} | "
                    f"{selection} | {'yes' if refit else 'no'} | {n:,} "
                    f"({100 * (n / params - 1):+.1f} %) | {a:.3f} ({100 * (a - acc):+.1f}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", type=int, default=1000)
    parser.add_argument("--held-out", type=int, default=500)
    parser.add_argument("--keeps", type=lambda s: [float(v) for v in s.split(",")],
                        default=[0.75, 0.59])
    parser.add_argument("--baselines", action="store_true",
                        help="also units by weight magnitude and random, with and without refit")
    parser.add_argument("--baseline-keeps", type=lambda s: [float(v) for v in s.split(",")],
                        default=[0.59], help="MiniLM sizes at which to run the baselines")
    parser.add_argument("--epochs", type=int, default=15, help="digits training epochs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the speed test")
    parser.add_argument("--skip-minilm", action="store_true")
    parser.add_argument("--recipes", action="store_true",
                        help="MiniLM: only the units PFA's recipes keep per MLP")
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/compress.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.skip_digits:
        digits(args)
    if not args.skip_minilm:
        minilm(args)
    args.out.write_text("\n".join(LINES) + "\n")


if __name__ == "__main__":
    main()
