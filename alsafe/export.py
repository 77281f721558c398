"""Export a run: the labeled dataset (Parquet, CSV, Hugging Face ``datasets``) and a trained classifier.

Splits keep a seed and all of its variations on the same side, so no generated paraphrase of a
test item is ever trained on. An export says what it holds: a ``reviewed`` column (False on the
generated rows only the automatic filters passed), each label's ``note``, and a metadata file
(``dataset.meta.json``) with the labeling state it was made from, so :func:`export_is_stale` can say
what changed since.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from pathlib import Path

import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from alsafe.files import write_atomically
from alsafe.metrics import classification_scores, per_class_scores
from alsafe.store import RunStore

# Provenance columns dropped from an export when no row has a value (a pool without subreddits, a run
# without generation); the other columns are always there, so a reader can rely on them.
OPTIONAL_COLUMNS = ("round", "strategy", "annotator", "generator_model", "subreddit")
META_FILE = "dataset.meta.json"


def labeled_dataset(store: RunStore) -> pd.DataFrame:
    """Originals and accepted variations with provenance: origin, seed_id, reviewed, note, round, strategy,
    annotator, generator_model, subreddit.

    ``reviewed`` is True on human rows and on variations a person accepted, False on variations only the
    automatic filters passed; ``note`` is the note of the human label. Optional provenance columns
    (:data:`OPTIONAL_COLUMNS`) that are empty on every row are left out.
    """
    table = store.training_set()
    strategies = store.rounds().set_index("round")["strategy"]
    table["strategy"] = [strategies.get(r) if pd.notna(r) else None for r in table["round"]]
    table.loc[table["round"].isna() & (table["origin"] == "human"), "strategy"] = "bootstrap"
    human = table["origin"] == "human"
    reviewed = store.variations().set_index("id")["reviewed_by"].notna()
    # a generated row's id is f"{seed_id}~v{variation_id}" (RunStore.training_set)
    variation_ids = table.loc[~human, "id"].str.rsplit("~v", n=1).str[-1].astype(int)
    table["reviewed"] = True
    table.loc[~human, "reviewed"] = variation_ids.map(reviewed).fillna(False).astype(bool).to_numpy()
    table["reviewed"] = table["reviewed"].astype(bool)
    labels = store.labels()  # active labels, oldest first: the last per item is its current one
    notes = labels.groupby("item_id")["note"].last()
    table["note"] = None
    table.loc[human, "note"] = table.loc[human, "id"].map(notes).to_numpy()
    table["note"] = table["note"].where(table["note"].notna() & (table["note"] != ""), None)
    columns = ["id", "text", "label", "origin", "seed_id", "reviewed", "note", "round", "strategy", "annotator",
               "generator_model", "subreddit"]
    empty = [c for c in OPTIONAL_COLUMNS if table[c].replace("", None).isna().all()]
    return table[[c for c in columns if c not in empty]]


def labeling_state(store: RunStore) -> dict:
    """What an export was made from: a fingerprint of the run's labels, undos and reviews.

    Any new label, undo, review or accepted variation changes it; ``digest`` is a short hash of the rest.
    """
    labels = store.labels(include_retracted=True)
    variations = store.variations()
    reviewed_at = variations["reviewed_at"].dropna()
    state = {
        "last_label_id": int(labels["id"].max()) if len(labels) else 0,
        "labels_undone": int(labels["retracted_at"].notna().sum()),
        "last_variation_id": int(variations["id"].max()) if len(variations) else 0,
        "variations_reviewed": int(len(reviewed_at)),
        "last_review_at": float(reviewed_at.max()) if len(reviewed_at) else None,
        "accepted_variations": int(((variations["status"] == "accepted") & variations["current"]).sum()),
    }
    state["digest"] = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:12]
    return state


def export_is_stale(store: RunStore, folder: str | Path) -> str | None:
    """Why the export in ``folder`` no longer matches ``store`` (e.g. "1 label was undone after it was made"),
    or None when it matches or ``folder`` holds no export."""
    folder = Path(folder)
    meta = folder / META_FILE
    if not meta.exists():
        return ("it records no labeling state (an older alsafe made it)" if (folder / "dataset.parquet").exists()
                else None)
    made = json.loads(meta.read_text(encoding="utf-8"))["labeling_state"]
    now = labeling_state(store)
    if now["digest"] == made["digest"]:
        return None
    labels = store.labels(include_retracted=True)
    variations = store.variations()
    last_review = made["last_review_at"]
    new_rows = variations[(variations["id"] > made["last_variation_id"]) & (variations["status"] == "accepted")
                          & variations["current"]]
    changes = [
        (int((labels["id"] > made["last_label_id"]).sum()), "label", "given"),
        (now["labels_undone"] - made["labels_undone"], "label", "undone"),
        (int((variations["reviewed_at"] > last_review).sum() if last_review is not None
             else variations["reviewed_at"].notna().sum()), "generated row", "reviewed"),
        (len(new_rows), "generated row", "added"),
    ]
    said = [f"{_count(n, noun)} {'was' if n == 1 else 'were'} {verb}" for n, noun, verb in changes if n > 0]
    if not said:  # the counts moved without a new event (a store edited by hand): still not what was exported
        said = ["the run's labeling state changed"]
    return (", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1 else said[0]) + " after it was made"


def unreviewed_counts(store: RunStore) -> tuple[int, int]:
    """``(unreviewed, generated)``: generated rows of the dataset no person reviewed, and all generated rows."""
    generated = labeled_dataset(store).query("origin == 'llm'")
    return int((~generated["reviewed"]).sum()), len(generated)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


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
    """Write ``dataset.parquet``, ``dataset.csv``, a ``hf/`` folder (``DatasetDict.save_to_disk``), a
    ``README.md`` saying what the dataset holds, and ``dataset.meta.json`` (its labeling state, for
    :func:`export_is_stale`)."""
    import datasets

    folder = Path(folder)
    state = labeling_state(store)  # before the table: a label given meanwhile makes the export stale, not wrong
    table = labeled_dataset(store)
    table["split"] = split_by_seed(table, test_fraction, random_state)
    paths = {
        "parquet": write_atomically(folder / "dataset.parquet", lambda tmp: table.to_parquet(tmp, index=False)),
        "csv": write_atomically(folder / "dataset.csv", lambda tmp: table.to_csv(tmp, index=False)),
    }
    names = store.taxonomy.names
    typed = {"label": datasets.ClassLabel(names=names), "round": datasets.Value("float64"),
             "reviewed": datasets.Value("bool")}
    features = datasets.Features({c: typed.get(c, datasets.Value("string")) for c in table.columns})
    parts = {}
    for split in ("train", "test"):
        rows = table[table["split"] == split].reset_index(drop=True)
        rows = rows.astype({c: "float64" if c == "round" else "object" for c in rows.columns if c != "reviewed"})
        rows = rows.where(rows.notna(), None)
        parts[split] = datasets.Dataset.from_pandas(rows, features=features, preserve_index=False)
    hf = folder / "hf"
    staging = folder / "hf.partial"
    datasets.DatasetDict(parts).save_to_disk(str(staging))
    if hf.exists():
        import shutil

        shutil.rmtree(hf)
    staging.replace(hf)
    paths["hf"] = hf
    holds = _holdings(table)
    card = "\n".join([f"# Dataset exported from alsafe run `{store.path.name}`", "", *_holdings_lines(holds, state),
                      "", f"Split by seed: {int((table['split'] == 'train').sum())} train, "
                      f"{int((table['split'] == 'test').sum())} test rows (column `split`).", ""])
    paths["readme"] = write_atomically(folder / "README.md", lambda tmp: tmp.write_text(card, encoding="utf-8"))
    meta = {**holds, "labeling_state": state, "run": str(store.path), "created_at": time.time()}
    # written last: an export cut short leaves no metadata claiming it is complete and current
    paths["meta"] = write_atomically(folder / META_FILE, lambda tmp: tmp.write_text(json.dumps(meta, indent=2),
                                                                                   encoding="utf-8"))
    return paths


def read_export_meta(folder: str | Path) -> dict | None:
    """The ``dataset.meta.json`` of the export in ``folder`` (what it holds, its labeling state), or None."""
    path = Path(folder) / META_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _holdings(table: pd.DataFrame) -> dict:
    generated = table[table["origin"] == "llm"]
    return {"rows": len(table), "human": int((table["origin"] == "human").sum()), "generated": len(generated),
            "unreviewed": int((~generated["reviewed"]).sum()), "notes": int(table["note"].notna().sum()),
            "dropped_columns": [c for c in OPTIONAL_COLUMNS if c not in table.columns]}


def _holdings_lines(holds: dict, state: dict) -> list[str]:
    """Markdown lines: what the export holds, how much of it no person reviewed, the state it was made from."""
    lines = ["## What this export holds", "",
             f"{holds['rows']} texts: {holds['human']} labeled by a person, {holds['generated']} generated "
             "variations that keep their seed's label."]
    if holds["unreviewed"]:
        lines[-1] += (f" **{holds['unreviewed']} of the {holds['generated']} generated rows were never reviewed by a "
                      "person** (only the automatic filters passed them): column `reviewed` is False on them.")
    elif holds["generated"]:
        lines[-1] += " A person reviewed every generated row."
    if holds["notes"]:
        lines[-1] += (f" {_count(holds['notes'], 'label')} {'carries' if holds['notes'] == 1 else 'carry'} the "
                      "annotator's note (column `note`).")
    if holds["dropped_columns"]:
        lines[-1] += f" Left out, empty on every row: {', '.join(f'`{c}`' for c in holds['dropped_columns'])}."
    when = (datetime.datetime.fromtimestamp(state["last_review_at"]).isoformat(timespec="seconds")
            if state["last_review_at"] else "none")
    lines += ["", f"Made from labeling state `{state['digest']}`: last label id {state['last_label_id']}, "
              f"{state['labels_undone']} labels undone, {state['variations_reviewed']} variations reviewed (last "
              f"review {when}), {state['accepted_variations']} accepted. `alsafe.export.export_is_stale(store, "
              "folder)` says what changed in the run since."]
    return lines


def export_classifier(store: RunStore, folder: str | Path, model: str = "all-MiniLM-L6-v2", test_fraction: float = 0.2,
                      random_state: int = 0, **learner_params) -> Path:
    """Train ``model`` on the dataset's train side, score it on the test side, save it with a model card.

    The folder loads with ``transformers.pipeline("text-classification", model=folder)``.
    """
    from alsafe.learn.transformer import TransformerClassifier  # here: torch loads only when a classifier is exported

    folder = Path(folder)
    state = labeling_state(store)
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
    card = _model_card(store, model, train, test, report, learner_params, time.time() - started,
                       _holdings_lines(_holdings(table), state))
    write_atomically(folder / "README.md", lambda tmp: tmp.write_text(card, encoding="utf-8"))
    write_atomically(folder / "metrics.json", lambda tmp: tmp.write_text(json.dumps(report, indent=2, default=int), encoding="utf-8"))
    return folder


def _model_card(store, model, train, test, report, learner_params, seconds, holdings) -> str:
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
              "| class | human | generated | generated, never reviewed by a person |", "|---|---|---|---|"]
    for name in taxonomy.names:
        rows = train[train["label"] == name]
        generated = rows[rows["origin"] == "llm"]
        lines.append(f"| {taxonomy.display(name)} | {(rows['origin'] == 'human').sum()} | {len(generated)} | "
                     f"{(~generated['reviewed']).sum()} |")
    lines += ["", *holdings, "", "## Labels", ""]
    lines += [f"- `{label.name}` ({label.display_name}): {label.description}" for label in taxonomy.labels]
    lines += ["", "## Run parameters", "", "```json", json.dumps({"run": store.params, "learner": learner_params},
                                                                 indent=2, default=str), "```", ""]
    return "\n".join(lines)
