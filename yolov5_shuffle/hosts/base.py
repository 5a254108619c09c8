"""What every host answers, so that nothing else in the package has to know a host: how to recognise its tree
and what to insert where (``patch``, ``vendor``), which configs are its and where they live, how to build a
model from one, whose checkpoint a file is and how to load it, which of its scripts to run, which fixes apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..blocks import BLOCK_NAMES
from ..configs import config_dir, resolve_config
from ..errors import UserError
from ..marker import MARK, is_patched

IMPORT_NAMES = BLOCK_NAMES + ("fuse_blocks", "scale_width", "check_yaml_args")


class HostNotFound(UserError, ImportError):
    """The host's code is not importable here, or not patched."""


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
    """One host family. Subclasses set the attributes and implement what applies to them: a source tree host
    ``recognise``/``edits``/``build``/``load_checkpoint``; a package host (ultralytics) ``build`` and ``train``."""

    name: str = ""  # short id, used by ``vendor --host`` and in messages
    label: str = ""  # what a person calls it, with the versions it covers
    dialect: str = "yolov5"  # folder of yolov5_shuffle/cfg/ with its configs
    config_prefixes: tuple[str, ...] = ()  # names of the host's own configs (``yolov7`` -> yolov7-tiny.yaml)
    config_dest: str = "models"  # where the configs go inside the tree
    fixes: tuple[str, ...] = ()  # names in patching.fixes the vendor step applies for today's packages
    priority: int = 50  # lower is asked first (a more specific host before a general one)
    vendor_dir: str = ""  # folder name under third_party/ that ``vendor`` makes
    scripts = {"train": "train.py", "val": "val.py", "detect": "detect.py"}  # in the tree's root
    checkpoint_modules: tuple[str, ...] = ()  # where its pickled layers live: "whose checkpoint is this?"
    tree_signs: str = ""  # what its source tree holds, said when a folder is no host's tree
    release_weights: re.Pattern | None = None  # names its train.py downloads from the host's releases
    import_name: str = ""  # a tree that imports itself by this name (its folder's), from the folder above it
    command: str = ""  # its own command line, passed through as ``yolov5-shuffle <command>`` (run_command)
    model_code: tuple[str, ...] = ()  # modules that define its layers, imported before loading its checkpoints

    # --- source trees (patch, vendor) -----------------------------------------------------------------
    def recognise(self, path: Path) -> Tree | None:
        return None  # a host that is a package (ultralytics) has no tree to patch

    def edits(self, tree: Tree) -> dict[str, list[Insertion]]:
        """Relative source path -> insertions for it."""
        raise NotImplementedError

    def is_patched(self, root: Path) -> bool:
        return is_patched(root)

    # --- configs --------------------------------------------------------------------------------------
    def config_dir(self) -> Path:
        """Our configs for this host (yolov5_shuffle/cfg/<dialect>: :func:`yolov5_shuffle.configs.config_dir`)."""
        return config_dir(self.dialect)

    def our_configs(self) -> list[Path]:
        d = self.config_dir()
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: our config folder is missing; reinstall yolov5-shuffle")
        return sorted(d.glob("*.yaml"))

    def host_config_dirs(self) -> tuple[Path, ...]:
        """Where the host keeps its own configs (searched after ours by bare name); none when not installed."""
        return ()

    def config_dirs(self) -> tuple[Path, ...]:
        return (self.config_dir(), *self.host_config_dirs())

    def owns_config(self, cfg: str | Path) -> bool:
        """Whether a config (name or path) is written in this host's dialect: one of ours, or named like its own."""
        name = Path(cfg).name
        return name in {p.name for p in self.our_configs()} or name.startswith(self.config_prefixes)

    def resolve_config(self, cfg: str | Path) -> Path:
        """The file for a config name or path (ours first, then the host's); FileNotFoundError naming the closest."""
        return resolve_config(cfg, extra_dirs=self.host_config_dirs(), folder=self.config_dir())

    def knows_config(self, cfg: str | Path) -> bool:
        """Whether ``cfg`` will resolve once the host is set up (checked before minutes of other work)."""
        try:
            self.resolve_config(cfg)
            return True
        except FileNotFoundError:
            return False

    def check_config(self, path: Path) -> None:
        """Refuse a config this host cannot build, naming the layer (before anything is built)."""

    def build(self, cfg: str | Path, nc: int | None = 80, fused: bool = True):
        """The model of ``cfg``: fused and in eval mode (export form), or as training starts (``fused=False``)."""
        raise NotImplementedError(f"{self.label} cannot build models here")

    def train(self, cfg: str, data: Path, epochs: int, imgsz: int, project: Path, batch: int, seed: int = 0,
              hyp: Path | None = None) -> Path:
        """Train ``cfg`` from scratch with the host's own trainer (AdamW, the knobs of the hyp yaml ``hyp``); the
        new run folder, holding results.csv and weights/best.pt. A host with a train.py in ``scripts`` is trained
        by :func:`yolov5_shuffle.host_scripts.train_from_scratch` instead (it vendors and patches the tree)."""
        raise UserError(f"config {cfg}: {self.label} has no trainer here")

    # --- checkpoints ----------------------------------------------------------------------------------
    def owns_checkpoint(self, names: set[str]) -> bool:
        """Whether a checkpoint whose pickle names these globals (``module.Class``) was written by this host."""
        return any(n.startswith(self.checkpoint_modules) for n in names) if self.checkpoint_modules else False

    def import_model_code(self) -> None:
        """Import the code that defines this host's layers: a checkpoint's classes resolve only from modules
        already imported (loading one never imports what the file names)."""
        import importlib

        for name in self.model_code:
            importlib.import_module(name)

    def import_code_in_use(self) -> None:
        """In a process running this host's own code (its scripts), import the rest of the code that defines its
        layers, as its scripts' checkpoint loading expects (decided by what this process runs, never by a file)."""

    def load_checkpoint(self, path: Path):
        """(fused eval model in export form, {id: class name}, stride) of a training checkpoint of this host."""
        raise UserError(f"weights {path}: a {self.label} checkpoint; this command cannot load it")

    def run_command(self, argv: list[str]) -> int:
        """The host's own command line (``command``) with ``argv``; its exit code."""
        raise UserError(f"{self.label} has no command line here")

    def hint(self, job: str, path: Path) -> str:
        """How to do ``job`` (train, detect) with a file of this host, for messages that refuse it elsewhere."""
        return f"use {self.label}'s own tools"

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
