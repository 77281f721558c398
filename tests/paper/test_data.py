"""The paper's dataset loader: quirks, seed links, checksums, download and offline errors."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from collections import Counter

import pytest

from alsafe.paper import data

# -- on the released files -----------------------------------------------------------------------

EXPECTED_ROWS = {"bootstrap": 150, "dev": 150, "test": 2700, "random": 600, "topn": 600, "coreset": 601, "cluster": 600}


def test_every_released_row_is_kept_with_clean_labels(paper_dataset):
    assert paper_dataset.groupby("split").size().to_dict() == EXPECTED_ROWS
    assert set(paper_dataset["label"]) == set(data.PAPER_TAXONOMY.names)  # no 'legal-advice\r'
    assert paper_dataset["id"].is_unique
    assert list(paper_dataset.columns) == data.CANONICAL_COLUMNS


def test_random_split_text_column_is_read_despite_its_prompt_header(paper_dataset):
    random = paper_dataset[paper_dataset["split"] == "random"]
    assert random["text"].iloc[0] == "Top-rated air purifiers?"
    assert Counter(random["label"])["emergency-situation"] == 12


def test_quotes_are_kept_as_text(paper_dataset):
    quoted = paper_dataset[paper_dataset["text"].str.contains('"', regex=False)]
    assert len(quoted) > 0
    assert all(text.count("\t") == 0 for text in quoted["text"])


def test_displayed_names_follow_the_paper(paper_dataset):
    pairs = dict(zip(paper_dataset["label"], paper_dataset["display_label"]))
    assert pairs["discard"] == "Not-Harmful"
    assert pairs["emergency-situation"] == "Emergency-Situation"


@pytest.mark.parametrize("split,differing", [("random", 0), ("topn", 31), ("cluster", 22)])
def test_blocks_of_five_link_to_their_originals(paper_dataset, split, differing):
    rows = paper_dataset[paper_dataset["split"] == split].reset_index(drop=True)
    assert Counter(rows["origin"]) == {"llm": 500, "human": 100}
    originals = rows[rows["origin"] == "human"]
    assert (originals["seed_id"] == originals["id"]).all()
    by_id = rows.set_index("id")
    for block in range(100):
        seed = rows["seed_id"].iloc[5 * block]
        assert seed == rows["id"].iloc[500 + block]
        assert (rows["seed_id"].iloc[5 * block: 5 * block + 5] == seed).all()
        assert (rows["reddit_id"].iloc[5 * block: 5 * block + 5] == by_id.loc[seed, "reddit_id"]).all()
    labels = rows.set_index("id")["label"]
    variations = rows[rows["origin"] == "llm"]
    blocks_differing = variations.groupby("seed_id").apply(
        lambda block: (block["label"] != labels[block.name]).any(), include_groups=False).sum()
    assert blocks_differing == differing


def test_coreset_links_are_derived_by_order_and_the_odd_block_is_reported(paper_dataset, paper_dir):
    rows = paper_dataset[paper_dataset["split"] == "coreset"].reset_index(drop=True)
    assert Counter(rows["origin"]) == {"llm": 501, "human": 100}
    assert rows["reddit_id"].nunique() == 20
    sizes = rows[rows["origin"] == "llm"].groupby("seed_id").size()
    assert len(sizes) == 100 and Counter(sizes) == {5: 99, 6: 1}
    by_id = rows.set_index("id")
    # block 1 (Go Bag ideas) belongs to original 1, block 100 (suing) to original 100
    assert by_id.loc[rows["seed_id"].iloc[0], "text"] == "Suggestions for first Bug Out Bag?"
    assert by_id.loc[rows["seed_id"].iloc[500], "text"] == "Can I sue for this."
    notes = [str(n) for n in data.dataset_notes(paper_dir)]
    assert any("coreset-all.tsv, line 222: block 45 has 6 variations" in n for n in notes)
    assert any("coreset-all.tsv, line 227: empty text" in n for n in notes)
    assert any("random-all.tsv, line 1: the text column's header is 'Please provide" in n for n in notes)
    assert any(n.startswith("topn-all.tsv: in 31 of 100 blocks") for n in notes)
    assert "topn-all.tsv: CRLF line endings except the last, which has none." in notes
    assert "cluster-all.tsv: CRLF line endings." in notes
    assert not any(n.startswith("test_labeled.tsv: CRLF") for n in notes)


# -- on small files the tests write -----------------------------------------------------------------

def _write_split(path, rows, header="id\tinput\tsubreddit\tcategory"):
    lines = [header] + ["\t".join(r) for r in rows]
    path.write_bytes("\r\n".join(lines).encode("utf-8"))  # CRLF, none after the last line


def test_crlf_and_missing_final_newline_do_not_split_labels(tmp_path):
    path = tmp_path / "x.tsv"
    _write_split(path, [("a", 'He said "sue"', "legal", "legal-advice"), ("b", "Fire next door", "x", "legal-advice")])
    table = data.read_paper_file(path)
    assert table["label"].tolist() == ["legal-advice", "legal-advice"]
    assert table["text"].tolist() == ['He said "sue"', "Fire next door"]
    assert table["line"].tolist() == [2, 3]


def test_labeled_file_layout_is_recognised(tmp_path):
    path = tmp_path / "bootstrap_labeled.tsv"
    path.write_text("id\tsubreddit\ttitle\tcategory\nq1\tlegal\tCan I sue?\tlegal-advice\n", encoding="utf-8")
    table = data.read_paper_file(path)
    assert table.iloc[0][["reddit_id", "text", "subreddit", "label"]].tolist() == ["q1", "Can I sue?", "legal", "legal-advice"]


def test_malformed_rows_and_bytes_name_file_and_line(tmp_path):
    bad_cells = tmp_path / "cells.tsv"
    bad_cells.write_text("id\tinput\tsubreddit\tcategory\na\tb\tc\tdiscard\nd\te\tdiscard\n", encoding="utf-8")
    with pytest.raises(data.DataError, match=r"cells.tsv, line 3: expected 4 tab-separated cells, found 3"):
        data.read_paper_file(bad_cells)
    bad_bytes = tmp_path / "bytes.tsv"
    bad_bytes.write_bytes(b"id\tinput\tsubreddit\tcategory\na\t\xff\tc\tdiscard\n")
    with pytest.raises(data.DataError, match=r"bytes.tsv, line 2: bytes that are not UTF-8"):
        data.read_paper_file(bad_bytes)


def _fake_release(folder, monkeypatch):
    """Seven small files whose sums replace the real ones for the test."""
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for name in data.PAPER_FILES:
        payload = f"id\tinput\tsubreddit\tcategory\r\n{name}\thello\tx\tdiscard".encode()
        (folder / name).write_bytes(payload)
        sums[name] = hashlib.sha256(payload).hexdigest()
    monkeypatch.setattr(data, "PAPER_FILES", sums)
    return sums


def test_local_copy_with_altered_file_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "copy"
    _fake_release(folder, monkeypatch)
    (folder / "dev_labeled.tsv").write_text("tampered", encoding="utf-8")
    monkeypatch.setenv("ALSAFE_DATA_DIR", str(folder))
    with pytest.raises(data.DataError, match=r"dev_labeled.tsv has sha256 .* altered or truncated") as raised:
        data.paper_data_dir()
    # alsafe never deletes or replaces the user's copy, so it does not tell them to "delete it to download it".
    assert "unset ALSAFE_DATA_DIR" in str(raised.value) and "delete it" not in str(raised.value)


def test_local_copy_missing_files_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("ALSAFE_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DataError, match=r"ALSAFE_DATA_DIR=.* lacks bootstrap_labeled.tsv"):
        data.paper_data_dir()


class _Release(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        return super().do_GET()

    def log_message(self, *args):
        pass


def test_download_verifies_and_never_fetches_a_verified_file_twice(tmp_path, monkeypatch, home):
    served = tmp_path / "served" / "dataset"
    _fake_release(served, monkeypatch)
    monkeypatch.delenv("ALSAFE_DATA_DIR", raising=False)
    handler = lambda *a, **k: _Release(*a, directory=str(tmp_path / "served"), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(data, "RAW_URL", f"http://127.0.0.1:{server.server_port}/" + "dataset/{name}")
    _Release.requests = []
    try:
        folder = data.paper_data_dir()
        assert folder == home / "data" / "raw"
        assert sorted(p.name for p in folder.iterdir()) == sorted(data.PAPER_FILES)
        assert len(_Release.requests) == 7
        data.paper_data_dir()
        assert len(_Release.requests) == 7  # nothing fetched again
        (folder / "topn-all.tsv").write_text("changed", encoding="utf-8")
        with pytest.raises(data.DataError, match="topn-all.tsv has sha256"):
            data.paper_data_dir()
    finally:
        server.shutdown()


def test_offline_without_local_copy_is_one_clear_error(monkeypatch, home):
    monkeypatch.delenv("ALSAFE_DATA_DIR", raising=False)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(data, "RAW_URL", f"http://127.0.0.1:{port}/" + "{name}")
    with pytest.raises(data.DataError) as error:
        data.paper_data_dir()
    message = str(error.value)
    assert str(home / "data" / "raw") in message and "ALSAFE_DATA_DIR" in message
    assert error.value.__cause__ is None and error.value.__suppress_context__
    assert not (home / "data" / "raw").exists() or not any((home / "data" / "raw").iterdir())
