"""Importing a user's pool or labeled set: formats, column mapping, and one clear error per problem."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from alsafe.pools import PoolError, import_into_store, import_table
from alsafe.store import RunStore
from alsafe.paper.reference import PAPER_TAXONOMY


def test_every_format_reads_to_the_same_table(tmp_path):
    rows = [{"post": "a1", "title": 'My "landlord" kept the deposit', "cat": "legal-advice", "sub": "legal"},
            {"post": "a2", "title": "Rash on arm", "cat": "medical-advice", "sub": "AskDocs"}]
    frame = pd.DataFrame(rows)
    frame.to_csv(tmp_path / "p.csv", index=False)
    (tmp_path / "p.tsv").write_text("post\ttitle\tcat\tsub\n" + "\n".join("\t".join(r.values()) for r in rows) + "\n",
                                    encoding="utf-8")
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    frame.to_parquet(tmp_path / "p.parquet")
    tables = [import_table(tmp_path / f"p.{ext}", text_column="title", id_column="post", label_column="cat", taxonomy=PAPER_TAXONOMY,
                           extra_columns={"subreddit": "sub"}) for ext in ("csv", "tsv", "jsonl", "parquet")]
    for table in tables:
        assert table.to_dict("records") == [
            {"id": "a1", "text": 'My "landlord" kept the deposit', "label": "legal-advice", "subreddit": "legal"},
            {"id": "a2", "text": "Rash on arm", "label": "medical-advice", "subreddit": "AskDocs"}]


def test_without_id_column_rows_are_numbered(tmp_path):
    (tmp_path / "p.csv").write_text("text\nfirst\nsecond\n", encoding="utf-8")
    assert import_table(tmp_path / "p.csv", id_column=None)["id"].tolist() == ["row-1", "row-2"]


@pytest.mark.parametrize("content,kwargs,message", [
    ("id,body\n1,x\n", {}, r"p.csv: no column 'text' for the text \(columns: id, body\)"),
    ("id,text\n1,fine\n2,   \n", {}, r"p.csv, row 2, column 'text': empty or whitespace-only text"),
    ("id,text,label\n1,a,discard\n2,b,cats\n", {"label_column": "label"},
     r"p.csv, row 2, column 'label': unknown label 'cats'; the taxonomy has self-harm"),
    ("id,text\n1,a\n2,b\n1,c\n", {}, r"p.csv, rows 1, 3, column 'id': duplicate id '1'"),
])
def test_bad_input_names_file_row_and_column(tmp_path, content, kwargs, message):
    (tmp_path / "p.csv").write_text(content, encoding="utf-8")
    with pytest.raises(PoolError, match=message):
        import_table(tmp_path / "p.csv", taxonomy=PAPER_TAXONOMY, **kwargs)


def test_undecodable_bytes_and_bad_json_name_the_line(tmp_path):
    (tmp_path / "p.csv").write_bytes(b"id,text\n1,ok\n2,caf\xe9\n")
    with pytest.raises(PoolError, match=r"p.csv, line 3: bytes that are not UTF-8"):
        import_table(tmp_path / "p.csv")
    (tmp_path / "p.jsonl").write_text('{"id": 1, "text": "a"}\n{"id": 2, "text": \n', encoding="utf-8")
    with pytest.raises(PoolError, match=r"p.jsonl, line 2: not valid JSON"):
        import_table(tmp_path / "p.jsonl")
    with pytest.raises(PoolError, match=r"p.xlsx: unknown format"):
        (tmp_path / "p.xlsx").write_text("x", encoding="utf-8")
        import_table(tmp_path / "p.xlsx")


def test_failed_import_leaves_the_store_as_it_was(tmp_path):
    (tmp_path / "good.csv").write_text("id,text\n1,a\n2,b\n", encoding="utf-8")
    (tmp_path / "bad.csv").write_text("id,text\n3,c\n4,\n", encoding="utf-8")
    (tmp_path / "clash.csv").write_text("id,text\n5,e\n1,again\n", encoding="utf-8")
    with RunStore.create(tmp_path / "run.sqlite", PAPER_TAXONOMY) as store:
        assert import_into_store(store, tmp_path / "good.csv") == 2
        with pytest.raises(PoolError, match="row 2"):
            import_into_store(store, tmp_path / "bad.csv")
        with pytest.raises(ValueError, match="already in the store: 1"):
            import_into_store(store, tmp_path / "clash.csv")
        assert store.items()["id"].tolist() == ["1", "2"]
