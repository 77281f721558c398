"""Collect an unlabeled pool of Reddit post titles, offline from dump files or online through PRAW.

The paper (section 4.2) built its pool from up to 1000 posts from each of 15 subreddits and used
the post titles as inputs. Both paths here produce the same table, one row per post::

    id  text  subreddit  created_utc  source

``text`` is the title, ``subreddit`` is spelled as the caller spelled it (names match
case-insensitively), ``created_utc`` is whole seconds (``<NA>`` when the post lacks it) and
``source`` is the dump file's name or ``reddit:<listing>``. :func:`write_pool` saves it in the form
:func:`alsafe.pools.import_table` reads with ``extra_columns={"subreddit": "subreddit"}``.

Dump files are the public zstandard-compressed NDJSON archives (``RS_YYYY-MM.zst`` or
``<name>_submissions.zst``), read as a stream, never whole. Choices, each pinned by a test:

* The first ``max_per_subreddit`` kept posts of each subreddit in file order are kept; with several
  files the cap is shared, filled in the order the files are given. Reading stops as soon as every
  subreddit is full, so the rest of the file (and any damage in it) is not read.
* A post is kept once per id (the first kept copy); later copies, in any file, are dropped.
* A malformed line (not JSON, not an object, or ``id``/``subreddit``/``title`` missing or not
  text) is skipped; one :class:`MalformedLinesWarning` per file gives the count and the first
  such line number. Blank lines are ignored.
* A truncated or corrupt stream raises :class:`CollectError` naming the file, and nothing is
  returned: a pool silently cut short would over-represent the oldest posts.
* Dump titles carry HTML entities (``&amp;``) and are unescaped, as the paper's released titles
  are; titles fetched through PRAW are already plain.
"""

from __future__ import annotations

import html
import io
import json
import os
import warnings
from pathlib import Path
from typing import Iterable

import pandas as pd
import zstandard
from tqdm.auto import tqdm

from alsafe.exceptions import CollectError
from alsafe.files import write_atomically

# Exactly the distinct values of the ``subreddit`` column across the paper's seven released files
# (bootstrap/dev/test_labeled.tsv and the four *-all.tsv); there are 15, as the paper says.
PAPER_SUBREDDITS = (
    "depression", "depression_help", "depressed",                     # self-harm
    "medical", "medical_advice", "AskDocs",                           # medical
    "legal", "legaladvice", "Ask_Lawyers",                            # legal
    "personalfinance", "FinancialPlanning", "financialindependence",  # financial
    "bugout", "preppers", "Survival",                                 # emergency
)
COLUMNS = ("id", "text", "subreddit", "created_utc", "source")
LISTINGS = ("new", "top", "hot")
CREDENTIAL_VARIABLES = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT")
REMOVED_TEXTS = {"[removed]", "[deleted]", "[deleted by user]"}
MAX_WINDOW_SIZE = 2**31  # the dumps are compressed with --long=31
CHUNK_SIZE = 2**18


class MalformedLinesWarning(UserWarning):
    """Some lines of a dump file could not be read as posts and were skipped."""


def read_dump(path: str | Path, subreddits: Iterable[str], max_per_subreddit: int | None = 1000,
              min_title_chars: int = 1, drop_removed: bool = True, progress: bool = True) -> pd.DataFrame:
    """Read the posts of ``subreddits`` from one zstandard NDJSON dump file.

    Parameters
    ----------
    path : the ``.zst`` file.
    subreddits : names to keep, matched case-insensitively (a leading ``r/`` is ignored).
    max_per_subreddit : keep at most this many posts per subreddit, the first in file order;
        None keeps all.
    min_title_chars : drop posts whose stripped title is shorter (the paper kept titles as short as 2).
    drop_removed : drop posts removed by moderators or deleted by their authors.
    progress : show a progress bar over the compressed bytes read.

    Returns
    -------
    pandas.DataFrame with columns ``id, text, subreddit, created_utc, source``; ``attrs["skipped"]``
    counts the posts dropped by each rule.
    """
    return read_dumps([path], subreddits, max_per_subreddit=max_per_subreddit,
                      min_title_chars=min_title_chars, drop_removed=drop_removed, progress=progress)


def read_dumps(paths: Iterable[str | Path], subreddits: Iterable[str], max_per_subreddit: int | None = 1000,
               min_title_chars: int = 1, drop_removed: bool = True, progress: bool = True) -> pd.DataFrame:
    """Read several dump files in the given order, sharing the per-subreddit cap across them.

    Parameters are those of :func:`read_dump`. Every file is checked to exist before any is read.
    """
    paths = [Path(path) for path in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise CollectError("paths is empty; pass at least one dump file.")
    for path in paths:
        if not path.is_file():
            raise CollectError(f"{path} does not exist or is not a file; pass the path of a .zst dump.")
    collector = _Collector(subreddits, max_per_subreddit, min_title_chars, drop_removed)
    total = sum(path.stat().st_size for path in paths)
    malformed = {}  # path -> (count, first line number)
    with tqdm(total=total, unit="B", unit_scale=True, desc="Reading dumps", disable=not progress) as bar:
        for path in paths:
            if collector.full:
                break
            bar.set_postfix_str(path.name)
            malformed[path] = _scan_dump(path, collector, bar)
    for path, (count, first) in malformed.items():  # after the bar, so the messages are not torn by it
        if count:
            warnings.warn(f"{path}: skipped {count} malformed line{'s' if count > 1 else ''} (not JSON, not an "
                          f"object, or without a text id, subreddit and title); the first is line {first}.",
                          MalformedLinesWarning, stacklevel=2)
    return collector.table()


def fetch_reddit(subreddits: Iterable[str], max_per_subreddit: int | None = 1000, listing: str = "new",
                 reddit=None, min_title_chars: int = 1, drop_removed: bool = True,
                 progress: bool = True) -> pd.DataFrame:
    """Fetch recent posts of ``subreddits`` from the Reddit API through PRAW.

    Parameters
    ----------
    subreddits, max_per_subreddit, min_title_chars, drop_removed : as in :func:`read_dump`; the
        listing is read lazily until the cap is filled (Reddit serves at most about 1000 posts).
    listing : ``"new"``, ``"top"`` (of all time) or ``"hot"``.
    reddit : a ``praw.Reddit`` or any object whose ``.subreddit(name).<listing>(limit=...)`` yields
        submissions with ``id``, ``title`` and ``created_utc``. When None, one is made from the
        environment variables REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET and REDDIT_USER_AGENT.
    progress : show a progress bar over subreddits.

    Returns
    -------
    pandas.DataFrame with the columns of :func:`read_dump`; ``source`` is ``reddit:<listing>``.
    """
    if listing not in LISTINGS:
        raise CollectError(f"listing={listing!r} is not one of {', '.join(LISTINGS)}.")
    collector = _Collector(subreddits, max_per_subreddit, min_title_chars, drop_removed)
    if reddit is None:
        reddit = _reddit_from_environment()
    refusals = _api_exceptions()
    source = f"reddit:{listing}"
    options = {"time_filter": "all"} if listing == "top" else {}
    for key, name in tqdm(collector.wanted.items(), desc="Fetching subreddits", disable=not progress):
        try:
            for submission in getattr(reddit.subreddit(name), listing)(limit=None, **options):
                # A PRAW object fetches itself again on a missing attribute, so optional fields are
                # read from what the listing delivered.
                fields = getattr(submission, "__dict__", {})
                collector.offer(str(submission.id), str(submission.title), key,
                                getattr(submission, "created_utc", None), source, _is_removed(fields))
                if collector.counts[key] == collector.cap:
                    break
        except refusals as error:
            raise CollectError(f"r/{name}: Reddit refused the {listing!r} listing ({type(error).__name__}: "
                               f"{error}); check the subreddit name and your {', '.join(CREDENTIAL_VARIABLES)}."
                               ) from None
    return collector.table()


def write_pool(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a collected pool to ``.csv`` or ``.parquet`` atomically and return the path.

    The file reads back with ``alsafe.pools.import_table(path, text_column="text", id_column="id",
    extra_columns={"subreddit": "subreddit"})``. The table is checked before anything is written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise CollectError(f"{path}: write_pool writes .csv or .parquet, not {path.suffix or 'no suffix'!r}.")
    missing = [column for column in ("id", "text", "subreddit") if column not in table.columns]
    if missing:
        raise CollectError(f"table has no column {', '.join(map(repr, missing))}; pass the table that "
                           "read_dump, read_dumps or fetch_reddit returned.")
    ids = table["id"].astype(str)
    if ids.duplicated().any():
        raise CollectError(f"table row {int(ids.duplicated().to_numpy().argmax()) + 1} repeats id "
                           f"{ids[ids.duplicated()].iloc[0]!r}; ids must be unique.")
    blank = table["text"].isna() | (table["text"].astype(str).str.strip() == "")
    if blank.any():
        raise CollectError(f"table row {int(blank.to_numpy().argmax()) + 1} has an empty text; drop it first.")
    out = table.reset_index(drop=True)
    if suffix == ".csv":
        return write_atomically(path, lambda tmp: out.to_csv(tmp, index=False, encoding="utf-8"))
    return write_atomically(path, lambda tmp: out.to_parquet(tmp, index=False))


class _Collector:
    """Apply the caps, filters and id deduplication shared by every source, and build the table."""

    def __init__(self, subreddits, max_per_subreddit, min_title_chars, drop_removed):
        if isinstance(subreddits, str):
            subreddits = [subreddits]
        self.wanted: dict[str, str] = {}  # lower-case name -> the caller's spelling
        for name in subreddits:
            if not isinstance(name, str) or not name.strip().removeprefix("/").removeprefix("r/").strip():
                raise CollectError(f"subreddits contains {name!r}; pass subreddit names such as 'depression'.")
            name = name.strip().removeprefix("/").removeprefix("r/").strip()
            self.wanted.setdefault(name.lower(), name)
        if not self.wanted:
            raise CollectError("subreddits is empty; pass at least one name (e.g. alsafe.collect.PAPER_SUBREDDITS).")
        if max_per_subreddit is not None and (isinstance(max_per_subreddit, bool)
                                              or not isinstance(max_per_subreddit, int) or max_per_subreddit < 1):
            raise CollectError(f"max_per_subreddit={max_per_subreddit!r}; pass a positive integer or None.")
        if isinstance(min_title_chars, bool) or not isinstance(min_title_chars, int) or min_title_chars < 1:
            raise CollectError(f"min_title_chars={min_title_chars!r}; pass an integer of at least 1 "
                               "(empty titles cannot enter a pool).")
        self.cap = max_per_subreddit
        self.min_title_chars = min_title_chars
        self.drop_removed = drop_removed
        self.counts = dict.fromkeys(self.wanted, 0)
        self.rows: list[tuple] = []
        self.seen: set[str] = set()
        self.skipped = {"malformed": 0, "removed": 0, "short_title": 0, "duplicate": 0, "over_cap": 0}

    @property
    def full(self) -> bool:
        return self.cap is not None and all(count >= self.cap for count in self.counts.values())

    def offer(self, post_id: str, title: str, key: str, created, source: str, removed: bool) -> None:
        """Keep one post of a wanted subreddit (``key`` lower-case) unless a rule drops it."""
        title = title.strip()
        if self.drop_removed and removed:
            self.skipped["removed"] += 1
        elif len(title) < self.min_title_chars:
            self.skipped["short_title"] += 1
        elif post_id in self.seen:
            self.skipped["duplicate"] += 1
        elif self.cap is not None and self.counts[key] >= self.cap:
            self.skipped["over_cap"] += 1
        else:
            self.seen.add(post_id)
            self.counts[key] += 1
            self.rows.append((post_id, title, self.wanted[key], _seconds(created), source))

    def table(self) -> pd.DataFrame:
        table = pd.DataFrame(self.rows, columns=list(COLUMNS))
        table = table.astype({"id": str, "text": str, "subreddit": str, "created_utc": "Int64", "source": str})
        table.attrs["skipped"] = dict(self.skipped)
        return table


def _scan_dump(path: Path, collector: _Collector, bar) -> tuple[int, int | None]:
    """Offer every post of one dump file to ``collector``; return the malformed lines' count and first number."""
    malformed, first_bad, number = 0, None, 0
    source = path.name
    with path.open("rb") as raw, _ZstdReader(raw, path, bar) as reader:
        lines = io.TextIOWrapper(io.BufferedReader(reader, CHUNK_SIZE), encoding="utf-8",
                                 errors="replace", newline="\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            post = _post(line)
            if post is None:
                malformed += 1
                first_bad = first_bad or number
                continue
            key = post["subreddit"].lower()
            if key not in collector.wanted:
                continue
            collector.offer(post["id"], html.unescape(post["title"]), key, post.get("created_utc"), source,
                            _is_removed(post))
            if collector.full:
                break
    collector.skipped["malformed"] += malformed
    return malformed, first_bad


def _post(line: str) -> dict | None:
    """The parsed post, or None when the line is not a post with text ``id``, ``subreddit`` and ``title``."""
    try:
        post = json.loads(line)
    except ValueError:
        return None
    if not isinstance(post, dict) or not all(isinstance(post.get(field), str) and post[field].strip()
                                             for field in ("id", "subreddit")):
        return None
    return post if isinstance(post.get("title"), str) else None


def _is_removed(fields: dict) -> bool:
    """Whether a post was removed by moderators or deleted by its author (its text says so)."""
    return bool(fields.get("removed_by_category")) or any(
        isinstance(fields.get(name), str) and fields[name] in REMOVED_TEXTS for name in ("selftext", "title"))


def _reddit_from_environment():
    """A read-only ``praw.Reddit`` from the REDDIT_* environment variables."""
    missing = [name for name in CREDENTIAL_VARIABLES if not os.environ.get(name, "").strip()]
    if missing:
        raise CollectError(f"Set the environment variable{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                           "(a Reddit script app's id and secret, and a descriptive user agent), or pass reddit=.")
    try:
        import praw
    except ImportError:
        raise CollectError("fetch_reddit needs the praw package (pip install praw); "
                           "without it, read dump files with read_dumps.") from None
    return praw.Reddit(client_id=os.environ["REDDIT_CLIENT_ID"], client_secret=os.environ["REDDIT_CLIENT_SECRET"],
                       user_agent=os.environ["REDDIT_USER_AGENT"], check_for_async=False)


def _api_exceptions() -> tuple[type[Exception], ...]:
    """The exceptions by which prawcore reports a refused request (none when it is not installed)."""
    try:
        import prawcore
    except ImportError:
        return ()
    return (prawcore.exceptions.PrawcoreException,)


def _seconds(value) -> int | None:
    """Whole seconds from an int, float or numeric string (older dumps store text); None otherwise."""
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None


class _ZstdReader(io.RawIOBase):
    """Decompress a zstandard file frame by frame, raising on a corrupt or truncated stream.

    ``stream_reader`` cannot be used here: at the end of its input it returns what it has, so a
    file cut short mid-frame reads as a shorter, valid one. One ``decompressobj`` per frame tells
    a finished frame (``eof``) from an unfinished one.
    """

    def __init__(self, raw, path: Path, bar):
        self.raw, self.path, self.bar = raw, path, bar
        self.decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW_SIZE)
        self.frame = None  # None between frames
        self.pending = memoryview(b"")
        self.position = 0
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending and not self.done:
            self._decompress_next_chunk()
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]  # a view: no copy of the rest
        return size

    def _decompress_next_chunk(self) -> None:
        data = self.raw.read(CHUNK_SIZE)
        self.bar.update(len(data))
        if not data:
            self.done = True
            if self.position == 0:
                raise CollectError(f"{self.path} is empty (0 bytes); download it again.")
            if self.frame is not None:
                raise CollectError(f"{self.path} is truncated: its last zstandard frame ends early, after "
                                   f"{self.position:,} compressed bytes; download it again.")
            return
        start, self.position = self.position, self.position + len(data)
        output = []
        while data:
            if self.frame is None:
                self.frame = self.decompressor.decompressobj()
            try:
                output.append(self.frame.decompress(data))
            except zstandard.ZstdError as error:
                raise CollectError(f"{self.path} is not a readable zstandard file in the compressed bytes "
                                   f"{start:,}-{self.position:,} ({error}); download it again.") from None
            data = b""
            if self.frame.eof:
                data, self.frame = self.frame.unused_data, None
        self.pending = memoryview(b"".join(output))
