"""Where our model configs live (one folder per host dialect) and how a config name resolves.

Which dialects there are, and which config is whose, is the hosts' to say (``Host.dialect``,
``Host.owns_config``); here are only the folders: ``cfg/<dialect>`` inside the package, so a plain
(non-editable) install has them too.
"""

from __future__ import annotations

import difflib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
CONFIG_ROOT = PACKAGE_DIR / "cfg"

# Families and what torchvision backbone each config's backbone equals (used by init-weights).
SHUFFLENET, MOBILENET, DWCONV = "shufflenetv2", "mobilenetv2", "dwconv"


def config_dir(dialect: str = "yolov5") -> Path:
    """Our configs of one dialect (a host's ``dialect``: see ``yolov5_shuffle.hosts.dialects()``)."""
    return CONFIG_ROOT / dialect


def config_files(dialect: str = "yolov5") -> list[Path]:
    """Our yaml configs for one host dialect, sorted by name."""
    d = config_dir(dialect)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: our config folder is missing; reinstall yolov5-shuffle")
    return sorted(d.glob("*.yaml"))


def config_names(dialect: str = "yolov5") -> list[str]:
    return [p.name for p in config_files(dialect)]


def resolve_config(name: str | Path, extra_dirs: tuple[Path, ...] = (), dialect: str = "yolov5",
                   folder: Path | None = None) -> Path:
    """A config path from a file path or a bare name (ours in ``folder``, default cfg/<dialect>, or the host's in
    ``extra_dirs``).

    Raises FileNotFoundError naming the closest known configs.
    """
    p = Path(name)
    if p.is_file():  # a path that exists is used as given (relative to the caller's folder)
        return p.resolve()
    candidates = {c.name: c for d in extra_dirs if Path(d).is_dir() for c in sorted(Path(d).glob("*.yaml"))}
    ours = sorted(Path(folder).glob("*.yaml")) if folder is not None else config_files(dialect)
    candidates.update({c.name: c for c in ours})
    key = p.name if p.suffix else f"{p.name}.yaml"
    if key in candidates and len(p.parts) == 1:
        return candidates[key]
    if len(p.parts) > 1:
        raise FileNotFoundError(f"config {name}: no such file")
    close = difflib.get_close_matches(key, list(candidates), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(candidates))}"
    raise FileNotFoundError(f"config '{name}' not found{hint}")


def family(cfg: Path) -> str | None:
    """The backbone family a config name says (shufflenetv2, mobilenetv2, dwconv) or None."""
    n = Path(cfg).name
    if "shufflenet" in n or "lite" in n:
        return SHUFFLENET
    if "mobilenet" in n:
        return MOBILENET
    if "dwconv" in n:
        return DWCONV
    return None
