"""The ``yolo`` route (``yolov5-shuffle yolo ...``, ``python -m yolov5_shuffle.ultralytics ...``): ultralytics' own
``yolo`` command with our blocks registered, its arguments checked first and every checkpoint loaded safely.
"""

from __future__ import annotations

import re
import sys

from ...errors import UserError
from .registration import register
from .safe_load import safe_loading
from .yolo_args import check_arguments, syntax_line


def _model_arg(argv: list[str]) -> str:
    return next((a.split("=", 1)[1] for a in argv if a.startswith("model=")), "model")


def main(argv: list[str] | None = None) -> int:
    """``yolo`` with our blocks registered: ``main(["train", "model=yolo11n-shufflenetv2.yaml", "data=d.yaml"])``.

    The arguments go to ultralytics' own ``entrypoint`` exactly as ``yolo`` passes them (``sys.argv`` is
    ``["yolo", *argv]`` for the call, so ultralytics' CLI-only behaviour, such as streaming predict, is the same).
    Checkpoints it loads meanwhile go through our safe loader (:mod:`.safe_load`): a file that would run code
    is refused in one line.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    register()
    check_arguments(argv)
    import ultralytics.cfg as ucfg

    lists = [sys.argv] + ([ucfg.ARGV] if ucfg.ARGV is not sys.argv else [])
    saved = [list(x) for x in lists]
    for x in lists:
        x[:] = ["yolo", *argv]
    try:
        with safe_loading():
            ucfg.entrypoint()
    except ValueError as e:  # our rows refused inside parse_model: a user error, named by layer
        if re.match(r"layer \d+ ", str(e)):
            raise UserError(f"{_model_arg(argv)}: {e}") from None
        raise
    except SyntaxError as e:  # ultralytics' own argument check (a mode or argument typo), before any work
        raise UserError(syntax_line(e)) from None
    finally:
        for x, old in zip(lists, saved):
            x[:] = old
    return 0
