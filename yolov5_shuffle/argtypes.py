"""Checked argument types for the command line: a bad number is refused by argparse (exit 2), naming the
argument, the bound and the value given, before any work starts."""

from __future__ import annotations

import argparse
import math

STRIDE = 32  # YOLOv5's largest stride: image sizes are multiples of it


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def at_least(lo: int, what: str = ""):
    """An int >= lo (``what`` says what the argument counts, for the message)."""

    def parse(text: str) -> int:
        v = _int(text)
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}{f' ({what})' if what else ''}, got {v}")
        return v

    parse.__name__ = f"int>={lo}"
    return parse


def image_size_problem(v: object, lo: int = STRIDE, hi: int = 4096) -> str | None:
    """Why ``v`` is not an image size (a multiple of 32 in [lo, hi]), or None: the one rule for the flag and for
    the sizes files name (an accuracy table's rows, an exported model's metadata)."""
    if isinstance(v, int) and not isinstance(v, bool) and not v % STRIDE and lo <= v <= hi:
        return None
    return f"must be a multiple of {STRIDE} from {lo} to {hi} (YOLOv5's largest stride is {STRIDE}), got {v!r}"


def image_size(lo: int = STRIDE, hi: int = 4096):
    """A multiple of 32 in [lo, hi]."""

    def parse(text: str) -> int:
        v = _int(text)
        problem = image_size_problem(v, lo, hi)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return v

    parse.__name__ = "image size"
    return parse


positive = at_least(1)


def fraction(text: str) -> float:
    """A number in [0, 1] (a confidence threshold)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {v}")
    return v


def _finite(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a positive number of {what}, got {text!r}")
    return v


def milliseconds(text: str) -> float:
    """A positive, finite number of milliseconds (a latency budget)."""
    v = _finite(text, "milliseconds")
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of milliseconds, got {text!r}")
    return v


def minutes(text: str) -> float:
    """A finite number of minutes, at least 0.1 (a deadline: six seconds do not see one epoch through)."""
    v = _finite(text, "minutes")
    if not v >= 0.1:
        raise argparse.ArgumentTypeError(f"must be at least 0.1 minutes, got {text!r}")
    return v


def sha256_hex(text: str) -> str:
    """A sha256 as 64 hex digits (any case): a typo is refused before a download, not after."""
    v = text.strip().lower()
    if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
        raise argparse.ArgumentTypeError(f"expected 64 hex digits (a sha256), got {text!r}")
    return v
