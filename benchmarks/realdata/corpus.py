"""A real text corpus built from installed packages' docstrings, with planted cases.

Nothing is downloaded: the texts are the first paragraphs of the public docstrings of numpy,
scipy, scikit-learn, pandas and torch, as installed in the interpreter that runs this.  Real
corpora repeat themselves ("Runs the forward pass." occurs dozens of times in torch), and
those natural repeats are kept.  On top, :func:`plant` adds

- ``ood``: out-of-domain sentences (cooking, sport, weather, travel, a few in other
  languages) that no docstring resembles;
- ``edit``: minimally edited copies of existing texts (one word changed, punctuation,
  case, backticks), each with ``pair_of`` = the id of its original;
- ``bulk``: many exact copies of a few texts (``pair_of`` = the original's id).

Run as a script to write ``OUT/texts.csv`` (columns ``id, text, source, kind, pair_of``)::

    python corpus.py OUT [--max-texts 12000] [--seed 0]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import numpy as np
import pandas as pd

PACKAGES = ("numpy", "scipy", "sklearn", "pandas", "torch")
_SKIP = re.compile(r"(^|\.)(_|tests?\b|testing\b|conftest|setup\b|compat\b|libs?\b)")

OOD = [
    "Preheat the oven to 180 degrees and butter a round cake tin.",
    "Whisk the eggs with sugar until pale and fluffy, then fold in the flour.",
    "Simmer the tomato sauce for twenty minutes with garlic and fresh basil.",
    "Knead the dough for ten minutes and let it rise in a warm place.",
    "Season the steak generously with salt and sear it in a hot cast iron pan.",
    "Chop the onions finely and fry them gently until golden brown.",
    "Serve the soup hot with a slice of crusty sourdough bread.",
    "Marinate the chicken overnight in yogurt, lemon juice and spices.",
    "Roast the vegetables with olive oil and rosemary for forty minutes.",
    "Add a pinch of nutmeg to the creamy spinach before serving.",
    "The striker scored twice in the second half to win the derby.",
    "The home team equalised in stoppage time after a corner kick.",
    "She won the marathon in a new course record despite the heat.",
    "The goalkeeper saved a penalty in the shootout to reach the final.",
    "Rain delayed the tennis match for almost two hours on centre court.",
    "The cyclist attacked on the last climb and rode alone to the finish.",
    "The coach was sent off after arguing with the referee at half time.",
    "Our basketball team lost by three points after a missed free throw.",
    "He swam the butterfly leg and handed the relay a two second lead.",
    "The rugby fans sang loudly as the players walked onto the pitch.",
    "Expect heavy showers this afternoon with gusts of wind along the coast.",
    "Tomorrow will be sunny and warm, with highs around twenty-eight degrees.",
    "A cold front brings snow to the mountains overnight and icy roads by morning.",
    "Thunderstorms are likely in the evening, so bring an umbrella.",
    "Fog will lift by mid morning, leaving a bright and mild day.",
    "The hurricane is expected to make landfall late on Thursday night.",
    "Frost is forecast for the valleys, protect tender plants outdoors.",
    "A heatwave will keep temperatures above thirty degrees all week.",
    "Light drizzle and grey skies will persist through the weekend.",
    "Strong winds may cause delays to ferries crossing the channel.",
    "The train to the airport leaves every fifteen minutes from platform four.",
    "We booked a small hotel near the old harbour for three nights.",
    "Remember to bring your passport and a printed copy of the ticket.",
    "The museum is closed on Mondays but open late on Fridays.",
    "Take the second left after the bakery and the station is on your right.",
    "My grandmother planted roses and lavender along the garden fence.",
    "The children built a sandcastle and watched the tide come in.",
    "Please water the tomatoes twice a day while we are away.",
    "The concert starts at eight, doors open half an hour earlier.",
    "He painted the kitchen a pale yellow over the long weekend.",
    "The cat slept all afternoon in a patch of sunlight on the sofa.",
    "We walked along the river and fed the ducks some bread.",
    "The library has a new collection of poetry from local writers.",
    "Don't forget to buy milk, eggs and apples on the way home.",
    "The wedding reception was held in a barn decorated with lights.",
    "Il pleut depuis ce matin et les rues sont presque vides.",
    "Nous avons mangé une excellente tarte aux pommes chez ma tante.",
    "Der Zug nach Berlin hat heute leider zwanzig Minuten Verspätung.",
    "Morgen gehen wir mit den Kindern in den Zoo, wenn die Sonne scheint.",
    "Hoy hace mucho calor, vamos a la playa después de comer.",
    "Mi hermano juega al fútbol todos los sábados por la mañana.",
    "Oggi ho cucinato la pasta al pomodoro con basilico fresco.",
    "La squadra di casa ha vinto la partita all'ultimo minuto.",
    "Amanhã vai chover muito no litoral durante a tarde.",
    "Het regent al de hele dag, dus we blijven lekker binnen.",
    "The baby giraffe at the zoo took its first steps this morning.",
    "A quiet walk through the pine forest cleared my head.",
    "The bakery on the corner sells the best cinnamon buns in town.",
    "They danced until midnight at the village summer festival.",
    "The old lighthouse was painted red and white last summer.",
]

_WORD_SWAPS = [
    ("the", "a"), ("a", "the"), ("Return", "Returns"), ("Returns", "Return"),
    ("array", "matrix"), ("values", "elements"), ("data", "input"), ("is", "was"),
    ("of", "for"), ("Compute", "Calculate"), ("object", "instance"), ("number", "count"),
]


def _first_paragraph(doc: str) -> str:
    para = doc.strip().split("\n\n", 1)[0]
    para = re.sub(r" at 0x[0-9a-f]+", "", para)  # object addresses differ between runs
    return " ".join(para.split())[:400]


def _docstrings(package: str) -> dict[str, str]:
    """``{qualified name: first paragraph}`` of the public objects of ``package``."""
    found: dict[str, str] = {}
    seen: set[int] = set()
    root = importlib.import_module(package)
    modules = [root]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if _SKIP.search(info.name[len(package):]):
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except Exception:  # noqa: BLE001 - optional submodules may not import here
            continue
    for module in modules:
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or id(obj) in seen:
                continue
            if not str(getattr(obj, "__module__", "")).startswith(package):
                continue
            if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)):
                continue
            seen.add(id(obj))
            qual = f"{module.__name__}.{name}"
            doc = inspect.getdoc(obj)
            if doc:
                found[qual] = _first_paragraph(doc)
            if inspect.isclass(obj):
                for mname, member in sorted(vars(obj).items()):
                    if mname.startswith("_") and mname != "__call__":
                        continue
                    mdoc = getattr(member, "__doc__", None)
                    if isinstance(mdoc, str) and callable(member):
                        found[f"{qual}.{mname}"] = _first_paragraph(inspect.cleandoc(mdoc))
    return {k: v for k, v in found.items() if len(v) >= 12}


def build_corpus(max_texts: int = 12000, seed: int = 0,
                 packages: tuple[str, ...] = PACKAGES) -> pd.DataFrame:
    """Natural texts only: ``id, text, source, kind="natural", pair_of=""``."""
    rows = []
    for package in packages:
        for qual, text in sorted(_docstrings(package).items()):
            rows.append((qual, text, package))
    frame = pd.DataFrame(rows, columns=["id", "text", "source"]).drop_duplicates("id")
    # an equal share per package first (torch alone has more docstrings than the rest), then
    # the remaining slots from what was left out, all drawn with one seeded generator
    rng = np.random.default_rng(seed)
    share = max_texts // len(packages)
    order = rng.permutation(len(frame))
    rank = frame.iloc[order].groupby("source").cumcount().reindex(frame.index[order])
    first = order[rank.to_numpy() < share]
    rest = order[rank.to_numpy() >= share][: max(0, max_texts - len(first))]
    frame = frame.iloc[np.sort(np.concatenate([first, rest]))]
    frame = frame.reset_index(drop=True)
    frame["kind"] = "natural"
    frame["pair_of"] = ""
    return frame


def _edit(text: str, rng: np.random.Generator) -> str | None:
    """A one-word, punctuation, case or backtick edit of ``text`` (None if none applies)."""
    words = text.split(" ")
    options = ["punct", "case", "backtick", "word"]
    for choice in rng.permutation(options):
        if choice == "punct":
            if text.endswith("."):
                return text[:-1]
            return text + "."
        if choice == "case" and any(c.isalpha() for c in text):
            return text[0].swapcase() + text[1:] if text[0].isalpha() else text.lower()
        if choice == "backtick":
            for i, w in enumerate(words):
                if "`" in w:
                    words[i] = w.replace("`", "")
                    return " ".join(words)
                if "_" in w and w.isascii() and w.strip(".,()").isidentifier():
                    words[i] = f"``{w}``"
                    return " ".join(words)
        if choice == "word":
            for old, new in rng.permutation(np.array(_WORD_SWAPS, dtype=object)):
                if old in words:
                    i = words.index(old)
                    words[i] = new
                    return " ".join(words)
    return None


def plant(frame: pd.DataFrame, *, n_edits: int = 100, bulk_texts: int = 3,
          bulk_copies: int = 60, n_ood: int = len(OOD), seed: int = 0) -> pd.DataFrame:
    """Add ``ood`` (``n_ood`` of :data:`OOD`, evenly spread over its topics), ``edit`` and
    ``bulk`` rows (see the module docstring), shuffled in."""
    rng = np.random.default_rng(seed)
    counts = frame["text"].value_counts()
    unique = frame[frame["text"].map(counts) == 1]
    unique = unique[unique["text"].str.len() >= 40]
    rows = []
    ood = OOD if n_ood >= len(OOD) else OOD[::len(OOD) // max(n_ood, 1)][:n_ood]
    for i, text in enumerate(ood):
        rows.append((f"planted.ood.{i:03d}", text, "planted", "ood", ""))
    picks = rng.permutation(len(unique))
    made = 0
    for j in picks:
        if made == n_edits:
            break
        original = unique.iloc[int(j)]
        edited = _edit(original["text"], rng)
        if edited is None or edited == original["text"]:
            continue
        rows.append((f"planted.edit.{made:03d}", edited, original["source"], "edit",
                     original["id"]))
        made += 1
    for b in range(bulk_texts):
        original = unique.iloc[int(picks[-1 - b])]
        for c in range(bulk_copies):
            rows.append((f"planted.bulk.{b}.{c:03d}", original["text"], original["source"],
                         "bulk", original["id"]))
    planted = pd.DataFrame(rows, columns=["id", "text", "source", "kind", "pair_of"])
    out = pd.concat([frame, planted], ignore_index=True)
    order = rng.permutation(len(out))
    return out.iloc[order].reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--max-texts", type=int, default=12000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    frame = plant(build_corpus(args.max_texts, args.seed), seed=args.seed)
    frame.to_csv(args.out / "texts.csv", index=False)
    print(frame["kind"].value_counts().to_string())
    print(frame["source"].value_counts().to_string())


if __name__ == "__main__":
    main()
