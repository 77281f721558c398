"""Class balance of the training splits: the paper's Table 3, ours beside the paper's."""

from __future__ import annotations

import pandas as pd

from alsafe.paper.data import TRAINING_SPLITS
from alsafe.metrics import class_count_std, class_counts
from alsafe.paper.reference import paper_results
from alsafe.paper.reference import PAPER_TAXONOMY



def split_balance(splits: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per class (display names, rows in taxonomy order): how many titles each named split holds."""
    classes = PAPER_TAXONOMY.names
    table = pd.DataFrame({name: class_counts(rows["label"], classes) for name, rows in splits.items()})
    table.index = [PAPER_TAXONOMY.display(name) for name in table.index]
    return table.rename_axis("class").reset_index()


def table3(dataset: pd.DataFrame) -> pd.DataFrame:
    """Per-class counts of every split, their sample std (training splits) and totals, beside the paper's.

    Returns one row per class plus ``Standard Deviation`` and ``Total``; for each split a column
    with our count and a ``<split> (paper)`` column with the paper's printed value.
    """
    classes = PAPER_TAXONOMY.names
    paper = paper_results("table3")
    splits = [s for s in ("random", "topn", "coreset", "cluster", "bootstrap", "dev", "test")
              if s in set(dataset["split"])]
    table = pd.DataFrame({"class": [PAPER_TAXONOMY.display(c) for c in classes] + ["Standard Deviation", "Total"]})
    for split in splits:
        labels = dataset.loc[dataset["split"] == split, "label"]
        counts = class_counts(labels, classes)
        std = round(class_count_std(labels, classes), 1) if split in TRAINING_SPLITS else None
        table[split] = list(counts) + [std, int(counts.sum())]
        printed = paper[paper["approach"] == split].set_index("metric")["value"].astype(float)
        paper_counts = [printed.get(c) for c in classes]
        paper_total = sum(paper_counts) if all(v is not None for v in paper_counts) else None
        table[f"{split} (paper)"] = paper_counts + [printed.get("std"), paper_total]
    return table


def table3_notes(table: pd.DataFrame) -> list[str]:
    """Sentences explaining every cell where our count or std differs from the paper's."""
    notes = []
    splits = [c for c in table.columns if c != "class" and not c.endswith("(paper)")]
    for split in splits:
        for _, row in table.iterrows():
            ours, theirs = row[split], row[f"{split} (paper)"]
            if pd.isna(ours) or pd.isna(theirs) or float(ours) == float(theirs):
                continue
            notes.append(f"{split} / {row['class']}: ours {ours:g}, paper {theirs:g}.")
    if any(n.startswith("coreset /") for n in notes):
        notes.append("coreset: the released coreset-all.tsv has 601 rows, one Legal-Advice row more than the "
                     "paper's Table 3 counts (see alsafe.paper.data.dataset_notes); the extra row moves the sample std "
                     "of the six counts from the paper's 65.3 to 65.4.")
    return notes
