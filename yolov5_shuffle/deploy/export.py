"""``yolov5-shuffle export``: one trained checkpoint to every deploy runtime, each export checked.

For each registered runtime that exports (:func:`.runtimes.exportable`): the artefact (atomic,
:meth:`Runtime.export`), its outputs against PyTorch on a fixed input (the runtime's own check), and, given
``--data``, its mAP on the validation split beside the PyTorch model's, scored by the same code
(:mod:`.exported`), so an int8 or fp16 model's accuracy drop is a number. One runtime that fails costs its
row, not the others.

The folder rule: ``metadata.yaml`` (class names, input size, the checkpoint's sha256) goes beside the
artefacts, written with the first one, and is shared by everything in the folder. So a folder holds the
exports of ONE checkpoint at ONE size: exporting another checkpoint or size into it is refused in one
line (use another ``--out``); exporting the same one again adds or replaces runtimes and keeps the
other rows of the report. Everything is checked before the first export (checkpoint, data, runtimes
installed, calibration images, the folder); Ctrl-C rolls back what this run made (a new ``--out``
disappears), and a killed run's hidden temporary folders are removed by the next run.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..digest import sha256_file as sha256
from ..errors import UserError, user_path
from . import runtimes
from ..outputs import exclusive, first_missing
from .export_job import METADATA, REPORT_JSON, REPORT_MD, ExportJob

CALIB_IMAGES = 64


def say(line: str) -> None:
    print(line, flush=True)


def choose_runtimes(to: list[str] | None, log=say) -> list:
    """The runtimes to export for: those asked for (each must be installed), else every installed one."""
    if to:
        chosen = [runtimes.by_name(n) for n in dict.fromkeys(to)]
        for rt in chosen:
            if not rt.exportable:
                raise UserError(f"--to {rt.name}: runs the PyTorch model in memory, there is nothing to export "
                                f"(one of {', '.join(r.name for r in runtimes.exportable())})")
            ok, why = rt.available()
            if not ok:
                raise UserError(f"--to {rt.name}: {why}")
        return chosen
    chosen, skipped = [], []
    for rt in runtimes.exportable():
        ok, why = rt.available()
        if ok:
            chosen.append(rt)
        else:
            skipped.append(f"{rt.name}: {why}")
            log(f"skip {rt.name}: {why}")
    if not chosen:
        raise UserError("nothing to export: no runtime is installed here (" + "; ".join(skipped) + ")")
    return chosen


def calibration(chosen: list, calib: Path | None, train_images: list[Path], imgsz: int):
    """The calibration array for the runtimes that need one, read (and so checked) before any export."""
    from .check import CalibrationError, load_images

    needy = [rt.name for rt in chosen if rt.needs_calibration]
    if not needy:
        return None
    if calib is None and not train_images:
        raise UserError(f"--to {', '.join(needy)}: needs calibration images: give --data (its train split) or --calib")
    try:
        return load_images(calib if calib is not None else train_images[:CALIB_IMAGES], imgsz, CALIB_IMAGES)
    except CalibrationError as e:
        raise UserError(f"--calib {calib}: {e}" if calib is not None else f"--data: {e}") from None




def check_folder(out: Path, meta: dict) -> dict | None:
    """Refuse a folder holding another checkpoint's or size's exports (or a metadata.yaml export would not have
    written); the earlier report when it is ours."""
    from ..untrusted.metadata import read_metadata

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: a file, not a folder")
    for name in (METADATA, REPORT_MD, REPORT_JSON):
        if (out / name).exists() and not (out / name).is_file():
            raise UserError(f"--out {out}: its {name} is not a file; move it away or choose another --out")
    f = out / METADATA
    if f.is_file():
        old = read_metadata(f)
        same = (old.get("weights_sha256") == meta["weights_sha256"] if old.get("weights_sha256")
                else old.get("weights") == meta["weights"])
        if not same or old.get("imgsz") != meta["imgsz"]:
            raise UserError(f"--out {out}: holds the exports of {old.get('weights', '?')} at {old.get('imgsz', '?')} px "
                            f"(its {METADATA}); a folder holds one checkpoint at one size: choose another --out")
        try:
            return json.loads((out / REPORT_JSON).read_text())
        except (OSError, ValueError, RecursionError):
            return None
    if out.is_dir():
        foreign = [p.name for p in out.iterdir() if not p.name.startswith(".") and runtimes.for_artefact(p)]
        if foreign:
            raise UserError(f"--out {out}: holds exported models ({', '.join(sorted(foreign)[:3])}) with no {METADATA}: "
                            "choose another --out")
    return None


def export_checkpoint(weights: Path, to: list[str] | None = None, imgsz: int = 640, data: Path | None = None,
                      calib: Path | None = None, threads: int = 2, out: Path | None = None, log=say) -> int:
    """Export ``weights`` for each runtime, check and score each, write the report; see the module docstring."""
    from ..hosts import load_checkpoint
    from ..data.files import split_images

    weights = Path(weights)
    model, names, stride = load_checkpoint(weights)
    if imgsz % stride:
        raise UserError(f"--imgsz {imgsz}: not a multiple of the model's stride {stride}")
    val_images = split_images(data, "val") if data else []
    train_images = split_images(data, "train") if data else []
    chosen = choose_runtimes(to, log)
    calib_array = calibration(chosen, calib, train_images, imgsz)
    out = Path(out or weights.with_name(f"{weights.stem}_export"))
    meta = {"imgsz": imgsz, "stride": stride, "names": names, "weights": str(weights.resolve()),
            "weights_sha256": sha256(weights)}
    made_top = first_missing(out)  # before the lock makes the folder its file lies in: all of it goes on rollback
    with exclusive(out, "--out"):  # two exports into one folder at once: the second is refused
        with user_path("--out", out):  # a folder we may not list, a report we may not read
            earlier = check_folder(out, meta)
        run = ExportJob(model, meta, out, weights.stem, threads, log, made_top)
        run.score_torch(val_images)
        rows = run.export_all(chosen, calib_array)
        return run.report(rows, earlier, weights)
