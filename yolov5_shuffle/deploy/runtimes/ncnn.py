"""ncnn: ``.param``/``.bin`` made by pnnx from TorchScript, fp32 weights, fp32 storage and arithmetic.

pnnx turns ``cat`` + ``view/reshape(n, 2, c, h, w)`` + ``transpose(1, 2)`` + ``reshape(n, 2c, h, w)``
into ncnn's native ``ShuffleChannel`` op (:func:`count_ops` shows it); ``torch.stack(...).reshape``
becomes Concat + Reshapes instead, and ``torch.nn.functional.channel_shuffle`` is not converted.
pnnx runs in its own working folder, so every path given to it is absolute. Loading checks ncnn's
return codes: a missing or truncated ``.bin`` is an error, not a crash at the first inference.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .base import Runtime


def count_ops(param: Path) -> collections.Counter:
    """Op types of an ncnn ``.param`` file (or an ncnn export folder) and how often each occurs."""
    param = Path(param)
    if param.is_dir():
        param = next(param.glob("*.param"))
    lines = param.read_text().splitlines()[2:]  # magic, then "layer_count blob_count"
    return collections.Counter(ln.split()[0] for ln in lines if ln.strip())


def _cause(output: str) -> str:
    """pnnx's own error line (its first lines are progress, the cause comes later)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if any(w in ln.lower() for w in ("error", "failed", "exception", "cannot", "not ", "unsupported")):
            return ln[:300]
    return lines[-1][:300] if lines else "no output"


@contextmanager
def _c_stderr(said: list):
    """ncnn's C++ code writes its complaints to file descriptor 2: caught (and put in our one line) instead."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            said.extend(ln.strip() for ln in tmp.read().decode(errors="replace").splitlines() if ln.strip())


def _param_of(path: Path) -> Path:
    if path.is_dir():
        params = sorted(path.glob("*.param"))
        if not params:
            raise FileNotFoundError(f"{path}: no ncnn .param in it")
        return params[0]
    return path


class NCNN(Runtime):
    name = "ncnn"
    artefact = "{name}_ncnn"  # a folder: {name}.ncnn.param + {name}.ncnn.bin
    summary = "ncnn .param/.bin made by pnnx from TorchScript, fp32 storage and arithmetic"
    packages = (("ncnn", "ncnn"), ("pnnx", "pnnx"))
    order = 30

    def owns(self, path):
        path = Path(path)
        return any(path.glob("*.param")) if path.is_dir() else path.suffix == ".param"

    def build(self, model, imgsz, work, calib, name):
        import warnings

        import pnnx
        import torch

        from ..onnx_base import prepared

        pt = (Path(work) / "pnnx" / "model.pt").resolve()  # pnnx derives its output names from this one
        pt.parent.mkdir()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.jit.trace(prepared(model), torch.zeros(1, 3, imgsz, imgsz), check_trace=False).save(str(pt))
        r = subprocess.run([pnnx.EXEC_PATH, str(pt), f"inputshape=[1,3,{imgsz},{imgsz}]", "fp16=0"], cwd=pt.parent,
                           capture_output=True, text=True)
        param, binf = pt.with_name("model.ncnn.param"), pt.with_name("model.ncnn.bin")
        if r.returncode or not param.is_file() or not binf.is_file():
            raise RuntimeError(f"pnnx failed (exit {r.returncode}): {_cause(r.stdout + r.stderr)}\n"
                               f"{(r.stdout + r.stderr)[-3000:]}")
        bad = [op for op in count_ops(param) if "." in op or "::" in op]  # pnnx.Expression, aten::x: not ncnn ops
        if bad:
            raise RuntimeError(f"pnnx left ops ncnn cannot run: {', '.join(sorted(set(bad)))} (in {param})")
        d = Path(work) / self.artefact.format(name=name)
        d.mkdir()
        shutil.move(str(param), d / f"{name}.ncnn.param")
        shutil.move(str(binf), d / f"{name}.ncnn.bin")
        return d

    def load(self, path, threads):
        import ncnn
        import numpy as np

        param = _param_of(Path(path))
        binf = param.with_suffix(".bin")
        if not binf.is_file():
            raise FileNotFoundError(f"{binf}: no such file (the weights beside {param.name})")
        net = ncnn.Net()
        opt = net.opt
        opt.num_threads, opt.lightmode, opt.openmp_blocktime = threads, True, 0
        opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = False  # fp32 like the others
        opt.use_bf16_storage = opt.use_bf16_packed = False
        said = []
        with _c_stderr(said):
            bad_param = net.load_param(str(param))
            bad_bin = not bad_param and net.load_model(str(binf))
        if bad_param:
            raise ValueError(f"{param}: ncnn cannot parse it ({'; '.join(said) or 'no reason given'})")
        if bad_bin:
            raise ValueError(f"{binf}: ncnn cannot read the weights, truncated or not {param.name}'s "
                             f"({'; '.join(said) or 'no reason given'})")
        inp, outp = net.input_names()[0], net.output_names()[0]

        def run(x):
            a = np.ascontiguousarray(x[0], dtype=np.float32)  # ncnn drops the batch axis
            ex = net.create_extractor()
            ex.input(inp, ncnn.Mat(a))  # wraps a's memory; a lives until extract returns
            rc, out = ex.extract(outp)
            if rc:
                raise RuntimeError(f"ncnn extract failed ({rc})")
            return np.array(out)[None]

        return run


RUNTIME = NCNN()
