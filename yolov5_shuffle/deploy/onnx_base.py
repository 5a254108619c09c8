"""The ONNX file most runtimes start from (OpenVINO, TFLite and int8 convert it; ONNX Runtime runs it).

Opset 17, TorchScript-based exporter, batch 1 at a fixed size, the model's prediction tensor only
(YOLOv5's Detect returns ``(pred,)`` or ``(pred, features)``). Simplified with onnxslim when it is
installed: it folds the shape arithmetic tracing leaves (e.g. the Detect grid's Expand, which onnx2tf
cannot convert).
"""

from __future__ import annotations

from pathlib import Path

from ..packages import has

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "images", "output0"


def prepared(model):
    """A frozen copy of ``model`` whose forward returns the prediction tensor only."""
    import copy

    import torch

    class FirstOutput(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.model = m

        def forward(self, x):
            y = self.model(x)
            return y[0] if isinstance(y, (tuple, list)) else y

    m = FirstOutput(copy.deepcopy(model)).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def export_onnx(model, imgsz: int, folder: Path, name: str) -> Path:
    """``folder/name.onnx`` from ``model`` (batch 1, 3 x imgsz x imgsz), checked by onnx's checker."""
    import warnings

    import onnx
    import torch

    f = Path(folder) / f"{name}.onnx"
    x = torch.zeros(1, 3, imgsz, imgsz)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(prepared(model), x, str(f), opset_version=OPSET, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], do_constant_folding=True, dynamo=False)
    if has("onnxslim"):
        import onnxslim

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onnx.save(onnxslim.slim(onnx.load(str(f))), str(f))
    onnx.checker.check_model(str(f))
    return f
