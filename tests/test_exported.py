"""Exported models as detectors: the detection maths (letterbox, NMS, mAP) against known answers and
against ultralytics' metrics, then `yolov5-shuffle export` of a trained checkpoint to every installed
runtime (checked against PyTorch, scored on the val split) and `detect` with each artefact on images
and a video."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import IMGSZ, run_cli
from yolov5_shuffle.deploy import metrics as detection
from yolov5_shuffle.deploy import runtimes
from yolov5_shuffle.deploy.exported import Detector, ExportError, evaluate, runtime_of


# --- detection maths -------------------------------------------------------------------------------

PERFECT = 0.995  # YOLOv5's/ultralytics' AP of a perfect detector: the 101-point trapezoid ends on precision 0

def test_letterbox_and_back_recovers_boxes():
    img = np.zeros((90, 160, 3), np.uint8)
    x, r, pad = detection.letterbox(img, 128)
    assert x.shape == (1, 3, 128, 128) and x.dtype == np.float32
    assert r == pytest.approx(0.8) and pad == pytest.approx((0, 28))
    assert x[0, :, 0, 0] == pytest.approx(114 / 255) and x[0, :, 64, 64] == pytest.approx(0)  # border, image
    box = np.array([[10, 20, 50, 70, 0.9, 1]], np.float32)  # in the original image
    on_input = box.copy()
    on_input[:, :4] = box[:, :4] * r + [pad[0], pad[1], pad[0], pad[1]]
    assert detection.unletterbox(on_input, r, pad, img.shape[:2]) == pytest.approx(box)


def _row(cx, cy, w, h, obj, cls, nc=3):
    scores = np.full(nc, 0.01, np.float32)
    scores[cls] = 1.0
    return np.concatenate([[cx, cy, w, h, obj], scores]).astype(np.float32)


def test_nms_keeps_the_best_box_per_class_and_drops_low_confidence():
    pred = np.stack([_row(50, 50, 20, 20, 0.9, 0), _row(51, 50, 20, 20, 0.8, 0),  # overlap: one survives
                     _row(51, 50, 20, 20, 0.7, 1),  # same place, other class: kept
                     _row(10, 10, 8, 8, 0.1, 2)])  # below conf
    d = detection.non_max_suppression(pred, conf=0.25, iou=0.45)
    assert d.shape == (2, 6)
    assert d[:, 5].tolist() == [0, 1] and d[:, 4] == pytest.approx([0.9, 0.7])
    assert d[0, :4] == pytest.approx([40, 40, 60, 60])


def test_map_is_one_for_exact_boxes_and_lower_for_loose_ones():
    labels = np.array([[0, 10, 10, 50, 50], [1, 60, 60, 100, 90]], np.float32)
    exact = np.array([[10, 10, 50, 50, 0.9, 0], [60, 60, 100, 90, 0.8, 1]], np.float32)
    m = detection.mean_average_precision(detection.match(exact, labels), exact[:, 4], exact[:, 5], labels[:, 0])
    assert m["mAP50"] == pytest.approx(PERFECT) and m["mAP50-95"] == pytest.approx(PERFECT)
    loose = exact.copy()
    loose[:, :4] += 5  # IoU about 0.6-0.7: a hit at 0.5, misses from 0.7 up
    m = detection.mean_average_precision(detection.match(loose, labels), loose[:, 4], loose[:, 5], labels[:, 0])
    assert m["mAP50"] == pytest.approx(PERFECT) and 0.1 < m["mAP50-95"] < 0.5
    wrong_class = exact.copy()
    wrong_class[:, 5] = 1 - wrong_class[:, 5]
    m = detection.mean_average_precision(detection.match(wrong_class, labels), exact[:, 4], wrong_class[:, 5],
                                         labels[:, 0])
    assert m["mAP50"] == 0


def test_map_agrees_with_ultralytics_metrics():
    metrics = pytest.importorskip("ultralytics.utils.metrics")
    rng = np.random.default_rng(0)
    correct, conf, pcls, tcls = [], [], [], []
    for _ in range(20):  # images with jittered, missing and spurious detections
        n = rng.integers(1, 6)
        xy = rng.uniform(0, 200, (n, 2))
        wh = rng.uniform(10, 60, (n, 2))
        labels = np.concatenate([rng.integers(0, 3, (n, 1)), xy, xy + wh], 1).astype(np.float32)
        keep = rng.random(n) > 0.2
        dets = np.concatenate([labels[keep, 1:] + rng.normal(0, 4, (keep.sum(), 4)), rng.random((keep.sum(), 1)),
                               labels[keep, :1]], 1)
        extra = np.concatenate([rng.uniform(0, 200, (2, 2)), rng.uniform(210, 260, (2, 2)), rng.random((2, 1)),
                                rng.integers(0, 3, (2, 1))], 1)
        dets = np.concatenate([dets, extra]).astype(np.float32)
        correct.append(detection.match(dets, labels))
        conf.append(dets[:, 4]), pcls.append(dets[:, 5]), tcls.append(labels[:, 0])
    correct, conf, pcls, tcls = map(np.concatenate, (correct, conf, pcls, tcls))
    ours = detection.mean_average_precision(correct, conf, pcls, tcls)
    ap = metrics.ap_per_class(correct, conf, pcls, tcls)[5]  # (classes, 10 IoU thresholds)
    assert ours["mAP50"] == pytest.approx(ap[:, 0].mean(), abs=1e-3)
    assert ours["mAP50-95"] == pytest.approx(ap.mean(), abs=1e-3)


def test_evaluate_scores_a_perfect_detector_one(tmp_path):
    """The whole path (image -> letterbox -> model -> NMS -> back to the image -> match with the label file)."""
    img_dir, lbl_dir = tmp_path / "images", tmp_path / "labels"
    img_dir.mkdir(), lbl_dir.mkdir()
    boxes = {80: [(0, 0.3, 0.4, 0.2, 0.3)], 160: [(1, 0.6, 0.5, 0.4, 0.2), (0, 0.2, 0.2, 0.1, 0.1)]}  # by grey level
    for grey, rows in boxes.items():
        cv2.imwrite(str(img_dir / f"{grey}.png"), np.full((120, 200, 3), grey, np.uint8))
        (lbl_dir / f"{grey}.txt").write_text("".join(f"{c} {x} {y} {w} {h}\n" for c, x, y, w, h in rows))
    r, dh = 128 / 200, (128 - 120 * 128 / 200) / 2

    def oracle(x):  # the labels of the image it is shown, placed where the letterbox put them
        rows = boxes[round(float(x[0, 0, 64, 64]) * 255)]
        return np.stack([_row(x_ * 200 * r, y_ * 120 * r + dh, w * 200 * r, h * 120 * r, 0.9, c, 2)
                         for c, x_, y_, w, h in rows])[None]

    result = evaluate(Detector(oracle, 128, {0: "a", 1: "b"}), sorted(img_dir.glob("*.png")))
    assert result["labels"] == 3 and result["mAP50"] == pytest.approx(PERFECT) and result["mAP50-95"] > 0.9


def test_an_output_of_another_layout_is_refused_by_name():
    img = np.zeros((64, 64, 3), np.uint8)
    ultralytics_layout = Detector(lambda x: np.zeros((1, 6, 84), np.float32), 64, {0: "a", 1: "b"}, "onnxruntime m")
    with pytest.raises(ExportError, match=r"onnxruntime m: output \(1, 6, 84\) .*ultralytics' layout"):
        ultralytics_layout(img)
    classifier = Detector(lambda x: np.zeros((1, 1000), np.float32), 64)
    with pytest.raises(ExportError, match=r"not YOLOv5/YOLOv7 detections"):
        classifier(img)


def test_runtime_is_told_by_the_artefact(tmp_path):
    (tmp_path / "m_openvino").mkdir()
    (tmp_path / "m_openvino" / "m.xml").write_text("<net/>")
    assert runtime_of(tmp_path / "m.onnx") == "onnxruntime"
    assert runtime_of(tmp_path / "m_openvino") == "openvino"
    assert runtime_of(tmp_path / "m.ncnn.param") == "ncnn"
    assert runtime_of(tmp_path / "m_float16.tflite") == "tflite_fp16"
    assert runtime_of(tmp_path / "m_float32.tflite") == "tflite_fp32"
    assert runtime_of(tmp_path / "m_int8.onnx") == "onnxruntime_int8"


# --- export and detect, end to end ---------------------------------------------------------------------

RUNTIMES = [rt.name for rt in runtimes.exportable() if rt.available()[0]]


@pytest.fixture(scope="module")
def exported(trained, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    r = run_cli("export", "--weights", trained / "weights" / "best.pt", "--imgsz", IMGSZ, "--data", data,
                "--out", out, "--to", *RUNTIMES)
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-2000:]
    return out, json.loads((out / "export.json").read_text())


def test_export_checks_every_runtime_against_pytorch_and_scores_it(exported):
    out, report = exported
    assert sorted(r["runtime"] for r in report["exports"]) == sorted(RUNTIMES)
    torch_map = report["torch"]
    assert torch_map["images"] == 4 and torch_map["labels"] > 0
    for r in report["exports"]:
        assert r["ok"], r
        assert (out / r["path"]).exists()
        if runtimes.by_name(r["runtime"]).precision == "fp32":
            assert r["map"]["mAP50"] == pytest.approx(torch_map["mAP50"], abs=0.01), r["runtime"]
        assert 0 <= r["map"]["mAP50"] <= 1
    assert "mAP50 drop" in (out / "export.md").read_text()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_detect_runs_each_export_on_images_and_video(exported, data, tmp_path, runtime):
    out, report = exported
    artefact = next(r["path"] for r in report["exports"] if r["runtime"] == runtime)
    src = tmp_path / "src"  # two images and the video: one detect run covers both kinds
    src.mkdir()
    for f in sorted((data.parent / "images" / "val").glob("*.jpg"))[:2] + [data.parent / "video.mp4"]:
        (src / f.name).symlink_to(f)
    r = run_cli("detect", "--weights", artefact, "--source", src, "--project", tmp_path, "--name", "out", check=True)
    assert len(list((tmp_path / "out").glob("*.jpg"))) == 2, r.stdout
    cap = cv2.VideoCapture(str(tmp_path / "out" / "video.mp4"))
    assert cap.isOpened() and cap.get(cv2.CAP_PROP_FRAME_COUNT) >= 24
    assert not list((tmp_path / "out").glob(".*"))  # no partial file left


def test_export_and_detect_refuse_bad_input_in_one_line(exported, trained, data, tmp_path):
    out, report = exported
    onnx = next(r["path"] for r in report["exports"] if r["runtime"] == "onnxruntime")
    val = data.parent / "images" / "val"
    corrupt = tmp_path / "half.onnx"
    corrupt.write_bytes(open(onnx, "rb").read()[:1000])
    cases = [
        (("detect", "--weights", onnx, "--imgsz", IMGSZ * 2, "--source", val), "exported for 128 px"),
        (("detect", "--weights", tmp_path / "model.bin", "--source", val), "no such file"),
        (("detect", "--weights", onnx, "--source", data), "not an image or video"),
        (("detect", "--weights", corrupt, "--imgsz", IMGSZ, "--source", val), "onnxruntime cannot load it"),
        (("export", "--weights", trained / "weights" / "best.pt", "--to", "onnxruntime_int8", "--imgsz", IMGSZ,
          "--out", tmp_path / "x"), "needs calibration images"),
        (("export", "--weights", data, "--out", tmp_path / "y"), "not a PyTorch checkpoint"),
    ]
    for args, words in cases:
        r = run_cli(*args)
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert not (tmp_path / "x").exists()


def test_export_whose_only_converter_fails_leaves_nothing(trained, tmp_path, monkeypatch):
    from yolov5_shuffle.deploy.export import export_checkpoint
    from yolov5_shuffle.errors import UserError

    def broken(*a, **k):
        raise RuntimeError("converter broke")

    monkeypatch.setattr(runtimes.by_name("onnxruntime"), "build", broken)
    kw = dict(weights=trained / "weights" / "best.pt", to=["onnxruntime"], imgsz=IMGSZ, threads=1, out=tmp_path / "x")
    with pytest.raises(UserError, match="nothing exported: onnxruntime: export failed: converter broke"):
        export_checkpoint(**kw)
    assert not (tmp_path / "x").exists()  # no empty folder, no metadata.yaml without an artefact
    (tmp_path / "x").mkdir()  # a folder of the user's: kept, and still nothing written into it
    with pytest.raises(UserError, match="converter broke"):
        export_checkpoint(**kw)
    assert (tmp_path / "x").is_dir() and not any((tmp_path / "x").iterdir())
