"""A host is one object: a toy host defined in a temporary module (not in yolov5_shuffle/hosts) is reached by
``patch``, by building (init-weights' and export's way: ``hosts.build``) and by bench's config building, with no
other file changed. Also: which host owns which config and checkpoint, and the public ultralytics import."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from yolov5_shuffle import blocks, hosts

TOY = '''
import re
from pathlib import Path

import torch.nn as nn

from yolov5_shuffle import hosts
from yolov5_shuffle.hosts.base import Host, Insertion, Tree

CONFIGS = Path(__file__).with_name("toy_cfg")


class Toy(Host):
    name = "toy"
    label = "Toy detector"
    dialect = "toy"
    config_dest = "cfgs"
    config_prefixes = ("toy-",)
    priority = 5
    built = []

    def config_dir(self):
        return CONFIGS

    def recognise(self, path):
        return Tree(self, path) if (path / "toy.py").is_file() else None

    def edits(self, tree):
        return {"toy.py": [Insertion("our import", re.compile(r"^def build"),
                                     ("from yolov5_shuffle.blocks import DWSConv  # yolov5-shuffle",))]}

    def build(self, cfg, nc=80, fused=True):
        self.built.append((Path(cfg).name, nc, fused))
        return nn.Sequential(nn.Conv2d(3, nc, 1))


HOST = hosts.add(Toy())
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setattr(hosts, "_ADDED", [])
    (tmp_path / "toy_cfg").mkdir()
    (tmp_path / "toy_cfg" / "toy-a.yaml").write_text("nc: 3\n")
    (tmp_path / "toy_host_module.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("toy_host_module", None)
    import toy_host_module

    yield toy_host_module.HOST
    sys.modules.pop("toy_host_module", None)


def test_patch_reaches_a_host_added_from_another_module(toy, tmp_path):
    from yolov5_shuffle.patching import patch

    tree = tmp_path / "tree"
    (tree / "cfgs").mkdir(parents=True)
    (tree / "toy.py").write_text("import torch\n\n\ndef build():\n    pass\n")
    p, written, _ = patch.run(tree)
    assert p.tree.host is toy and sorted(written) == ["cfgs/toy-a.yaml", "toy.py"]
    assert "from yolov5_shuffle.blocks import DWSConv  # yolov5-shuffle\ndef build" in (tree / "toy.py").read_text()
    patch.run(tree, revert=True)
    assert (tree / "toy.py").read_text() == "import torch\n\n\ndef build():\n    pass\n"


def test_build_and_bench_config_building_reach_the_toy_host(toy):
    from yolov5_shuffle.measure.bench import build_models

    assert hosts.host_for("toy-a.yaml") is toy and hosts.host_for("yolov5s-shufflenetv2.yaml") is not toy
    model = hosts.build("toy-a.yaml", nc=4)
    assert model[0].out_channels == 4
    models = build_models(["toy-a.yaml"])
    assert models["toy-a.yaml"][0].out_channels == 80
    assert [b[0] for b in toy.built] == ["toy-a.yaml", "toy-a.yaml"]


def test_a_config_no_host_knows_is_refused_with_the_closest_names(toy):
    with pytest.raises(FileNotFoundError, match="did you mean toy-a.yaml"):
        toy.resolve_config("toy-b.yaml")


@pytest.mark.parametrize("cfg,host", [("yolov5s-shufflenetv2.yaml", "yolov5"), ("yolov5n.yaml", "yolov5"),
                                      ("yolov7-tiny-shufflenetv2.yaml", "yolov7"), ("yolov7.yaml", "yolov7"),
                                      ("yolo11n-shufflenetv2.yaml", "ultralytics"), ("rtdetr-l.yaml", "ultralytics")])
def test_each_config_belongs_to_one_host(cfg, host):
    assert hosts.host_for(cfg).name == host


def test_dialects_come_from_the_hosts():
    assert set(hosts.dialects()) == {"yolov5", "yolov7", "ultralytics"}


def test_the_block_list_is_one_list():
    from yolov5_shuffle.hosts import base
    from yolov5_shuffle.patching import patch

    assert blocks.BLOCK_NAMES == tuple(b.__name__ for b in blocks.BLOCKS)
    assert set(blocks.BLOCK_NAMES) <= set(base.IMPORT_NAMES) and patch.BLOCK_NAMES is blocks.BLOCK_NAMES


def test_public_ultralytics_import_registers_and_the_host_package_does_not():
    pytest.importorskip("ultralytics")
    code = textwrap.dedent("""
        import sys
        from yolov5_shuffle import hosts
        import yolov5_shuffle.hosts.ultralytics as host_package
        assert host_package.HOST in hosts.all_hosts()  # the registry scans the package, no exception list
        assert "ultralytics" not in sys.modules, "importing the host package imported ultralytics"
        import yolov5_shuffle.ultralytics as plugin
        import ultralytics.nn.tasks as tasks
        assert plugin.is_registered() and tasks.ShuffleNetV2_InvertedResidual.__module__ == "yolov5_shuffle.blocks"
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]
