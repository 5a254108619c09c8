"""Small, named edits that let a 2020-2023 host tree run on today's packages (torch, numpy 2, Pillow >= 10,
setuptools >= 70). The vendor step applies the ones a host lists in ``Host.fixes``; each is idempotent
(a second run edits nothing) and leaves code that already works untouched.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

FIXES: dict[str, Callable[[Path], int]] = {}


def fix(func: Callable[[Path], int]) -> Callable[[Path], int]:
    FIXES[func.__name__] = func
    return func


def _sources(root: Path):
    for py in sorted(root.rglob("*.py")):
        if "__pycache__" not in py.parts:
            yield py


def _add_keyword(root: Path, call: str, keyword: str) -> int:
    """Add ``keyword`` to every ``call(...)`` that lacks it (one level of nested parentheses)."""
    pattern = re.compile(re.escape(call) + r"\(((?:[^()]|\([^()]*\))*)\)")
    name = keyword.split("=")[0]
    n = 0
    for py in _sources(root):
        text = py.read_text(encoding="utf-8")
        added = []

        def repl(m):
            if re.search(rf"\b{name}\s*=", m.group(1)):
                return m.group(0)
            added.append(m.start())
            return f"{call}({m.group(1).rstrip()}, {keyword})"

        new = pattern.sub(repl, text)
        if added:
            py.write_text(new, encoding="utf-8")
            n += len(added)
    return n


@fix
def torch_load_weights_only(root: Path) -> int:
    """torch >= 2.6 loads with weights_only=True and refuses the hosts' own pickled checkpoints."""
    return _add_keyword(root, "torch.load", "weights_only=False")


@fix
def onnx_export_dynamo(root: Path) -> int:
    """torch >= 2.9 exports ONNX through dynamo by default (needs onnxscript, differs from what the host expects)."""
    return _add_keyword(root, "torch.onnx.export", "dynamo=False")


def apply_fixes(root: Path, names: tuple[str, ...]) -> dict[str, int]:
    """Run the named fixes on a tree; name -> number of edits."""
    unknown = [n for n in names if n not in FIXES]
    if unknown:
        raise KeyError(f"unknown fix(es) {', '.join(unknown)}; known: {', '.join(FIXES)}")
    return {n: FIXES[n](root) for n in names}
