"""One base class for the errors a user can fix.

Raise :class:`UserError` (or a subclass) with a one-line message that names the file (``path:line``
where there is one), the layer (``layer 3 ShuffleNetV2_InvertedResidual``) or the argument (``--imgsz``)
and says what would be accepted. The command line prints it as ``yolov5-shuffle <command>: <message>``
and exits 2, with no traceback unless ``--verbose`` (see :mod:`yolov5_shuffle.cli`).
"""

from contextlib import contextmanager
from typing import Iterator

EXIT_OK, EXIT_USER, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 2, 3, 130


class UserError(Exception):
    pass


class UnknownChoice(UserError, ValueError):
    """A name that is not one of a registry's (a host, a runtime): the message names the choices."""

    def __init__(self, kind: str, name: str, choices) -> None:
        self.choices = tuple(choices)
        super().__init__(f"unknown {kind} {name!r}; one of {', '.join(self.choices)}")


def one_line(message: object, limit: int | None = None) -> str:
    """The first line of a message (an exception's class name when it says nothing), cut at ``limit``
    characters: what a one-line error or a table cell shows."""
    lines = str(message).strip().splitlines()
    line = lines[0] if lines else (type(message).__name__ if isinstance(message, BaseException) else "")
    return line if limit is None else line[:limit]


@contextmanager
def user_path(what: str, path: object, inside: bool = False) -> Iterator[None]:
    """Around reading (or writing) a file or folder the user named: an OSError there (no permission, a folder
    where a file should be, a full disk) is theirs to fix, so it becomes a one-line UserError naming ``what``
    (``--data``, ``weights``) and the path. Anywhere else an OSError is a bug: the command line exits 3.
    ``inside``: around long work that also touches other files, only an OSError naming ``path``, a file under it
    or beside it is the user's."""
    try:
        yield
    except UserError:
        raise
    except OSError as e:
        if inside and e.filename and not _within(e.filename, path):
            raise  # not the folder the user named, nor beside it: ours, a bug
        inner = f"{e.filename}: " if e.filename and str(e.filename) != str(path) else ""
        raise UserError(f"{what} {path}: {inner}{e.strerror or e}") from e


def _within(name: object, path: object) -> bool:
    """Whether the file an OSError names is ``path``, a folder on its way (made for it), lies under it, or under a
    hidden sibling made for it (the temporary folder and lock an output is written through: ``.<name>-<pid>-...``,
    ``.<name>.lock``)."""
    import os

    try:
        f, p = os.path.realpath(os.fsdecode(name)), os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return True
    if p.startswith(f.rstrip(os.sep) + os.sep):
        return True
    parent, base = os.path.split(p)
    rel = os.path.relpath(f, parent)
    first = rel.split(os.sep)[0]
    return not rel.startswith("..") and (first == base or first.startswith(f".{base}"))
