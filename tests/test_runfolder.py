"""The run folder's writes are atomic: a page polling ``predictions.parquet`` or a JSON
file by modification time never reads half of one, and a failed write keeps the last."""

from __future__ import annotations

import pandas as pd
import pytest

from modelkit import runfolder
from modelkit.training.artifacts import write_predictions


def test_a_failed_predictions_write_keeps_the_previous_table_whole(tmp_path, monkeypatch):
    before = pd.DataFrame({"path": ["a.jpg", "b.jpg"], "age_pred": [30.0, 41.0]})
    write_predictions(tmp_path, before)
    real = pd.DataFrame.to_parquet

    def torn(self, path, **kwargs):  # writes part of the file, then the disk fills up
        real(self, path, **kwargs)
        with open(path, "r+b") as handle:
            handle.truncate(10)
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", torn)
    with pytest.raises(OSError, match="No space left"):
        write_predictions(tmp_path, pd.DataFrame({"path": ["c.jpg"], "age_pred": [9.0]}))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / runfolder.PREDICTIONS_FILE), before)
    assert [p.name for p in tmp_path.iterdir()] == [runfolder.PREDICTIONS_FILE]  # no temp left


def test_json_writes_replace_the_file_whole(tmp_path):
    path = tmp_path / runfolder.STATUS_FILE
    runfolder.write_json(path, {"state": "running"})
    runfolder.write_json(path, {"state": "finished", "epoch": 2})
    assert runfolder.read_status(tmp_path) == {"state": "finished", "epoch": 2}
    assert [p.name for p in tmp_path.iterdir()] == [runfolder.STATUS_FILE]
