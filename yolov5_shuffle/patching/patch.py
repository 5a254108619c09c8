"""Register our blocks in a host tree: plan, check, dry-run, all-or-nothing apply, byte-exact revert.

Every edit is a pure insertion of lines that end in the marker ``# yolov5-shuffle`` (plus our config
files), so "patched" is decided by reading the files, a second run finds nothing to do, and revert
deletes exactly our lines. Anything that looks hand-edited, and any path that a link leads out of the
tree, stops the whole plan before a byte is written. Writing is journalled (like a database,
:mod:`.journal`): the original bytes are saved in the tree before the first file changes, so an
interrupted run (Ctrl-C, a kill, a full disk) is rolled back, at once or by the next run, and the tree is
either untouched or fully patched. Only a journal this tool wrote in this folder is replayed.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..hosts import find
from ..hosts.base import MARK, Insertion, PatchError, Tree, read_text
from ..blocks import BLOCK_NAMES
from ..marker import as_older_release, without_our_lines
from . import journal
from .journal import JOURNAL, TMP_PREFIX, target_in_tree  # noqa: F401  (JOURNAL, TMP_PREFIX: named as patch.* too)

PATCHED, UNPATCHED, REFUSED = 0, 1, 2  # --check exit codes
_write = journal.write_file  # one name, so that tests can fail a write


@dataclass
class FilePlan:
    rel: str
    old: bytes | None  # None: a new file
    new: bytes | None  # None: delete the file
    mode: int | None = None  # the existing file's mode (kept); new files get the umask's


@dataclass
class Plan:
    tree: Tree
    files: list[FilePlan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what a revert left alone, links followed
    older: list[str] = field(default_factory=list)  # files patched by an older yolov5-shuffle, upgraded

    @property
    def root(self) -> Path:
        return self.tree.root

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


# --- planning (reads only) -------------------------------------------------------------------------

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
                             f"{where} (expected exactly once); unknown host version or a hand edit")
        i = hits[0]
        indent = re.match(r"\s*", lines[i]).group(0)
        # blank spacer lines keep the marker so revert removes them too
        new = [(f"{indent}{body}" if body else MARK) + nl for body in ins.lines]
        edits.append((i + 1 if ins.after else i, new))
    for at, new in sorted(edits, reverse=True):
        lines[at:at] = new
    return "".join(lines)


def _check_no_hand_edits(path: Path, text: str) -> None:
    """Refuse when our block names appear in lines we did not write (a blog-style hand registration)."""
    for n, line in enumerate(text.splitlines(), 1):
        for name in BLOCK_NAMES:
            if re.search(rf"\b{name}\b", line):
                raise PatchError(f"{path}:{n}: '{name}' is registered by hand here ({line.strip()[:80]!r}); "
                                 "remove that edit (or restore the original file) and run again")


def _plan_source(p: Plan, rel: str, insertions: list[Insertion], revert: bool) -> FilePlan:
    path = p.root / rel
    raw = path.read_bytes()
    text = read_text(path)
    original = without_our_lines(text)
    mode = stat.S_IMODE(path.stat().st_mode)
    if revert:  # remove what is ours; the anchors may have been edited since, that is the user's
        return FilePlan(rel, raw, original.encode(), mode)
    _check_no_hand_edits(path, original)
    expected = _insert(path, original, insertions)
    if _our_lines(text) and text != expected:
        if text == as_older_release(expected):  # exactly what an older yolov5-shuffle wrote: upgrade it
            p.older.append(rel)
            p.notes.append(f"{path}: patched by an older yolov5-shuffle; its lines are upgraded to this version's")
            return FilePlan(rel, raw, expected.encode(), mode)
        lines = text.splitlines()
        want = set(expected.splitlines())
        stale = [i for i in _our_lines(text) if lines[i] not in want]
        bad = next(iter(stale), _our_lines(text)[0])
        raise PatchError(f"{path}:{bad + 1}: a yolov5-shuffle line was changed or moved by hand, or written by a "
                         f"yolov5-shuffle this version does not know ({lines[bad].strip()[:80]!r}); "
                         f"`yolov5-shuffle patch --revert {p.root}` removes every such line (then patch again), "
                         "or restore the file")
    return FilePlan(rel, raw, expected.encode(), mode)


def _plan_configs(tree: Tree, revert: bool, notes: list[str]) -> list[FilePlan]:
    out = []
    for cfg in tree.host.our_configs():
        rel = f"{tree.host.config_dest}/{cfg.name}"
        target_in_tree(tree.root, rel)  # a (dangling) link out of the tree is refused before anything is read
        dest = tree.root / rel
        ours = cfg.read_bytes()
        current = dest.read_bytes() if dest.exists() else None
        if current is not None and current != ours:
            if revert:
                notes.append(f"{dest}: differs from yolov5-shuffle's {cfg.name} (edited or someone else's); left in place")
                continue
            raise PatchError(f"{dest}: exists and differs from yolov5-shuffle's {cfg.name}; "
                             "rename or remove it first (nothing was changed)")
        out.append(FilePlan(rel, current, None if revert else ours))
    return out


def journal_rules(tree: Tree) -> dict[str, bytes | None]:
    """What a journal of this tree may name: each host source a patch edits (None) and each of our config
    destinations (-> our bytes)."""
    rules: dict[str, bytes | None] = {rel: None for rel in tree.host.edits(tree)}
    for cfg in tree.host.our_configs():
        rules[f"{tree.host.config_dest}/{cfg.name}"] = cfg.read_bytes()
    return rules


def plan(path: Path, revert: bool = False) -> Plan:
    """Work out every byte to write, or raise PatchError; nothing is written here."""
    tree = find(path)
    if os.path.lexists(tree.root / JOURNAL):
        journal.read(tree.root, journal_rules(tree))  # one that may not be replayed is refused, saying why
        raise PatchError(f"{tree.root / JOURNAL}: an interrupted yolov5-shuffle run left this journal; run "
                         f"`yolov5-shuffle patch {path}` (or with --revert) to roll it back first")
    p = Plan(tree)
    for rel, insertions in tree.host.edits(tree).items():
        real = target_in_tree(tree.root, rel)
        p.files.append(_plan_source(p, rel, insertions, revert))
        if (tree.root / rel).is_symlink():
            p.notes.append(f"{tree.root / rel} is a link: editing its target {real}")
    p.files += _plan_configs(tree, revert, p.notes)
    return p


def _unwritable(p: Plan) -> str | None:
    """Why the plan could not be written (a read-only file or folder), or None."""
    for f in p.changes:
        target = (p.root / f.rel).resolve()
        if target.exists() and (not os.access(target, os.W_OK) or not target.stat().st_mode & stat.S_IWUSR):
            return f"{target}: read-only; nothing was changed"
        if not os.access(target.parent, os.W_OK):
            return f"{target.parent}: folder not writable; nothing was changed"
    if p.changes and not os.access(p.root, os.W_OK):
        return f"{p.root}: folder not writable (the journal goes there); nothing was changed"
    return None


def status(path: Path) -> tuple[int, str]:
    """(PATCHED | UNPATCHED | REFUSED, reason) for ``--check``."""
    try:
        p = plan(path)
    except PatchError as e:
        return REFUSED, str(e)
    if not p.changes:
        return PATCHED, f"{p.root}: patched ({p.tree.host.label})"
    why = _unwritable(p)
    if why:
        return REFUSED, why.replace("; nothing was changed", "; cannot patch")
    if p.older:
        return UNPATCHED, (f"{p.root}: patched by an older yolov5-shuffle ({p.tree.host.label}); "
                           f"`yolov5-shuffle patch {p.root}` upgrades it ({len(p.changes)} file(s) to change)")
    return UNPATCHED, f"{p.root}: patchable {p.tree.host.label}, not patched ({len(p.changes)} file(s) to change)"


# --- writing (all or nothing) ----------------------------------------------------------------------

def recover(tree: Tree) -> list[str]:
    """Roll back what an interrupted run left in the tree (after checking its journal); what was restored."""
    return journal.recover(tree.root, journal_rules(tree))


@contextmanager
def locked(root: Path):
    """Hold an exclusive lock on the tree's folder: two runs at once queue instead of interleaving."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks on folders; runs are still journalled
        yield
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def apply(p: Plan) -> list[str]:
    """Write the plan all-or-nothing; on any failure or interruption every file gets its old bytes back."""
    why = _unwritable(p)
    if why:
        raise PatchError(why)
    changes = p.changes
    folder = p.root / JOURNAL
    try:
        journal.write(p.root, [(f.rel, f.old, f.mode) for f in changes])
        for f in changes:
            _write(p.root / f.rel, f.new, f.mode)
        (folder / journal.MANIFEST).unlink()  # the commit: from here on the new bytes stand
    except BaseException as e:
        recover(p.tree)  # with the manifest: every file gets its old bytes back; without: journal removed
        if isinstance(e, OSError):
            raise PatchError(f"writing {p.root} failed ({e}); every file was restored") from e
        raise
    journal.drop(folder)
    return [f.rel for f in changes]


def run(path: Path, revert: bool = False) -> tuple[Plan, list[str], list[str]]:
    """Recover an interrupted run, plan, apply: (plan, files written, files a recovery restored)."""
    tree = find(path)
    with locked(tree.root):
        restored = recover(tree)
        p = plan(path, revert=revert)
        written = apply(p) if p.changes else []
    return p, written, restored
