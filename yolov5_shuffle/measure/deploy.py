"""Deployment runtimes: export a fused YOLO model, load it for fair timing, and check it against torch.

Host-independent: every function takes a plain ``torch.nn.Module`` (fused, eval) whose forward returns
the prediction tensor, or a tuple/list whose first element is the ``(1, N, 5 + nc)`` prediction (YOLOv5's
``Detect`` in export form), and paths. Nothing here imports YOLOv5.

Runtimes (``RUNTIMES``), each skipped with a reason by :func:`available` when its package is missing:

============================  ====================================================================
``onnxruntime``               ONNX (opset 17, TorchScript-based exporter), ONNX Runtime CPU, fp32
``openvino``                  OpenVINO IR converted from that ONNX file (``openvino.convert_model``),
                              fp32 weights (``compress_to_fp16=False``), CPU plugin with f32 inference
``ncnn``                      ncnn ``.param``/``.bin`` made by pnnx from TorchScript, fp32 weights,
                              fp32 storage and arithmetic
``tflite_fp32``               TFLite made by onnx2tf from the ONNX file, run by ai-edge-litert (or
``tflite_fp16``               ``tf.lite``); fp16 = fp16 weights, dequantised to fp32 at load. One
                              onnx2tf run makes both files: exporting either places both
``onnxruntime_int8``          ONNX Runtime static quantisation (QDQ, per-channel int8 weights, uint8
                              activations, MinMax calibration on images); every node after the last
                              convolutions (the detection head's decode: sigmoid, grid/anchor maths,
                              the concat of pixel boxes with 0-1 scores) stays float
============================  ====================================================================

Why the int8 decode stays float: quantising the whole graph puts one uint8 scale on Detect's final
concat, which holds box coordinates in pixels (0..imgsz) and scores in 0..1; with a scale of
``imgsz / 255`` every score rounds to 0 and nothing is ever detected.

onnx2tf pins old numpy/onnx/onnxruntime/protobuf/tensorflow versions, so it usually lives in a venv of
its own: set ``YOLOV5_SHUFFLE_ONNX2TF`` to its ``onnx2tf`` executable (otherwise ``onnx2tf`` on PATH or
next to this Python is used). Running the ``.tflite`` needs only ``ai-edge-litert`` here.

Channel shuffle: pnnx turns ``cat`` + ``view/reshape(n, 2, c, h, w)`` + ``transpose(1, 2)`` +
``reshape(n, 2c, h, w)`` (from TorchScript or from ONNX) into ncnn's native ``ShuffleChannel`` op, and
OpenVINO's CPU plugin fuses the same ONNX pattern into its ``ShuffleChannels`` node.
``torch.stack((a, b), 2).reshape`` (``blocks.concat_shuffle``'s eager form) is exported as Concat + two
Reshapes instead: correct everywhere, but no native shuffle in ncnn, and in OpenVINO about two extra
layout ``Reorder`` nodes per unit. ``torch.nn.functional.channel_shuffle`` is not converted by pnnx at
all. :func:`count_ops` reads an ncnn ``.param`` file's op types.

ONNX files are simplified with onnxslim when it is installed (folds the shape arithmetic that tracing
leaves, e.g. the Detect grid's Expand, which onnx2tf cannot convert).

Timing: :func:`load` configures every runtime for interleaved timing with N threads and no busy-waiting
between calls where the runtime allows it (ONNX Runtime: ``session.intra_op.allow_spinning = 0``;
ncnn: ``openmp_blocktime = 0``); a runtime left spinning after its call steals the cores of the next
model in the round. :func:`time_runtimes` times models alone and interleaved to show whether it does.
"""

from __future__ import annotations

import collections
import copy
import importlib.util
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from ..configs import REPO_DIR
from .runtimes import RUNTIMES


# What check_against_torch accepts: the largest error |y - ref| / max(|ref|, 1) over the prediction, i.e.
# relative for box coordinates in pixels (|ref| > 1) and absolute for scores in 0..1.
TOLERANCE = {
    "onnxruntime": 1e-4,
    "openvino": 1e-4,
    "ncnn": 1e-4,
    "tflite_fp32": 1e-4,
    "tflite_fp16": 2e-2,  # fp16 weights: ~1e-3 relative per weight, accumulated over the layers
    "onnxruntime_int8": None,  # no element-wise bound: judged by detections (see tests/test_deploy.py)
}

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "images", "output0"
_SUFFIX = {  # what export() writes in out_dir, from the model name
    "onnxruntime": "{name}.onnx",
    "openvino": "{name}_openvino",  # folder: {name}.xml + {name}.bin
    "ncnn": "{name}_ncnn",  # folder: {name}.ncnn.param + {name}.ncnn.bin
    "tflite_fp32": "{name}_float32.tflite",
    "tflite_fp16": "{name}_float16.tflite",
    "onnxruntime_int8": "{name}_int8.onnx",
}


# --- availability ----------------------------------------------------------------------------------

def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def onnx2tf_command() -> list[str] | None:
    """How to run onnx2tf: ``$YOLOV5_SHUFFLE_ONNX2TF``, ``onnx2tf`` next to this Python, in the checkout's
    ``.venv-onnx2tf`` (``YOLOV5_SHUFFLE_TFLITE=1 scripts/setup.sh`` makes it), on PATH, or the module."""
    env = os.environ.get("YOLOV5_SHUFFLE_ONNX2TF")
    if env:
        return [env] if Path(env).is_file() else None
    for beside in (Path(sys.executable).parent / "onnx2tf",
                   REPO_DIR / ".venv-onnx2tf" / "bin" / "onnx2tf"):
        if beside.is_file():
            return [str(beside)]
    found = shutil.which("onnx2tf")
    if found:
        return [found]
    if _has("onnx2tf"):
        return [sys.executable, "-m", "onnx2tf"]
    return None


def _tflite_interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
    return Interpreter


def available(runtime: str) -> tuple[bool, str]:
    """(True, versions) when ``runtime`` can export and run here, else (False, what is missing)."""
    if runtime not in RUNTIMES:
        return False, f"unknown runtime {runtime!r}; one of {', '.join(RUNTIMES)}"
    if not _has("onnx") and runtime != "ncnn":
        return False, "onnx is not installed (pip install onnx)"
    if runtime in ("onnxruntime", "onnxruntime_int8"):
        if not _has("onnxruntime"):
            return False, "onnxruntime is not installed (pip install onnxruntime)"
        import onnxruntime

        if runtime == "onnxruntime_int8" and not _has("onnxruntime.quantization"):
            return False, "onnxruntime.quantization is missing from this onnxruntime build"
        return True, f"onnxruntime {onnxruntime.__version__}"
    if runtime == "openvino":
        if not _has("openvino"):
            return False, "openvino is not installed (pip install openvino)"
        import openvino

        return True, f"openvino {openvino.get_version()}"
    if runtime == "ncnn":
        missing = [m for m in ("ncnn", "pnnx") if not _has(m)]
        if missing:
            return False, f"{' and '.join(missing)} not installed (pip install ncnn pnnx)"
        import ncnn

        return True, f"ncnn {ncnn.__version__}, pnnx {_version('pnnx')}"
    # tflite
    cmd = onnx2tf_command()
    if cmd is None:
        return False, ("onnx2tf not found (pip install onnx2tf, in a venv of its own if its pins clash, and set "
                       "YOLOV5_SHUFFLE_ONNX2TF to its onnx2tf executable)")
    if not any(_has(m) for m in ("ai_edge_litert", "tflite_runtime", "tensorflow")):
        return False, "no TFLite interpreter (pip install ai-edge-litert)"
    interp = next(m for m in ("ai_edge_litert", "tflite_runtime", "tensorflow") if _has(m))
    return True, f"onnx2tf at {cmd[-1] if len(cmd) == 1 else 'python -m onnx2tf'}, {interp} {_version(interp)}"


def _version(module: str) -> str:
    from importlib import metadata

    name = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}.get(module, module)
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


# --- export ----------------------------------------------------------------------------------------

class _FirstOutput(torch.nn.Module):
    """The model's prediction tensor only (YOLOv5's Detect returns (pred,) or (pred, features))."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        y = self.model(x)
        return y[0] if isinstance(y, (tuple, list)) else y


def _prepare(model: torch.nn.Module) -> torch.nn.Module:
    m = _FirstOutput(copy.deepcopy(model)).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def torch_predict(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The torch model's prediction tensor for an NCHW float32 array."""
    with torch.no_grad():
        y = model(torch.from_numpy(np.ascontiguousarray(x)))
    y = y[0] if isinstance(y, (tuple, list)) else y
    return y.detach().float().numpy()


def _export_onnx(model, imgsz: int, tmp: Path, name: str) -> Path:
    import onnx

    f = tmp / f"{name}.onnx"
    x = torch.zeros(1, 3, imgsz, imgsz)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_prepare(model), x, str(f), opset_version=OPSET, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], do_constant_folding=True, dynamo=False)
    if _has("onnxslim"):  # fold the shape arithmetic tracing leaves (onnx2tf cannot convert some of it)
        import onnxslim

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onnx.save(onnxslim.slim(onnx.load(str(f))), str(f))
    onnx.checker.check_model(str(f))
    return f


def _export_openvino(model, imgsz, tmp, name, calib_images=None) -> Path:
    import openvino as ov

    src = _export_onnx(model, imgsz, tmp, name)
    d = tmp / _SUFFIX["openvino"].format(name=name)
    d.mkdir()
    ov.save_model(ov.convert_model(str(src)), str(d / f"{name}.xml"), compress_to_fp16=False)
    return d


def _export_ncnn(model, imgsz, tmp, name, calib_images=None) -> Path:
    import pnnx

    work = tmp / "pnnx"
    work.mkdir()
    pt = work / "model.pt"  # pnnx derives its output names from this one, mangling '-' and the like
    x = torch.zeros(1, 3, imgsz, imgsz)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.trace(_prepare(model), x, check_trace=False).save(str(pt))
    r = subprocess.run([pnnx.EXEC_PATH, str(pt), f"inputshape=[1,3,{imgsz},{imgsz}]", "fp16=0"], cwd=work,
                       capture_output=True, text=True)
    param, binf = work / "model.ncnn.param", work / "model.ncnn.bin"
    if r.returncode or not param.is_file() or not binf.is_file():
        raise RuntimeError(f"pnnx failed (exit {r.returncode}):\n{(r.stdout + r.stderr)[-3000:]}")
    bad = [op for op in count_ops(param) if "." in op or "::" in op]  # pnnx.Expression, aten::x: not ncnn ops
    if bad:
        raise RuntimeError(f"pnnx left ops ncnn cannot run: {', '.join(sorted(set(bad)))} (in {param})")
    d = tmp / _SUFFIX["ncnn"].format(name=name)
    d.mkdir()
    shutil.move(str(param), d / f"{name}.ncnn.param")
    shutil.move(str(binf), d / f"{name}.ncnn.bin")
    return d


def _export_tflite(model, imgsz, tmp, name, calib_images=None, *, precision: str) -> Path:
    src = _export_onnx(model, imgsz, tmp, name)
    cmd = onnx2tf_command()
    if cmd is None:
        raise RuntimeError(available("tflite_fp32")[1])
    out = tmp / "onnx2tf"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    # onnx2tf wants 20 sample images (NHWC, 128 px) in its working folder and downloads them otherwise.
    samples = np.concatenate([sample_image(128, seed) for seed in range(20)]).transpose(0, 2, 3, 1)
    np.save(tmp / "calibration_image_sample_data_20x128x128x3_float32.npy", np.ascontiguousarray(samples))
    r = subprocess.run(cmd + ["-i", str(src), "-o", str(out), "--non_verbose"], cwd=tmp, capture_output=True,
                       text=True, env=env)
    f = out / f"{name}_{precision}.tflite"
    if r.returncode or not f.is_file():
        raise RuntimeError(f"onnx2tf failed (exit {r.returncode}):\n{(r.stdout + r.stderr)[-3000:]}")
    other = "float16" if precision == "float32" else "float32"  # the same run made it: keep it too
    sibling = out / f"{name}_{other}.tflite"
    if sibling.is_file():
        os.replace(sibling, tmp.parent / f"{name}_{other}.tflite")
    return f


def _onnx_head_nodes(model_proto) -> list[str]:
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
        n = nodes[i]
        reaches_conv[i] = any(nodes[j].op_type in ("Conv", "ConvInteger", "QLinearConv") or reaches_conv[j]
                              for t in n.output for j in consumers[t])
    return [n.name for i, n in enumerate(nodes) if not reaches_conv[i] and n.op_type not in ("Conv",)]


def load_images(calib_images, imgsz: int, limit: int = 64) -> np.ndarray:
    """Calibration/test images as a (N, 3, imgsz, imgsz) float32 RGB 0..1 array.

    Accepts an array (N, 3, imgsz, imgsz) already in that form, a folder, or an iterable of image paths
    (letterboxed to imgsz with grey 114 padding, as YOLOv5 does)."""
    if isinstance(calib_images, np.ndarray) or torch.is_tensor(calib_images):
        a = np.asarray(calib_images, dtype=np.float32)
        if a.ndim != 4 or a.shape[1:] != (3, imgsz, imgsz):
            raise ValueError(f"calibration array must be (N, 3, {imgsz}, {imgsz}), got {a.shape}")
        return a[:limit]
    if isinstance(calib_images, (str, Path)) and Path(calib_images).is_dir():
        exts = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
        calib_images = sorted(p for p in Path(calib_images).rglob("*") if p.suffix.lower() in exts)
    out = []
    for p in calib_images:
        if len(out) >= limit:
            break
        if isinstance(p, np.ndarray):
            out.append(np.asarray(p, dtype=np.float32).reshape(3, imgsz, imgsz))
            continue
        from PIL import Image

        im = Image.open(p).convert("RGB")
        r = imgsz / max(im.size)
        w, h = max(1, round(im.width * r)), max(1, round(im.height * r))
        canvas = Image.new("RGB", (imgsz, imgsz), (114, 114, 114))
        canvas.paste(im.resize((w, h), Image.BILINEAR), ((imgsz - w) // 2, (imgsz - h) // 2))
        out.append(np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1) / 255.0)
    if not out:
        raise ValueError("no calibration images")
    return np.stack(out).astype(np.float32)


def _export_int8(model, imgsz, tmp, name, calib_images=None) -> Path:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    if calib_images is None:
        raise ValueError("onnxruntime_int8 needs calib_images: a folder, image paths, or an (N, 3, H, W) array")
    images = load_images(calib_images, imgsz)
    src = _export_onnx(model, imgsz, tmp, name + "_fp32")
    head = _onnx_head_nodes(onnx.load(str(src)))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(images)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {INPUT_NAME: x[None]}

    f = tmp / f"{name}_int8.onnx"
    root = logging.getLogger()  # quantize_static logs "consider pre-processing" advice as warnings
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_static(str(src), str(f), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, per_channel=True, reduce_range=not _cpu_has_vnni(),
                        nodes_to_exclude=head, calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    finally:
        root.setLevel(level)
    return f


def _cpu_has_vnni() -> bool:
    """x86 without VNNI multiplies u8 x s8 with a saturating instruction: ONNX Runtime advises 7-bit weights."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8")) or "avx2" not in flags


_EXPORTERS = {
    "onnxruntime": lambda model, imgsz, tmp, name, calib=None: _export_onnx(model, imgsz, tmp, name),
    "openvino": _export_openvino,
    "ncnn": _export_ncnn,
    "tflite_fp32": lambda *a, **k: _export_tflite(*a, **k, precision="float32"),
    "tflite_fp16": lambda *a, **k: _export_tflite(*a, **k, precision="float16"),
    "onnxruntime_int8": _export_int8,
}


def export(model: torch.nn.Module, runtime: str, imgsz: int, out_dir, calib_images=None, name: str = "model") -> Path:
    """Export ``model`` (batch 1, 3 x imgsz x imgsz) for ``runtime``; returns the file or folder it wrote.

    Atomic: everything is built in a temporary folder inside ``out_dir`` and renamed into place at the end,
    so a failure leaves no partial artefact (and an earlier export of the same name untouched)."""
    ok, why = available(runtime)
    if not ok:
        raise RuntimeError(f"{runtime}: {why}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / _SUFFIX[runtime].format(name=name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-{runtime}-", dir=out_dir))
    try:
        made = _EXPORTERS[runtime](model, imgsz, tmp, name, calib_images)
        if made.is_dir():
            old = tmp / ".old"
            if final.exists():  # two renames: the old folder leaves, then the new one arrives whole
                os.replace(final, old)
            try:
                os.replace(made, final)
            except OSError:
                if old.exists():
                    os.replace(old, final)
                raise
        else:
            os.replace(made, final)  # atomic on one file system
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def count_ops(param: Path) -> collections.Counter:
    """Op types of an ncnn ``.param`` file (or an ncnn export folder) and how often each occurs."""
    param = Path(param)
    if param.is_dir():
        param = next(param.glob("*.param"))
    lines = param.read_text().splitlines()[2:]  # magic, then "layer_count blob_count"
    return collections.Counter(ln.split()[0] for ln in lines if ln.strip())


# --- loading ---------------------------------------------------------------------------------------

def load(runtime: str, path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """A callable: NCHW float32 array (1, 3, H, W) -> the prediction array, as the torch model gives it.

    Configured for fair interleaved timing on ``threads`` threads: one inference at a time (no inter-op
    parallelism, one stream), and no busy-waiting after a call where the runtime lets us turn it off."""
    path = Path(path)
    if runtime in ("onnxruntime", "onnxruntime_int8"):
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
    if runtime == "openvino":
        import openvino as ov
        import openvino.properties as props
        import openvino.properties.hint as hints

        xml = path if path.suffix == ".xml" else next(path.glob("*.xml"))
        core = ov.Core()
        config = {props.inference_num_threads: threads, hints.performance_mode: hints.PerformanceMode.LATENCY,
                  props.num_streams: 1, hints.inference_precision: ov.Type.f32}
        compiled = core.compile_model(str(xml), "CPU", config)
        req = compiled.create_infer_request()

        def run_ov(x):
            req.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
            return req.get_output_tensor(0).data.copy()

        return run_ov
    if runtime == "ncnn":
        import ncnn

        d = path if path.is_dir() else path.parent
        param = next(d.glob("*.param"))
        net = ncnn.Net()
        opt = net.opt
        opt.num_threads, opt.lightmode, opt.openmp_blocktime = threads, True, 0
        opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = False  # fp32 like the others
        opt.use_bf16_storage = opt.use_bf16_packed = False
        net.load_param(str(param))
        net.load_model(str(param.with_suffix(".bin")))
        inp, outp = net.input_names()[0], net.output_names()[0]

        def run_ncnn(x):
            a = np.ascontiguousarray(x[0], dtype=np.float32)  # ncnn drops the batch axis
            ex = net.create_extractor()
            ex.input(inp, ncnn.Mat(a))  # wraps a's memory; a lives until extract returns
            rc, out = ex.extract(outp)
            if rc:
                raise RuntimeError(f"ncnn extract failed ({rc})")
            return np.array(out)[None]

        return run_ncnn
    if runtime in ("tflite_fp32", "tflite_fp16"):
        Interpreter = _tflite_interpreter_class()
        it = Interpreter(model_path=str(path), num_threads=threads)
        it.allocate_tensors()
        i_det, o_det = it.get_input_details()[0], it.get_output_details()[0]
        nhwc = len(i_det["shape"]) == 4 and i_det["shape"][-1] == 3 and i_det["shape"][1] != 3

        def run_tflite(x):
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1) if nhwc else x, dtype=np.float32)
            it.set_tensor(i_det["index"], x)
            it.invoke()
            return it.get_tensor(o_det["index"])

        return run_tflite
    raise ValueError(f"unknown runtime {runtime!r}; one of {', '.join(RUNTIMES)}")


# --- checking --------------------------------------------------------------------------------------

def sample_image(imgsz: int, seed: int = 0) -> np.ndarray:
    """A fixed structured input (1, 3, imgsz, imgsz) in 0..1: a smooth background, filled boxes and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:imgsz, 0:imgsz] / imgsz
    img = np.stack([0.3 + 0.2 * xx, 0.4 + 0.2 * yy, 0.5 - 0.2 * xx * yy]).astype(np.float32)
    for _ in range(6):
        x0, y0 = rng.integers(0, imgsz * 3 // 4, 2)
        w, h = rng.integers(imgsz // 10, imgsz // 3, 2)
        img[:, y0:y0 + h, x0:x0 + w] = rng.random(3, dtype=np.float32)[:, None, None]
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)[None]


def compare(y: np.ndarray, ref: np.ndarray) -> dict:
    """max |y - ref| and the largest |y - ref| / max(|ref|, 1): relative for pixel coordinates, absolute
    for 0..1 scores."""
    y = np.asarray(y, dtype=np.float64).reshape(ref.shape)
    d = np.abs(y - ref)
    return {"max_abs_diff": float(d.max()), "rel": float((d / np.maximum(np.abs(ref), 1.0)).max())}


def check_against_torch(model: torch.nn.Module, runtime: str, path, imgsz: int, threads: int = 1,
                        x: np.ndarray | None = None) -> dict:
    """Run the exported model and the torch model on one fixed input; dict(max_abs_diff, rel, ok, tol).

    ``ok`` is ``rel <= TOLERANCE[runtime]`` (see :data:`TOLERANCE`); for int8, which has no element-wise
    bound, ``ok`` means the output has the torch shape, is finite and its scores are not all zero."""
    x = sample_image(imgsz) if x is None else x
    ref = torch_predict(model, x).astype(np.float64)
    y = load(runtime, path, threads)(x)
    if y.size != ref.size:
        return {"max_abs_diff": float("inf"), "rel": float("inf"), "ok": False, "tol": TOLERANCE[runtime],
                "error": f"output shape {y.shape} != torch {ref.shape}"}
    r = compare(y, ref)
    tol = TOLERANCE[runtime]
    if tol is None:
        y = np.asarray(y).reshape(ref.shape)
        r["ok"] = bool(np.isfinite(y).all() and (y[..., 4] > 0).any())
    else:
        r["ok"] = r["rel"] <= tol
    r["tol"] = tol
    return r


# --- timing ----------------------------------------------------------------------------------------

def time_runtimes(models: dict, runtimes: Iterable[str], imgsz: int, out_dir, threads: int = 2, reps: int = 30,
                  warmup: int = 5, calib_images=None, cycles: int = 3, reuse: bool = False,
                  log=print) -> list[dict]:
    """Median ms per (model, runtime), timed alone (one model's calls back to back) and interleaved (the
    models in turn, A B A B ...), to show whether one runtime's threads disturb the next model's call.

    The two modes alternate ``cycles`` times (alone A, alone B, interleaved, alone A, ...; ``reps`` calls
    per model and mode in all), so that load from elsewhere on the machine falls on both alike.
    ``reuse``: take an artefact already in ``out_dir`` under the same name instead of exporting again."""
    from .timing import time_interleaved

    rows = []
    x = sample_image(imgsz)
    per = max(1, reps // cycles)
    for rt in runtimes:
        ok, why = available(rt)
        if not ok:
            log(f"skip {rt}: {why}")
            continue
        runners = {}
        for name, m in models.items():
            f = Path(out_dir) / _SUFFIX[rt].format(name=f"{name}_{imgsz}")
            if not (reuse and f.exists()):
                f = export(m, rt, imgsz, out_dir, calib_images=calib_images, name=f"{name}_{imgsz}")
            fn = load(rt, f, threads)
            runners[name] = (lambda fn=fn: fn(x))
        alone = {k: [] for k in runners}
        inter = {k: [] for k in runners}
        for c in range(cycles):
            w = warmup if c == 0 else 1
            for k, r in runners.items():
                alone[k] += time_interleaved({k: r}, per, w)[k]
            for k, v in time_interleaved(runners, per, w).items():
                inter[k] += v
        for k in runners:
            rows.append({"model": k, "runtime": rt, "imgsz": imgsz, "threads": threads, "reps": len(alone[k]),
                         "alone_ms": statistics.median(alone[k]), "interleaved_ms": statistics.median(inter[k]),
                         "alone_times_ms": alone[k], "interleaved_times_ms": inter[k]})
            log(f"{rt:17s} {imgsz:4d} {k:11s} alone {rows[-1]['alone_ms']:8.2f} ms   "
                f"interleaved {rows[-1]['interleaved_ms']:8.2f} ms")
        del runners
    return rows
