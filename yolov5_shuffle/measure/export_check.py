"""``yolov5-shuffle export``: one trained checkpoint to every deploy runtime, each export checked.

For each runtime: the artefact (:func:`deploy.export`, atomic), its outputs against PyTorch on a fixed
input (within :data:`deploy.TOLERANCE`), and, given ``--data``, its mAP on the validation split beside
the PyTorch model's, scored by the same code (:mod:`.exported`), so an int8 or fp16 model's accuracy
drop is a number. ``metadata.yaml`` (class names, input size) goes beside the artefacts for
``yolov5-shuffle detect --weights <artefact>``, written with the first artefact: an export whose first
converter fails leaves no folder and no file behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ..argtypes import at_least, image_size
from ..errors import UserError
from .runtimes import RUNTIMES

CALIB_IMAGES = 64


def add_arguments(p) -> None:
    p.add_argument("--weights", type=Path, required=True, help="a YOLOv5 or YOLOv7 training checkpoint (best.pt)")
    p.add_argument("--to", nargs="+", choices=RUNTIMES, default=None,
                   help="runtimes to export for (default: every one installed here)")
    p.add_argument("--imgsz", type=image_size(), default=640, help="the fixed input size, a multiple of 32")
    p.add_argument("--data", type=Path, default=None,
                   help="data yaml: mAP of each export on its val split, and int8 calibrated on its train split")
    p.add_argument("--calib", type=Path, default=None, help="folder of images to calibrate int8 with")
    p.add_argument("--threads", type=at_least(1, "threads"), default=2,
                   help="CPU threads for every runtime while checking and scoring (default 2)")
    p.add_argument("--out", type=Path, default=None, help="folder for the exports (default: <weights>_export)")


def _calibration(a, train_images: list[Path]) -> list[Path] | Path | None:
    if a.calib is not None:
        if not a.calib.is_dir():
            raise UserError(f"--calib {a.calib}: not a folder of images")
        return a.calib
    return train_images[:CALIB_IMAGES] or None


def _write_atomically(path: Path, text: str) -> None:
    """The whole file or none of it (an interrupted write leaves the old one, or nothing)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def table(rows: list[dict], torch_map: dict | None) -> str:
    head = ("| runtime | artefact | max abs diff vs PyTorch | check | mAP50 | mAP50-95 | mAP50 drop |\n"
            "|---|---|---:|---|---:|---:|---:|\n")
    lines = []
    if torch_map:
        lines.append(f"| PyTorch (fused) | - | - | - | {torch_map['mAP50']:.3f} | {torch_map['mAP50-95']:.3f} | - |")
    for r in rows:
        m = r.get("map")
        tol = "no element-wise bound: scores not all zero" if r["tol"] is None else f"rel <= {r['tol']:g}"
        score = (f"{m['mAP50']:.3f} | {m['mAP50-95']:.3f} | {torch_map['mAP50'] - m['mAP50']:+.3f}"
                 if m and torch_map else "- | - | -")
        lines.append(f"| {r['runtime']} | {Path(r['path']).name} | {r['max_abs_diff']:.2e} | "
                     f"{'ok' if r['ok'] else 'FAILED'} ({tol}) | {score} |")
    return head + "\n".join(lines) + "\n"


def run_export(a) -> int:
    from ..hosts.env import load_checkpoint
    from ..hosts.runs import split_images
    from . import deploy
    from .exported import METADATA, Detector, evaluate

    model, names, stride = load_checkpoint(a.weights)
    if a.imgsz % stride:
        raise UserError(f"--imgsz {a.imgsz}: not a multiple of the model's stride {stride}")
    val_images = split_images(a.data, "val") if a.data else []
    train_images = split_images(a.data, "train") if a.data else []
    runtimes = a.to or [rt for rt in RUNTIMES if deploy.available(rt)[0]]
    calib = _calibration(a, train_images)
    if "onnxruntime_int8" in runtimes and calib is None:
        raise UserError("--to onnxruntime_int8: needs calibration images: give --data (its train split) or --calib")
    out = a.out or a.weights.with_name(f"{a.weights.stem}_export")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: a file, not a folder")
    torch_map = None
    if val_images:
        torch_map = evaluate(Detector(lambda x: deploy.torch_predict(model, x), a.imgsz, names), val_images)
        print(f"PyTorch: mAP50 {torch_map['mAP50']:.3f} on {len(val_images)} val images", flush=True)
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    meta = {"imgsz": a.imgsz, "stride": stride, "names": names, "weights": str(a.weights.resolve())}
    rows = []
    for rt in runtimes:
        ok, why = deploy.available(rt)
        if not ok:
            print(f"skip {rt}: {why}", flush=True)
            continue
        print(f"{rt}: exporting ...", flush=True)
        try:
            path = deploy.export(model, rt, a.imgsz, out, calib_images=calib, name=a.weights.stem)
        except BaseException:
            if made and not any(out.iterdir()):  # nothing exported: leave no empty folder behind
                out.rmdir()
            raise
        if meta is not None:  # with the first artefact, not before: a converter that fails first leaves nothing
            _write_atomically(out / METADATA, yaml.safe_dump(meta, sort_keys=False))
            meta = None
        r = {"runtime": rt, "path": str(path),
             **deploy.check_against_torch(model, rt, path, a.imgsz, threads=a.threads)}
        if val_images:
            r["map"] = evaluate(Detector.load(path, a.imgsz, a.threads), val_images)
        rows.append(r)
        print(f"{rt}: {path} max abs diff {r['max_abs_diff']:.2e} {'ok' if r['ok'] else 'FAILED'}"
              + (f", mAP50 {r['map']['mAP50']:.3f}" if "map" in r else ""), flush=True)
    md = table(rows, torch_map)
    _write_atomically(out / "export.md", f"{a.weights} at {a.imgsz} px\n\n{md}")
    _write_atomically(out / "export.json", json.dumps({"weights": str(a.weights), "imgsz": a.imgsz,
                                                        "torch": torch_map, "exports": rows}, indent=1))
    print(md + f"wrote {out / 'export.md'}, {out / 'export.json'}")
    failed = [r["runtime"] for r in rows if not r["ok"]]
    if failed:
        raise UserError(f"{', '.join(failed)}: outputs differ from PyTorch beyond the tolerance "
                        f"(see {out / 'export.md'})")
    return 0
