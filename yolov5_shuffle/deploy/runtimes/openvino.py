"""OpenVINO: IR converted from the ONNX file (``openvino.convert_model``), fp32 weights
(``compress_to_fp16=False``), CPU plugin with f32 inference, one stream, latency mode.

The CPU plugin fuses the ``cat`` + ``view`` + ``transpose`` + ``reshape`` channel shuffle into its
``ShuffleChannels`` node.
"""

from __future__ import annotations

from pathlib import Path

from ..onnx_base import export_onnx
from .base import Runtime


class OpenVINO(Runtime):
    name = "openvino"
    artefact = "{name}_openvino"  # a folder: {name}.xml + {name}.bin
    summary = "OpenVINO IR from the ONNX file, fp32 weights, CPU plugin in f32"
    packages = (("onnx", "onnx"), ("openvino", "openvino"))
    order = 20

    def owns(self, path):
        path = Path(path)
        return any(path.glob("*.xml")) if path.is_dir() else path.suffix == ".xml"

    def build(self, model, imgsz, work, calib, name):
        import openvino as ov

        src = export_onnx(model, imgsz, work, name)
        d = work / self.artefact.format(name=name)
        d.mkdir()
        ov.save_model(ov.convert_model(str(src)), str(d / f"{name}.xml"), compress_to_fp16=False)
        return d

    def load(self, path, threads):
        import numpy as np
        import openvino as ov
        import openvino.properties as props
        import openvino.properties.hint as hints

        path = Path(path)
        xml = path if path.suffix == ".xml" else next(path.glob("*.xml"))
        config = {props.inference_num_threads: threads, hints.performance_mode: hints.PerformanceMode.LATENCY,
                  props.num_streams: 1, hints.inference_precision: ov.Type.f32}
        compiled = ov.Core().compile_model(str(xml), "CPU", config)
        req = compiled.create_infer_request()

        def run(x):
            req.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
            return req.get_output_tensor(0).data.copy()

        return run


RUNTIME = OpenVINO()
