"""Files and folders written whole or not at all, the leftovers of a killed run cleaned up later, one run at a
time per output folder (:func:`exclusive`), and output folders checked before the work (:func:`check_out_folder`).

Every temporary name carries the writing process's id (``.<stem>-<pid>-<random>``), so a later run can
tell a folder of a run that is still going (leave it) from one of a run that was killed (remove it).
A full disk is reported with the path that could not be written, not the temporary name.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

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


def write_atomically(path: Path, text: str) -> None:
    """The whole file or none of it (an interrupted write leaves the old one, or nothing)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-{os.getpid()}-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would make the report unreadable to others
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
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


@contextmanager
def exclusive(folder: Path, flag: str = "--out"):
    """One run at a time writing into ``folder`` (which may not exist yet): a second run is refused in one line
    instead of both writing (and rolling back) the same files. The lock is a ``flock`` on a file in ``$TMPDIR``
    named by the folder's absolute path, so it goes with its process, a killed one included."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        fcntl = None
    fd = None
    if fcntl is not None:
        key = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:24]
        fd = os.open(Path(tempfile.gettempdir()) / f"yolov5-shuffle-{key}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UserError(f"{flag} {folder}: another run is writing into it now; wait for it to finish "
                            f"or choose another {flag}") from None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def check_out_folder(out: Path, flag: str = "--out") -> Path:
    """--out must be (or become) a writable folder: refused before minutes of timing (or training), not after."""
    out = Path(out)
    blocker = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not blocker.is_dir():
        raise UserError(f"{flag} {out}: {blocker} is a file, not a folder; results would be lost")
    if not os.access(blocker, os.W_OK):
        raise UserError(f"{flag} {out}: folder {blocker} is not writable; results would be lost")
    return out
