"""Compress a small CNN with Principal Filter Analysis (PFA), end to end, on a CPU.

1. Train a CNN (conv 32 -> conv 64 -> dense 128 -> 10) on scikit-learn's 8x8 digits
   (shipped with scikit-learn, no download) for a few seconds.
2. Read the responses of its hidden layers (after each activation) through
   ``deepview.integrations.torch.TorchModel``, average the conv maps over space with
   ``Pooler`` so that each channel is one unit, and run ``PFA`` on them.
3. Apply the KL recipe with ``apply_pfa_recipe`` (drops the correlated/inactive units
   from each layer and the matching inputs of the next one), fine-tune briefly, and
   compare parameter count and test accuracy.

Run::

    python examples/pfa_compress_digits.py

The last line reads ``params BEFORE -> AFTER (-PCT%), test accuracy ACC_BEFORE -> ACC_AFTER``.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: on a shared or busy CPU, spinning threads
# make small torch ops several times slower (measured 112 s -> 24 s for this script).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from deepview.base import ArrayProducer, pipeline  # noqa: E402
from deepview.integrations.torch import (  # noqa: E402
    TorchModel,
    apply_pfa_recipe,
    count_parameters,
    evaluate_accuracy,
    load_digits_split,
    train_digits_cnn,
)
from deepview.introspectors import PFA  # noqa: E402
from deepview.processors import Pooler  # noqa: E402

#: responses PFA looks at (post-activation), and the layer each one belongs to
HIDDEN = {"relu1": "conv1", "relu2": "conv2", "relu3": "fc1"}
CONV_RESPONSES = ["relu1", "relu2"]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="training epochs")
    parser.add_argument("--finetune-epochs", type=int, default=4, help="epochs after pruning")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    split = load_digits_split(seed=args.seed)
    net = train_digits_cnn(split=split, epochs=args.epochs, seed=args.seed)
    params_before = count_parameters(net)
    acc_before = evaluate_accuracy(net, split.x_test, split.y_test)
    print(
        f"trained DigitsCNN in {time.perf_counter() - start:.1f} s: {params_before} parameters, "
        f"test accuracy {acc_before:.3f}"
    )
    t_pfa = time.perf_counter()

    # hidden-layer responses of the training images, one unit per channel
    model = TorchModel(net, device="cpu")
    responses = pipeline(
        ArrayProducer(split.x_train, labels={"digit": split.y_train.tolist()}),
        model(list(HIDDEN)),
        Pooler(dim=(2, 3), method=Pooler.Method.AVERAGE, fields=CONV_RESPONSES),
    )
    pfa = PFA.introspect(responses, batch_size=256)
    recipes = pfa.get_recipe(strategy=PFA.Strategy.KL())
    for name, recipe in sorted(recipes.items()):
        print(
            f"PFA KL  {name:6s} ({HIDDEN[name]}): keep {recipe.recommended_output_count:3d} of "
            f"{recipe.original_output_count:3d} units ({recipe.number_inactive_units} inactive)"
        )

    small = apply_pfa_recipe(net, recipes)
    print(f"responses + PFA + surgery in {time.perf_counter() - t_pfa:.1f} s")
    acc_pruned = evaluate_accuracy(small, split.x_test, split.y_test)
    print(f"pruned network before fine-tuning: test accuracy {acc_pruned:.3f}")
    small = train_digits_cnn(
        small, split=split, epochs=args.finetune_epochs, lr=5e-4, seed=args.seed + 1
    )
    params_after = count_parameters(small)
    acc_after = evaluate_accuracy(small, split.x_test, split.y_test)
    print(f"total time {time.perf_counter() - start:.1f} s")
    line = (
        f"params {params_before} -> {params_after} "
        f"(-{100 * (1 - params_after / params_before):.1f}%), "
        f"test accuracy {acc_before:.3f} -> {acc_after:.3f}"
    )
    print(line)
    return line


if __name__ == "__main__":
    main()
