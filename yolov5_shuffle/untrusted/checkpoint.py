"""Load a ``.pt`` checkpoint a stranger gave us without running code from it, at a bounded cost: the one
place that does (our commands, the registry's hosts, and the vendored host trees' own ``torch.load``, through
the vendor fix ``torch_load_safe``).

YOLOv5, YOLOv7, ultralytics' and our own checkpoints pickle whole models, and plain unpickling rebuilds
them by calling whatever the file names. Here a file is read in two steps:

1. The zip (:func:`_layout`), before torch reads a record of it: a zip archive whose records all sit in one
   folder, stored uncompressed as torch writes them (a compressed record could expand without bound), at
   most :data:`MAX_RECORDS` of them, one ``data.pkl`` of at most :data:`MAX_PICKLE_BYTES`, no two names that
   differ only in case (torch's reader ignores case), and the same records, sizes and offsets in torch's
   reader as in Python's. A non-zip is refused (a torch < 1.6 legacy file by name).
2. The pickle, by ``torch.load`` itself with :mod:`.checkpoint_pickle`'s unpickler as its ``pickle_module``:
   the checks run in the unpickler torch drives, so the pickle checked is the pickle loaded, however the
   file is laid out. What it allows and what it costs: that module.

Refusals are :class:`CheckpointRefused` (a :class:`~yolov5_shuffle.errors.UserError`: one line, exit 2)
naming what the file needed. A file you trust: ``YOLOV5_SHUFFLE_TRUST_CHECKPOINTS=1`` unpickles it plainly
(it can then run code).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError, one_line
from .checkpoint_pickle import TRUST_ENV, CheckpointRefused, pickle_module

__all__ = ["CheckpointRefused", "TRUST_ENV", "check_calls", "load", "trusted"]

MAX_RECORDS = 100_000  # a genuine checkpoint holds one per tensor storage: a few thousand
MAX_PICKLE_BYTES = 32 << 20  # genuine: model, EMA and optimizer of yolov5x6 pickle to 0.5 MiB
MAX_DIRECTORY_BYTES = 64 << 20  # the zip's central directory, read whole before any record
_ZIP = b"PK\x03\x04"
_LEGACY = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1]  # torch < 1.6 files start with this number


def trusted() -> bool:
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


# ------------------------------------------------------------------------------------------------ public
def load(f, map_location=None, *, modules: tuple[str, ...] = (), **kwargs):
    """``torch.load`` for a checkpoint from anyone: the zip checked, then unpickled by our unpickler
    (``modules``: the host model module prefixes whose classes it may create; they must be imported already).
    ``weights_only``/``pickle_module`` given by a caller are ignored. ``f``: a path or a seekable binary file."""
    import torch

    kwargs.pop("weights_only", None)
    kwargs.pop("pickle_module", None)
    if trusted():
        return torch.load(f, map_location=map_location, weights_only=False, **kwargs)
    with _opened(f) as (fh, path):
        obj = _unpickle(fh, path, _layout(fh, path), map_location, tuple(modules), dry=False, **kwargs)
    _check_embedded_yaml(obj, path)
    return obj


def check_calls(path: Path, modules: tuple[str, ...] = ()) -> set[str]:
    """Refuse a file that is not a checkpoint or whose pickle does anything a genuine checkpoint does not, before
    anything else reads it (a host's script, ultralytics); else the ``module.name`` of every global it uses: whose
    checkpoint it is. The same unpickling as :func:`load`, with tensors on torch's ``meta`` device (no data read)
    and the classes of ``modules`` not imported here standing in for themselves (created, never called)."""
    names: set[str] = set()
    with _opened(path) as (fh, p):
        obj = _unpickle(fh, p, _layout(fh, p), "meta", tuple(modules), dry=True, names=names)
    _check_embedded_yaml(obj, p)
    return names


def _check_embedded_yaml(obj, path) -> None:
    """A host may build a new model from a model's ``yaml`` dict (YOLOv5's ``train.py``:
    ``Model(ckpt['model'].yaml)``), whose strings its ``parse_model`` evals: check every such dict in the loaded
    object as a model yaml, with :func:`yolov5_shuffle.untrusted.model_yaml.check_model_dict`, where that
    module exists."""
    try:
        from .model_yaml import check_model_dict
    except ImportError:
        return
    for holder in _models_in(obj):
        cfg = vars(holder).get("yaml")
        if isinstance(cfg, dict):
            check_model_dict(cfg, f"weights {path}: the model yaml inside it")


def _models_in(obj, limit: int = 100_000):
    """The objects of a loaded checkpoint that may carry a ``yaml``: its values, and their sub-modules."""
    todo = list(obj.values()) if isinstance(obj, dict) else [obj]
    seen: set[int] = set()
    while todo and len(seen) < limit:
        o = todo.pop()
        if id(o) in seen or not isinstance(getattr(o, "__dict__", None), dict):
            continue
        seen.add(id(o))
        yield o
        children = vars(o).get("_modules")
        if isinstance(children, dict):
            todo.extend(children.values())


@contextlib.contextmanager
def _opened(f):
    """(binary file, name for messages) of a path or an open file; torch reads the very handle checked."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            yield fh, Path(f)
    else:
        yield f, getattr(f, "name", "<file object>")


# ------------------------------------------------------------------------------------------- 1. the zip
@dataclass
class _Layout:
    zip: zipfile.ZipFile
    folder: str  # the one folder every record sits in (torch's "archive name")
    sizes: dict[str, int]  # record name inside the folder -> bytes


def _not_checkpoint(path, why: str = "truncated, or another format") -> CheckpointRefused:
    return CheckpointRefused(f"weights {path}: not a PyTorch checkpoint (a zip archive holding data.pkl; {why})")


def _layout(f, path) -> _Layout:
    """The checkpoint's records, refusing before any record is read whatever a genuine torch zip never is."""
    try:
        head = f.read(len(_LEGACY))
        end = f.seek(0, os.SEEK_END)
        f.seek(0)
    except (OSError, ValueError) as e:
        raise _not_checkpoint(path, f"cannot read it: {e}") from None
    if head == _LEGACY:
        raise CheckpointRefused(f"weights {path}: legacy format (saved by torch < 1.6), not read here; re-save it "
                                "with torch >= 1.6 (torch.save(torch.load(f, weights_only=False), f), where you "
                                "trust the file)")
    if not head.startswith(_ZIP):
        raise _not_checkpoint(path)
    _check_directory_end(f, end, path)
    try:
        z = zipfile.ZipFile(f)
        infos = z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error,
            UnicodeDecodeError) as e:
        raise _not_checkpoint(path, f"damaged: {e}") from None
    folder, sizes = _records(infos, end, path)
    return _Layout(z, folder, sizes)


def _check_directory_end(f, end: int, path) -> None:
    """The zip's end record must close the file (torch writes no comment, nothing after it) and bound its
    directory: at most MAX_RECORDS entries in at most MAX_DIRECTORY_BYTES, right before the end record, so that
    Python's zip reader and torch's find the same directory at the same offset."""
    if end < 22:
        raise _not_checkpoint(path)
    f.seek(end - 22)
    sig, _, _, _, entries, size, offset, comment = struct.unpack("<4s4H2LH", f.read(22))
    stop = end - 22
    if sig != b"PK\x05\x06" or comment:
        raise _not_checkpoint(path, "no end record at its end")
    f.seek(max(0, end - 42))
    locator = f.read(20)
    if locator[:4] == b"PK\x06\x07":  # zip64 (torch always writes it): the directory ends at the zip64 end record
        _, _, stop, _ = struct.unpack("<4sLQL", locator)
        f.seek(stop)
        rec = f.read(56)
        if len(rec) != 56 or rec[:4] != b"PK\x06\x06":
            raise _not_checkpoint(path, "damaged zip64 end record")
        entries, size, offset = struct.unpack("<QQQ", rec[32:56])
    elif entries == 0xFFFF or 0xFFFFFFFF in (size, offset):
        raise _not_checkpoint(path, "no zip64 end record where its end record says there is one")
    if entries > MAX_RECORDS or size > MAX_DIRECTORY_BYTES:
        raise CheckpointRefused(f"weights {path}: refused: it holds {entries} records in a {size}-byte directory "
                                f"(a genuine checkpoint holds a few thousand; at most {MAX_RECORDS} are read)")
    if offset + size != stop:
        raise _not_checkpoint(path, "its directory is not where its end record says")


def _records(infos, end: int, path) -> tuple[str, dict[str, int]]:
    """(folder, {record: size}) of a checkpoint zip's entries, refusing compressed, misplaced or ambiguous ones."""
    if not infos:
        raise _not_checkpoint(path, "an empty zip")
    folder = infos[0].filename.partition("/")[0]
    sizes: dict[str, int] = {}
    for i in infos:
        top, slash, rec = i.filename.partition("/")
        if not (slash and rec):
            raise _not_checkpoint(path, f"damaged: its record {i.filename} is not in a folder")
        if top != folder:
            raise _not_checkpoint(path, f"damaged: its record {i.filename} is outside the folder {folder}/ its "
                                        "first record is in")
        if i.compress_type != zipfile.ZIP_STORED or i.compress_size != i.file_size or i.flag_bits & 1:
            raise CheckpointRefused(f"weights {path}: refused: its record {i.filename} is compressed or encrypted "
                                    f"({i.compress_size} bytes stored for {i.file_size}); torch stores records "
                                    "uncompressed, and a compressed one can expand without bound")
        if i.header_offset + 30 + i.file_size > end:
            raise _not_checkpoint(path, f"damaged: its record {i.filename} runs past the end of the file")
        sizes[rec] = i.file_size
    pickles = [r for r in sizes if r.lower().rpartition("/")[2] == "data.pkl"]
    if len(pickles) > 1:
        raise CheckpointRefused(f"weights {path}: refused: it holds {len(pickles)} data.pkl pickles "
                                f"({', '.join(pickles[:3])}); a genuine checkpoint has one")
    twins = [r for r, n in Counter(i.filename.lower() for i in infos).items() if n > 1]
    if twins:
        raise CheckpointRefused(f"weights {path}: refused: it holds {twins[0]} twice (names compared regardless of "
                                "case, as torch's reader does); a genuine checkpoint holds each record once")
    if "data.pkl" not in sizes:
        raise _not_checkpoint(path, f"no {folder}/data.pkl in it")
    if "constants.pkl" in sizes:
        raise CheckpointRefused(f"weights {path}: a TorchScript archive (torch.jit.save), not a training checkpoint")
    if sizes["data.pkl"] > MAX_PICKLE_BYTES:
        raise CheckpointRefused(f"weights {path}: refused: its data.pkl is {sizes['data.pkl']} bytes (genuine "
                                f"checkpoints' are under 1 MiB; at most {MAX_PICKLE_BYTES >> 20} MiB is read)")
    return folder, sizes


def _same_records_for_torch(f, path, layout: _Layout) -> None:
    """torch's zip reader (which opens the file again) must see the records checked, of the same sizes, and
    data.pkl at the same offset: then the bounds above are the bounds of what torch reads."""
    import torch

    f.seek(0)
    try:
        reader = torch._C.PyTorchFileReader(f)
        same = sorted(reader.get_all_records()) == sorted(layout.sizes)
        if hasattr(reader, "get_record_size"):  # torch >= 2.1
            same = same and all(reader.get_record_size(r) == n for r, n in layout.sizes.items())
        info = layout.zip.getinfo(f"{layout.folder}/data.pkl")
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
        same = same and reader.get_record_offset("data.pkl") == info.header_offset + 30 + name_len + extra_len
    except (RuntimeError, ValueError, OSError, struct.error) as e:
        raise _not_checkpoint(path, f"damaged: {one_line(e, 300)}") from None
    finally:
        f.seek(0)
    if not same:
        raise CheckpointRefused(f"weights {path}: refused: torch's zip reader sees other records in it than "
                                "Python's (a genuine checkpoint reads the same in both)")


# ---------------------------------------------------------------------------------------- 2. the pickle
_LOAD_ERRORS = (pickle.UnpicklingError, RuntimeError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                EOFError, AssertionError, OverflowError, UnicodeDecodeError, struct.error, OSError)


def _forced_weights_only() -> bool:
    return os.getenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "0").lower() in ("1", "y", "yes", "true")


def _unpickle(f, path, layout: _Layout, map_location, modules: tuple[str, ...], dry: bool,
              names: set[str] | None = None, **kwargs):
    """torch.load of the checked zip with :mod:`.checkpoint_pickle`'s unpickler (``names``: filled with the
    globals it uses)."""
    import torch

    from .. import blocks  # noqa: F401  our layers, resolvable by the names checkpoints give them

    _same_records_for_torch(f, path, layout)
    if _forced_weights_only():  # torch then refuses any pickle_module: its own weights-only unpickler decides
        try:
            return torch.load(f, map_location=map_location, weights_only=True)
        except _LOAD_ERRORS as e:
            raise CheckpointRefused(f"weights {path}: TORCH_FORCE_WEIGHTS_ONLY_LOAD is set and torch's weights-only "
                                    f"loader refused it ({one_line(e, 300)}); unset it to load whole models") from None
    module = pickle_module(path, modules, layout.sizes, dry, set() if names is None else names)
    try:
        return torch.load(f, map_location=map_location, weights_only=False, pickle_module=module, **kwargs)
    except UserError:
        raise
    except _LOAD_ERRORS as e:
        raise CheckpointRefused(f"weights {path}: cannot be loaded, damaged ({type(e).__name__}: "
                                f"{one_line(e, 300)})") from None
