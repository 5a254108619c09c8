"""What a runtime is: the one class every runtime module instantiates as ``RUNTIME``.

A runtime says what its tables used to: its name, the artefact it writes (``artefact``, from the
model name), its precision and tolerance against PyTorch, the packages it needs (``available()``
names the pip package), how to build the artefact (``build``), how to load it for timing and detection
(``load``), and whether a path is its artefact (``owns``). :meth:`Runtime.export` wraps ``build`` so
that every export is atomic: built in a hidden folder beside the target, renamed into place whole.

PyTorch's own modes (eager, channels_last, compile, the GPU) are runtimes too, with ``exportable = False``:
they run the model in memory. :meth:`Runtime.load_model` is what ``bench`` and ``pick`` time for every
runtime alike: an exportable runtime exports the model into a temporary folder and loads it, a PyTorch
mode prepares the model itself (see ``pytorch.py``); :meth:`Runtime.feed` makes the input it takes, once,
before the timed calls.

Modules import only the standard library at the top (the command line lists the runtimes without
importing torch or any runtime package); heavy imports go inside the methods.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from ...outputs import clean_stale, disk_full, temp_dir
from ...packages import has, version


class Runtime:
    name: str = ""
    artefact: str = "{name}"  # what export() writes in out_dir, from the model name (a file or a folder)
    precision: str = "fp32"  # 'fp32' | 'fp16' | 'int8': lower ones change the numbers (and the accuracy)
    tolerance: float | None = 1e-4  # largest |y - ref| / max(|ref|, 1) accepted against PyTorch
    packages: tuple[tuple[str, str], ...] = ()  # (import name, pip name) it needs
    order: int = 50  # place in tables and default lists
    specificity: int = 0  # when two runtimes own one artefact, the higher one runs it
    needs_calibration: bool = False  # export needs calibration images (calib)
    quick: bool = False  # one of bench --quick's runtimes
    pick_default: bool = True  # one of pick's default runtimes where fp32; False: pick times it only when asked
    exportable: bool = True  # export writes an artefact; False: runs the PyTorch model in memory (load_model only)
    gpu: bool = False  # runs on a GPU: its latencies are not compared with the CPU's
    batches: tuple[int, ...] = (1,)  # the batch sizes bench times it at
    summary: str = ""  # one line for docs and --help

    # --- what a runtime module defines ---------------------------------------------------------------

    def build(self, model, imgsz: int, work: Path, calib, name: str) -> Path:
        """Write the artefact for ``model`` into the empty folder ``work``; return its path there."""
        raise NotImplementedError

    def load(self, path: Path, threads: int) -> Callable:
        """A callable: NCHW float32 array (1, 3, H, W) -> the prediction array, as the torch model gives it.

        Configured for fair interleaved timing on ``threads`` threads: one inference at a time, and no
        busy-waiting after a call where the runtime lets us turn it off. A file the runtime cannot read
        raises (any exception; the caller names the file)."""
        raise NotImplementedError

    # --- defaults ------------------------------------------------------------------------------------

    def available(self) -> tuple[bool, str]:
        """(True, versions) when this runtime can export and run here, else (False, what to pip install)."""
        missing = [pip for module, pip in self.packages if not has(module)]
        if missing:
            return False, f"{' and '.join(missing)} not installed (pip install {' '.join(missing)})"
        return True, ", ".join(f"{pip} {version(pip)}" for _, pip in self.packages)

    def load_model(self, model, imgsz: int, threads: int, batch: int = 1, calib=None) -> Callable:
        """``model`` ready to run here: the callable :meth:`load` gives, taking :meth:`feed`'s input.

        Exported into a temporary folder, loaded, and the folder removed at once (also on error), so
        nothing is left in $TMPDIR; a converter that cannot take the model raises RuntimeError. Runtimes
        that run the PyTorch model itself override this."""
        work = temp_dir(Path(tempfile.gettempdir()), f"yolov5-shuffle-{self.name}")
        try:
            return self.load(self.export(copy.deepcopy(model), imgsz, work, calib, name="model"), threads)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def feed(self, x):
        """The input as this runtime's callable takes it, made from a float32 NCHW array once before timing."""
        return x

    def peak_memory_mib(self, runners: dict) -> dict | None:
        """Peak memory per runner in this runtime's own terms (a GPU's allocation); None: the process's peak."""
        return None

    def device_info(self) -> dict:
        """What a report records about the device this runtime runs on, besides the CPU (a GPU's name)."""
        return {}

    def pip(self) -> str:
        """The pip packages this runtime needs, for messages."""
        return " ".join(pip for _, pip in self.packages)

    def artefact_path(self, out_dir: Path, name: str) -> Path:
        return Path(out_dir) / self.artefact.format(name=name)

    def owns(self, path: Path) -> bool:
        """Whether ``path`` is this runtime's artefact (by default: a file named like ``artefact``)."""
        tail = self.artefact.format(name="")
        return Path(path).name.endswith(tail) and not Path(path).is_dir()

    def check(self, y, ref) -> dict:
        """This runtime's verdict on its output ``y`` against torch's ``ref`` (same shape)."""
        from ..check import compare

        r = compare(y, ref)
        r["ok"] = r["rel"] <= self.tolerance
        r["check"] = (f"max rel diff {r['rel']:.1e} {'<=' if r['ok'] else '>'} {self.tolerance:g} "
                      f"({self.precision}: |y - torch| / max(|torch|, 1))")
        return r

    def __repr__(self) -> str:
        return f"<runtime {self.name}>"

    # --- the atomic export every runtime gets --------------------------------------------------------

    def export(self, model, imgsz: int, out_dir, calib=None, name: str = "model") -> Path:
        """Export ``model`` (batch 1, 3 x imgsz x imgsz); returns the file or folder written in ``out_dir``.

        Built in a hidden folder inside ``out_dir`` and renamed into place at the end, so a failure or
        Ctrl-C leaves no partial artefact (and an earlier export of the same name untouched); folders
        left by a killed export are removed by the next one."""
        if not self.exportable:
            raise TypeError(f"{self.name} runs the PyTorch model in memory: it has nothing to export")
        ok, why = self.available()
        if not ok:
            raise RuntimeError(f"{self.name}: {why}")
        out_dir = Path(out_dir).resolve()  # converters run in other working folders
        out_dir.mkdir(parents=True, exist_ok=True)
        clean_stale(out_dir, (f"{name}-",))
        final = self.artefact_path(out_dir, name)
        tmp = temp_dir(out_dir, f"{name}-{self.name}")
        try:
            _place(self.build(model, imgsz, tmp, calib, name), final, tmp)
        except OSError as e:
            full = disk_full(e, final)
            if full:
                raise full from None
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final


def _place(made: Path, final: Path, tmp: Path) -> None:
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
