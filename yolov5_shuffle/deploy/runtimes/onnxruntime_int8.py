"""ONNX Runtime static int8 quantisation, with the detection head's decode left in float.

QDQ format, per-channel int8 weights, uint8 activations, MinMax calibration on images. Every node after
the last convolutions (the decode: sigmoid, grid/anchor maths, the concat of pixel boxes with 0-1
scores) stays float: quantising it puts one uint8 scale on Detect's final concat, which holds box
coordinates in pixels (0..imgsz) and scores in 0..1; with a scale of ``imgsz / 255`` every score rounds
to 0 and nothing is ever detected. See docs/deploy.md.

The check against PyTorch is not element-wise (int8 moves a box by a pixel or two, which is 1e+0 in
absolute terms and proves nothing either way): it compares the detection confidences
(objectness x best class score, the numbers NMS and mAP are made of) of PyTorch's 100 most confident
predictions, which must agree within 0.05 on average, and the scores must not all be zero.
"""

from __future__ import annotations

import collections
from pathlib import Path

from ...packages import has
from ..onnx_base import INPUT_NAME, export_onnx
from .base import Runtime
from .onnxruntime import session_runner

CONF_TOLERANCE = 0.05  # mean |confidence - torch's| over torch's TOP most confident predictions, 0..1
TOP = 100


def head_nodes(model_proto) -> list[str]:
    """Names of the nodes after the last convolutions: those from which no Conv can be reached.

    In a YOLO model that is exactly the detection head's decode (reshape/permute, sigmoid, grid and
    anchor maths, the concat of boxes with scores): the part int8 must leave in float."""
    nodes = list(model_proto.graph.node)
    consumers = collections.defaultdict(list)
    for i, n in enumerate(nodes):
        for t in n.input:
            consumers[t].append(i)
    reaches_conv = [False] * len(nodes)
    for i in reversed(range(len(nodes))):  # ONNX graphs are topologically sorted
        reaches_conv[i] = any(nodes[j].op_type in ("Conv", "ConvInteger", "QLinearConv") or reaches_conv[j]
                              for t in nodes[i].output for j in consumers[t])
    return [n.name for i, n in enumerate(nodes) if not reaches_conv[i] and n.op_type != "Conv"]


def _cpu_has_vnni() -> bool:
    """x86 without VNNI multiplies u8 x s8 with a saturating instruction: ONNX Runtime advises 7-bit weights."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8")) or "avx2" not in flags


class OnnxRuntimeInt8(Runtime):
    name = "onnxruntime_int8"
    artefact = "{name}_int8.onnx"
    precision = "int8"
    tolerance = None  # no element-wise bound: see check()
    summary = "ONNX Runtime static quantisation (QDQ int8 convs, float decode), calibrated on images"
    packages = (("onnx", "onnx"), ("onnxruntime", "onnxruntime"))
    order = 60
    specificity = 1  # a *_int8.onnx is also an .onnx
    needs_calibration = True

    def available(self):
        ok, why = super().available()
        if ok and not has("onnxruntime.quantization"):
            return False, "onnxruntime.quantization is missing from this onnxruntime build (pip install onnxruntime)"
        return ok, why

    def build(self, model, imgsz, work, calib, name):
        import logging

        import onnx
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)

        from ..check import load_images

        images = load_images(calib, imgsz)
        src = export_onnx(model, imgsz, work, name + "_fp32")

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.it = iter(images)

            def get_next(self):
                x = next(self.it, None)
                return None if x is None else {INPUT_NAME: x[None]}

        f = work / f"{name}_int8.onnx"
        root = logging.getLogger()  # quantize_static logs "consider pre-processing" advice as warnings
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_static(str(src), str(f), Reader(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            reduce_range=not _cpu_has_vnni(), nodes_to_exclude=head_nodes(onnx.load(str(src))),
                            calibrate_method=CalibrationMethod.MinMax,
                            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
        finally:
            root.setLevel(level)
        return f

    def load(self, path, threads):
        return session_runner(path, threads)

    def check(self, y, ref):
        """Finite, scores not all zero, and the confidences of torch's :data:`TOP` most confident predictions
        within :data:`CONF_TOLERANCE` on average."""
        import numpy as np

        from ..check import compare

        r = compare(y, ref)
        y, ref = y.reshape(-1, y.shape[-1]), ref.reshape(-1, ref.shape[-1])
        conf_y, conf_ref = y[:, 4] * y[:, 5:].max(-1), ref[:, 4] * ref[:, 5:].max(-1)
        top = np.argsort(-conf_ref)[:TOP]
        mean = float(np.abs(conf_y - conf_ref)[top].mean())
        finite, alive, close = bool(np.isfinite(y).all()), bool((y[:, 4] > 0).any()), mean <= CONF_TOLERANCE
        r["conf_diff"], r["ok"] = mean, finite and alive and close
        why = "" if finite and alive else ("; outputs not finite" if not finite else "; every score is 0")
        r["check"] = (f"mean confidence diff {mean:.3f} {'<=' if close else '>'} {CONF_TOLERANCE} over PyTorch's top "
                      f"{TOP}{why} (int8 is judged by its scores: boxes move by pixels, max abs diff "
                      f"{r['max_abs_diff']:.1f} px)")
        return r


RUNTIME = OnnxRuntimeInt8()
