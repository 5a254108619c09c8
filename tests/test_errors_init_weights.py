"""init-weights: a bad torchvision weights file, an --out that is a folder and a bad --nc are refused in one line,
exit 2, before any work, leaving nothing behind."""

from __future__ import annotations

import os

import pytest

from errors_support import Case, case_ids, check_input_case


def _init_weights(setup_out=None, tv=None, extra=()):
    def setup(w):
        weights = tv(w) if tv else _tv_state(w)
        out = setup_out(w) if setup_out else w / "init.pt"
        return ["init-weights", "--cfg", "yolov5n-shufflenetv2.yaml", "--torchvision-weights", weights, "--out", out,
                *extra]
    return setup


def _tv_state(w):
    import torch
    import torchvision

    f = w / "tv.pth"
    if not f.exists():
        torch.save(torchvision.models.shufflenet_v2_x0_5(weights=None).state_dict(), f)
    return f


def _junk(w):
    (w / "junk.pth").write_bytes(os.urandom(4096))
    return w / "junk.pth"


def _pickled_list(w):
    import torch

    torch.save([1, 2, 3], w / "list.pth")
    return w / "list.pth"


def _other_state_dict(w):
    import torch

    torch.save({"fc.weight": torch.zeros(2, 2), "fc.bias": torch.zeros(2)}, w / "other.pth")
    return w / "other.pth"


def _existing_dir(w):
    (w / "outdir").mkdir()
    (w / "outdir" / "keep.txt").write_text("mine")
    return w / "outdir"


REFUSED = [
    Case("init-weights-random-bytes-as-torchvision-weights", _init_weights(tv=_junk), 2,
         "not a torchvision state dict: "),
    Case("init-weights-a-pickled-list-as-torchvision-weights", _init_weights(tv=_pickled_list), 2,
         "not a torchvision state dict: "),
    Case("init-weights-another-models-state-dict", _init_weights(tv=_other_state_dict), 2,
         "not a torchvision state dict: "),
    Case("init-weights-out-is-a-folder", _init_weights(setup_out=_existing_dir), 2, "is a folder; give a file"),
    Case("init-weights-nc-zero", _init_weights(extra=("--nc", "0")), 2,
         "argument --nc: must be >= 1 (number of classes), got 0"),
]


@pytest.mark.parametrize("case", REFUSED, ids=case_ids(REFUSED))
def test_init_weights_refuses_bad_input_in_one_line_leaving_nothing(case, work, yolov5, capsys):
    check_input_case(case, work, yolov5, capsys)
