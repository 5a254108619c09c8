"""The ``yolo`` route's argument checks: what ultralytics would stop on later, with a traceback or a name the user
did not type, refused in one line before it starts (no run folder, no ``args.yaml``).
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import UserError
from .config_lookup import DIALECT, close_configs, config_names, unify


def syntax_line(e: SyntaxError) -> str:
    """The line of ultralytics' argument-check SyntaxError that names the bad argument, without colours."""
    first = next((x.strip() for x in str(e).splitlines() if "not a valid YOLO argument" in x), str(e).strip())
    return re.sub(r"\x1b\[[0-9;]*m", "", first)


def _check_pairs(pairs: dict) -> None:
    """Argument names and the numbers ultralytics would only reject deep inside a run."""
    from ultralytics.cfg import DEFAULT_CFG_DICT, check_dict_alignment

    try:
        check_dict_alignment(DEFAULT_CFG_DICT, pairs)
    except SyntaxError as e:
        raise UserError(syntax_line(e)) from None
    for key in ("epochs", "imgsz"):  # imgsz may also be a list ([640,480] or 640,480)
        v = pairs.get(key)
        if v is None:
            continue
        numbers = re.split(r"\s*,\s*", v.strip("[]() ")) if key == "imgsz" else [v]
        if not all(n.isdigit() and int(n) >= 1 for n in numbers):
            raise UserError(f"{key}={v}: must be a whole number >= 1" + (" or two, as [640,480]" if key == "imgsz" else ""))


def _check_model_yaml(model: str) -> None:
    """A model yaml that neither exists nor is ours nor ultralytics' own, named as typed (ultralytics would
    report its scale-less name, ``yolo11-shufflenet.yaml``), with our closest configs."""
    if "://" in model or Path(model).is_file():
        return
    from ultralytics.nn.tasks import check_yaml  # registered: it resolves our names too

    p = Path(model)
    if check_yaml(model, hard=False) or check_yaml(str(p.with_name(unify(p.stem) + p.suffix)), hard=False):
        return
    close = close_configs(model)
    hint = f"did you mean {', '.join(close)}?" if close else f"ours: {', '.join(config_names())}"
    raise UserError(f"model={model}: no such config (not a file, nor one of ours or ultralytics'); {hint}")


def _check_files(pairs: dict, mode: str) -> None:
    """A missing model or data yaml (before a run folder and args.yaml appear), another host's checkpoint."""
    data = pairs.get("data")
    if data and data.endswith((".yaml", ".yml")) and not Path(data).is_file():
        import ultralytics

        builtin = Path(ultralytics.__file__).parent / "cfg" / "datasets" / Path(data).name
        if not builtin.is_file():
            raise UserError(f"data={data}: no such file ({Path(data).resolve()})")
    model = pairs.get("model")
    if model and model.endswith((".yaml", ".yml")):
        _check_model_yaml(model)
    if model and model.endswith(".pt") and Path(model).is_file():
        from .. import host_for_checkpoint

        host = host_for_checkpoint(Path(model))
        if host.dialect != DIALECT:  # another host's checkpoint
            raise UserError(f"model={model}: a checkpoint of {host.label}, not of ultralytics; "
                            f"{host.hint('detect' if mode == 'predict' else mode, model)}")


def check_arguments(argv: list[str]) -> None:
    """Refuse in one line, before ultralytics starts, what it would stop on later with a traceback."""
    pairs = dict(a.split("=", 1) for a in argv if "=" in a and not a.startswith("="))
    mode = next((a for a in argv if "=" not in a), "")
    if pairs:
        _check_pairs(pairs)
        _check_files(pairs, mode)
