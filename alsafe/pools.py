"""A user's own data: read a pool or labeled set from CSV, TSV, JSONL or Parquet into the canonical table.

Every problem is reported as one :class:`PoolError` naming the file, the row (1-based, as a
spreadsheet counts data rows) and the column, before anything is written anywhere.
"""

from __future__ import annotations

import io
import json
import warnings
from numbers import Number
from pathlib import Path

import numpy as np
import pandas as pd

from alsafe.exceptions import PoolError, TaxonomyError
from alsafe.store import ItemBatch, RunStore
from alsafe.taxonomy import Taxonomy, load_taxonomy

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def read_table(path: str | Path, format: str | None = None) -> pd.DataFrame:
    """Read a file as strings, choosing the format from its suffix unless ``format`` is given."""
    path = Path(path)
    if not path.exists():
        raise PoolError(f"{path} does not exist.")
    if path.is_dir():
        raise PoolError(f"{path} is a folder, not a file; name the file itself.")
    if path.stat().st_size == 0:
        raise PoolError(f"{path} is empty (0 bytes); it needs a header row and one row per text.")
    kind = format or FORMATS.get(path.suffix.lower())
    if kind not in FORMATS.values():
        raise PoolError(f"{path}: unknown format {path.suffix!r}; use one of {', '.join(sorted(FORMATS))} "
                        "or pass format=.")
    if kind == "parquet":
        try:
            return pd.read_parquet(path)
        except Exception as error:  # pyarrow raises several types for a damaged file
            raise PoolError(f"{path}: not a readable Parquet file ({error}).") from None
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise PoolError(f"{path}, line {line}: bytes that are not UTF-8 at offset {error.start} "
                        "(save the file as UTF-8).") from None
    if kind == "jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise PoolError(f"{path}, line {number}: not valid JSON ({error.msg}).") from None
            if not isinstance(record, dict):
                raise PoolError(f"{path}, line {number}: expected a JSON object per line.")
            records.append(record)
        return pd.DataFrame.from_records(records)
    try:
        # TSV is read without quoting: titles carry quote characters (as in the paper's files).
        return pd.read_csv(io.StringIO(text), sep="\t" if kind == "tsv" else ",", dtype=str,
                           keep_default_na=False, quoting=3 if kind == "tsv" else 0)
    except pd.errors.ParserError as error:
        raise PoolError(f"{path}: cannot be parsed as {kind.upper()} ({error}).") from None


def import_table(path: str | Path, text_column: str = "text", id_column: str | None = "id",
                 label_column: str | None = None, taxonomy: Taxonomy | None = None,
                 extra_columns: dict[str, str] | None = None, format: str | None = None,
                 id_prefix: str = "row") -> pd.DataFrame:
    """Read and validate a user's file into ``id, text[, label]`` plus mapped extra columns.

    Parameters
    ----------
    path : the file (CSV, TSV, JSONL or Parquet).
    text_column, id_column, label_column : which of the file's columns hold these. Without an
        id column, ids are ``<id_prefix>-<n>``.
    taxonomy : labels must be among its names (needed with ``label_column``).
    extra_columns : more columns to keep, as ``{canonical_name: file_column}`` (e.g. ``{"subreddit": "sub"}``).
    """
    path = Path(path)
    table = read_table(path, format)
    wanted = {"text": text_column, "id": id_column, "label": label_column, **(extra_columns or {})}
    for canonical, column in wanted.items():
        if column is not None and column not in table.columns:
            raise PoolError(f"{path}: no column {column!r} for the {canonical} (columns: {', '.join(map(str, table.columns))}).")
    if table.empty:
        raise PoolError(f"{path} has a header but no rows; add one row per text below it.")
    table = table.reset_index(drop=True)
    rows = lambda mask: [int(i) + 1 for i in table.index[mask]]  # noqa: E731  1-based data rows
    for canonical, column in wanted.items():
        if column is not None:
            _check_cells(path, table[column], column, integers_ok=canonical == "id")

    texts = table[text_column]
    missing = texts.isna() | (texts.astype(str).str.strip() == "")
    if missing.any():
        first = rows(missing)
        raise PoolError(f"{path}, row {first[0]}, column {text_column!r}: empty or whitespace-only text"
                        + (f" ({len(first)} such rows)." if len(first) > 1 else "."))
    broken = texts.astype(str).str.contains(r"[\r\n]")
    if broken.any():
        first = rows(broken)[0]
        count = int(broken.sum())
        warnings.warn(f"{path}: {count} text{' contains' if count == 1 else 's contain'} line breaks (row {first}: "
                      f"{texts[broken].iloc[0]!r}); legal in a quoted field, but a forgotten quote merges rows "
                      "into one text: check the file.", stacklevel=2)
    if id_column is None:
        ids = pd.Series([f"{id_prefix}-{i + 1}" for i in range(len(table))], index=table.index)
    else:
        ids = table[id_column].astype(str).str.strip()
        blank = ids.isin(["", "nan", "None"])
        if blank.any():
            raise PoolError(f"{path}, row {rows(blank)[0]}, column {id_column!r}: empty id.")
        repeated = ids.duplicated(keep=False)
        if repeated.any():
            value = ids[repeated].iloc[0]
            where = rows(ids == value)
            raise PoolError(f"{path}, rows {', '.join(map(str, where[:5]))}, column {id_column!r}: "
                            f"duplicate id {value!r}; ids must be unique.")
    out = pd.DataFrame({"id": ids, "text": texts.astype(str).str.strip()})
    if label_column is not None:
        if taxonomy is None:
            raise PoolError(f"{path}: reading labels from column {label_column!r} needs the taxonomy they come from.")
        labels = table[label_column].astype(str).str.strip()
        unknown = ~labels.isin(taxonomy.names)
        if unknown.any():
            first = rows(unknown)[0]
            raise PoolError(f"{path}, row {first}, column {label_column!r}: unknown label {labels[unknown].iloc[0]!r}; "
                            f"the taxonomy has {', '.join(taxonomy.names)}.")
        out["label"] = labels
    for canonical, column in (extra_columns or {}).items():
        out[canonical] = table[column].astype(str)
    return out.reset_index(drop=True)


def _check_cells(path: Path, column: pd.Series, name: str, integers_ok: bool) -> None:
    """Cells of JSONL or Parquet files keep their JSON types: a number, list or true/false is not text."""
    for position, value in enumerate(column):
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, str) or (isinstance(value, float) and value != value):
            continue  # missing values are reported as empty further on
        if isinstance(value, bool):
            kind = "true/false"
        elif isinstance(value, Number):
            if integers_ok and float(value).is_integer():
                continue  # integer ids (17) are ids
            kind = "a number"
        elif isinstance(value, (list, tuple, dict)) or hasattr(value, "__len__"):
            kind = "a list" if not isinstance(value, dict) else "an object"
        else:
            kind = type(value).__name__
        raise PoolError(f"{path}, row {position + 1}, column {name!r}: {value!r} is {kind}, not text; "
                        "quote it as a string in the file.")


def import_into_store(store: RunStore, path: str | Path, role: str = "pool", **mapping) -> int:
    """Validate a file with :func:`import_table` and add it to ``store`` in one transaction.

    The taxonomy is the store's; a file that fails validation adds nothing.
    """
    table = import_table(path, taxonomy=store.taxonomy, **mapping)
    return store.add_items(table, role=role, source=str(path))


def run_items(pool: str | Path, taxonomy: Taxonomy, bootstrap: str | Path | None = None, text_column: str = "text",
              id_column: str | None = "id", label_column: str = "label",
              pool_label_column: str | None = None) -> list[ItemBatch]:
    """Validate a pool file and an optional bootstrap labeled file into the batches a new run store holds.

    ``pool_label_column`` names gold answers in the pool, for a simulated annotator (leave it None
    when people label).
    """
    pool_table = import_table(pool, text_column=text_column, id_column=id_column, label_column=pool_label_column,
                              taxonomy=taxonomy, id_prefix="pool-row")
    batches = [(pool_table, "pool", str(pool), "import")]
    if bootstrap is not None:
        boot_table = import_table(bootstrap, text_column=text_column, id_column=id_column, label_column=label_column,
                                  taxonomy=taxonomy, id_prefix="bootstrap-row")
        if boot_table["label"].nunique() < 2:
            raise PoolError(f"{bootstrap}: every label is {boot_table['label'].iloc[0]!r}; the learner needs examples "
                            "of at least two classes (add some, or start without a bootstrap file).")
        clash = sorted(set(boot_table["id"]) & set(pool_table["id"]))
        if clash:
            raise PoolError(f"{bootstrap}: ids {', '.join(clash[:5])} are also in {pool}; give labeled and pool "
                            "items distinct ids.")
        batches.append((boot_table, "labeled", str(bootstrap), "bootstrap"))
    return batches


def as_taxonomy(taxonomy: str | Path | Taxonomy) -> Taxonomy:
    """A :class:`Taxonomy` as it is, or read from a YAML file; either must have at least two labels."""
    if taxonomy is None or str(taxonomy) == "":
        raise PoolError("A run needs a taxonomy: pass a YAML file with labels: [{name, description}] "
                        "(examples/own-data/taxonomy.yaml is one).")
    source = f"taxonomy {taxonomy.name!r}" if isinstance(taxonomy, Taxonomy) else str(taxonomy)
    taxonomy = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
    if len(taxonomy) < 2:
        raise TaxonomyError(f"{source} has {len(taxonomy)} label; a classifier needs at least two.")
    return taxonomy


def start_run(run_path: str | Path, pool: str | Path, taxonomy: str | Path | Taxonomy,
              bootstrap: str | Path | None = None, params: dict | None = None, **columns) -> RunStore:
    """Create a run store from a pool file, a taxonomy (YAML path or object) and an optional bootstrap
    labeled file (``columns`` as for :func:`run_items`). Both files are validated before the store is
    created, so a bad file leaves nothing behind."""
    taxonomy = as_taxonomy(taxonomy)
    return RunStore.create(run_path, taxonomy, params, items=lambda: run_items(pool, taxonomy, bootstrap, **columns))


def open_or_start_run(run_path: str | Path, pool: str | Path, taxonomy: str | Path | Taxonomy,
                      bootstrap: str | Path | None = None, params: dict | None = None, **columns) -> RunStore:
    """Continue the run at ``run_path`` (the next day, say) if it was made with these ``params`` and
    taxonomy, or start it as :func:`start_run` does."""
    taxonomy = as_taxonomy(taxonomy)
    return RunStore.open_or_create(run_path, taxonomy, params,
                                   items=lambda: run_items(pool, taxonomy, bootstrap, **columns))
