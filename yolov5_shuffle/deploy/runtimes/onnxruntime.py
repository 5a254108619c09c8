"""ONNX Runtime, CPU, fp32: the ONNX file as exported (see :mod:`..onnx_base`), run as it is.

Timing: one intra-op pool of N threads, no inter-op parallelism, and no spinning between calls
(``session.intra_op.allow_spinning = 0``): a runtime left spinning steals the next model's cores.
"""

from __future__ import annotations

from pathlib import Path

from ..onnx_base import export_onnx
from .base import Runtime


def session_runner(path: Path, threads: int):
    """An ONNX file (fp32 or QDQ int8) loaded into a CPU session configured for interleaved timing."""
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    artefact = "{name}.onnx"
    summary = "ONNX (opset 17) run by ONNX Runtime on the CPU, fp32"
    packages = (("onnx", "onnx"), ("onnxruntime", "onnxruntime"))
    order = 10
    quick = True

    def build(self, model, imgsz, work, calib, name):
        return export_onnx(model, imgsz, work, name)

    def load(self, path, threads):
        return session_runner(path, threads)


RUNTIME = OnnxRuntime()
