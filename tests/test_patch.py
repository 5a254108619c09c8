"""The patch tool on fresh copies of YOLOv5 6.0-7.0 (PyPI and upstream layouts) and current master's shape."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from conftest import RELEASES, REPO, make_tree, python_in, run_cli, snapshot
from yolov5_shuffle.patching import patch as patcher

SHAPES = [(v, "pypi") for v in RELEASES] + [(v, "upstream") for v in RELEASES] + [("7.0.14", "master")]
SHAPE_IDS = [f"{v}-{layout}" for v, layout in SHAPES]
# Importing and building in a tree costs ~10 s: one of each layout, the oldest and newest releases.
BUILD_SHAPES = [("6.0.7", "upstream"), ("6.2.3", "pypi"), ("7.0.14", "pypi"), ("7.0.14", "master")]


@pytest.mark.parametrize("version,layout", SHAPES, ids=SHAPE_IDS)
def test_apply_reapply_check_revert(tree_factory, version, layout):
    root = tree_factory(version, layout)
    before = snapshot(root)
    assert run_cli("patch", root, "--check").returncode == patcher.UNPATCHED
    run_cli("patch", root, check=True)
    patched = snapshot(root)
    assert patched != before
    assert "models/yolov5s-shufflenetv2.yaml" in patched
    assert run_cli("patch", root, "--check").returncode == patcher.PATCHED
    r = run_cli("patch", root, check=True)
    assert "nothing to patch" in r.stdout
    assert snapshot(root) == patched, "a second patch must change no byte"
    run_cli("patch", root, "--revert", check=True)
    assert snapshot(root) == before, "revert must restore the original bytes"
    assert run_cli("patch", root, "--check").returncode == patcher.UNPATCHED


@pytest.mark.parametrize("version,layout", BUILD_SHAPES, ids=[f"{v}-{layout}" for v, layout in BUILD_SHAPES])
def test_patched_tree_builds_models(tree_factory, version, layout):
    root = tree_factory(version, layout, fixed=True)
    run_cli("patch", root, check=True)
    mod = "yolov5.models" if layout == "pypi" else "models"
    code = (f"from {mod}.yolo import Model\nfrom {mod} import common\nimport torch\n"
            "m = Model('models/yolov5s-shufflenetv2.yaml').eval()\n"
            "y = m(torch.zeros(1, 3, 128, 128))[0]\n"
            "assert common.ShuffleNetV2_InvertedResidual.__module__ == 'yolov5_shuffle.blocks'\n"
            "print('OUT', tuple(y.shape), sum(p.numel() for p in m.parameters()))\n"
            "m.fuse()\n"
            "import torch.nn as nn\n"
            "print('BN', sum(isinstance(x, nn.BatchNorm2d) for x in m.modules()))\n")
    r = python_in(root, code, layout)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "OUT (1, 1008, 85) 4416945" in r.stdout  # 3 anchors x (16^2 + 8^2 + 4^2) at 128 px
    assert "BN 0" in r.stdout


def test_width_and_depth_multiples_scale_our_blocks(tree_factory, tmp_path):
    """Registered like YOLOv5's Conv/C3: input channels inserted, c2 x width_multiple, n x depth_multiple."""
    root = tree_factory("7.0.14", "pypi", fixed=True)
    run_cli("patch", root, check=True)
    cfg = (REPO / "yolov5_shuffle" / "cfg" / "yolov5" / "yolov5s-shufflenetv2.yaml").read_text()
    cfg = cfg.replace("depth_multiple: 1.0", "depth_multiple: 0.5").replace("width_multiple: 1.0", "width_multiple: 0.5")
    (tmp_path / "half.yaml").write_text(cfg)
    code = ("from yolov5.models.yolo import Model\n"
            f"m = Model(r'{tmp_path / 'half.yaml'}')\n"
            "print('C', [m.model[i].conv.conv.out_channels if i == 0 else None for i in (0,)],"
            " m.model[1].branch2[2].conv.out_channels * 2, len(m.model[4]))\n")
    r = python_in(root, code, "pypi")
    assert r.returncode == 0, r.stderr[-3000:]
    # stem 24*0.5=12, stage2 116*0.5=58 (even, not rounded to 64), stage3 repeats 7*0.5 -> 4
    assert "C [12] 58 4" in r.stdout


def test_checkpoint_loads_in_another_patched_checkout(wheels, tmp_path):
    a = make_tree(wheels["7.0.14"], tmp_path / "a", "upstream", fixed=True)
    b = make_tree(wheels["7.0.14"], tmp_path / "b", "upstream", fixed=True)
    for root in (a, b):
        run_cli("patch", root, check=True)
    ckpt = tmp_path / "m.pt"
    r = python_in(a, "from models.yolo import Model\nimport torch\n"
                     f"torch.save({{'model': Model('models/yolov5n-shufflenetv2.yaml')}}, r'{ckpt}')\n", "upstream")
    assert r.returncode == 0, r.stderr[-3000:]
    r = python_in(b, "import torch, models.yolo\n"
                     f"m = torch.load(r'{ckpt}', weights_only=False)['model']\n"
                     "import models.yolo as y; print('FROM', y.__file__, type(m.model[1]).__module__)\n", "upstream")
    assert r.returncode == 0, r.stderr[-3000:]
    assert str(b) in r.stdout and "yolov5_shuffle.blocks" in r.stdout


def test_check_refuses_a_folder_that_is_not_yolov5(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "yolo.py").write_text("print('hello')\n")
    before = snapshot(tmp_path)
    for args in (["--check"], [], ["--revert"], ["--dry-run"]):
        r = run_cli("patch", tmp_path, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "not the source tree of a host we know" in r.stderr
    assert snapshot(tmp_path) == before


def test_refuses_hand_registered_block_and_writes_nothing(tree_factory):
    root = tree_factory("7.0.14", "upstream")
    yolo = root / "models" / "yolo.py"
    text = yolo.read_text().replace("if m in {\n", "if m in {ShuffleNetV2_InvertedResidual,\n", 1)
    yolo.write_text(text)
    line = text.splitlines().index(next(ln for ln in text.splitlines() if "{ShuffleNetV2" in ln)) + 1
    before = snapshot(root)
    r = run_cli("patch", root)
    assert r.returncode == 2
    assert f"models/yolo.py:{line}" in r.stderr and "by hand" in r.stderr
    assert run_cli("patch", root, "--check").returncode == patcher.REFUSED
    assert snapshot(root) == before


def test_changed_patch_line_refuses_apply_but_reverts(tree_factory):
    root = tree_factory("7.0.14", "pypi")
    original = snapshot(root)
    run_cli("patch", root, check=True)
    yolo = root / "models" / "yolo.py"
    yolo.write_text(yolo.read_text().replace("scale_width(args[0], gw)", "args[0]"))
    before = snapshot(root)
    r = run_cli("patch", root)
    assert r.returncode == 2 and "changed or moved by hand" in r.stderr
    assert snapshot(root) == before
    run_cli("patch", root, "--revert", check=True)  # the changed line is still ours (it carries the marker)
    assert snapshot(root) == original


def test_refuses_unknown_shape(tree_factory):
    root = tree_factory("7.0.14", "pypi")
    yolo = root / "models" / "yolo.py"
    yolo.write_text(yolo.read_text().replace("elif m is nn.BatchNorm2d:", "elif m == nn.BatchNorm2d:"))
    before = snapshot(root)
    r = run_cli("patch", root)
    assert r.returncode == 2 and "models/yolo.py" in r.stderr and "not found" in r.stderr
    assert snapshot(root) == before


def test_read_only_yolo_py_leaves_every_file_untouched(tree_factory):
    root = tree_factory("7.0.14", "pypi")
    yolo = root / "models" / "yolo.py"
    yolo.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    before = snapshot(root)
    r = run_cli("patch", root)
    assert r.returncode == 2 and "read-only" in r.stderr
    assert snapshot(root) == before
    assert not (root / "models" / "yolov5s-shufflenetv2.yaml").exists()


def test_refuses_foreign_config_with_our_name(tree_factory):
    root = tree_factory("7.0.14", "pypi")
    (root / "models" / "yolov5s-shufflenetv2.yaml").write_text("# someone else's\n")
    before = snapshot(root)
    r = run_cli("patch", root)
    assert r.returncode == 2 and "yolov5s-shufflenetv2.yaml" in r.stderr
    assert snapshot(root) == before


def _git_apply_check(root: Path, diff: Path) -> int:
    return subprocess.run(["git", "apply", "--check", str(diff)], cwd=root, capture_output=True).returncode


@pytest.mark.parametrize("version", RELEASES)
def test_committed_patch_matches_tool_and_git_apply_agrees(tree_factory, version, tmp_path):
    """patches/yolov5-V.diff is what the tool prints, and git apply agrees with the tool."""
    committed = REPO / "patches" / f"yolov5-{version}.diff"
    fresh = tree_factory(version, "pypi", name="fresh")
    printed = run_cli("patch", fresh, "--dry-run", check=True).stdout
    assert committed.read_text() == printed, f"regenerate with: scripts/make_patches.sh ({committed.name} is stale)"
    assert _git_apply_check(fresh, committed) == 0
    by_git = tree_factory(version, "pypi", name="by_git")
    subprocess.run(["git", "apply", str(committed)], cwd=by_git, check=True)
    run_cli("patch", fresh, check=True)
    assert snapshot(by_git) == snapshot(fresh)
    assert run_cli("patch", by_git, "--check").returncode == patcher.PATCHED
    assert _git_apply_check(fresh, committed) != 0  # already applied: git refuses too


def test_dry_run_writes_nothing(tree_factory):
    root = tree_factory("6.0.7", "upstream")
    before = snapshot(root)
    out = run_cli("patch", root, "--dry-run", check=True).stdout
    assert "+from yolov5_shuffle.blocks import" in out and "+++ b/models/yolov5s-shufflenetv2.yaml" in out
    assert snapshot(root) == before


def test_failed_write_rolls_back(tree_factory, monkeypatch):
    root = tree_factory("7.0.14", "pypi")
    before = snapshot(root)
    plan = patcher.plan(root)
    real = patcher._write
    calls = []

    def flaky(target, data, mode):
        calls.append(target)
        if len(calls) == 3:
            raise OSError("disk full")
        real(target, data, mode)

    monkeypatch.setattr(patcher, "_write", flaky)
    with pytest.raises(patcher.PatchError, match="restored"):
        patcher.apply(plan)
    monkeypatch.setattr(patcher, "_write", real)
    assert snapshot(root) == before


def test_vendor_fixes_make_yolov5_7_run_and_are_idempotent(tree_factory):
    """The PyPI 7.0.14 tree gets its named fixes once (a second run edits nothing) and they stay out of the
    patch's way: patch and revert leave them in place."""
    from yolov5_shuffle.hosts import find
    from yolov5_shuffle.patching.fixes import apply_fixes

    root = tree_factory("7.0.14", "pypi", fixed=True)
    fixed = snapshot(root)
    assert sum(apply_fixes(root, find(root).host.fixes).values()) == 0 and snapshot(root) == fixed
    run_cli("patch", root, check=True)
    run_cli("patch", root, "--revert", check=True)
    assert snapshot(root) == fixed
