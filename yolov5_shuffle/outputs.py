"""Files and folders written whole or not at all, the leftovers of a killed run cleaned up later, one lock rule
for everything two processes may write (:func:`locked`, :func:`exclusive`, :func:`update_json`), and output
folders checked before the work (:func:`check_out_folder`).

Every temporary name carries the writing process's id (``.<stem>-<pid>-<random>``), so a later run can
tell a folder of a run that is still going (leave it) from one of a run that was killed (remove it).
A full disk is reported with the path that could not be written, not the temporary name.

The lock rule: a target (a file, or a folder) is locked by an ``flock`` on ``.<name>.lock`` beside it, in the
target's own folder. That file is kept and reused (deleting a lock file while another process waits on it
would give the two of them different locks), it is found by every process whatever its ``$TMPDIR`` or user,
and the lock goes with the process that holds it, a killed one included. A file that several processes add
to (a table of rows) is updated under its lock: re-read, merged, checked, written whole (:func:`update_json`).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import threading
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable

from .errors import UserError

_OURS = re.compile(r"^\.(?P<stem>.+)-(?P<pid>\d+)-[a-z0-9_]{6,}(\.tmp)?$")
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_dir(parent: Path, stem: str) -> Path:
    """A hidden working folder in ``parent`` (absolute), named so that :func:`clean_stale` knows its owner."""
    return Path(tempfile.mkdtemp(prefix=f".{stem}-{os.getpid()}-", dir=Path(parent).resolve()))


def clean_stale(parent: Path, stems: tuple[str, ...]) -> list[Path]:
    """Remove the hidden temporary files and folders whose name starts with one of ``stems`` that killed
    runs of ours left in ``parent`` (those of a run still going are kept)."""
    removed = []
    parent = Path(parent)
    if not parent.is_dir():
        return removed
    for p in parent.iterdir():
        m = _OURS.match(p.name)
        if not m or not m["stem"].startswith(stems) or int(m["pid"]) == os.getpid() or _alive(int(m["pid"])):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def disk_full(e: BaseException, path: Path) -> UserError | None:
    """A one-line error naming ``path`` when ``e`` is a full disk (or quota), else None."""
    if isinstance(e, OSError) and e.errno in DISK_FULL:
        return UserError(f"{path}: cannot write it: {os.strerror(e.errno)}; free some space and run again")
    return None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(path: Path, data: str | bytes) -> None:
    """The whole file or none of it (an interrupted write leaves the old one, or nothing); the temporary name is
    unique, so two processes writing one file at once each write whole files (the last one stands)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-{os.getpid()}-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would make the report unreadable to others
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        full = disk_full(e, path)
        if full:
            raise full from None
        raise


def first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` (itself included) that does not exist yet: what making it creates."""
    path = Path(path).absolute()
    made = None
    for p in (path, *path.parents):
        if p.exists():
            break
        made = p
    return made


def remove_empty_up_to(path: Path, top: Path | None) -> None:
    """Remove ``path`` and its parents up to ``top`` while they are empty (what a failed run made)."""
    if top is None:
        return
    path, top = Path(path).absolute(), Path(top).absolute()
    for p in (path, *path.parents):
        try:
            p.rmdir()
        except OSError:
            return
        if p == top:
            return


@contextmanager
def scratch(stem: str):
    """A temporary folder in ``$TMPDIR`` for one run's exports and calibration images, removed on the way out
    (error and Ctrl-C included); one left by a killed run is removed by the next."""
    base = Path(tempfile.gettempdir())
    clean_stale(base, (stem,))
    d = temp_dir(base, stem)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


class Busy(Exception):
    """Another process holds the lock (raised by :func:`locked` with ``wait=False``)."""


def lock_file(target: Path) -> Path:
    """Where ``target``'s lock lives: ``.<name>.lock`` beside it (its real place: a link and its folder share one)."""
    target = Path(target).resolve()
    return target.with_name(f".{target.name}.lock")


_HELD: dict[tuple, int] = {}  # (lock file, thread) -> depth: a thread waiting for a lock it holds goes on


@contextmanager
def locked(target: Path, *, wait: bool = True):
    """Hold ``target``'s lock (see the module docstring) for the ``with`` block: wait for it, or raise
    :class:`Busy` at once with ``wait=False``. The folder that holds the lock file is made if missing.
    Waiting is re-entrant within a thread (a table's writer may call :func:`update_json` holding its lock);
    ``wait=False`` is not: a second run in the same process is refused like one in another process.
    Not POSIX: no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = lock_file(target)
    key = (path, threading.get_ident())
    if wait and key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # read-only is enough for flock (another user's too); never through a link: a dangling one would create
        # its target wherever it points
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UserError(f"{target}: cannot lock it: {path} is a link, not a lock file of ours; remove it "
                            "and run again") from None
        raise UserError(f"{target}: cannot lock it ({path}: {e.strerror}); is its folder writable?") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise Busy(str(target)) from None
        outer = _HELD.get(key)
        _HELD[key] = 1
        try:
            yield
        finally:
            if outer is None:
                del _HELD[key]
            else:
                _HELD[key] = outer
    finally:
        os.close(fd)  # closing the file releases the lock


@contextmanager
def exclusive(folder: Path, flag: str = "--out"):
    """One run at a time writing into ``folder`` (which may not exist yet): a second run is refused in one line
    instead of both writing (and rolling back) the same files. The lock is :func:`locked`'s, beside the folder."""
    with ExitStack() as stack:
        try:
            stack.enter_context(locked(folder, wait=False))
        except Busy:
            raise UserError(f"{flag} {folder}: another run is writing into it now; wait for it to finish "
                            f"or choose another {flag}") from None
        yield


def update_json(path: Path, merge: Callable[[Any], Any], check: Callable[[Any], None] | None = None) -> Any:
    """Add to a JSON file that other processes may add to: under ``path``'s lock, re-read it (None when there is
    none yet), ``merge`` that into what to write, ``check`` the result (raise to write nothing), write it whole.
    Returns what was written."""
    path = Path(path)
    with locked(path):
        try:
            old = json.loads(path.read_text()) if path.is_file() else None
        except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nested too deep
            raise UserError(f"{path}: not a JSON file ({e}); move it away or choose another folder") from None
        new = merge(old)
        if check is not None:
            check(new)
        write_atomically(path, json.dumps(new, indent=1) + "\n")
        return new


def check_out_folder(out: Path, flag: str = "--out") -> Path:
    """--out must be (or become) a writable folder: refused before minutes of timing (or training), not after."""
    out = Path(out)
    blocker = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not blocker.is_dir():
        raise UserError(f"{flag} {out}: {blocker} is a file, not a folder; results would be lost")
    if not os.access(blocker, os.W_OK):
        raise UserError(f"{flag} {out}: folder {blocker} is not writable; results would be lost")
    return out
