"""Progress reported from inside a notebook kernel: the file it writes, its reader, the terminal bar it drives."""

from __future__ import annotations

import json

from alsafe import progress


def test_report_writes_the_file_and_read_reads_it(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv(progress.VARIABLE, str(path))
    progress.report(12, 45, "runs")
    assert json.loads(path.read_text()) == {"done": 12, "total": 45, "what": "runs"}
    assert progress.read(path) == progress.Progress(12, 45, "runs")
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]  # the temporary file was renamed into place


def test_without_the_variable_reporting_does_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    progress.report(1, 2, "runs")
    assert list(progress.tracked(["a", "b"], "runs")) == ["a", "b"]
    assert list(tmp_path.iterdir()) == []


def test_a_report_into_a_vanished_folder_does_not_stop_the_loop(tmp_path, monkeypatch):
    monkeypatch.setenv(progress.VARIABLE, str(tmp_path / "file-not-folder" / "progress.json"))
    (tmp_path / "file-not-folder").write_text("")
    progress.report(1, 2, "runs")  # no exception


def test_read_of_nothing_or_of_garbage_is_none(tmp_path):
    assert progress.read(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text('{"done": 1')
    assert progress.read(tmp_path / "bad.json") is None


def test_tracked_reports_zero_first_and_each_finished_item(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv(progress.VARIABLE, str(path))
    seen = []
    for item in progress.tracked(["a", "b", "c"], "runs"):
        seen.append((item, progress.read(path).done))  # the body of an item runs before it is counted
    assert seen == [("a", 0), ("b", 1), ("c", 2)]
    assert progress.read(path) == progress.Progress(3, 3, "runs")


def test_the_watcher_moves_a_named_bar_to_what_the_file_says(tmp_path, monkeypatch, capsys):
    path = tmp_path / "progress.json"
    monkeypatch.setenv(progress.VARIABLE, str(path))
    with progress.Watcher(path, "05_transfer_experiments", interval=3600) as watcher:
        progress.report(2, 5, "runs")
        watcher.update()
        assert (watcher.bar.n, watcher.bar.total) == (2, 5)
        progress.report(4, 5, "runs")
        watcher.update()
        progress.report(5, 5, "runs")  # one step after two: drawn too; the last report is read at the end
    assert watcher.last == progress.Progress(5, 5, "runs")
    err = capsys.readouterr().err
    assert all(f"05_transfer_experiments: runs {n}/5" in err for n in (2, 4, 5))


def test_a_report_of_another_loop_starts_a_new_bar(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv(progress.VARIABLE, str(path))
    with progress.Watcher(path, "03_active_learning_loop", interval=3600, disable=False) as watcher:
        progress.report(5, 5, "simulated runs")
        watcher.update()
        first = watcher.bar
        progress.report(1, 3, "rounds")
        watcher.update()
        assert watcher.bar is not first and (watcher.bar.desc, watcher.bar.n, watcher.bar.total) == (
            "03_active_learning_loop: rounds", 1, 3)
