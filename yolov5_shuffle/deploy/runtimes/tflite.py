"""TFLite, fp32 and fp16: made by onnx2tf from the ONNX file, run by ai-edge-litert (or ``tf.lite``).

fp16 means fp16 weights, dequantised to fp32 at load. onnx2tf pins old numpy/onnx/onnxruntime/protobuf/
tensorflow versions, so it usually lives in a venv of its own: set ``YOLOV5_SHUFFLE_ONNX2TF`` to its
``onnx2tf`` executable (otherwise ``onnx2tf`` next to this Python, in the checkout's ``.venv-onnx2tf``,
on PATH, or the module is used). Running the ``.tflite`` needs only ``ai-edge-litert`` here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ...configs import REPO_DIR
from ...packages import has, version
from ..onnx_base import export_onnx
from .base import Runtime

INTERPRETERS = (("ai_edge_litert", "ai-edge-litert"), ("tflite_runtime", "tflite-runtime"),
                ("tensorflow", "tensorflow"))


def onnx2tf_command() -> list[str] | None:
    """How to run onnx2tf: ``$YOLOV5_SHUFFLE_ONNX2TF``, ``onnx2tf`` next to this Python, in the checkout's
    ``.venv-onnx2tf`` (``YOLOV5_SHUFFLE_TFLITE=1 scripts/setup.sh`` makes it), on PATH, or the module."""
    env = os.environ.get("YOLOV5_SHUFFLE_ONNX2TF")
    if env:
        return [env] if Path(env).is_file() else None
    for beside in (Path(sys.executable).parent / "onnx2tf", REPO_DIR / ".venv-onnx2tf" / "bin" / "onnx2tf"):
        if beside.is_file():
            return [str(beside)]
    found = shutil.which("onnx2tf")
    if found:
        return [found]
    if has("onnx2tf"):
        return [sys.executable, "-m", "onnx2tf"]
    return None


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
    return Interpreter


class TFLite(Runtime):
    packages = (("onnx", "onnx"),)

    def __init__(self, precision: str, tolerance: float, order: int):
        self.precision, self.tolerance, self.order = precision, tolerance, order
        bits = precision[2:]
        self.name = f"tflite_{precision}"
        self.artefact = f"{{name}}_float{bits}.tflite"
        self.specificity = 1 if precision == "fp16" else 0  # fp32 runs any other .tflite
        self.summary = f"TFLite from onnx2tf, {precision} weights, run by ai-edge-litert"

    def owns(self, path):
        path = Path(path)
        return path.suffix == ".tflite" and not path.is_dir() and (
            self.precision == "fp32" or path.name.endswith(self.artefact.format(name="")))

    def available(self):
        ok, why = super().available()
        if not ok:
            return ok, why
        cmd = onnx2tf_command()
        if cmd is None:
            return False, ("onnx2tf not found (pip install onnx2tf, in a venv of its own if its pins clash, and "
                           "set YOLOV5_SHUFFLE_ONNX2TF to its onnx2tf executable)")
        interp = next(((m, pip) for m, pip in INTERPRETERS if has(m)), None)
        if interp is None:
            return False, "no TFLite interpreter (pip install ai-edge-litert)"
        return True, f"onnx2tf at {cmd[-1] if len(cmd) == 1 else 'python -m onnx2tf'}, {interp[1]} {version(interp[1])}"

    def build(self, model, imgsz, work, calib, name):
        import numpy as np

        from ..check import sample_image

        src = export_onnx(model, imgsz, work, name)
        cmd = onnx2tf_command()
        if cmd is None:
            raise RuntimeError(self.available()[1])
        out = work / "onnx2tf"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.setdefault("CUDA_VISIBLE_DEVICES", "-1")
        # onnx2tf wants 20 sample images (NHWC, 128 px) in its working folder and downloads them otherwise.
        samples = np.concatenate([sample_image(128, seed) for seed in range(20)]).transpose(0, 2, 3, 1)
        np.save(work / "calibration_image_sample_data_20x128x128x3_float32.npy", np.ascontiguousarray(samples))
        r = subprocess.run(cmd + ["-i", str(src), "-o", str(out), "--non_verbose"], cwd=work, capture_output=True,
                           text=True, env=env)
        f = out / self.artefact.format(name=name)
        if r.returncode or not f.is_file():
            tail = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
            raise RuntimeError(f"onnx2tf failed (exit {r.returncode}): {tail[-1][:300] if tail else 'no output'}\n"
                               f"{(r.stdout + r.stderr)[-3000:]}")
        return f

    def load(self, path, threads):
        import numpy as np

        it = _interpreter_class()(model_path=str(path), num_threads=threads)
        it.allocate_tensors()
        i_det, o_det = it.get_input_details()[0], it.get_output_details()[0]
        nhwc = len(i_det["shape"]) == 4 and i_det["shape"][-1] == 3 and i_det["shape"][1] != 3

        def run(x):
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1) if nhwc else x, dtype=np.float32)
            it.set_tensor(i_det["index"], x)
            it.invoke()
            return it.get_tensor(o_det["index"])

        return run


# fp16 weights: ~1e-3 relative per weight, accumulated over the layers
RUNTIMES = (TFLite("fp32", 1e-4, 40), TFLite("fp16", 2e-2, 50))
