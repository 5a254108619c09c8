"""The accuracy table ``pick`` reads, checked row by row before any of it is used: the shipped yardstick table,
or a user's yardstick.json / learning.json (``--accuracy``), which may come from anyone.

The file is read within bounds (a regular file of at most :data:`MAX_BYTES`; a folder, a FIFO or a device is
refused by what it is, never waited on or read forever). Every row must hold what pick uses: ``cfg`` a
string, ``imgsz`` a size the ``--imgsz`` flag accepts, ``seed`` and ``epochs`` whole numbers, ``mAP50-95``
(and ``mAP50`` where given) a finite number from 0 to 1, ``device`` and ``recipe.name`` strings. A bad row is
refused in one line naming the file and the row. A learning.json (``learn --out``) names one size for the
whole file in its setup line and the device after its last ``;``; a row without a seed ran learn's default, 0.

Building a config runs its yaml through a host, so :func:`buildable` decides which of a table's configs are
built: ours and the host's own (bare names such as ``yolov5n-shufflenetv2.yaml`` or ``yolov5n.yaml``), and a
file the table names by path only when the user names the same file with ``--configs`` too; that file is
checked as data there and then (a refusal is one line, before any timing). Other files are skipped with a
line saying how to build them.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from ..argtypes import image_size_problem
from ..configs import CONFIG_ROOT
from ..errors import UserError
from ..untrusted import bounded

MAX_BYTES = 32 * 2 ** 20  # a yardstick table of a thousand runs with their curves is a few MB
REQUIRED = ("cfg", "imgsz", "seed", "epochs", "mAP50-95", "device", "recipe")


def read_table(path: Path | None) -> tuple[list[dict], str]:
    """The checked rows of ``path`` (None: the shipped table) with cfg, imgsz, seed, epochs, mAP50-95, device and
    recipe; and where they came from."""
    from .yardstick_report import PACKAGE_TABLE

    src = Path(path) if path is not None else PACKAGE_TABLE
    flag = f"--accuracy {src}" if path is not None else f"the shipped table {src}"
    raw = bounded.read_bytes(src, "--accuracy" if path is not None else "the shipped table", MAX_BYTES)
    try:
        d = json.loads(raw)
    except RecursionError:
        raise UserError(f"{flag}: nested too deep to be a yardstick.json or learning.json") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise UserError(f"{flag}: not a yardstick.json or learning.json (not JSON: {str(e)[:120]})") from None
    if not isinstance(d, dict) or not isinstance(d.get("rows"), list):
        raise UserError(f"{flag}: not a yardstick.json or learning.json (no list of rows)")
    if not d["rows"]:
        raise UserError(f"{flag}: holds no results")
    yardstick = all(isinstance(r, dict) and "imgsz" in r for r in d["rows"])
    rows = d["rows"] if yardstick else _learn_rows(d, flag)
    return [check_row(r, i, flag) for i, r in enumerate(rows)], str(src)


def _learn_rows(d: dict, flag: str) -> list:
    """learning.json rows (one size for the whole file, named in its setup line) in the yardstick's shape."""
    setup = d.get("setup")
    m = re.search(r"at (\d+) px", setup) if isinstance(setup, str) else None
    if not m:
        raise UserError(f"{flag}: a learning.json without 'at N px' in its setup line (or a yardstick.json with a "
                        "row without imgsz)")
    extra = {"imgsz": int(m.group(1)), "device": setup.split("; ")[-1], "recipe": {"name": setup.split(";")[0]}}
    return [{"seed": 0, **r, **extra} if isinstance(r, dict) else r for r in d["rows"]]


def _number_01(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= 1


def _whole(v, lo: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


def check_row(r: object, i: int, flag: str) -> dict:
    """Row ``i`` of the table, or a UserError naming the file, the row and the field."""
    where = f"{flag}: row {i + 1}"
    if not isinstance(r, dict):
        raise UserError(f"{where}: expected a mapping of results, got {type(r).__name__}")
    missing = [k for k in REQUIRED if k not in r]
    if missing:
        raise UserError(f"{where}: no {', '.join(missing)}")
    if not isinstance(r["cfg"], str) or not r["cfg"].strip():
        raise UserError(f"{where}: cfg must be a config name or path, got {str(r['cfg'])[:60]!r}")
    where = f"{where} ({r['cfg'][:80]!r})"
    problem = image_size_problem(r["imgsz"])
    if problem:
        raise UserError(f"{where}: imgsz {problem} (what --imgsz accepts)")
    for key, lo in (("seed", 0), ("epochs", 1)):
        if not _whole(r[key], lo):
            raise UserError(f"{where}: {key} must be a whole number >= {lo}, got {str(r[key])[:40]!r}")
    for key in ("mAP50-95", "mAP50"):
        if key in r and not _number_01(r[key]):
            raise UserError(f"{where}: {key} must be a finite number from 0 to 1, got {str(r[key])[:40]!r}")
    recipe = r["recipe"]
    if not isinstance(r["device"], str) or not (isinstance(recipe, dict) and isinstance(recipe.get("name"), str)):
        raise UserError(f"{where}: device and recipe.name must be strings")
    if "plateaued" in r and not isinstance(r["plateaued"], bool):
        raise UserError(f"{where}: plateaued must be true or false, got {str(r['plateaued'])[:40]!r}")
    curve = r.get("curve", [])
    if not (isinstance(curve, list) and all(_number_01(v) for v in curve)):
        raise UserError(f"{where}: curve must be a list of finite numbers from 0 to 1")
    return r


def _ours_or_hosts(cfg: str) -> bool:
    """One of our configs (by name, or a path into our config folder) or the host's own by name (yolov5n.yaml);
    a bare name that is also a file here is the user's file, not ours."""
    from ..hosts import host_for

    path = Path(cfg)
    if path.is_file() and path.resolve().is_relative_to(CONFIG_ROOT):
        return True
    if len(path.parts) != 1 or path.exists():
        return False
    return host_for(cfg).knows_config(cfg)


def buildable(pts: list[dict], named: list[str] | None, accuracy: Path | None) -> list[dict]:
    """The candidates whose config may be built (see the module docstring); each config file the user named is
    checked as data now. UserError when none is left."""
    if accuracy is None:  # the shipped table: ours and the host's own
        return pts
    from ..hosts import host_for
    from ..untrusted.model_yaml import check_model_dict, read_model_yaml

    named_files = {Path(c).resolve() for c in named or () if Path(c).is_file()}
    keep = set()
    for cfg in dict.fromkeys(p["cfg"] for p in pts):
        path = Path(cfg)
        if _ours_or_hosts(cfg) or not path.exists():  # a missing file: the build says so, in its skip line
            keep.add(cfg)
        elif path.resolve() in named_files:
            check_model_dict(read_model_yaml(path), str(path))
            host = host_for(cfg)
            host.check_config(host.resolve_config(cfg))
            keep.add(cfg)
        else:
            print(f"  skip {cfg}: a config file only --accuracy names; to build it, name it too: --configs {cfg}",
                  flush=True)
    if not keep:
        raise UserError(f"--accuracy {accuracy}: none of its configs is ours or the host's, and none was named with "
                        f"--configs (see the lines above)")
    return [p for p in pts if p["cfg"] in keep]
