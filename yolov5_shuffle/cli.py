"""``yolov5-shuffle`` command line: one subcommand per job, each implemented in its own module.

Errors and exit codes, the same for every subcommand:

* A problem with the input (a missing or malformed file, a bad argument, a config layer we cannot
  build, a tree that cannot be patched) prints ONE line on stderr,
  ``yolov5-shuffle <command>: <message>``, naming the file (``path:line`` where there is one), the
  layer (``layer 3 ShuffleNetV2_InvertedResidual``) or the argument (``--imgsz``), and exits 2.
  Argument errors found by the parser look and exit the same. No traceback, and nothing is left
  half-written (no partial files, no empty run folders).
* ``--verbose`` (before or after the subcommand) adds the traceback and any further detail.
* ``--version`` prints the version and exits 0.
* Exit codes: 0 success; 1 only from ``patch --check`` (patchable, not patched yet); 2 a user error;
  3 an internal error (a bug: the line says so; rerun with ``--verbose`` and report the traceback);
  130 interrupted by Ctrl-C (whatever was being written has been rolled back).
"""

from __future__ import annotations

import argparse
import sys
import traceback

from . import __version__
from .commands import PROG
from .commands import (bench, dataset, demo, detect, export, init_weights, learn, patch, pick, train, vendor, yardstick,
                       yolo)
from .errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USER, UserError, one_line

# (name, module, help): each module has add_arguments(parser) and run(args) -> exit code; --help lists them in
# this order
COMMANDS = [
    ("vendor", vendor, "materialise a host tree (YOLOv5, YOLOv7) with fixes for today's packages"),
    ("patch", patch, "register our blocks and configs in a YOLOv5 or YOLOv7 checkout"),
    ("dataset", dataset, "generate the demo detection dataset (YOLO format)"),
    ("init-weights", init_weights, "load torchvision ImageNet weights into a config's backbone"),
    ("bench", bench, "measured latency, params and GFLOPs against yolov5n/yolov5s"),
    ("demo", demo, "set up, make data, patch, train yolov5n-shufflenetv2, detect"),
    ("train", train, "train.py in the vendored YOLOv5, checking config and data first"),
    ("detect", detect, "detect.py in the vendored YOLOv5 (or an exported model's runtime), skipping unreadable "
                       "images"),
    ("export", export, "a checkpoint to OpenVINO, ncnn, TFLite, int8 ...: each checked against PyTorch and scored on "
                       "the val split"),
    ("learn", learn, "train a group of configs and their baselines alike; table of mAP"),
    ("yardstick", yardstick, "accuracy you can trust: a grid of (config, size, seed) on one recipe, finished runs "
                             "only, each curve checked for a plateau; table, curves, front plot"),
    ("pick", pick, "the most accurate (config, size, runtime) within a latency budget, timed on this machine"),
    ("yolo", yolo, "ultralytics' yolo command (train/val/predict/export ...) with our blocks registered"),
]


class Parser(argparse.ArgumentParser):
    """argparse with our convention: one line, ``yolov5-shuffle <command>: <message>``, exit 2."""

    def error(self, message):
        self.exit(EXIT_USER, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every command of :data:`COMMANDS`, each taking ``--verbose`` too."""
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--verbose", action="store_true", help="on an error, also print the traceback and details")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)  # --verbose after the subcommand works too
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, metavar="command")
    for name, module, help_text in COMMANDS:
        sp = sub.add_parser(name, parents=[common], help=help_text)
        module.add_arguments(sp)
        sp.set_defaults(func=module.run)
    return p


def _fail(command: str, e: BaseException, verbose: bool, code: int, internal: bool = False) -> int:
    text = str(e).strip() or type(e).__name__
    if isinstance(e, OSError) and e.filename and str(e.filename) not in text:
        text = f"{e.filename}: {e.strerror or text}"
    if internal:
        text = f"internal error ({type(e).__name__}: {one_line(text)}); " + \
            ("the traceback is above; please report it" if verbose else "rerun with --verbose and report the traceback")
    if verbose:
        traceback.print_exc()
    print(f"{PROG} {command}: {one_line(text)}", file=sys.stderr)
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
    except (UserError, UnicodeDecodeError) as e:  # bad input: say what, exit 2
        return _fail(args.command, e, verbose, EXIT_USER)
    except Exception as e:  # noqa: BLE001  a bug (an OSError too: user input is read under errors.user_path)
        return _fail(args.command, e, verbose, EXIT_INTERNAL, internal=True)


if __name__ == "__main__":
    sys.exit(main())
