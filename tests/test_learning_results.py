"""learn reads a run's results.csv in either trainer's layout (a YOLOv5-style tree's, the ultralytics package's)
with one reader: best epoch by the trainers' fitness (0.1 mAP50 + 0.9 mAP50-95), and the last epoch's losses."""

from __future__ import annotations

import pytest

from yolov5_shuffle.host_scripts import ScriptError
from yolov5_shuffle.measure.learning import read_results

TREE = ("      epoch,      train/box_loss,      train/obj_loss,      train/cls_loss,   metrics/precision,"
        "   metrics/mAP_0.5,metrics/mAP_0.5:0.95\n"
        "0, 0.1, 0.2, 0.3, 0.5, 0.40, 0.20\n1, 0.05, 0.1, 0.15, 0.6, 0.30, 0.25\n")
PACKAGE = ("epoch,train/box_loss,train/cls_loss,train/dfl_loss,metrics/mAP50(B),metrics/mAP50-95(B)\n"
           "1,0.9,0.8,0.7,0.50,0.30\n2,0.6,0.5,0.4,0.45,0.32\n")


@pytest.mark.parametrize("text, best, losses", [
    (TREE, (0.30, 0.25), {"train/box_loss": 0.05, "train/obj_loss": 0.1, "train/cls_loss": 0.15}),
    (PACKAGE, (0.45, 0.32), {"train/box_loss": 0.6, "train/cls_loss": 0.5, "train/dfl_loss": 0.4}),
], ids=["tree", "package"])
def test_read_results_reads_either_layout(tmp_path, text, best, losses):
    (tmp_path / "results.csv").write_text(text)
    r = read_results(tmp_path)
    assert (r["epochs"], r["mAP50"], r["mAP50-95"]) == (2, *best)
    assert r["final_losses"] == losses


def test_a_results_csv_without_epochs_is_refused(tmp_path):
    (tmp_path / "results.csv").write_text("epoch,metrics/mAP50(B),metrics/mAP50-95(B)\n")
    with pytest.raises(ScriptError, match="no epochs recorded"):
        read_results(tmp_path)
