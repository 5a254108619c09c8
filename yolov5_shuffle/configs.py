"""Where our model configs live and how a config name resolves (with suggestions when it does not)."""

from __future__ import annotations

import difflib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
CONFIG_DIR = REPO_DIR / "models_yaml"

# Families and what torchvision backbone each config's backbone equals (used by init-weights).
SHUFFLENET, MOBILENET, DWCONV = "shufflenetv2", "mobilenetv2", "dwconv"


def config_files() -> list[Path]:
    """Our yaml configs, sorted by name."""
    if not CONFIG_DIR.is_dir():
        raise FileNotFoundError(f"{CONFIG_DIR}: the models_yaml folder is missing; install yolov5-shuffle "
                                "from its repository (pip install -e .)")
    return sorted(CONFIG_DIR.glob("*.yaml"))


def config_names() -> list[str]:
    return [p.name for p in config_files()]


def resolve_config(name: str | Path, extra_dirs: tuple[Path, ...] = ()) -> Path:
    """A config path from a file path or a bare name (ours, or YOLOv5's in ``extra_dirs``).

    Raises FileNotFoundError naming the closest known configs.
    """
    p = Path(name)
    if p.is_file():
        return p
    candidates = {c.name: c for d in extra_dirs if Path(d).is_dir() for c in sorted(Path(d).glob("*.yaml"))}
    candidates.update({c.name: c for c in config_files()})
    key = p.name if p.suffix else f"{p.name}.yaml"
    if key in candidates:
        return candidates[key]
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
