"""A stranger's file read whole, within bounds, before anything looks at what it says.

What kind of file it is comes first (a folder, a FIFO or a device is refused by what it is: a FIFO is
never waited on, /dev/zero never read), then its size (never more than ``limit`` bytes read), then its
text (UTF-8, no NUL). For YAML, its events are counted before anything is built from them: no anchors
or aliases (a few hundred bytes of nested aliases stand for gigabytes of values), at most ``max_nodes``
values, nested at most ``max_depth`` deep. Every refusal is one line, raised as the caller's
:class:`~yolov5_shuffle.errors.UserError` subclass, naming what the file is for and its path.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml

from ..errors import UserError, one_line

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where PyYAML has it: the same values, faster
_NODES = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)


def _kind(mode: int) -> str | None:
    """None for a regular file, else what it is (in words)."""
    if stat.S_ISREG(mode):
        return None
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def _size(n: int) -> str:
    return f"{n / 2 ** 20:.0f} MiB" if n >= 2 ** 20 else f"{n} bytes"


def read_bytes(path: Path, what: str, limit: int, error: type[UserError] = UserError) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; ``error`` naming ``what`` and the path otherwise."""
    path = Path(path)
    try:
        kind = _kind(os.stat(path).st_mode)  # before opening: a device is not even opened
        if kind:
            raise error(f"{what} {path}: {kind}, not a file")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO swapped in: open does not wait
    except FileNotFoundError:
        raise error(f"{what} {path}: no such file") from None
    except PermissionError:
        raise error(f"{what} {path}: not readable (permission denied)") from None
    except OSError as e:
        raise error(f"{what} {path}: cannot be opened ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        kind = _kind(st.st_mode)
        if kind:
            raise error(f"{what} {path}: {kind}, not a file")
        if st.st_size > limit:
            raise error(f"{what} {path}: {_size(st.st_size)}, more than the {_size(limit)} one may hold")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:  # grew while read
        raise error(f"{what} {path}: more than the {_size(limit)} one may hold")
    return data


def read_text(path: Path, what: str, limit: int, error: type[UserError] = UserError, kind: str = "YAML") -> str:
    """A bounded file as UTF-8 text; binary content (a NUL, bytes that are not UTF-8) is refused at its offset."""
    raw = read_bytes(path, what, limit, error)
    try:
        text = raw.decode("utf-8")
        if "\x00" in text:
            raise UnicodeDecodeError("utf-8", raw, text.index("\x00"), text.index("\x00") + 1, "NUL byte")
    except UnicodeDecodeError as e:
        raise error(f"not a {kind} {what}: {path} (binary content: byte 0x{raw[e.start]:02x} at offset "
                    f"{e.start})") from None
    return text


def yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error in a few words: ``line L, column C: problem``."""
    mark = getattr(e, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]
    return f"{where}{problem}"


def _count_events(text: str, path: Path, what: str, max_nodes: int, max_depth: int, error) -> None:
    """Walk the YAML events (no value is built): refuse anchors, aliases, more than max_nodes values or nesting
    deeper than max_depth, at the first one seen."""
    nodes = depth = 0
    for ev in yaml.parse(text, Loader=_LOADER):
        line = f"line {ev.start_mark.line + 1}" if ev.start_mark is not None else "somewhere"
        if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None) is not None:
            raise error(f"{what} {path}: {line}: YAML anchors and aliases (&name, *name) are not accepted here; "
                        "write the values out")
        if isinstance(ev, _NODES):
            nodes += 1
            if nodes > max_nodes:
                raise error(f"{what} {path}: more than {max_nodes} values; one holds far fewer")
        if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > max_depth:
                raise error(f"{what} {path}: {line}: nested more than {max_depth} deep")
        elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def load_yaml(path: Path, what: str, *, limit: int, max_nodes: int, max_depth: int,
              error: type[UserError] = UserError) -> object:
    """The plain values of a bounded YAML file (yaml.safe_load's types), or ``error`` in one line."""
    text = read_text(path, what, limit, error)
    try:
        _count_events(text, path, what, max_nodes, max_depth, error)
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as e:
        raise error(f"not a YAML {what}: {path}: not valid YAML ({yaml_problem(e)})") from None
    except ValueError as e:  # a value its constructor cannot build: an int of over 4300 digits, a 13th month
        raise error(f"not a YAML {what}: {path}: a value that cannot be read ({one_line(e, 120)})") from None
