"""Export a run: the labeled dataset (Parquet, CSV, Hugging Face ``datasets``) and a trained classifier.

Splits keep a seed and all of its variations on the same side, so no generated paraphrase of a
test item is ever trained on.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from alsafe.files import write_atomically
from alsafe.metrics import classification_scores, per_class_scores
from alsafe.store import RunStore


def labeled_dataset(store: RunStore) -> pd.DataFrame:
    """Originals and accepted variations with provenance: origin, seed_id, round, strategy, annotator, generator_model."""
    table = store.training_set()
    strategies = store.rounds().set_index("round")["strategy"]
    table["strategy"] = [strategies.get(r) if pd.notna(r) else None for r in table["round"]]
    table.loc[table["round"].isna() & (table["origin"] == "human"), "strategy"] = "bootstrap"
    return table[["id", "text", "label", "origin", "seed_id", "round", "strategy", "annotator", "generator_model",
                  "subreddit"]]


def export_paper_tsv(store: RunStore, path: str | Path) -> Path:
    """Write L in the paper's split format (``id, input, subreddit, category``; id is the seed's)."""
    table = store.training_set()
    out = pd.DataFrame({"id": table["seed_id"], "input": table["text"].str.replace(r"[\t\r\n]+", " ", regex=True),
                        "subreddit": table["subreddit"].fillna(""), "category": table["label"]})
    return write_atomically(Path(path), lambda tmp: out.to_csv(tmp, sep="\t", index=False, quoting=3,
                                                               escapechar="\\", lineterminator="\n"))


def export_parquet(store: RunStore, path: str | Path) -> Path:
    """Write L with its provenance columns (see :func:`labeled_dataset`) to Parquet."""
    table = labeled_dataset(store)
    return write_atomically(Path(path), lambda tmp: table.to_parquet(tmp, index=False))


def split_by_seed(table: pd.DataFrame, test_fraction: float = 0.2, random_state: int = 0) -> pd.Series:
    """``train``/``test`` per row, drawn over seeds so a seed and its variations never straddle the boundary."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, not {test_fraction!r}.")
    if table["seed_id"].nunique() < 2:
        raise ValueError("The dataset needs at least two seeds to be split into train and test.")
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=random_state)
    _, test = next(splitter.split(table, groups=table["seed_id"]))
    split = pd.Series("train", index=table.index)
    split.iloc[test] = "test"
    return split


def export_dataset(store: RunStore, folder: str | Path, test_fraction: float = 0.2, random_state: int = 0) -> dict:
    """Write ``dataset.parquet``, ``dataset.csv`` and a ``hf/`` folder (``DatasetDict.save_to_disk``)."""
    import datasets

    folder = Path(folder)
    table = labeled_dataset(store)
    table["split"] = split_by_seed(table, test_fraction, random_state)
    paths = {
        "parquet": write_atomically(folder / "dataset.parquet", lambda tmp: table.to_parquet(tmp, index=False)),
        "csv": write_atomically(folder / "dataset.csv", lambda tmp: table.to_csv(tmp, index=False)),
    }
    names = store.taxonomy.names
    features = datasets.Features({
        **{c: datasets.Value("string") for c in table.columns if c not in ("label", "round")},
        "label": datasets.ClassLabel(names=names), "round": datasets.Value("float64")})
    parts = {}
    for split in ("train", "test"):
        rows = table[table["split"] == split].reset_index(drop=True).astype({"round": "float64"})
        rows = rows.astype({c: "object" for c in rows.columns if c not in ("round",)}).where(rows.notna(), None)
        parts[split] = datasets.Dataset.from_pandas(rows, features=features, preserve_index=False)
    hf = folder / "hf"
    staging = folder / "hf.partial"
    datasets.DatasetDict(parts).save_to_disk(str(staging))
    if hf.exists():
        import shutil

        shutil.rmtree(hf)
    staging.replace(hf)
    paths["hf"] = hf
    return paths


def export_classifier(store: RunStore, folder: str | Path, model: str = "all-MiniLM-L6-v2", test_fraction: float = 0.2,
                      random_state: int = 0, **learner_params) -> Path:
    """Train ``model`` on the dataset's train side, score it on the test side, save it with a model card.

    The folder loads with ``transformers.pipeline("text-classification", model=folder)``.
    """
    from alsafe.learn.learners import TransformerClassifier

    folder = Path(folder)
    table = labeled_dataset(store)
    table["split"] = split_by_seed(table, test_fraction, random_state)
    train, test = table[table["split"] == "train"], table[table["split"] == "test"]
    started = time.time()
    classifier = TransformerClassifier(model=model, random_state=random_state, classes=store.taxonomy.names,
                                       **learner_params)
    classifier.fit(train["text"].tolist(), train["label"].tolist())
    predicted = classifier.predict(test["text"].tolist())
    names = store.taxonomy.names
    report = {"macro": classification_scores(test["label"], predicted, names),
              "per_class": per_class_scores(test["label"], predicted, names).set_index("class").to_dict("index")}
    classifier.save_pretrained(folder)
    card = _model_card(store, model, train, test, report, learner_params, time.time() - started)
    write_atomically(folder / "README.md", lambda tmp: tmp.write_text(card, encoding="utf-8"))
    write_atomically(folder / "metrics.json", lambda tmp: tmp.write_text(json.dumps(report, indent=2, default=int), encoding="utf-8"))
    return folder


def _model_card(store, model, train, test, report, learner_params, seconds) -> str:
    taxonomy = store.taxonomy
    lines = [
        "---", "pipeline_tag: text-classification", "library_name: transformers", "---", "",
        f"# Safety-scenario classifier from alsafe run `{store.path.name}`", "",
        f"Fine-tuned from `{model}` on {len(train)} texts ({(train['origin'] == 'human').sum()} human-labeled, "
        f"{(train['origin'] == 'llm').sum()} LLM-generated variations that keep their seed's label); scored on "
        f"{len(test)} held-out texts whose seeds never appear in training. Training took {seconds:.0f} s.", "",
        "## Per-class metrics (held-out side, percent)", "", "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for name in taxonomy.names:
        row = report["per_class"][name]
        lines.append(f"| {taxonomy.display(name)} | {row['precision']:.1f} | {row['recall']:.1f} | {row['f1']:.1f} | "
                     f"{int(row['support'])} |")
    macro = report["macro"]
    lines += [f"| **macro** | {macro['precision']:.1f} | {macro['recall']:.1f} | {macro['f1']:.1f} | {len(test)} |", "",
              f"Accuracy {macro['accuracy']:.1f}%.", "", "## Class distribution of the training data", "",
              "| class | human | generated |", "|---|---|---|"]
    for name in taxonomy.names:
        rows = train[train["label"] == name]
        lines.append(f"| {taxonomy.display(name)} | {(rows['origin'] == 'human').sum()} | {(rows['origin'] == 'llm').sum()} |")
    lines += ["", "## Labels", ""] + [f"- `{label.name}` ({label.display_name}): {label.description}"
                                      for label in taxonomy.labels]
    lines += ["", "## Run parameters", "", "```json", json.dumps({"run": store.params, "learner": learner_params},
                                                                 indent=2, default=str), "```", ""]
    return "\n".join(lines)
