"""PyTorch's own modes as runtimes: the model as built (eager), channels_last, ``torch.compile``, and the GPU.

They export nothing (``exportable = False``: ``export`` does not offer them) and own no artefact;
:meth:`PyTorch.load_model` prepares the fused model in memory and returns the callable that ``bench``
and ``pick`` time, exactly as they time an exported model. :meth:`PyTorch.feed` makes the input tensor
once (in the memory layout, device and dtype the mode runs in), so a timed call is only the forward.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys

from .base import Runtime


def _first(y):
    """The prediction: YOLOv5's eval forward returns (prediction, per-level outputs)."""
    return y[0] if isinstance(y, (tuple, list)) else y


class PyTorch(Runtime):
    """A mode of PyTorch itself; a subclass sets ``name`` and overrides :meth:`prepare` and :meth:`feed`."""

    exportable = False
    artefact = ""
    packages = (("torch", "torch"),)

    def prepare(self, model, imgsz: int, batch: int):
        """``model`` (fused, eval) as this mode runs it: a callable on :meth:`feed`'s tensor."""
        return model

    def feed(self, x):
        import torch

        return torch.from_numpy(x)

    def load_model(self, model, imgsz, threads, batch=1, calib=None):
        m = self.prepare(model, imgsz, batch)
        return lambda x: _first(m(x))

    def owns(self, path):
        return False

    def build(self, model, imgsz, work, calib, name):
        raise TypeError(f"{self.name} runs the PyTorch model in memory: it has nothing to export")

    def load(self, path, threads):
        raise TypeError(f"{self.name} runs the PyTorch model in memory: it loads no file")


class Eager(PyTorch):
    name = "eager"
    summary = "PyTorch as built (fused, eval), float32, on the CPU"
    order = 1
    quick = True


class ChannelsLast(PyTorch):
    name = "channels_last"
    summary = "PyTorch with conv weights and the input in channels_last memory format, float32, on the CPU"
    order = 2
    pick_default = False

    def prepare(self, model, imgsz, batch):
        import torch

        m = copy.deepcopy(model)
        for conv in (x for x in m.modules() if isinstance(x, torch.nn.Conv2d)):  # not .to(): Detect caches 5-D grids
            conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)
        return m

    def feed(self, x):
        import torch

        return super().feed(x).contiguous(memory_format=torch.channels_last)


def _cpp_compiler() -> str:
    """The C++ compiler torch.compile's CPU backend (inductor) calls: ``$CXX``, else its default."""
    return os.environ.get("CXX") or ("clang++" if sys.platform == "darwin" else "g++")


class Compile(PyTorch):
    name = "compile"
    summary = "torch.compile (inductor, static shapes), float32, on the CPU; compiling takes minutes per model"
    order = 3
    pick_default = False  # its warm-up is minutes per candidate

    def available(self):
        ok, why = super().available()
        if ok and shutil.which(_cpp_compiler()) is None:
            return False, (f"no C++ compiler {_cpp_compiler()} on PATH (torch.compile's CPU code needs one: "
                           "install g++, or set CXX to a compiler)")
        return ok, why

    def prepare(self, model, imgsz, batch):
        import torch

        # Every model shares YOLOv5's forward code: without these, dynamo would recompile the later models
        # with symbolic shapes, then stop compiling (falling back to eager) at its recompile limit.
        for knob in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                     "accumulated_recompile_limit"):
            if hasattr(torch._dynamo.config, knob):
                setattr(torch._dynamo.config, knob, max(getattr(torch._dynamo.config, knob), 256))
        m = torch.compile(copy.deepcopy(model), dynamic=False)
        with torch.no_grad():
            m(torch.zeros(batch, 3, imgsz, imgsz))  # compile now, not inside the timed loop
        return m


class Cuda(PyTorch):
    name = "cuda"
    summary = "PyTorch on the GPU, fp16 weights and input (.half()), batch 1 and 32"
    precision = "fp16"
    order = 90
    gpu = True
    batches = (1, 32)

    def available(self):
        ok, why = super().available()
        if not ok:
            return ok, why
        import torch

        if not torch.cuda.is_available():
            return False, f"no CUDA device here (torch {torch.__version__}: torch.cuda.is_available() is False)"
        return True, f"{why}, {torch.cuda.get_device_name(0)}"

    def prepare(self, model, imgsz, batch):
        import torch

        m = copy.deepcopy(model).cuda().half()

        def run(x):
            y = m(x)
            torch.cuda.synchronize()
            return y

        return run

    def feed(self, x):
        return super().feed(x).cuda().half()

    def peak_memory_mib(self, runners):
        """Peak GPU memory (MiB) allocated during one inference of each model (weights included)."""
        import torch

        out = {}
        with torch.no_grad():
            for k, r in runners.items():
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                r()
                out[k] = torch.cuda.max_memory_allocated() / 2**20
        return out

    def device_info(self):
        import torch

        return {"gpu": torch.cuda.get_device_name(0)}


RUNTIMES = (Eager(), ChannelsLast(), Compile(), Cuda())
