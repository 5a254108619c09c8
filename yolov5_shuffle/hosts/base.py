"""What every host module answers: how to recognise its tree, what to insert where, which configs and
compatibility fixes apply. The patch and vendor steps read only this interface.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

MARK = "# yolov5-shuffle"  # every line we add ends in this; "patched" and revert are decided by it
BLOCK_NAMES = ("ShuffleNetV2_InvertedResidual", "conv_bn_relu_maxpool", "MobileNetV2_Stem", "MobileNetV2_Block",
               "DWSConv")
IMPORT_NAMES = BLOCK_NAMES + ("fuse_blocks", "scale_width", "check_yaml_args")


class PatchError(UserError):
    """The tree cannot be patched (or reverted); the message names the file and line."""


@dataclass(frozen=True)
class Insertion:
    """Lines to insert before (or after) the single line matching ``anchor``, at that line's indentation."""

    what: str
    anchor: re.Pattern
    lines: tuple[str, ...]
    after: bool = False


@dataclass(frozen=True)
class Tree:
    """A recognised host tree: which host, the folder holding models/yolo.py, and its import prefix."""

    host: "Host"
    root: Path
    prefix: str = ""  # "yolov5." for the PyPI packaging, whose code imports yolov5.models...


class Host:
    """One host family. Subclasses set the attributes and implement ``recognise`` and ``edits``."""

    name: str = ""  # short id, used by ``vendor --host`` and in messages
    label: str = ""  # what a person calls it, with the versions it covers
    dialect: str = "yolov5"  # folder of yolov5_shuffle/cfg/ with its configs
    config_dest: str = "models"  # where the configs go inside the tree
    fixes: tuple[str, ...] = ()  # names in hosts.fixes the vendor step applies for today's packages
    priority: int = 50  # lower is asked first (a more specific host before a general one)
    vendor_dir: str = ""  # folder name under third_party/ that ``vendor`` makes

    def recognise(self, path: Path) -> Tree | None:
        raise NotImplementedError

    def edits(self, tree: Tree) -> dict[str, list[Insertion]]:
        """Relative source path -> insertions for it."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<host {self.name}>"


def parse_model_registration(prefix: str, fuse_anchor: str) -> dict[str, list[Insertion]]:
    """The edits of a YOLOv5-style ``models/yolo.py`` (YOLOv5 v6.0..master, YOLOv7): import the blocks,
    fold their BatchNorms in ``fuse()``, register them in ``parse_model`` like YOLOv5's ``Conv``."""
    names = ", ".join(BLOCK_NAMES)
    yolo = [
        Insertion("import of the blocks", re.compile(rf"^from {re.escape(prefix)}models\.common import"),
                  (f"from yolov5_shuffle.blocks import {', '.join(IMPORT_NAMES)}  {MARK}",)),
        Insertion("BatchNorm folding in fuse()", re.compile(fuse_anchor),
                  (f"fuse_blocks(self.model)  {MARK}: fold BN inside ShuffleNetV2/MobileNetV2/DWSConv",), after=True),
        Insertion("registration in parse_model()", re.compile(r"^(\s*)elif m is nn\.BatchNorm2d:"),
                  (f"elif m in {{{names}}}:  {MARK}",
                   f"    check_yaml_args(m, args, i, ch[f], n, gw)  {MARK}: a bad row names its layer and argument",
                   f"    c1, c2 = ch[f], scale_width(args[0], gw)  {MARK}: input channels in, even widths out",
                   f"    args = [c1, c2, *args[1:]]  {MARK}")),
    ]
    common = [Insertion("blocks reachable as models.common.<Name>", re.compile(r"^def autopad\("),
                        (f"from yolov5_shuffle.blocks import {', '.join(BLOCK_NAMES)}  {MARK}", ""))]
    return {"models/yolo.py": yolo, "models/common.py": common}


def read_text(path: Path) -> str:
    """A source file's text, refusing clearly when it is not UTF-8."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PatchError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); the host's "
                         "sources are UTF-8: re-save it as UTF-8 (or restore the original) and run again") from e
