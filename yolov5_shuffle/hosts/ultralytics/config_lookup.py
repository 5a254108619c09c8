"""Our ultralytics config names, and how the names ultralytics is given map onto our files.

ultralytics reads a model's scale from the name it is asked for (``yolo11s-...`` is scale ``s``) and, when
that file does not exist, looks for the "unified" name with the scale letter removed
(``yolo11-shufflenetv2.yaml``). We ship one file per model (scale ``n`` in its name) and map every scale
onto it. Used by the host (which config is ours), the ``check_yaml`` hook of the registration (the file
ultralytics opens) and the ``yolo`` route's argument checks (a typo named with our closest configs).
No ultralytics import here.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from ...configs import CONFIG_ROOT

DIALECT = "ultralytics"  # the folder of our configs under yolov5_shuffle/cfg/
# ultralytics' "unified" config name: the scale letter after the version digits removed (yaml_model_load)
UNIFY = re.compile(r"(\d+)([nslmx])(.+)?$")


def config_dir() -> Path:
    """The folder of our ultralytics configs (``yolo11n-shufflenetv2.yaml``, ``rtdetr-shufflenetv2.yaml``, ...)."""
    return CONFIG_ROOT / DIALECT


def config_names() -> list[str]:
    """File names of our ultralytics configs."""
    return sorted(p.name for p in config_dir().glob("*.yaml"))


def unify(stem: str) -> str:
    """A config stem without its scale letter, as ultralytics' second lookup spells it."""
    return UNIFY.sub(r"\1\3", stem)


def resolve_config(name: str | os.PathLike) -> Path | None:
    """Full path of our config for ``name``, or None when ``name`` is not ours or exists where it points.

    A bare name (or a path into :func:`config_dir`) matches our file of that name, or our file with the
    same name but another scale letter: ``yolo11s-shufflenetv2.yaml`` -> ``.../yolo11n-shufflenetv2.yaml``
    (ultralytics reads the scale from the requested name, not from the file). A file of that name, or of
    its unified name (ultralytics' ``yolo11-shufflenetv2.yaml``), in the working directory wins.
    """
    s = str(name).strip()
    p = Path(s)
    if p.suffix not in (".yaml", ".yml") or "://" in s or os.path.exists(s):
        return None
    folder = config_dir()
    if str(p.parent) not in ("", ".") and p.parent.resolve() != folder:
        return None
    if os.path.exists(str(p.with_name(unify(p.stem) + p.suffix))):
        return None  # the user's own unified yaml: ultralytics' second lookup finds it
    if (folder / p.name).is_file():
        return folder / p.name
    unified = unify(p.stem)
    matches = [f for f in sorted(folder.glob("*.yaml")) if unify(f.stem) == unified]
    return matches[0] if len(matches) == 1 else None


def close_configs(name: str | os.PathLike) -> list[str]:
    """Our config names closest to ``name`` (a typo's likely meaning), closest first; the scale letter the user
    typed is kept, so ``yolo11s-shufflenet.yaml`` suggests ``yolo11s-shufflenetv2.yaml``."""
    typed = Path(str(name)).name
    m = UNIFY.search(Path(typed).stem)
    scale = m.group(2) if m else None

    def at_scale(ours: str) -> str:
        stem = Path(ours).stem
        if scale is None or not UNIFY.search(stem):
            return ours
        return UNIFY.sub(lambda g: f"{g.group(1)}{scale}{g.group(3) or ''}", stem, count=1) + Path(ours).suffix

    candidates = [at_scale(n) for n in config_names()]
    return difflib.get_close_matches(typed, candidates, n=3, cutoff=0.6)
