"""The paper's released dataset: download, verify, parse its quirks, build the canonical table.

The authors released seven TSV files (github.com/sabithsn/active-learning-safety, pinned commit
below). They have quirks this module absorbs, each checked against the files by the tests:

* The four training splits use CRLF line endings and their last line has none, so a naive
  reader sees labels ``legal-advice\\r`` and ``legal-advice``. The labeled files use LF.
* ``random-all.tsv``'s second header cell is a prompt sentence instead of ``input``.
* The labeled files name the text column ``title`` (id, subreddit, title, category); the splits
  name it ``input`` (id, input, subreddit, category).
* Titles contain quote characters, so the files are read as plain tab-separated text, never as
  quoted CSV.
* In ``random``, ``topn`` and ``cluster`` the first 500 rows are 100 blocks of 5 LLM variations and
  the last 100 rows are the 100 human-labeled originals in the same order (their ids agree). A
  variation's label is not always its original's; every row keeps its own label.
* ``coreset-all.tsv`` has 601 data rows, its ids cycle through 20 values and do not identify the
  originals. Its blocks are the runs of equal consecutive ids; run i of the first 100 belongs to
  original i of the last 100. One block has 6 rows, one of them with empty text; which of the six
  is the extra one cannot be derived, so :func:`dataset_notes` reports it and nothing is dropped.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from alsafe.exceptions import DataError
from alsafe import config
from alsafe.files import sha256_file, write_atomically
from alsafe.paper.reference import PAPER_TAXONOMY

PAPER_REPOSITORY = "sabithsn/active-learning-safety"
PAPER_COMMIT = "f30c0e982b15adf5d7116d26eec676ba680580b6"
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/dataset/{name}"

PAPER_FILES = {
    "bootstrap_labeled.tsv": "503c44a6cf8ba81071095b76c0707c1673a9a78b785c7e1330d9aafebda56446",
    "cluster-all.tsv": "537c8e40e1a18bf79a99b4acf05819faae13880e82f45a6e2d62a35519b1d58e",
    "coreset-all.tsv": "a5211f3574b82c92e4295b499fe8997eb95c617a10c3fd20d0a4b9937a4e27ca",
    "dev_labeled.tsv": "4aceb179514c5e2f9f5bb37962a18253d3cefab723c0fc0200bfedb5aa6412c2",
    "random-all.tsv": "8aa85261dba482910b5d0e4538e5eafbfa082e0fe3efa99aaed0ecaeabfed59b",
    "test_labeled.tsv": "c3ac6dc0b568ce4546efc550567b7995be0d504cebd1fe426516248e5e954cee",
    "topn-all.tsv": "ac5a89725eb08fe919344ade0e4fe881100540ffa948fcbd70d80ddb583a6b2f",
}

SPLIT_FILES = {
    "bootstrap": "bootstrap_labeled.tsv",
    "dev": "dev_labeled.tsv",
    "test": "test_labeled.tsv",
    "random": "random-all.tsv",
    "topn": "topn-all.tsv",
    "coreset": "coreset-all.tsv",
    "cluster": "cluster-all.tsv",
}
TRAINING_SPLITS = ("random", "topn", "coreset", "cluster")
ORIGINALS_PER_SPLIT = 100  # the paper: 5 rounds of 20 human-labeled titles
CANONICAL_COLUMNS = ["id", "text", "label", "display_label", "origin", "seed_id", "split", "subreddit", "reddit_id"]


@dataclass(frozen=True)
class Note:
    """One observation about the released files, derived from them (not written by hand)."""

    file: str
    line: int | None
    text: str

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        return f"{where}: {self.text}"


# -- locating and verifying ------------------------------------------------------------------

def verify_file(path: Path, local: bool = False) -> None:
    """Raise :class:`DataError` unless ``path`` has the sha256 the paper's release has.

    ``local``: the file is in the user's ``ALSAFE_DATA_DIR`` folder, which alsafe never writes to,
    so the remedy is theirs to take (a downloaded copy in ``data/raw/`` can simply be fetched again).
    """
    expected = PAPER_FILES[path.name]
    if path.is_dir():
        raise DataError(f"{path} is a folder, not the paper's file {path.name}; put the released TSV there.")
    actual = sha256_file(path)
    if actual != expected:
        remedy = (f"restore it from the release, or unset {config.DATA_DIR_VARIABLE} to download a verified copy "
                  "into data/raw/ (alsafe never changes files in that folder)" if local else
                  f"delete it to download it again, or point {config.DATA_DIR_VARIABLE} at an unaltered copy")
        raise DataError(
            f"{path} has sha256 {actual}, but the paper's release (commit {PAPER_COMMIT[:7]}) has {expected}; "
            f"the file was altered or truncated: {remedy}."
        )


def paper_data_dir(download: bool = True) -> Path:
    """The folder holding the seven verified files.

    ``ALSAFE_DATA_DIR`` wins when set (its files are verified, never replaced). Otherwise files
    are downloaded once into ``data/raw/`` from the pinned commit; a verified file is never
    fetched again.
    """
    local = config.local_data_dir()
    if local is not None:
        missing = [name for name in PAPER_FILES if not (local / name).exists()]
        if missing:
            raise DataError(
                f"{config.DATA_DIR_VARIABLE}={local} lacks {', '.join(missing)}; it must hold the paper's seven TSV "
                "files (unset it to download them)."
            )
        for name in PAPER_FILES:
            verify_file(local / name, local=True)
        return local
    folder = config.raw_data_dir()
    todo = [name for name in PAPER_FILES if not _verified(folder / name)]
    if todo and not download:
        raise DataError(f"{folder} lacks verified copies of {', '.join(todo)}; run `alsafe data` (it downloads and verifies them).")
    for name in tqdm(todo, desc="Downloading the paper's dataset", unit="file", disable=not todo):
        _download(name, folder)
    return folder


def _verified(path: Path) -> bool:
    if not path.exists():
        return False
    verify_file(path)  # a present but altered file is an error, never silently replaced
    return True


def _download(name: str, folder: Path) -> None:
    url = RAW_URL.format(repo=PAPER_REPOSITORY, commit=PAPER_COMMIT, name=name)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            payload = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise DataError(
            f"Could not download {name} into {folder} ({getattr(error, 'reason', error)}). Offline? Set "
            f"{config.DATA_DIR_VARIABLE} to a folder holding the paper's seven TSV files."
        ) from None
    actual = hashlib.sha256(payload).hexdigest()
    if actual != PAPER_FILES[name]:
        raise DataError(f"Downloaded {name} has sha256 {actual}, expected {PAPER_FILES[name]}; nothing was saved.")
    write_atomically(folder / name, lambda tmp: tmp.write_bytes(payload))


# -- parsing -----------------------------------------------------------------------------------

def read_paper_file(path: Path) -> pd.DataFrame:
    """Parse one released TSV into ``line, reddit_id, text, subreddit, label`` (no quoting, CRLF absorbed)."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(f"{path}, line {line}: bytes that are not UTF-8 ({error.reason}).") from None
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = lines[0].rstrip("\r").split("\t")
    # Labeled files: id, subreddit, title, category. Splits: id, <text>, subreddit, category.
    text_at, subreddit_at = (2, 1) if "title" in header else (1, 2)
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.rstrip("\r").split("\t")
        if len(cells) != 4:
            raise DataError(f"{path}, line {number}: expected 4 tab-separated cells, found {len(cells)}.")
        rows.append((number, cells[0], cells[text_at].strip(), cells[subreddit_at], cells[3].strip()))
    table = pd.DataFrame(rows, columns=["line", "reddit_id", "text", "subreddit", "label"])
    unknown = sorted(set(table["label"]) - set(PAPER_TAXONOMY.names))
    if unknown:
        raise DataError(f"{path}: unknown label(s) {unknown}.")
    return table


def _seed_positions(split: str, table: pd.DataFrame) -> tuple[list[int], list[Note]]:
    """For each row of a training split, the position of its human original (see module docstring)."""
    name = SPLIT_FILES[split]
    n = len(table)
    first_original = n - ORIGINALS_PER_SPLIT
    ids = table["reddit_id"].tolist()
    seeds = [0] * n
    for position in range(first_original, n):
        seeds[position] = position
    notes: list[Note] = []
    fixed_blocks = first_original == 5 * ORIGINALS_PER_SPLIT and all(
        ids[row] == ids[first_original + row // 5] for row in range(first_original)
    )
    if fixed_blocks:
        for row in range(first_original):
            seeds[row] = first_original + row // 5
    else:
        runs: list[list[int]] = []
        for row in range(first_original):
            if runs and ids[runs[-1][-1]] == ids[row]:
                runs[-1].append(row)
            else:
                runs.append([row])
        if len(runs) != ORIGINALS_PER_SPLIT:
            raise DataError(f"{name}: cannot link its {first_original} variations to {ORIGINALS_PER_SPLIT} originals "
                            f"(found {len(runs)} blocks).")
        notes.append(Note(name, None, f"{n} data rows; ids take {len(set(ids))} distinct values and do not name "
                                      "the originals, so blocks are linked to originals by order."))
        for block, rows in enumerate(runs):
            for row in rows:
                seeds[row] = first_original + block
            if len(rows) != 5:
                lines = [int(table["line"].iloc[r]) for r in rows]
                notes.append(Note(name, lines[0], f"block {block + 1} has {len(rows)} variations (lines "
                                                  f"{lines[0]}-{lines[-1]}) instead of 5; which one is extra cannot "
                                                  "be derived, so all are kept."))
    differing = sum(
        1 for block in range(ORIGINALS_PER_SPLIT)
        if any(table["label"].iloc[r] != table["label"].iloc[first_original + block]
               for r in range(first_original) if seeds[r] == first_original + block)
    )
    if differing:
        notes.append(Note(name, None, f"in {differing} of {ORIGINALS_PER_SPLIT} blocks a variation's label differs "
                                      "from its original's; each row keeps its own label."))
    return seeds, notes


def _canonical(split: str, table: pd.DataFrame, seeds: list[int] | None) -> pd.DataFrame:
    ids = [f"{split}-{line:04d}" for line in table["line"]]
    if seeds is None:
        origin, seed_ids = ["human"] * len(table), ids
    else:
        origin = ["human" if seed == row else "llm" for row, seed in enumerate(seeds)]
        seed_ids = [ids[seed] for seed in seeds]
    return pd.DataFrame({
        "id": ids,
        "text": table["text"].tolist(),
        "label": table["label"].tolist(),
        "display_label": [PAPER_TAXONOMY.display(label) for label in table["label"]],
        "origin": origin,
        "seed_id": seed_ids,
        "split": split,
        "subreddit": table["subreddit"].tolist(),
        "reddit_id": table["reddit_id"].tolist(),
    }, columns=CANONICAL_COLUMNS)


def load_split(split: str, folder: Path | None = None) -> pd.DataFrame:
    """One split in the canonical table (``id, text, label, display_label, origin, seed_id, split, subreddit, reddit_id``)."""
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_FILES)}, not {split!r}.")
    folder = folder or paper_data_dir()
    table = read_paper_file(folder / SPLIT_FILES[split])
    seeds = _seed_positions(split, table)[0] if split in TRAINING_SPLITS else None
    return _canonical(split, table, seeds)


def load_paper_dataset(folder: Path | None = None) -> pd.DataFrame:
    """All seven files as one canonical table (5,401 rows: every released row is kept)."""
    folder = folder or paper_data_dir()
    return pd.concat([load_split(split, folder) for split in SPLIT_FILES], ignore_index=True)


def dataset_notes(folder: Path | None = None) -> list[Note]:
    """What the loader found irregular in the released files, derived from the files themselves."""
    folder = folder or paper_data_dir()
    notes: list[Note] = []
    for split, name in SPLIT_FILES.items():
        raw = (folder / name).read_bytes()
        if b"\r\n" in raw:
            ending = "" if raw.endswith(b"\r\n") else " except the last, which has none"
            notes.append(Note(name, None, f"CRLF line endings{ending}."))
        header = raw.split(b"\n", 1)[0].decode("utf-8").rstrip("\r").split("\t")
        if "title" not in header and header[1] != "input":
            notes.append(Note(name, 1, f"the text column's header is {header[1]!r} instead of 'input'."))
        table = read_paper_file(folder / name)
        for line in table.loc[table["text"] == "", "line"]:
            notes.append(Note(name, int(line), "empty text (kept, so the class counts match the file)."))
        if split in TRAINING_SPLITS:
            notes.extend(_seed_positions(split, table)[1])
    return notes
