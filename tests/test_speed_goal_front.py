"""scripts/speed_goal_front.py: the speed-goal latency screen reads its (config, size) points right."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "speed_goal_front.py"


@pytest.fixture(scope="module")
def front():
    spec = importlib.util.spec_from_file_location("speed_goal_front", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_front_point_splits_config_and_size_at_the_last_at_sign(front):
    assert front.point("docs/speed-goal/a@b.yaml@384") == ("docs/speed-goal/a@b.yaml", 384)


@pytest.mark.parametrize("bad", ["yolov5n.yaml", "yolov5n.yaml@", "@320", "yolov5n.yaml@300", "yolov5n.yaml@x"])
def test_front_point_refuses_a_size_that_is_missing_or_not_a_multiple_of_32(front, bad):
    with pytest.raises(argparse.ArgumentTypeError, match="CFG@SIZE"):
        front.point(bad)


def test_front_adds_the_baseline_point_first_when_it_is_not_asked_for(front, tmp_path):
    a = front.parse(["--points", "x.yaml@384", "--out", str(tmp_path)])
    assert a.points == [("yolov5n.yaml", 320), ("x.yaml", 384)]


ROOT = SCRIPT.parent.parent


def test_speed_goal_grid_names_configs_that_exist_at_sizes_their_strides_allow():
    """docs/speed-goal/grid.yaml feeds the next GPU session's yardstick: a typo there costs a lent GPU call."""
    import yaml

    grid = yaml.safe_load((ROOT / "docs" / "speed-goal" / "grid.yaml").read_text())
    assert grid["runs"] == len(grid["points"]) * len(grid["seeds"])
    for p in grid["points"]:
        cfg = p["cfg"]
        if cfg in ("yolov5n.yaml", "yolov5s.yaml"):
            stride = 32
        else:
            path = ROOT / cfg if "/" in cfg else ROOT / "yolov5_shuffle" / "cfg" / "yolov5" / cfg
            assert path.is_file(), cfg
            stride = 32 * 2 ** (len(yaml.safe_load(path.read_text())["anchors"]) - 3)  # 4 levels: P6, stride 64
        assert p["imgsz"] % stride == 0, (cfg, p["imgsz"], stride)
