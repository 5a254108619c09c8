"""The ``yolo`` route (``yolov5-shuffle yolo ...``): every checkpoint ultralytics loads goes through our safe loader
(a file that would run code is refused in one line, a genuine one trains and predicts), a config typo is named
as typed with our closest configs, and ``patch`` on the ultralytics package points to the import instead.

Offline and out of the user's home, as tests/test_ultralytics.py: YOLO_CONFIG_DIR is a temp dir, YOLO_OFFLINE=1,
YOLO_AUTOINSTALL=False.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

if "ultralytics" not in sys.modules:  # must precede ultralytics' import: it reads these once
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="yolov5-shuffle-yolo-route-cfg-"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
pytest.importorskip("ultralytics")

import torch  # noqa: E402

from conftest import REPO, run_cli  # noqa: E402
from errors_support import write_image  # noqa: E402
from yolov5_shuffle.untrusted.checkpoint import CheckpointRefused  # noqa: E402
from yolov5_shuffle.dataset import make_dataset  # noqa: E402
from yolov5_shuffle.hosts.ultralytics.safe_load import safe_loading  # noqa: E402

ENV = {"YOLO_CONFIG_DIR": os.environ["YOLO_CONFIG_DIR"], "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False",
       "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}


def _one_line_exit_2(r, *needles: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("yolov5-shuffle yolo: "), r.stderr[-3000:]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


class _Payload:
    """Pickles as a call to os.system: what a malicious checkpoint holds."""

    def __init__(self, marker: Path):
        self.cmd = f"touch {marker}"

    def __reduce__(self):
        return os.system, (self.cmd,)


@pytest.fixture
def payload(tmp_path):
    """(a .pt naming ultralytics layers that REDUCEs os.system, the file the payload would create)."""
    from ultralytics.nn.modules.conv import Concat

    marker = tmp_path / "payload-ran"
    path = tmp_path / "x.pt"
    torch.save({"model": Concat(), "epoch": -1, "payload": _Payload(marker)}, path)
    return path, marker


def test_yolo_predict_refuses_a_checkpoint_that_would_run_code(payload, tmp_path):
    path, marker = payload
    image = write_image(tmp_path / "img.jpg", size=64)
    r = run_cli("yolo", "predict", f"model={path}", f"source={image}", cwd=tmp_path, env=ENV)
    _one_line_exit_2(r, str(path), "system")
    assert not marker.exists()


@pytest.mark.parametrize("loader", ["nn.tasks.torch_safe_load", "nn.tasks.load_checkpoint",
                                    "utils.patches.torch_load", "utils.torch_utils.strip_optimizer"])
def test_every_ultralytics_checkpoint_loader_is_safe_inside_the_route(payload, loader):
    import importlib

    path, marker = payload
    module, name = loader.rsplit(".", 1)
    refused = None
    with safe_loading():
        try:
            getattr(importlib.import_module(f"ultralytics.{module}"), name)(str(path))
        except CheckpointRefused as e:
            refused = str(e)
    assert not marker.exists()
    if name != "strip_optimizer":  # which logs a warning for any file it cannot read, and skips it
        assert refused and "system" in refused, refused


def test_the_route_gives_ultralytics_its_own_loader_back():
    import ultralytics.nn.tasks as tasks
    import ultralytics.utils.patches as patches

    before = (patches.torch_load, tasks.torch_load)
    with safe_loading():
        assert patches.torch_load is not before[0] and tasks.torch_load is patches.torch_load
        with safe_loading():  # re-entrant: the inner block restores nothing
            pass
        assert tasks.torch_load is patches.torch_load is not before[0]
    assert (patches.torch_load, tasks.torch_load) == before


@pytest.fixture(scope="module")
def trained_through_the_route(tmp_path_factory):
    """A yolo11n-shufflenetv2 trained 1 epoch on generated data by `yolov5-shuffle yolo train` (whose final
    validation and optimizer stripping load the checkpoints through the safe loader too)."""
    work = tmp_path_factory.mktemp("yolo-route")
    data = make_dataset(work / "shapes", train=8, val=4, imgsz=64, seed=0)
    r = run_cli("yolo", "train", "model=yolo11n-shufflenetv2.yaml", f"data={data}", "epochs=1", "imgsz=64",
                "batch=4", "workers=0", "device=cpu", "plots=False", "amp=False", f"project={work}", "name=t",
                "exist_ok=True", cwd=work, env=ENV)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "not a valid Ultralytics model" not in r.stdout + r.stderr  # strip_optimizer read them (safely)
    best = work / "t" / "weights" / "best.pt"
    assert best.is_file()
    return best, data.parent / "images" / "val", work


def test_a_genuine_checkpoint_predicts_through_the_route(trained_through_the_route):
    best, images, work = trained_through_the_route
    r = run_cli("yolo", "predict", f"model={best}", f"source={images}", "imgsz=64", "device=cpu", "save_txt=True",
                "save=False", f"project={work}", "name=p", "exist_ok=True", cwd=work, env=ENV)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (work / "p").is_dir()
    assert "Results saved to" in r.stdout + r.stderr


def test_a_config_typo_is_named_as_typed_with_our_closest(tmp_path):
    r = run_cli("yolo", "predict", "model=yolo11n-shufflenet.yaml", "source=x.jpg", cwd=tmp_path, env=ENV)
    line = _one_line_exit_2(r, "model=yolo11n-shufflenet.yaml", "did you mean yolo11n-shufflenetv2.yaml")
    assert "yolo11-shufflenet.yaml" not in line
    assert not list(tmp_path.rglob("args.yaml"))


def test_a_scaled_typo_keeps_its_scale_in_the_suggestion(tmp_path):
    r = run_cli("yolo", "train", "model=yolo11s-shufflenet.yaml", "data=coco8.yaml", cwd=tmp_path, env=ENV)
    _one_line_exit_2(r, "model=yolo11s-shufflenet.yaml", "yolo11s-shufflenetv2.yaml")


def _fake_ultralytics(root: Path) -> Path:
    pkg = root / "ultralytics"
    (pkg / "nn").mkdir(parents=True)
    (pkg / "engine").mkdir()
    (pkg / "__init__.py").write_text('__version__ = "8.4.0"\n')
    (pkg / "nn" / "tasks.py").write_text("def parse_model(d, ch, verbose=True):\n    pass\n")
    return pkg


@pytest.mark.parametrize("where", ["package", "clone"])
def test_patch_on_the_ultralytics_package_points_to_the_import(tmp_path, where):
    pkg = _fake_ultralytics(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "ultralytics"\n')
    target = pkg if where == "package" else tmp_path
    before = sorted(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    r = run_cli("patch", target)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert "\n" not in line and "import yolov5_shuffle.ultralytics" in line and "yolov5-shuffle yolo" in line, line
    assert sorted(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()) == before
