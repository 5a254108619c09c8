"""One module per ``yolov5-shuffle`` subcommand: ``add_arguments(parser)`` declares its options and ``run(args)``
turns the parsed namespace into a call of a core function with typed keyword arguments, returning the exit code.

The modules import only argparse-level helpers at the top, so that building the parser (``--help``, a bad
argument) never imports torch or OpenCV; each ``run`` imports its core when it runs. ``cli.py`` holds the table
of commands and the error / exit-code convention.
"""

from __future__ import annotations

PROG = "yolov5-shuffle"
