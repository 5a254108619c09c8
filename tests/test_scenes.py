"""The generator's scenes: the default is the original demo data byte for byte; the yardstick's is harder."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from yolov5_shuffle.dataset import DEFAULT_SCENE, DatasetError, Scene, make_dataset, render

# sha256 of 90 default scenes (seeds 0, 1, 3; 30 each; 160 px) rendered by the generator before scenes existed
DEFAULT_OUTPUT = "6b6999752174d769685a5c666c6d1f80f150dae7413f2be9e8e2fa64e1f8704e"
HARD = Scene(min_size=0.05, max_size=0.3, max_objects=10, max_cover=0.4, clutter=3)


def test_the_default_scene_renders_the_original_images_and_labels():
    h = hashlib.sha256()
    for seed in (0, 1, 3):
        rng = np.random.default_rng(seed)
        for _ in range(30):
            img, objs = render(rng, 160)
            h.update(img.tobytes())
            h.update(repr(objs).encode())
    assert h.hexdigest() == DEFAULT_OUTPUT


def test_a_default_dataset_keeps_its_old_stamp_and_a_harder_one_records_its_scene(tmp_path):
    make_dataset(tmp_path / "a", train=2, val=1, imgsz=64)
    assert "scene" not in json.loads((tmp_path / "a" / "dataset.json").read_text())
    make_dataset(tmp_path / "b", train=2, val=1, imgsz=64, scene=HARD)
    assert json.loads((tmp_path / "b" / "dataset.json").read_text())["scene"] == HARD.changes()
    with pytest.raises(DatasetError, match="other settings"):
        make_dataset(tmp_path / "b", train=2, val=1, imgsz=64)


def test_the_hard_scene_has_smaller_and_more_objects_and_unlabelled_clutter():
    def stats(scene):
        rng = np.random.default_rng(0)
        scenes = [render(rng, 320, scene=scene)[1] for _ in range(200)]
        sizes = [max(w, h) / 320 for objs in scenes for _, _, _, w, h, _ in objs]
        return np.mean([len(o) for o in scenes]), np.median(sizes)

    (n0, s0), (n1, s1) = stats(DEFAULT_SCENE), stats(HARD)
    assert n1 > n0 + 1 and s1 < s0 * 0.8
    rng = np.random.default_rng(5)
    bare = Scene(max_objects=1, clutter=6)
    img, objs = render(rng, 128, scene=bare)
    assert len(objs) == 1  # clutter is drawn, never labelled
    with pytest.raises(DatasetError, match="object sizes"):
        make_dataset("unused", scene=Scene(min_size=0.5, max_size=0.2))
