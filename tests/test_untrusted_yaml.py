"""A model yaml is data: an activation, a string argument or a module name that a host's parse_model would run as
code is refused in one line naming the file and the layer, and never runs: in our commands, in the vendored trees'
own ``Model`` (``train.py --cfg``, a checkpoint's yaml) and in ultralytics' registered ``parse_model``. The yaml
itself is read within bounds (size, no aliases). Every config we or the hosts ship is still accepted."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest
import yaml

from conftest import REPO, _extract, fixture_archive, python_in, run_cli
from errors_support import OUR_CFG, Case, assert_one_line, case_ids, check_input_case, tiny_data
from yolov5_shuffle.configs import CONFIG_ROOT
from yolov5_shuffle.untrusted.model_yaml import ConfigError, check_model_dict, read_model_yaml

MARKER = "payload-ran"


def payload(folder: Path) -> str:
    """Python that leaves a file behind if anything evals it."""
    return f"__import__('pathlib').Path(r'{folder / MARKER}').touch()"


def edited(src: Path, dest: Path, edit) -> Path:
    d = yaml.safe_load(src.read_text())
    edit(d)
    dest.write_text(yaml.safe_dump(d, sort_keys=False))
    return dest


def _set_activation(w: Path):
    return lambda d: d.__setitem__("activation", payload(w))


def _set_argument(w: Path):
    return lambda d: d["head"][0][3].append(payload(w))  # the first head row is a Conv


def _set_module(name: str, args: list):
    def edit(d):
        d["head"][0][2:] = [name, args]
    return edit


def _train_with(make_edit, name="bad.yaml"):
    def setup(w):
        cfg = edited(OUR_CFG, w / name, make_edit(w))
        return ["train", "--cfg", cfg, "--data", tiny_data(w / "d"), "--epochs", 1, "--project", "runs"]
    return setup


def _bomb(w: Path):
    levels = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    text = OUR_CFG.read_text() + 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n' + levels
    (w / "bomb.yaml").write_text(text)
    return ["train", "--cfg", w / "bomb.yaml", "--data", tiny_data(w / "d"), "--epochs", 1, "--project", "runs"]


def _big(w: Path):
    (w / "big.yaml").write_text(OUR_CFG.read_text() + "#" + "x" * 2 ** 21 + "\n")
    return ["train", "--cfg", w / "big.yaml", "--data", tiny_data(w / "d"), "--epochs", 1, "--project", "runs"]


def _payload_never_ran(w, _):
    assert not (w / MARKER).exists(), "the yaml's payload ran"


REFUSED = [
    Case("activation-that-is-code", _train_with(_set_activation), 2,
         "activation \"__import__('pathlib')", check=_payload_never_ran),
    Case("string-argument-that-is-code", _train_with(_set_argument), 2,
         "bad.yaml: layer 8 Conv: argument 3 \"__import__('pathlib')", check=_payload_never_ran),
    Case("host-function-as-a-layer", _train_with(lambda w: _set_module("check_requirements", ["not-a-package"])), 2,
         "layer 8: unknown module 'check_requirements'"),
    Case("loader-as-a-layer", _train_with(lambda w: _set_module("DetectMultiBackend", ["elsewhere.pt"])), 2,
         "layer 8: 'DetectMultiBackend' is a whole model or a loader, not a layer"),
    Case("yaml-aliases", _bomb, 2, "bomb.yaml: line 45: YAML anchors and aliases (&name, *name) are not accepted"),
    Case("yaml-over-a-mebibyte", _big, 2, "big.yaml: 2 MiB, more than the 1 MiB one may hold"),
]


@pytest.mark.parametrize("case", REFUSED, ids=case_ids(REFUSED))
def test_train_refuses_a_model_yaml_that_is_not_data_and_runs_none_of_it(case, work, yolov5, capsys):
    check_input_case(case, work, yolov5, capsys)


@pytest.mark.parametrize("text,fragment", [
    ("__import__('os').system('true')", "activation"),
    ("nn.Sequential(nn.ReLU())", "activation"),  # a torch.nn class, not an activation
    ("nn.ReLU(inplace=__import__('os'))", "activation"),
    ("nn.ReLU().__class__", "activation"),
    ("lambda: nn.ReLU()", "activation"),
])
def test_an_activation_is_only_a_torch_nn_activation_with_literal_arguments(text, fragment):
    d = yaml.safe_load(OUR_CFG.read_text())
    for ok in ("nn.LeakyReLU(0.1)", "torch.nn.ReLU()", "nn.SiLU(inplace=True)", None, ""):
        check_model_dict({**d, "activation": ok}, "m.yaml")
    with pytest.raises(ConfigError, match=f"model config m.yaml: {fragment}"):
        check_model_dict({**d, "activation": text}, "m.yaml")


@pytest.mark.parametrize("arg", ["nc.__class__", "[].__class__.__base__", "(lambda: 1)()", "open('x')", "exec",
                                 "__builtins__", "nc-1", "nn.Conv2d(1, 1, 1)", "nn.ReLU(*nc)", "x" * 300])
def test_string_arguments_are_literals_known_names_or_plain_words(arg):
    d = yaml.safe_load(OUR_CFG.read_text())
    row = d["head"][0]
    for ok in ("None", "nearest", "nearest-exact", "nc", "anchors", "[1, 2]", "-1", "nn.LeakyReLU(0.1)", "resnet18"):
        row[3] = [64, 1, 1, ok]
        check_model_dict(d, "m.yaml")
    row[3] = [64, 1, 1, arg]
    with pytest.raises(ConfigError, match=r"m.yaml: layer 8 Conv: argument 3 .* is not a literal"):
        check_model_dict(d, "m.yaml")


@pytest.mark.parametrize("arg", ["select_device", "os", "os-nearest"])
def test_a_plain_word_argument_is_never_a_name_the_hosts_eval_resolves(arg):
    """parse_model evals a plain word in its module's globals: a word the host defines is its function or module
    handed to the layer (nn.TransformerEncoderLayer calls an activation argument), never a string."""
    import os

    import torch.nn as nn

    from yolov5_shuffle.untrusted.model_yaml import check_in_namespace

    namespace = {"Conv": nn.Conv2d, "select_device": print, "os": os, "nn": nn, "nc": 2}
    for ok in ("nearest", "nc", "None", "nearest-exact"):
        d = {"backbone": [[-1, 1, "Conv", [16, 3, 2]]], "head": [[-1, 1, "Conv", [64, 1, 1, ok]]]}
        check_in_namespace(d, "m.yaml", namespace)
    d["head"][0][3] = [64, 1, 1, arg]
    with pytest.raises(ConfigError, match=r"m.yaml: layer 1 Conv: argument 3 .* is a name the host's model code "
                                          "defines") as e:
        check_in_namespace(d, "m.yaml", namespace)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("module,fragment", [
    ("nn.Upsample.__init__", "unknown module 'nn.Upsample.__init__' (not in torch.nn)"),
    ("__import__", "is not a layer name"),
    ("os.system", "is not a layer name"),
    ("eval", "'eval' is a Python builtin, not a layer"),
    ("DetectionModel", "'DetectionModel' is a whole model or a loader"),
    ("nn.functional", "unknown module 'nn.functional' (not in torch.nn)"),
])
def test_a_module_name_is_a_layer_never_a_builtin_an_attribute_or_a_loader(module, fragment):
    d = yaml.safe_load(OUR_CFG.read_text())
    d["head"][0][2] = module
    with pytest.raises(ConfigError, match="layer 8") as e:
        check_model_dict(d, "m.yaml")
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_a_model_dict_from_a_checkpoint_holds_plain_values_within_bounds():
    d = yaml.safe_load(OUR_CFG.read_text())
    with pytest.raises(ConfigError, match="a bytes value"):
        check_model_dict({**d, "extra": b"x"}, "best.pt")
    loop: list = []
    loop.append(loop)
    with pytest.raises(ConfigError, match="nested more than 32 deep"):
        check_model_dict({**d, "extra": loop}, "best.pt")
    shared = ["x"] * 9
    for _ in range(8):
        shared = [shared] * 9  # 9**9 leaves by reference: counted, not expanded
    with pytest.raises(ConfigError, match="more than 100000 values"):
        check_model_dict({**d, "extra": shared}, "best.pt")


def _shipped_configs() -> list[str]:
    import ultralytics

    hosts = [REPO / "third_party" / "yolov5" / "models", REPO / "third_party" / "yolov7" / "cfg",
             Path(ultralytics.__file__).parent / "cfg" / "models", CONFIG_ROOT]
    return sorted(f for h in hosts for f in glob.glob(f"{h}/**/*.yaml", recursive=True))


def test_every_model_config_we_and_the_hosts_ship_is_accepted_as_data():
    checked = 0
    for f in _shipped_configs():
        d = read_model_yaml(Path(f))
        if isinstance(d, dict) and "backbone" in d:
            check_model_dict(d, f)
            checked += 1
    assert checked > 100


# --- the vendored trees' own Model (train.py --cfg, a checkpoint's yaml with --weights) ----------------------

TREES = {"yolov5-pypi": ("models/yolov5n.yaml", "from yolov5.models.yolo import Model", "pypi"),
         "yolov5-master": ("models/yolov5n.yaml", "from models.yolo import Model", "upstream"),
         "yolov7": ("cfg/training/yolov7-tiny.yaml", "from models.yolo import Model", "upstream")}


def _fixed_tree(kind: str, tree_factory, tmp_path) -> Path:
    from yolov5_shuffle.hosts import find
    from yolov5_shuffle.patching.fixes import apply_fixes

    if kind == "yolov5-pypi":
        return tree_factory("7.0.14", "pypi", fixed=True)
    archive = {"yolov5-master": "yolov5-master-5081342.tar.gz", "yolov7": "yolov7-a207844.tar.gz"}[kind]
    root = _extract(fixture_archive(archive), tmp_path / "src")
    apply_fixes(root, find(root).host.fixes)
    return root


@pytest.mark.parametrize("kind", list(TREES))
def test_a_vendored_trees_model_refuses_a_yaml_that_is_code_from_a_file_or_a_dict(kind, tree_factory, tmp_path):
    root = _fixed_tree(kind, tree_factory, tmp_path)
    rel, imp, layout = TREES[kind]
    good = root / rel
    evil = edited(good, tmp_path / "evil.yaml", _set_activation(tmp_path))
    d = yaml.safe_load(good.read_text())
    d["backbone"][0][3].append(payload(tmp_path))
    code = (f"{imp}\nfrom yolov5_shuffle.untrusted.model_yaml import ConfigError\n"
            f"for cfg in (r'{evil}', {d!r}):\n"
            "    try:\n        Model(cfg)\n        print('built a yaml that is code')\n"
            "    except ConfigError as e:\n        print('refused:', e)\n"
            f"Model(r'{good}')\nprint('built the good one')\n")
    r = python_in(root, code, layout)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("refused:") == 2 and "built the good one" in r.stdout, r.stdout
    assert f"refused: model config {evil}: activation" in r.stdout and "the model dict: layer 0" in r.stdout
    assert not (tmp_path / MARKER).exists(), "the yaml's payload ran"


# --- ultralytics: the registered parse_model checks the dict first --------------------------------------------

@pytest.mark.parametrize("edit,fragment", [
    (lambda w: (lambda d: d.__setitem__("activation", payload(w))), "activation \"__import__('pathlib')"),
    (lambda w: (lambda d: d["backbone"][0].__setitem__(2, "attempt_load_one_weight")),
     "layer 0: unknown module 'attempt_load_one_weight'"),
], ids=["activation-that-is-code", "checkpoint-loader-as-a-layer"])
def test_yolo_refuses_an_ultralytics_yaml_that_is_code(edit, fragment, tmp_path):
    import cv2
    import numpy as np
    import ultralytics

    src = Path(ultralytics.__file__).parent / "cfg" / "models" / "11" / "yolo11.yaml"
    evil = edited(src, tmp_path / "yolo11n-evil.yaml", edit(tmp_path))
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((64, 64, 3), np.uint8))
    r = run_cli("yolo", "predict", f"model={evil}", f"source={tmp_path / 'a.jpg'}", "imgsz=64", cwd=tmp_path)
    assert r.returncode == 2, (r.stdout[-2000:], r.stderr[-3000:])
    assert_one_line(r.stderr, "yolo", fragment)
    assert not (tmp_path / MARKER).exists(), "the yaml's payload ran"
