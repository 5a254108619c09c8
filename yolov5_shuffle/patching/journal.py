"""The journal of a patch run, written before the first file changes, and the only journal a run replays.

``patch`` saves every original byte in ``.yolov5-shuffle-journal`` in the tree's root before it changes a
file; the manifest, written last, makes the journal count, and removing it first is the commit. An
interrupted run is rolled back from it, at once or by the next run. A journal is a list of files to write,
so a run replays one only when all of this holds, checked before any byte is written:

- it was written for this very folder: the manifest records the tree folder's inode number, which a copy,
  a clone, a download or an unpacked archive does not keep (a journal exists only to survive a crash of a
  run on this machine, and a tree that travelled with one is not that);
- its folder and files are plain (no links) and belong to the user running now;
- the manifest is this version's (a mapping of known keys, bounded in size); each entry names, as given, one
  of the files a patch of this tree writes (the host's edited sources, our config destinations), its saved
  copy is a plain file inside the journal folder, its mode is used as permission bits only (``& 0o777``);
- replaying it changes only what a patch changes: a saved source differs from the file now only by lines
  carrying our marker, a config is ours or absent; and no path leads out of the tree through a link.

Anything else is refused in one line naming the journal, and nothing is written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..hosts.base import PatchError
from ..marker import without_our_lines

JOURNAL = ".yolov5-shuffle-journal"  # in the tree's root while a write is under way
TMP_PREFIX = ".yolov5-shuffle-tmp."
MANIFEST = "manifest.json"
FORMAT = "yolov5-shuffle patch journal 2"
MAX_MANIFEST = 1 << 20  # a manifest names a handful of files
MAX_SAVED = 64 << 20  # a saved host source or config (theirs are well under 1 MB)
_SAVED_NAME = re.compile(r"\d{1,4}\.orig")


@dataclass(frozen=True)
class Entry:
    rel: str
    old: bytes | None  # None: the file did not exist (one of our configs)
    mode: int | None  # permission bits to restore, or None for the umask's


def target_in_tree(root: Path, rel: str) -> Path:
    """The file ``rel`` names in the tree, links followed; refused when it, or a folder on its way, is a link
    that leads out of the tree (dangling or not): a patch writes only inside the tree."""
    path = Path(root) / rel
    try:
        top, real = Path(root).resolve(), path.resolve()
    except (OSError, RuntimeError) as e:  # a link loop
        raise PatchError(f"{path}: cannot follow its links ({e}); nothing was changed") from None
    if not real.is_relative_to(top):
        raise PatchError(f"{path}: a link leads out of the tree (to {real}); yolov5-shuffle writes only inside "
                         f"{top}: replace the link with the file itself; nothing was changed")
    return real


def folder_id(root: Path) -> int:
    """What names the tree folder a journal was written in: its inode number (kept by a rename, not by a copy)."""
    return os.stat(root).st_ino


# --- writing ---------------------------------------------------------------------------------------

def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_file(target: Path, data: bytes | None, mode: int | None) -> None:
    """Replace target's bytes atomically, through a temporary file beside it (links to the target are followed;
    a link planted at the temporary name is removed, never written through). ``None`` deletes the file."""
    target = target.resolve() if target.is_symlink() else target
    if data is None:
        target.unlink(missing_ok=True)
        return
    tmp = target.parent / f"{TMP_PREFIX}{target.name}"
    tmp.unlink(missing_ok=True)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, (mode if mode is not None else _umask_mode()) & 0o777)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write(root: Path, changes: Iterable[tuple[str, bytes | None, int | None]]) -> Path:
    """Save every original (rel, bytes or None, mode) in root/JOURNAL; the manifest, written last, makes it count."""
    journal = Path(root) / JOURNAL
    journal.mkdir()
    entries = []
    for i, (rel, old, mode) in enumerate(changes):
        if old is not None:
            (journal / f"{i}.orig").write_bytes(old)
        entries.append({"rel": rel, "orig": f"{i}.orig" if old is not None else None,
                        "mode": None if mode is None else stat.S_IMODE(mode) & 0o777})
    manifest = {"format": FORMAT, "folder": folder_id(root), "entries": entries}
    (journal / "manifest.tmp").write_text(json.dumps(manifest))
    os.replace(journal / "manifest.tmp", journal / MANIFEST)
    return journal


# --- reading: every check before any write ---------------------------------------------------------

def _refused(journal: Path, why: str) -> PatchError:
    return PatchError(f"{journal}: not replayed: {why}; nothing was changed (a journal is replayed only in the "
                      "folder where yolov5-shuffle wrote it: check the files it names, delete it and run again)")


def _saved(journal: Path, name: str, limit: int) -> bytes:
    """The bytes of journal/name: a plain file of the current user's, not a link, at most ``limit`` bytes."""
    path = journal / name
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise _refused(journal, f"its {name} is missing") from None
    if not stat.S_ISREG(st.st_mode):
        raise _refused(journal, f"its {name} is a link or not a plain file")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise _refused(journal, f"its {name} belongs to another user")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise _refused(journal, f"its {name} is larger than {limit} bytes")
    return data


def _current(target: Path) -> bytes | None:
    return target.read_bytes() if target.is_file() else None


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def _entry(root: Path, journal: Path, n: int, e, allowed: dict[str, bytes | None], seen: set) -> Entry:
    """One manifest entry checked: where it writes, what it saved, that replaying it undoes only a patch."""
    if not isinstance(e, dict) or set(e) != {"rel", "orig", "mode"}:
        raise _refused(journal, f"entry {n} is not a mapping of rel, orig and mode")
    rel, orig, mode = e["rel"], e["orig"], e["mode"]
    if not isinstance(rel, str) or rel not in allowed or rel in seen:
        raise _refused(journal, f"entry {n} names {rel!r}, not one of the files a patch of this tree writes "
                                f"({', '.join(sorted(allowed))})")
    seen.add(rel)
    if mode is not None and (type(mode) is not int or not 0 <= mode <= 0o177777):
        raise _refused(journal, f"entry {n} ({rel}): mode {mode!r} is not a file mode")
    if orig is not None and (not isinstance(orig, str) or not _SAVED_NAME.fullmatch(orig)):
        raise _refused(journal, f"entry {n} ({rel}): its saved copy {orig!r} is not a file in the journal")
    old = None if orig is None else _saved(journal, orig, MAX_SAVED)
    now = _current(target_in_tree(root, rel))
    ours = allowed[rel]
    if ours is None:  # a host source: replaying may add or remove only our marked lines
        if old is None or now is None or without_our_lines(_text(old)) != without_our_lines(_text(now)):
            raise _refused(journal, f"entry {n}: the saved {rel} differs from the file by more than "
                                    "yolov5-shuffle's lines")
    elif old not in (None, ours) or now not in (None, ours):
        raise _refused(journal, f"entry {n}: {rel} is not yolov5-shuffle's config, saved or now")
    return Entry(rel, old, None if mode is None else mode & 0o777)


def read(root: Path, allowed: dict[str, bytes | None]) -> list[Entry] | None:
    """The journal's entries, every one checked (see the module's docstring), or None when there is no journal
    to replay (none, or one whose manifest is gone: a commit or a start that was interrupted). ``allowed``:
    each file a patch of this tree writes -> our bytes for a config, None for a host source."""
    journal = Path(root) / JOURNAL
    try:
        st = os.lstat(journal)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        raise _refused(journal, "it is a link or a file, not a folder")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise _refused(journal, "it belongs to another user")
    if not os.path.lexists(journal / MANIFEST):
        return None
    try:
        m = json.loads(_saved(journal, MANIFEST, MAX_MANIFEST))
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        raise _refused(journal, f"its {MANIFEST} is not JSON") from None
    if not isinstance(m, dict) or set(m) != {"format", "folder", "entries"} or m["format"] != FORMAT:
        raise _refused(journal, f"its {MANIFEST} is not one this version of yolov5-shuffle writes")
    if type(m["folder"]) is not int or m["folder"] != folder_id(root):
        raise _refused(journal, "it was written in another folder (this tree was copied, cloned or unpacked with it)")
    entries = m["entries"]
    if not isinstance(entries, list) or len(entries) > len(allowed):
        raise _refused(journal, f"its entries are not a list of at most {len(allowed)}")
    seen: set = set()
    return [_entry(root, journal, n, e, allowed, seen) for n, e in enumerate(entries, 1)]


# --- replaying and removing ------------------------------------------------------------------------

def recover(root: Path, allowed: dict[str, bytes | None]) -> list[str]:
    """Roll back what an interrupted run left (its journal and temporary files); return what was restored.
    The whole journal is checked first: a journal that fails is refused and nothing is written."""
    journal = Path(root) / JOURNAL
    entries = read(root, allowed)
    restored = []
    for e in entries or []:
        target = target_in_tree(root, e.rel)
        if _current(target) != e.old:
            write_file(target, e.old, e.mode)
            restored.append(e.rel)
        remove_debris(target.parent)
    drop(journal)
    return restored


def drop(journal: Path) -> None:
    """Remove a journal: its manifest first (from then on it no longer counts), then the rest; an
    interruption in between leaves only a manifest-less folder, which the next run just deletes."""
    if not journal.exists() or journal.is_symlink():
        return
    try:
        (journal / MANIFEST).unlink(missing_ok=True)
        shutil.rmtree(journal)
    except BaseException:
        shutil.rmtree(journal, ignore_errors=True)
        raise


def remove_debris(folder: Path) -> None:
    """The temporary files an interrupted write left beside its target (a link there is removed, not followed)."""
    for tmp in folder.glob(f"{TMP_PREFIX}*"):
        if tmp.is_symlink() or not tmp.is_dir():
            tmp.unlink(missing_ok=True)
