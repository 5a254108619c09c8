"""What a deploy runtime is: the one class every runtime module instantiates as ``RUNTIME``.

A runtime says what its tables used to: its name, the artefact it writes (``artefact``, from the
model name), its precision and tolerance against PyTorch, the packages it needs (``available()``
names the pip package), how to build the artefact (``build``), how to load it for timing and detection
(``load``), and whether a path is its artefact (``owns``). :meth:`Runtime.export` wraps ``build`` so
that every export is atomic: built in a hidden folder beside the target, renamed into place whole.

Modules import only the standard library at the top (the command line lists the runtimes without
importing torch or any runtime package); heavy imports go inside the methods.
"""

from __future__ import annotations

import os
import shutil
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
