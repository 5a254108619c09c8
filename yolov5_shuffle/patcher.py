"""Register our blocks in a YOLOv5 checkout: plan, check, dry-run, atomic apply, byte-exact revert.

Every edit is a pure insertion of lines that end in the marker ``# yolov5-shuffle`` (plus our config
files), so "patched" is decided by reading the files, a second run finds nothing to do, and revert
deletes exactly our lines. Anything that looks hand-edited stops the whole plan before a byte is
written.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .configs import config_files
from .errors import UserError

MARK = "# yolov5-shuffle"
BLOCK_NAMES = ("ShuffleNetV2_InvertedResidual", "conv_bn_relu_maxpool", "MobileNetV2_Stem", "MobileNetV2_Block",
               "DWSConv")
IMPORT_NAMES = BLOCK_NAMES + ("fuse_blocks", "scale_width")

PATCHED, UNPATCHED, REFUSED = 0, 1, 2  # --check exit codes


class PatchError(UserError):
    """The tree cannot be patched (or reverted); the message names the file and line."""


@dataclass
class Insertion:
    """Lines to insert before (or after) the single line matching ``anchor``."""

    what: str
    anchor: re.Pattern
    lines: list[str]  # without indentation or newline; the anchor's indentation is added
    after: bool = False
    indent_extra: str = ""


@dataclass
class FilePlan:
    rel: str
    old: bytes | None  # None: a new file
    new: bytes | None  # None: delete the file
    mode: int | None = None


@dataclass
class Plan:
    root: Path
    files: list[FilePlan] = field(default_factory=list)

    @property
    def changes(self) -> list[FilePlan]:
        return [f for f in self.files if f.old != f.new]

    def diff(self) -> str:
        """The plan as a unified diff that ``git apply`` (run in ``root``) accepts."""
        out = []
        for f in self.changes:
            a = (f.old or b"").decode().splitlines(keepends=True)
            b = (f.new or b"").decode().splitlines(keepends=True)
            src = f"a/{f.rel}" if f.old is not None else "/dev/null"
            dst = f"b/{f.rel}" if f.new is not None else "/dev/null"
            out.append(f"diff --git a/{f.rel} b/{f.rel}\n")
            if f.old is None:
                out.append("new file mode 100644\n")
            elif f.new is None:
                out.append("deleted file mode 100644\n")
            out.extend(difflib.unified_diff(a, b, src, dst, n=3))
        return "".join(out)


def _yolo_insertions(layout_prefix: str) -> list[Insertion]:
    names = ", ".join(BLOCK_NAMES)
    return [
        Insertion("import of the blocks", re.compile(rf"^from {re.escape(layout_prefix)}models\.common import"),
                  [f"from yolov5_shuffle.blocks import {', '.join(IMPORT_NAMES)}  {MARK}"]),
        Insertion("BatchNorm folding in fuse()", re.compile(r"^(\s*)LOGGER\.info\(['\"]Fusing layers\.\.\. ?['\"]\)"),
                  [f"fuse_blocks(self.model)  {MARK}: fold BN inside ShuffleNetV2/MobileNetV2/DWSConv"], after=True),
        Insertion("registration in parse_model()", re.compile(r"^(\s*)elif m is nn\.BatchNorm2d:"),
                  [f"elif m in {{{names}}}:  {MARK}",
                   f"    c1, c2 = ch[f], scale_width(args[0], gw)  {MARK}: input channels in, even widths out",
                   f"    args = [c1, c2, *args[1:]]  {MARK}"]),
    ]


def _common_insertions(layout_prefix: str) -> list[Insertion]:
    return [Insertion("blocks reachable as models.common.<Name>", re.compile(r"^def autopad\("),
                      [f"from yolov5_shuffle.blocks import {', '.join(BLOCK_NAMES)}  {MARK}", ""])]


def find_tree(path: Path) -> tuple[Path, str]:
    """Return (the folder holding models/yolo.py, import prefix) or raise naming what is missing."""
    path = Path(path)
    if not path.is_dir():
        raise PatchError(f"{path}: not a folder")
    for root in (path, path / "yolov5"):
        yolo = root / "models" / "yolo.py"
        if yolo.is_file() and (root / "models" / "common.py").is_file():
            text = yolo.read_text(errors="replace")
            if "def parse_model(" not in text:
                raise PatchError(f"{yolo}: no parse_model() found; is this a YOLOv5 tree?")
            prefix = "yolov5." if re.search(r"^from yolov5\.models\.common import", text, re.M) else ""
            return root, prefix
    raise PatchError(f"{path}: not a YOLOv5 tree (no models/yolo.py and models/common.py in it or in {path}/yolov5)")


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _our_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines()) if MARK in line]


def _insert(path: Path, text: str, insertions: list[Insertion]) -> str:
    """Apply insertions to text (which must carry none of our lines)."""
    nl = _newline(text)
    lines = text.splitlines(keepends=True)
    edits = []
    for ins in insertions:
        hits = [i for i, line in enumerate(lines) if ins.anchor.match(line)]
        if len(hits) != 1:
            where = f"found at lines {', '.join(str(h + 1) for h in hits)}" if hits else "not found"
            raise PatchError(f"{path}: cannot place the {ins.what}: the line matching /{ins.anchor.pattern}/ is "
                             f"{where} (expected exactly once); unknown YOLOv5 shape or a hand edit")
        i = hits[0]
        indent = re.match(r"\s*", lines[i]).group(0)
        new = []
        for body in ins.lines:
            # blank spacer lines keep the marker so revert removes them too
            new.append((f"{indent}{body}" if body else f"{MARK}") + nl)
        edits.append((i + 1 if ins.after else i, new))
    for at, new in sorted(edits, reverse=True):
        lines[at:at] = new
    return "".join(lines)


def _revert_text(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if MARK not in line)


def _check_no_hand_edits(path: Path, text: str) -> None:
    """Refuse when our block names appear in lines we did not write (a blog-style hand registration)."""
    for n, line in enumerate(text.splitlines(), 1):
        if MARK in line:
            continue
        for name in BLOCK_NAMES:
            if re.search(rf"\b{name}\b", line):
                raise PatchError(f"{path}:{n}: '{name}' is registered by hand here ({line.strip()[:80]!r}); "
                                 "remove that edit (or restore the original file) and run again")


def _plan_source(root: Path, rel: str, insertions: list[Insertion], revert: bool) -> FilePlan:
    path = root / rel
    raw = path.read_bytes()
    text = raw.decode()
    original = _revert_text(text)
    _check_no_hand_edits(path, original)
    expected = _insert(path, original, insertions)
    if _our_lines(text) and text != expected:
        lines = text.splitlines()
        want = set(expected.splitlines())
        bad = next((i for i in _our_lines(text) if lines[i] not in want), _our_lines(text)[0])
        raise PatchError(f"{path}:{bad + 1}: a yolov5-shuffle line was changed or moved by hand "
                         f"({lines[bad].strip()[:80]!r}); restore it or revert by hand first")
    new = original if revert else expected
    return FilePlan(rel, raw, new.encode(), path.stat().st_mode)


def plan(path: Path, revert: bool = False) -> Plan:
    """Work out every byte to write, or raise PatchError; nothing is written here."""
    root, prefix = find_tree(path)
    p = Plan(root)
    p.files.append(_plan_source(root, "models/yolo.py", _yolo_insertions(prefix), revert))
    p.files.append(_plan_source(root, "models/common.py", _common_insertions(prefix), revert))
    for cfg in config_files():
        rel = f"models/{cfg.name}"
        dest = root / rel
        ours = cfg.read_bytes()
        current = dest.read_bytes() if dest.exists() else None
        if current is not None and current != ours:
            raise PatchError(f"{dest}: exists and differs from yolov5-shuffle's {cfg.name}; "
                             "rename or remove it first (nothing was changed)")
        p.files.append(FilePlan(rel, current, None if revert else ours))
    return p


def status(path: Path) -> tuple[int, str]:
    """(PATCHED | UNPATCHED | REFUSED, reason) for ``--check``."""
    try:
        p = plan(path)
    except PatchError as e:
        return REFUSED, str(e)
    if not p.changes:
        return PATCHED, f"{p.root}: patched"
    return UNPATCHED, f"{p.root}: patchable, not patched ({len(p.changes)} file(s) to change)"


def apply(p: Plan) -> list[str]:
    """Write the plan atomically: check every target first, then replace files; undo all on error."""
    for f in p.changes:
        target = p.root / f.rel
        if target.exists() and (not os.access(target, os.W_OK) or not target.stat().st_mode & stat.S_IWUSR):
            raise PatchError(f"{target}: read-only; nothing was changed")
        if not os.access(target.parent, os.W_OK):
            raise PatchError(f"{target.parent}: folder not writable; nothing was changed")
    done: list[FilePlan] = []
    try:
        for f in p.changes:
            _write(p.root / f.rel, f.new, f.mode)
            done.append(f)
    except OSError as e:
        failed = p.root / f.rel
        for g in reversed(done):
            _write(p.root / g.rel, g.old, g.mode)
        raise PatchError(f"writing {failed} failed ({e}); every file was restored") from e
    return [f.rel for f in done]


def _write(target: Path, data: bytes | None, mode: int | None) -> None:
    if data is None:
        target.unlink(missing_ok=True)
        return
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if mode is not None:
            os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
