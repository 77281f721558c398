"""Collecting a Reddit pool: dump files (caps, filters, malformed lines, damaged streams), PRAW with a fake, writing."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import zstandard

from alsafe import collect
from alsafe.collect import (PAPER_SUBREDDITS, CollectError, MalformedLinesWarning, fetch_reddit, read_dump,
                            read_dumps, write_pool)
from alsafe.pools import import_table


def post(post_id, subreddit, title, **fields):
    return json.dumps({"id": post_id, "subreddit": subreddit, "title": title,
                       "created_utc": 1690000000 + len(post_id), "author": "someone", **fields})


# Line numbers matter: the warning names the first malformed one (line 3).
LINES = [
    post("d1", "depression", "I feel empty every morning"),                # 1
    post("l1", "legaladvice", "Landlord kept my deposit", created_utc="1690000123"),
    "{this is not json",                                                     # 3: malformed
    post("d2", "Depression", "Cannot sleep &amp; cannot eat"),             # 4: other case, HTML entity
    post("o1", "aww", "My cat"),                                            # 5: other subreddit
    post("d3", "depression", "A removed post", removed_by_category="moderator"),
    "[1, 2, 3]",                                                             # 7: malformed, not an object
    post("d1", "depression", "The same id again"),                         # 8: duplicate
    json.dumps({"subreddit": "depression", "title": "no id"}),              # 9: malformed
    post("p1", "personalfinance", "Budget help", selftext="[deleted]"),     # 10: deleted
    "",                                                                      # 11: blank, ignored
    post("d4", "depression", "ok"),                                         # 12: 2 characters
    post("l2", "legaladvice", "Fired after asking for overtime pay"),
    post("p2", "personalfinance", "Should I pay off my car loan early?"),
    json.dumps({"id": "x", "subreddit": "depression", "title": None}),      # 15: malformed
    post("d5", "depression", "Nobody would notice if I was gone"),
    post("l3", "legaladvice", "Neighbour's tree fell on my car"),
    post("p3", "personalfinance", "Roth or traditional 401k?"),
    post("d6", "depression", "Therapy is not helping"),
    post("l4", "legaladvice", "Can my employer read my texts?"),
    post("p4", "personalfinance", "Emergency fund size"),
    post("d7", "depression", "Tired of pretending"),
    post("l5", "legaladvice", "Got a summons, what now?"),
    post("p5", "personalfinance", "Student loans vs investing"),
]
SUBREDDITS = ["depression", "legaladvice", "personalfinance"]


def write_dump(path: Path, lines: list[str], **params) -> Path:
    options = {"compression_params": zstandard.ZstdCompressionParameters.from_level(3, **params)} if params else {}
    with path.open("wb") as raw, zstandard.ZstdCompressor(**options).stream_writer(raw) as writer:
        writer.write(("\n".join(lines) + "\n").encode("utf-8"))
    return path


@pytest.fixture
def dump(tmp_path) -> Path:
    return write_dump(tmp_path / "RS_2023-08.zst", LINES)


def ids_by_subreddit(table: pd.DataFrame) -> dict[str, list[str]]:
    return {name: list(group["id"]) for name, group in table.groupby("subreddit", sort=True)}


def read_quietly(*args, **kwargs) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MalformedLinesWarning)
        return read_dumps(*args, progress=False, **kwargs)


def test_paper_subreddits_are_the_fifteen_in_the_released_files():
    assert len(PAPER_SUBREDDITS) == len(set(PAPER_SUBREDDITS)) == 15
    assert {"depression", "AskDocs", "legaladvice", "personalfinance", "Survival"} <= set(PAPER_SUBREDDITS)


def test_paper_subreddits_match_the_released_data(paper_dir):
    found = set()
    for name in ("bootstrap_labeled.tsv", "dev_labeled.tsv", "test_labeled.tsv"):
        found |= set(pd.read_csv(paper_dir / name, sep="\t", dtype=str, quoting=3)["subreddit"].str.strip())
    assert found == set(PAPER_SUBREDDITS)


def test_cap_keeps_the_first_posts_in_file_order_without_removed_short_or_duplicate(dump):
    with pytest.warns(MalformedLinesWarning):
        table = read_dump(dump, SUBREDDITS, max_per_subreddit=3, min_title_chars=3, progress=False)
    assert list(table.columns) == ["id", "text", "subreddit", "created_utc", "source"]
    assert ids_by_subreddit(table) == {"depression": ["d1", "d2", "d5"], "legaladvice": ["l1", "l2", "l3"],
                                       "personalfinance": ["p2", "p3", "p4"]}
    assert list(table["id"]) == ["d1", "l1", "d2", "l2", "p2", "d5", "l3", "p3", "p4"]  # file order
    assert table.iloc[2].to_dict() == {"id": "d2", "text": "Cannot sleep & cannot eat", "subreddit": "depression",
                                       "created_utc": 1690000002, "source": "RS_2023-08.zst"}
    assert table.loc[table["id"] == "l1", "created_utc"].item() == 1690000123  # given as text in the dump
    # d6 and l4 come after their subreddits are full; reading stops at p4, when all three are.
    assert table.attrs["skipped"] == {"malformed": 4, "removed": 2, "short_title": 1, "duplicate": 1,
                                      "over_cap": 2}


def test_without_cap_or_filters_everything_matching_is_kept(dump):
    table = read_quietly([dump], SUBREDDITS, max_per_subreddit=None, drop_removed=False)
    assert ids_by_subreddit(table) == {"depression": ["d1", "d2", "d3", "d4", "d5", "d6", "d7"],
                                       "legaladvice": ["l1", "l2", "l3", "l4", "l5"],
                                       "personalfinance": ["p1", "p2", "p3", "p4", "p5"]}


def test_one_warning_names_the_file_the_count_and_the_first_bad_line(dump):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_dump(dump, SUBREDDITS, progress=False)
    assert [str(w.message) for w in caught] == [
        f"{dump}: skipped 4 malformed lines (not JSON, not an object, or without a text id, subreddit and "
        "title); the first is line 3."]
    assert caught[0].category is MalformedLinesWarning


def test_subreddits_match_case_insensitively_and_keep_the_callers_spelling(dump):
    table = read_quietly([dump], ["DEPRESSION", "r/LegalAdvice", "depression"], max_per_subreddit=2)
    assert ids_by_subreddit(table) == {"DEPRESSION": ["d1", "d2"], "LegalAdvice": ["l1", "l2"]}


def test_caps_and_ids_are_shared_across_files_in_order(tmp_path):
    first = write_dump(tmp_path / "depression_submissions.zst",
                       [post("d1", "depression", "first"), post("d2", "depression", "second"),
                        post("l1", "legaladvice", "third")])
    second = write_dump(tmp_path / "RS_2023-09.zst",
                        [post("d2", "depression", "second again"), post("d3", "depression", "fourth"),
                         post("d4", "depression", "fifth"), post("l2", "legaladvice", "sixth"),
                         post("l3", "legaladvice", "seventh"), post("l4", "legaladvice", "eighth")])
    table = read_dumps([first, second], ["depression", "legaladvice"], max_per_subreddit=3, progress=False)
    assert list(zip(table["id"], table["source"])) == [
        ("d1", "depression_submissions.zst"), ("d2", "depression_submissions.zst"),
        ("l1", "depression_submissions.zst"), ("d3", "RS_2023-09.zst"), ("l2", "RS_2023-09.zst"),
        ("l3", "RS_2023-09.zst")]
    assert table.attrs["skipped"]["duplicate"] == 1


def test_reading_stops_once_every_subreddit_is_full(tmp_path, dump):
    damaged = tmp_path / "later.zst"
    damaged.write_bytes(write_dump(tmp_path / "whole.zst", LINES).read_bytes()[:40])
    table = read_quietly([dump, damaged], ["depression"], max_per_subreddit=2)
    assert list(table["id"]) == ["d1", "d2"]


def test_progress_bar_counts_compressed_bytes(tmp_path, dump, monkeypatch):
    bars = []

    class RecordingBar:
        def __init__(self, **options):
            self.options, self.n = options, 0
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, count):
            self.n += count

        def set_postfix_str(self, text):
            pass

    monkeypatch.setattr(collect, "tqdm", RecordingBar)
    other = write_dump(tmp_path / "other.zst", LINES[12:])
    read_quietly([dump, other], SUBREDDITS, max_per_subreddit=None)
    size = dump.stat().st_size + other.stat().st_size
    assert [(bar.options["total"], bar.n, bar.options["unit"]) for bar in bars] == [(size, size, "B")]


def test_long_window_and_several_frames_are_read(tmp_path):
    path = write_dump(tmp_path / "long.zst", [post("d1", "depression", "long window")], window_log=28)
    assert zstandard.get_frame_parameters(path.read_bytes()).window_size == 2**28  # beyond zstd's default limit
    second = write_dump(tmp_path / "frame.zst", [post("d2", "depression", "second frame")])
    path.write_bytes(path.read_bytes() + second.read_bytes())
    assert list(read_dump(path, ["depression"], progress=False)["id"]) == ["d1", "d2"]


@pytest.mark.parametrize("damage,message", [
    (lambda data: data[: len(data) // 2], "is truncated: its last zstandard frame ends early"),
    (lambda data: data[:20] + bytes(40) + data[60:], "is not a readable zstandard file in the compressed bytes 0-"),
    (lambda data: b"plain text, not zstandard\n", "is not a readable zstandard file"),
    (lambda data: b"", "is empty (0 bytes); download it again."),
])
def test_a_damaged_stream_raises_naming_the_file(tmp_path, dump, damage, message):
    broken = tmp_path / "broken.zst"
    broken.write_bytes(damage(dump.read_bytes()))
    with pytest.raises(CollectError, match="broken.zst") as raised:
        read_quietly([broken], SUBREDDITS, max_per_subreddit=None)
    assert message in str(raised.value)


def test_a_missing_file_is_reported_before_any_file_is_read(tmp_path, dump, monkeypatch):
    monkeypatch.setattr(collect, "_scan_dump", lambda *args: pytest.fail("read before checking every path"))
    with pytest.raises(CollectError, match=r"nope\.zst does not exist or is not a file"):
        read_dumps([dump, tmp_path / "nope.zst"], SUBREDDITS, progress=False)


@pytest.mark.parametrize("kwargs,message", [
    ({"subreddits": []}, "subreddits is empty"),
    ({"subreddits": ["depression", ""]}, "subreddits contains ''"),
    ({"max_per_subreddit": 0}, "max_per_subreddit=0; pass a positive integer or None."),
    ({"min_title_chars": 0}, "min_title_chars=0; pass an integer of at least 1"),
])
def test_bad_arguments_raise_one_sentence(dump, kwargs, message):
    arguments = {"subreddits": SUBREDDITS, **kwargs}
    with pytest.raises(CollectError) as raised:
        read_dump(dump, progress=False, **arguments)
    assert message in str(raised.value)


class FakeSubreddit:
    def __init__(self, name, posts, calls):
        self.name, self.posts, self.calls = name, posts, calls

    def _listing(self, listing, limit=None, **options):
        self.calls.append((self.name, listing, limit, options))
        for submission in self.posts:
            self.calls.append(("yielded", submission.id))
            yield submission

    def new(self, **kwargs):
        return self._listing("new", **kwargs)

    def top(self, **kwargs):
        return self._listing("top", **kwargs)

    def hot(self, **kwargs):
        return self._listing("hot", **kwargs)


class FakeReddit:
    def __init__(self, posts):
        self.posts, self.calls = posts, []

    def subreddit(self, name):
        return FakeSubreddit(name, self.posts.get(name, []), self.calls)


def submission(post_id, title, **fields):
    return SimpleNamespace(id=post_id, title=title, created_utc=1690000000.7, subreddit="ignored", **fields)


@pytest.fixture
def fake_reddit():
    return FakeReddit({
        "AskDocs": [submission("a1", "Rash on my arm"), submission("a2", "x", selftext="[removed]"),
                    submission("a3", "Chest pain at night", removed_by_category="deleted"),
                    submission("a4", "Is this mole normal?"), submission("a5", "Fever for a week")],
        "legal": [submission("g1", "Contract question"), submission("a1", "Crosspost with the same id")],
    })


def test_fetch_reddit_keeps_the_first_posts_and_stops_reading_at_the_cap(fake_reddit):
    table = fetch_reddit(["AskDocs", "legal"], max_per_subreddit=2, reddit=fake_reddit, progress=False)
    assert table.to_dict("records") == [
        {"id": "a1", "text": "Rash on my arm", "subreddit": "AskDocs", "created_utc": 1690000000,
         "source": "reddit:new"},
        {"id": "a4", "text": "Is this mole normal?", "subreddit": "AskDocs", "created_utc": 1690000000,
         "source": "reddit:new"},
        {"id": "g1", "text": "Contract question", "subreddit": "legal", "created_utc": 1690000000,
         "source": "reddit:new"}]
    assert fake_reddit.calls[0] == ("AskDocs", "new", None, {})
    assert ("yielded", "a5") not in fake_reddit.calls  # the listing is not read past the cap


def test_fetch_reddit_top_listing_is_of_all_time(fake_reddit):
    table = fetch_reddit(["legal"], listing="top", reddit=fake_reddit, progress=False)
    assert list(table["id"]) == ["g1", "a1"] and set(table["source"]) == {"reddit:top"}
    assert fake_reddit.calls[0] == ("legal", "top", None, {"time_filter": "all"})


def test_fetch_reddit_rejects_an_unknown_listing(fake_reddit):
    with pytest.raises(CollectError, match=r"^listing='rising' is not one of new, top, hot\.$"):
        fetch_reddit(["legal"], listing="rising", reddit=fake_reddit, progress=False)


def test_fetch_reddit_names_missing_credentials(monkeypatch):
    for name in collect.CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDDIT_USER_AGENT", "alsafe test")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "  ")
    with pytest.raises(CollectError) as raised:
        fetch_reddit(PAPER_SUBREDDITS, progress=False)
    assert str(raised.value) == ("Set the environment variables REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET (a Reddit "
                                 "script app's id and secret, and a descriptive user agent), or pass reddit=.")


def test_fetch_reddit_reports_a_refused_listing_by_subreddit(fake_reddit, monkeypatch):
    class Refused(Exception):
        pass

    def refuse(**kwargs):
        raise Refused("received 403 HTTP response")
        yield

    monkeypatch.setattr(collect, "_api_exceptions", lambda: (Refused,))
    monkeypatch.setattr(FakeSubreddit, "hot", lambda self, **kwargs: refuse(**kwargs))
    with pytest.raises(CollectError, match=r"^r/legal: Reddit refused the 'hot' listing \(Refused: received 403"):
        fetch_reddit(["legal"], listing="hot", reddit=fake_reddit, progress=False)


@pytest.mark.parametrize("name", ["pool.csv", "pool.parquet"])
def test_write_pool_round_trips_through_the_importer(tmp_path, dump, name):
    table = read_quietly([dump], SUBREDDITS, max_per_subreddit=None)
    extra = pd.DataFrame([{"id": "00123", "text": 'Quotes "here", commas, and\na newline – ünïcode',
                           "subreddit": "legal", "created_utc": None, "source": "reddit:new"}])
    table = pd.concat([table, extra.astype({"created_utc": "Int64"})], ignore_index=True)
    path = write_pool(table, tmp_path / name)
    back = import_table(path, text_column="text", id_column="id", extra_columns={"subreddit": "subreddit"})
    assert back.to_dict("records") == table[["id", "text", "subreddit"]].to_dict("records")
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("change,message", [
    (lambda table: table, "write_pool writes .csv or .parquet, not '.tsv'"),
    (lambda table: pd.concat([table, table.head(1)]), "table row 18 repeats id 'd1'; ids must be unique."),
    (lambda table: table.assign(text=["", *table["text"][1:]]), "table row 1 has an empty text; drop it first."),
    (lambda table: table.drop(columns="subreddit"), "table has no column 'subreddit'"),
])
def test_write_pool_refuses_bad_tables_before_writing(tmp_path, dump, change, message):
    table = change(read_quietly([dump], SUBREDDITS, max_per_subreddit=None, drop_removed=False))
    target = tmp_path / ("pool.tsv" if "tsv" in message else "pool.csv")
    with pytest.raises(CollectError) as raised:
        write_pool(table, target)
    assert message in str(raised.value)
    assert list(tmp_path.iterdir()) == [dump]
