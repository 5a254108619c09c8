"""An exported model's metadata.yaml is plain, bounded data checked against what export writes: ``detect`` refuses
aliases, an oversized file, an ``imgsz`` export would not write (before anything is sized by it) and class ids that
are not numbers, each in one line; it accepts names as a list (YOLOv5's own form) and ids written as digit strings.
A zero-byte video source is one line too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import yaml

from conftest import run_cli
from errors_support import assert_one_line, call, write_image
from yolov5_shuffle.deploy import runtimes
from yolov5_shuffle.untrusted.metadata import MetadataError, read_metadata

NC = 2


class NoDetections(nn.Module):
    """YOLOv5's output layout (1, N, 5 + nc) for two classes, all zeros: a model that detects nothing."""

    def forward(self, x):
        return x[:, :1, :10, :5 + NC].reshape(1, 10, 5 + NC) * 0


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> Path:
    ok, why = runtimes.available("onnxruntime")
    if not ok:
        pytest.skip(why)
    torch.manual_seed(0)
    return runtimes.by_name("onnxruntime").export(NoDetections().eval(), 64, tmp_path_factory.mktemp("onnx"), name="m")


def _detect(capsys, tmp_path: Path, model: Path, metadata: str, *extra):
    """detect with ``model`` copied beside a metadata.yaml holding ``metadata``: (exit code, stdout, stderr)."""
    folder = tmp_path / "export"
    folder.mkdir()
    weights = folder / model.name
    shutil.copy(model, weights) if model.is_file() else weights.write_bytes(b"not an onnx file")
    (folder / "metadata.yaml").write_text(metadata)
    image = write_image(tmp_path / "a.jpg", 64)
    return call(capsys, "detect", "--weights", weights, "--source", image, "--project", tmp_path / "runs", *extra)


@pytest.mark.parametrize("names", ["[cat, dog]", "{'0': cat, '1': dog}"])
def test_detect_reads_names_as_a_list_or_keyed_by_digit_strings(onnx_model, tmp_path, capsys, names):
    code, out, err = _detect(capsys, tmp_path, onnx_model, f"imgsz: 64\nnames: {names}\n")
    assert code == 0, err
    assert read_metadata(tmp_path / "export" / "metadata.yaml")["names"] == {0: "cat", 1: "dog"}


def test_detect_refuses_class_ids_that_are_not_numbers(onnx_model, tmp_path, capsys):
    code, _, err = _detect(capsys, tmp_path, onnx_model, "imgsz: 64\nnames: {cat: a, dog: b}\n")
    assert code == 2
    assert_one_line(err, "detect", "metadata.yaml: names: class id 'cat' is not a whole number >= 0")


@pytest.mark.parametrize("imgsz", ["abc", "'64'", "33", "0"])
def test_detect_refuses_an_imgsz_export_would_not_write(onnx_model, tmp_path, capsys, imgsz):
    code, _, err = _detect(capsys, tmp_path, onnx_model, f"imgsz: {imgsz}\nnames: [a, b]\n", "--imgsz", "64")
    assert code == 2
    assert_one_line(err, "detect", "metadata.yaml: imgsz must be a multiple of 32 from 32 to 4096")


def test_detect_refuses_a_huge_imgsz_before_loading_or_allocating_anything(tmp_path, capsys):
    """100000 px would be a 112 GiB input: refused from the metadata alone (the artefact is not even an ONNX
    file, and is never opened)."""
    code, _, err = _detect(capsys, tmp_path, Path("m.onnx"), "imgsz: 100000\nnames: [a, b]\n")
    assert code == 2
    assert_one_line(err, "detect", "imgsz must be a multiple of 32 from 32 to 4096 (YOLOv5's largest stride is 32), "
                                   "got 100000")


def test_detect_refuses_metadata_built_of_yaml_aliases(onnx_model, tmp_path, capsys):
    """A few hundred bytes of nested aliases stand for millions of values: refused as it is read."""
    levels = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcde", "bcdef"))
    text = 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n' + levels + "imgsz: 64\nnames: {0: *f, 1: b}\n"
    code, _, err = _detect(capsys, tmp_path, onnx_model, text)
    assert code == 2
    assert_one_line(err, "detect", "metadata.yaml: line 1: YAML anchors and aliases (&name, *name) are not accepted")


def test_detect_refuses_a_metadata_file_too_big_to_be_ours(onnx_model, tmp_path, capsys):
    names = "".join(f"  {i}: class{i}\n" for i in range(200_000))
    code, _, err = _detect(capsys, tmp_path, onnx_model, f"imgsz: 64\nnames:\n{names}")
    assert code == 2
    assert_one_line(err, "detect", "metadata.yaml: 4 MiB, more than the 1 MiB one may hold")


def test_metadata_keys_export_writes_are_checked(tmp_path):
    good = {"imgsz": 128, "stride": 32, "names": {0: "a"}, "weights": "/w/best.pt", "weights_sha256": "0" * 64}
    f = tmp_path / "metadata.yaml"
    f.write_text(yaml.safe_dump(good))
    assert read_metadata(f) == good
    for bad, fragment in [({"stride": 48}, "stride must be 8, 16, 32, 64 or 128"),
                          ({"imgsz": 96, "stride": 64}, "imgsz 96 is not a multiple of its stride 64"),
                          ({"weights": ["x"]}, "weights must be a string"),
                          ({"weights_sha256": "xyz"}, "weights_sha256 must be 64 lowercase hex digits"),
                          ({"names": {0: "a", "0": "b"}}, "class id 0 given twice"),
                          ({"names": {0: ["a"]}}, "class 0: the name must be a string")]:
        f.write_text(yaml.safe_dump({**good, **bad}))
        with pytest.raises(MetadataError, match=fragment):
            read_metadata(f)


# --- detect's other input ----------------------------------------------------------------------------------

def test_detect_on_a_zero_byte_video_says_so_in_one_line(onnx_model, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    r = run_cli("detect", "--weights", onnx_model, "--source", tmp_path / "empty.mp4", "--project", tmp_path / "r")
    assert r.returncode == 2
    assert_one_line(r.stderr, "detect", "not a readable video (OpenCV cannot open it or read a frame: empty file)")


@pytest.mark.parametrize("text,fragment", [("imgsz: " + "9" * 5000, "Exceeds the limit"),
                                           ("imgsz: 640\nsaved: 2001-13-01", "month must be in 1..12")])
def test_a_value_yaml_cannot_construct_is_one_refusal_naming_the_file(tmp_path, text, fragment):
    """A number of more digits than Python converts, or a date with a 13th month: the YAML constructor's ValueError
    is the file's fault, never an internal error."""
    path = tmp_path / "metadata.yaml"
    path.write_text(text)
    with pytest.raises(MetadataError, match=f"export metadata: {path}: a value that cannot be read") as e:
        read_metadata(path)
    assert fragment in str(e.value) and "\n" not in str(e.value)
