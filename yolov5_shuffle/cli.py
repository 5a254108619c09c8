"""``yolov5-shuffle`` command line: one subcommand per job, each implemented in its own module.

Errors and exit codes, the same for every subcommand:

* A problem with the input (a missing or malformed file, a bad argument, a config layer we cannot
  build, a tree that cannot be patched) prints ONE line on stderr,
  ``yolov5-shuffle <command>: <message>``, naming the file (``path:line`` where there is one), the
  layer (``layer 3 ShuffleNetV2_InvertedResidual``) or the argument (``--imgsz``), and exits 2.
  Argument errors found by the parser look and exit the same. No traceback, and nothing is left
  half-written (no partial files, no empty run folders).
* ``--verbose`` (before or after the subcommand) adds the traceback and any further detail.
* Exit codes: 0 success; 1 only from ``patch --check`` (patchable, not patched yet); 2 a user error;
  3 an internal error (a bug: the line says so; rerun with ``--verbose`` and report the traceback);
  130 interrupted by Ctrl-C (whatever was being written has been rolled back).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from .argtypes import at_least, fraction, image_size, positive
from .errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USER, UserError

PROG = "yolov5-shuffle"


class Parser(argparse.ArgumentParser):
    """argparse with our convention: one line, ``yolov5-shuffle <command>: <message>``, exit 2."""

    def error(self, message):
        self.exit(EXIT_USER, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _vendor(a) -> int:
    from .hosts.vendor import vendor

    print(vendor(a.version, a.from_path, a.dest, a.sha256, pth=not a.no_pth, force=a.force))
    return 0


def _patch(a) -> int:
    from .hosts import patch

    if a.check:
        code, why = patch.status(a.path)
        if code == patch.REFUSED:
            print(f"{PROG} patch: {_one_line(why)}", file=sys.stderr)
        else:
            print(why)
        return code
    if a.dry_run:
        plan = patch.plan(a.path, revert=a.revert)
        for note in plan.notes:
            print(f"note: {note}", file=sys.stderr)
        sys.stdout.write(plan.diff())
        return 0
    plan, written, restored = patch.run(a.path, revert=a.revert)
    verb = "revert" if a.revert else "patch"
    if restored:
        print(f"{plan.root}: rolled back an interrupted run ({', '.join(restored)})")
    for note in plan.notes:
        print(f"note: {note}")
    if not written:
        print(f"{plan.root}: nothing to {verb} (already {'original' if a.revert else 'patched'}; {plan.tree.host.label})")
    else:
        print(f"{plan.root}: {verb}ed {plan.tree.host.label}, {len(written)} file(s): {', '.join(written)}")
    return 0


def _dataset(a) -> int:
    from .dataset import make_dataset

    print(make_dataset(a.out, a.train, a.val, a.imgsz, a.seed, a.video))
    return 0


def _init_weights(a) -> int:
    from .weights import init_weights

    init_weights(a.cfg, a.torchvision_weights, a.out, nc=a.nc)
    return 0


def _bench(a) -> int:
    from .measure.bench import run_bench

    return run_bench(a)


def _demo(a) -> int:
    from .demo import run_demo

    return run_demo(a)


def _detect(a) -> int:
    if a.weights.suffix == ".pt":
        from .hosts.runs import detect

        # root=None: every input is checked first, then the vendored YOLOv5 is made ready
        run = detect(None, a.weights, a.source, a.imgsz or 640, a.project, a.name, extra=["--conf-thres", a.conf])
        print(f"results: {run}")
        return 0
    from .hosts.runs import readable_sources
    from .measure.exported import Detector, detect_files, new_run_dir

    # an exported model (ONNX, int8, OpenVINO, ncnn, TFLite): run by its runtime, not by detect.py
    files, _ = readable_sources(a.source)
    det = Detector.load(a.weights, a.imgsz)
    out = new_run_dir(a.project, a.name)
    print(f"{det.label} at {det.imgsz} px")
    detect_files(det, files, out, conf=a.conf)
    print(f"results: {out.resolve()}")
    return 0


def _export(a) -> int:
    from .measure.export_check import run_export

    return run_export(a)


def _train(a) -> int:
    from .hosts.runs import train

    run = train(None, a.cfg, a.data, a.epochs, a.imgsz, a.project, a.batch_size, weights=a.weights)
    print(f"results: {run}")
    return 0


def _learn(a) -> int:
    from .measure.learning import run_learning

    return run_learning(a)


def _yardstick(a) -> int:
    from .measure.yardstick import run_yardstick

    return run_yardstick(a)


def _pick(a) -> int:
    from .measure.pick import run_pick

    return run_pick(a)


def _yolo(a) -> int:
    from .hosts.ultralytics import main as yolo_main

    return yolo_main(a.args)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--verbose", action="store_true", help="on an error, also print the traceback and details")
    common = argparse.ArgumentParser(add_help=False)  # --verbose after the subcommand works too
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, metavar="command")
    _add = sub.add_parser

    def add_parser(name, **kw):
        return _add(name, parents=[common], **kw)

    sub.add_parser = add_parser

    v = sub.add_parser("vendor", help="materialise a host tree (YOLOv5, YOLOv7) with fixes for today's packages")
    v.add_argument("--version", default="7.0.14", help="PyPI yolov5 version (default 7.0.14)")
    v.add_argument("--from", dest="from_path", type=Path,
                   help="copy this YOLOv5/YOLOv7 checkout, wheel or archive instead of the PyPI wheel")
    v.add_argument("--dest", type=Path, default=None,
                   help="default third_party/<host>: yolov5 (PyPI), yolov5-git, yolov7")
    v.add_argument("--sha256", help="expected sha256 of the wheel, for versions we have not checked")
    v.add_argument("--no-pth", action="store_true", help="do not put the tree on this environment's import path")
    v.add_argument("--force", action="store_true", help="replace a tree vendored from another source")
    v.set_defaults(func=_vendor)

    pa = sub.add_parser("patch", help="register our blocks and configs in a YOLOv5 or YOLOv7 checkout")
    pa.add_argument("path", type=Path, help="YOLOv5/YOLOv7 checkout (the folder with models/yolo.py)")
    g = pa.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="exit 0 patched, 1 patchable, 2 cannot patch")
    g.add_argument("--revert", action="store_true", help="restore the original bytes")
    pa.add_argument("--dry-run", action="store_true", help="print the unified diff, write nothing")
    pa.set_defaults(func=_patch)

    d = sub.add_parser("dataset", help="generate the demo detection dataset (YOLO format)")
    d.add_argument("--out", type=Path, required=True, help="folder for images/, labels/ and data.yaml")
    d.add_argument("--train", type=positive, default=200, help="training images (default 200)")
    d.add_argument("--val", type=positive, default=50, help="validation images (default 50)")
    d.add_argument("--imgsz", type=image_size(64, 2048), default=320,
                   help="image size in pixels, a multiple of 32 from 64 to 2048 (default 320)")
    d.add_argument("--seed", type=int, default=0, help="same seed, same images (default 0)")
    d.add_argument("--video", action="store_true", help="also write a short .mp4 of generated scenes")
    d.set_defaults(func=_dataset)

    w = sub.add_parser("init-weights", help="load torchvision ImageNet weights into a config's backbone")
    w.add_argument("--cfg", required=True, help="config name or path, e.g. yolov5s-shufflenetv2.yaml")
    w.add_argument("--torchvision-weights", type=Path, required=True, help="torchvision state dict (.pth)")
    w.add_argument("--out", type=Path, required=True, help="checkpoint for train.py --weights")
    w.add_argument("--nc", type=at_least(1, "number of classes"), default=None,
                   help="number of classes, >= 1 (default: the config's)")
    w.set_defaults(func=_init_weights)

    b = sub.add_parser("bench", help="measured latency, params and GFLOPs against yolov5n/yolov5s")
    from .measure.bench import add_arguments

    add_arguments(b)
    b.set_defaults(func=_bench)

    de = sub.add_parser("demo", help="set up, make data, patch, train yolov5n-shufflenetv2, detect")
    de.add_argument("--workdir", type=Path, default=Path("demo_runs"), help="default demo_runs/")
    de.add_argument("--epochs", type=positive, default=20, help="training epochs (default 20)")
    de.add_argument("--train", type=positive, default=1500, help="training images (default 1500)")
    de.add_argument("--val", type=positive, default=100, help="validation images (default 100)")
    de.add_argument("--imgsz", type=image_size(), default=160, help="training size (default 160: CPU speed)")
    de.add_argument("--data-imgsz", type=image_size(64, 2048), default=320,
                    help="size of the generated pictures, and so of the annotated results (default 320)")
    de.add_argument("--batch", type=positive, default=32, help="batch size (default 32)")
    de.add_argument("--cfg", default="yolov5n-shufflenetv2.yaml",
                    help="config to train (default yolov5n-shufflenetv2.yaml)")
    de.add_argument("--no-vendor", action="store_true",
                    help="use third_party/yolov5 as the set-up left it (scripts/demo.sh: it has just run it)")
    de.set_defaults(func=_demo)

    tr = sub.add_parser("train", help="train.py in the vendored YOLOv5, checking config and data first")
    tr.add_argument("--cfg", required=True, help="config name (ours or YOLOv5's) or path")
    tr.add_argument("--data", type=Path, required=True, help="YOLO data yaml")
    tr.add_argument("--weights", default="", help="initial weights (default: from scratch)")
    tr.add_argument("--epochs", type=positive, default=100, help="default 100")
    tr.add_argument("--imgsz", type=image_size(), default=640, help="train and val size (default 640)")
    tr.add_argument("--batch-size", type=positive, default=16, help="default 16")
    tr.add_argument("--project", type=Path, default=Path("runs/train"), help="runs go to PROJECT/exp, exp2, ...")
    tr.set_defaults(func=_train)

    dt = sub.add_parser("detect", help="detect.py in the vendored YOLOv5 (or an exported model's runtime), "
                                       "skipping unreadable images")
    dt.add_argument("--weights", type=Path, required=True,
                    help="a .pt checkpoint (run by YOLOv5's detect.py), or an exported model from `export`: "
                         ".onnx (fp32 or int8), OpenVINO or ncnn folder, .tflite (run by its runtime)")
    dt.add_argument("--source", type=Path, required=True, help="image, folder of images/videos, or video")
    dt.add_argument("--imgsz", type=image_size(), default=None,
                    help="inference size (default 640; an exported model's own size from its metadata.yaml)")
    dt.add_argument("--conf", type=fraction, default=0.25, help="confidence threshold, 0..1 (default 0.25)")
    dt.add_argument("--project", type=Path, default=Path("runs/detect"), help="results go to PROJECT/NAME")
    dt.add_argument("--name", default="exp", help="run name; exp2, exp3, ... when taken")
    dt.set_defaults(func=_detect)

    ex = sub.add_parser("export", help="a checkpoint to OpenVINO, ncnn, TFLite, int8 ...: each checked against "
                                       "PyTorch and scored on the val split")
    from .measure.export_check import add_arguments as export_arguments

    export_arguments(ex)
    ex.set_defaults(func=_export)

    le = sub.add_parser("learn", help="train a group of configs and their baselines alike; table of mAP")
    le.add_argument("--workdir", type=Path, default=Path("demo_runs/learn"),
                    help="generated data and every run go here (default demo_runs/learn)")
    le.add_argument("--epochs", type=positive, default=20, help="epochs per config (default 20)")
    le.add_argument("--train", type=positive, default=400, help="generated training images (default 400)")
    le.add_argument("--val", type=positive, default=50, help="generated validation images (default 50)")
    le.add_argument("--imgsz", type=image_size(64, 2048), default=160, help="train and val image size (default 160)")
    le.add_argument("--batch", type=positive, default=8, help="batch size (default 8)")
    le.add_argument("--group", choices=("s", "n", "ultralytics"), default="s",
                    help="s: our s-size YOLOv5 configs + yolov5n/yolov5s (default); n: our n-size ones + yolov5n; "
                         "ultralytics: YOLO11/YOLOv8 with our backbones + yolo11n/yolov8n")
    le.add_argument("--cfgs", nargs="+", default=None, help="these configs instead of a group")
    le.add_argument("--seeds", type=at_least(0, "a random seed"), nargs="+", default=[0],
                    help="one run per config and seed, and the mean with its min-max (default: 0)")
    le.add_argument("--out", type=Path, default=None, help="write the table (markdown) and JSON here")
    le.set_defaults(func=_learn)

    ys = sub.add_parser("yardstick", help="accuracy you can trust: a grid of (config, size, seed) trained until "
                                          "the curves flatten; table, curves, front plot")
    from .measure.yardstick import add_arguments as yardstick_arguments

    yardstick_arguments(ys)
    ys.set_defaults(func=_yardstick)

    pk = sub.add_parser("pick", help="the most accurate (config, size, runtime) within a latency budget, "
                                     "timed on this machine")
    from .measure.pick import add_arguments as pick_arguments

    pick_arguments(pk)
    pk.set_defaults(func=_pick)

    yo = sub.add_parser("yolo", help="ultralytics' yolo command (train/val/predict/export ...) with our blocks registered")
    yo.add_argument("args", nargs=argparse.REMAINDER,
                    help="yolo's own arguments, e.g. train model=yolo11n-shufflenetv2.yaml data=your.yaml")
    yo.set_defaults(func=_yolo)
    return p


def _one_line(message: str) -> str:
    lines = str(message).strip().splitlines()
    return lines[0] if lines else ""


def _fail(command: str, e: BaseException, verbose: bool, code: int, internal: bool = False) -> int:
    text = str(e).strip() or type(e).__name__
    if isinstance(e, OSError) and e.filename and str(e.filename) not in text:
        text = f"{e.filename}: {e.strerror or text}"
    if internal:
        text = f"internal error ({type(e).__name__}: {_one_line(text)}); " + \
            ("the traceback is above; please report it" if verbose else "rerun with --verbose and report the traceback")
    if verbose:
        traceback.print_exc()
    print(f"{PROG} {command}: {_one_line(text)}", file=sys.stderr)
    if verbose and len(text.strip().splitlines()) > 1:
        print("\n".join(text.strip().splitlines()[1:]), file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; return its exit code (see the module docstring for the convention)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or an argument error (2, already printed as one line)
        return e.code if isinstance(e.code, int) else EXIT_USER
    verbose = getattr(args, "verbose", False)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return _fail(args.command, KeyboardInterrupt("interrupted"), verbose, EXIT_INTERRUPTED)
    except (UserError, OSError, UnicodeDecodeError) as e:  # bad input: say what, exit 2
        return _fail(args.command, e, verbose, EXIT_USER)
    except Exception as e:  # noqa: BLE001  a bug: one line, the traceback with --verbose
        return _fail(args.command, e, verbose, EXIT_INTERNAL, internal=True)


if __name__ == "__main__":
    sys.exit(main())
