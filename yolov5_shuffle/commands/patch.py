"""``yolov5-shuffle patch``: register our blocks and configs in a YOLOv5 or YOLOv7 checkout (or check, preview,
revert). The patch itself is planned and written by :mod:`yolov5_shuffle.patching.patch`; this module prints."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import one_line, user_path
from . import PROG


def add_arguments(p) -> None:
    p.add_argument("path", type=Path, help="YOLOv5/YOLOv7 checkout (the folder with models/yolo.py)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="exit 0 patched, 1 patchable, 2 cannot patch")
    g.add_argument("--revert", action="store_true", help="restore the original bytes")
    p.add_argument("--dry-run", action="store_true", help="print the unified diff, write nothing")


def run(args) -> int:
    with user_path("tree", args.path):  # the user's files: one we may not read is theirs to fix
        if args.check:
            return check(path=args.path)
        if args.dry_run:
            return dry_run(path=args.path, revert=args.revert)
        return apply(path=args.path, revert=args.revert)


def check(path: Path) -> int:
    """Exit 0 patched, 1 patchable, 2 cannot patch (the reason as the one error line)."""
    from ..patching import patch

    code, why = patch.status(path)
    if code == patch.REFUSED:
        print(f"{PROG} patch: {one_line(why)}", file=sys.stderr)
    else:
        print(why)
    return code


def dry_run(path: Path, revert: bool) -> int:
    """The unified diff of what a patch (or revert) would write; nothing is written."""
    from ..patching import patch

    plan = patch.plan(path, revert=revert)
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    sys.stdout.write(plan.diff())
    return 0


def apply(path: Path, revert: bool) -> int:
    """Patch (or revert) all or nothing, and say what was written."""
    from ..patching import patch

    plan, written, restored = patch.run(path, revert=revert)
    verb = "revert" if revert else "patch"
    if restored:
        print(f"{plan.root}: rolled back an interrupted run ({', '.join(restored)})")
    for note in plan.notes:
        print(f"note: {note}")
    if not written:
        print(f"{plan.root}: nothing to {verb} (already {'original' if revert else 'patched'}; {plan.tree.host.label})")
    else:
        print(f"{plan.root}: {verb}ed {plan.tree.host.label}, {len(written)} file(s): {', '.join(written)}")
    return 0
