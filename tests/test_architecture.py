"""The package's shape, read from its sources (nothing imported): imports point one way, functions stay short,
each host's knowledge stays in its own module, and no two modules share a name unless they are one thing.

Every import counts, also those inside functions (a lazy import is still a dependency), and importing
``pkg.sub`` imports ``pkg`` first: the graph of ``yolov5_shuffle`` modules must have no cycle, and neither may
the graph of its top-level parts (the packages and modules directly under ``yolov5_shuffle/``), so each can be
read and tested on top of the ones below it.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "yolov5_shuffle"
MAX_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for py in sorted(PACKAGE.rglob("*.py")):
        parts = py.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = py
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports (``from . import x`` resolved to module x where x is one)."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                mod = ".".join(base[:len(base) - node.level + 1] + ([mod] if mod else []))
            for a in node.names:
                found.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod)
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    """module -> the package modules it imports, with the packages above each (``import a.b.c`` runs ``a`` and
    ``a.b`` first), except the root package and the packages the importing module is itself inside."""
    mods = _modules()
    graph = {}
    for n, p in mods.items():
        direct = _imports(n, p, set(mods))
        parents = {".".join(m.split(".")[:k]) for m in direct for k in range(2, m.count(".") + 1)}
        graph[n] = direct | {q for q in parents if q in mods and q != n and not n.startswith(q + ".")}
    return graph


def _part(module: str) -> str:
    """The top-level part a module belongs to: ``yolov5_shuffle.deploy.runtimes.base`` -> ``deploy``."""
    return module.split(".")[1]


def _parts_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Parts and the other parts they import. The root package (``yolov5_shuffle/__init__.py``) is left out: every
    module is inside it, so Python runs it before any of them."""
    parts: dict[str, set[str]] = {}
    for n, deps in graph.items():
        if n.count(".") == 0:
            continue
        parts.setdefault(_part(n), set()).update(_part(m) for m in deps if m.count(".") and _part(m) != _part(n))
    return parts


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_cycle_between_package_modules():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_import_cycle_between_top_level_parts():
    cycle = _cycle(_parts_graph(_graph()))
    assert cycle is None, "import cycle between parts of yolov5_shuffle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_graph_counts_imports_inside_functions_and_the_packages_above_a_module(tmp_path):
    pkg = tmp_path / "yolov5_shuffle"
    (pkg / "deploy" / "runtimes").mkdir(parents=True)
    for f in ("__init__.py", "deploy/__init__.py", "deploy/runtimes/__init__.py", "deploy/runtimes/base.py"):
        (pkg / f).write_text("")
    (pkg / "deploy" / "check.py").write_text("def f():\n    from .runtimes.base import Runtime\n")
    found = _imports("yolov5_shuffle.deploy.check", pkg / "deploy" / "check.py",
                     {"yolov5_shuffle.deploy.runtimes", "yolov5_shuffle.deploy.runtimes.base"})
    assert found == {"yolov5_shuffle.deploy.runtimes.base"}
    parts = _parts_graph({"yolov5_shuffle.hosts.scripts": {"yolov5_shuffle.patching"},
                          "yolov5_shuffle.patching": {"yolov5_shuffle.hosts"}, "yolov5_shuffle.hosts": set()})
    assert _cycle(parts) == ["hosts", "patching", "hosts"]


def test_low_level_modules_import_nothing_above_them():
    graph = _graph()
    for low in ("yolov5_shuffle.blocks", "yolov5_shuffle.errors", "yolov5_shuffle.configs", "yolov5_shuffle.marker",
                "yolov5_shuffle.cfg_check", "yolov5_shuffle.untrusted.checkpoint"):
        above = {m for m in graph[low] if m.startswith(("yolov5_shuffle.hosts", "yolov5_shuffle.patching",
                                                        "yolov5_shuffle.measure", "yolov5_shuffle.cli"))}
        assert not above, f"{low} imports {above}"


def test_no_function_is_longer_than_80_lines():
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_LINES:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert not long, "; ".join(long)


# --- runtime names live in their own modules ----------------------------------------------------------------------
# The rule: a registered runtime's name, written as a whole string literal ("eager", "onnxruntime"), appears only in
# the module that defines that runtime (deploy/runtimes/<module>.py). Everything else asks the registry and the
# runtimes' attributes. Prose is not checked: docstrings, comments, and messages or help text that mention a runtime
# inside a longer string are not a list of names to keep in step. Nor are the package names in a runtime's
# ``packages = (...)`` (onnxruntime_int8 needs the onnxruntime package, whose name is also a runtime's).

def _literals(source: bytes, names: set[str]) -> list[tuple[str, int]]:
    """(name, line) of every string literal in ``source`` that is exactly one of ``names`` (outside ``packages``)."""
    tree = ast.parse(source)
    packages = {id(c) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "packages" for t in node.targets)
                for c in ast.walk(node.value)}
    return [(node.value, node.lineno) for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and node.value in names and id(node) not in packages]


def test_the_runtime_name_finder_finds_a_name_but_not_prose_nor_packages():
    src = (b'"""eager in a docstring."""\nx = "eager"  # eager\ny = f"{x} eager"\nz = "run eager"\n'
           b'packages = (("cuda", "cuda"),)\n')
    assert _literals(src, {"eager", "cuda"}) == [("eager", 2)]


def test_runtime_names_are_written_only_in_their_own_module():
    from yolov5_shuffle.deploy import runtimes  # the registry: cheap, no runtime package imported

    home = {rt.name: type(rt).__module__ for rt in runtimes.all_runtimes()}
    assert {"eager", "onnxruntime"} <= set(home)  # PyTorch's modes are runtimes too
    stray = [f"{name}: {mod}:{line} (defined in {home[name]})"
             for mod, path in _modules().items() for name, line in _literals(path.read_bytes(), set(home))
             if home[name] != mod]
    assert not stray, "runtime names written outside their module: " + "; ".join(stray)


# --- host knowledge stays in its host's module -----------------------------------------------------------------

# A host family's name as it appears in code: the word, not the start of a config name (yolov5n, yolov7x) nor our
# own name (yolov5_shuffle, yolov5-shuffle, YOLOV5_SHUFFLE_*). YOLOv7's heads are its own class names.
HOST_WORDS = {
    "yolov5": re.compile(r"(?i:yolov5)(?![a-z0-9])(?![-_](?i:shuffle))"),
    "yolov7": re.compile(r"(?i:yolov7)(?![a-z0-9])|\bI(?:Aux)?Detect\b|\bIBin\b|\bIKeypoint\b"),
    "ultralytics": re.compile(r"(?i:ultralytics)(?![a-z0-9])"),
}
HOST_NAMES = {"yolov5", "yolov5-pypi", "yolov7", "ultralytics"}  # Host.name values: comparing with one picks a host


def _family_of_module(name: str) -> str | None:
    """The host family whose own module this is: ``hosts/<family>*.py``, a package ``hosts/<family>*/``, or the
    public import named after the host (``yolov5_shuffle/ultralytics.py``)."""
    parts = name.split(".")[1:]
    own = parts[1] if parts[:1] == ["hosts"] and len(parts) > 1 else parts[0] if len(parts) == 1 else ""
    return next((f for f in HOST_WORDS if own.startswith(f)), None)


def _listed_fixes() -> dict[str, str]:
    """fix name -> host family, for the fixes a host module lists in its ``fixes``: those count as that host's."""
    out = {}
    for name, path in _modules().items():
        family = _family_of_module(name)
        if family is None or not name.startswith("yolov5_shuffle.hosts."):
            continue
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "fixes" for t in node.targets):
                out.update({c.value: family for c in ast.walk(node.value) if isinstance(c, ast.Constant)})
    return out


def _docstrings(tree: ast.AST) -> set[int]:
    return {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}


def _host_identifiers(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of everything in a module that names a host as code does: identifiers (functions, classes,
    variables, attributes, arguments, imported names), imported module paths, strings that are a module path into a
    host's code (``"ultralytics.nn.tasks"``), a host's class name, or a host's name compared with or looked up by.
    Not counted: docstrings, comments, messages, config and file names (``yolov5n.yaml``)."""
    docs, found = _docstrings(tree), []
    for node in ast.walk(tree):
        texts: list[str] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            texts = [node.name]
        elif isinstance(node, ast.Name):
            texts = [node.id]
        elif isinstance(node, ast.Attribute):
            texts = [node.attr]
        elif isinstance(node, ast.arg):
            texts = [node.arg]
        elif isinstance(node, ast.keyword) and node.arg:
            texts = [node.arg]
        elif isinstance(node, ast.alias):
            texts = [node.name, node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            texts = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if re.fullmatch(r"[A-Za-z_]\w*(\.\w+)+\.?", node.value) or re.fullmatch(r"I\w+", node.value):
                texts = [node.value]  # a dotted module path, or a class name
        elif isinstance(node, ast.Compare):
            texts = [c.value for c in (node.left, *node.comparators) if isinstance(c, ast.Constant)
                     and c.value in HOST_NAMES]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "by_name":
            texts = [a.value for a in node.args if isinstance(a, ast.Constant) and a.value in HOST_NAMES]
        found += [(getattr(node, "lineno", 0), s) for s in texts if s]
    return found


# The package root may name the one host whose unpickler imports us (a checkpoint holding our blocks): it must
# register then, and asking the registry would import torch on every `import yolov5_shuffle` (hosts/base.py
# imports the blocks). Exactly these two strings, nothing else, are allowed there.
ON_IMPORT_HOOK = {"ultralytics.nn.tasks", "hosts.ultralytics.registration"}


def _host_names_outside_their_modules() -> list[str]:
    fixes, out = _listed_fixes(), []
    for name, path in _modules().items():
        mine = _family_of_module(name)
        for line, text in _host_identifiers(ast.parse(path.read_bytes())):
            for family, word in HOST_WORDS.items():
                if family == mine or not word.search(text):
                    continue
                if name == "yolov5_shuffle.patching.fixes" and fixes.get(text.removeprefix("fix_")) == family:
                    continue  # a fix its host lists: that host's
                if name == "yolov5_shuffle" and text in ON_IMPORT_HOOK:
                    continue  # the one torch-free hook, below
                out.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {text!r} ({family})")
    return sorted(set(out))


def test_host_names_appear_only_in_their_own_host_modules():
    """yolov5, yolov7 and ultralytics as host identifiers live in hosts/<host>*.py (or hosts/<host>*/, or the public
    import named after the host); everything else asks the host registry (an attribute of ``Host``). A fix in
    patching/fixes.py named after a host counts as that host's when its host module lists it in ``fixes``."""
    found = _host_names_outside_their_modules()
    assert not found, "host knowledge outside its host's module:\n" + "\n".join(found)


def test_the_host_name_check_sees_identifiers_module_paths_and_comparisons_but_not_messages():
    src = '''"""A docstring naming yolov5 and ultralytics is prose."""
import ultralytics.nn.tasks
from .hosts.yolov7 import HEADS
CFG = "yolov5n.yaml"
MSG = "run YOLOv5's train.py"
def ensure_yolov5(host):
    return host.name == "yolov5-pypi" or type(host).__name__ in ("IDetect",) or "yolov5.models." in MSG
'''
    texts = {t for _, t in _host_identifiers(ast.parse(src))}
    flagged = {t for t in texts if any(w.search(t) for w in HOST_WORDS.values())}
    assert flagged == {"ultralytics.nn.tasks", "hosts.yolov7", "ensure_yolov5", "yolov5-pypi", "IDetect",
                       "yolov5.models."}
    assert _family_of_module("yolov5_shuffle.hosts.yolov5_pypi") == "yolov5"
    assert _family_of_module("yolov5_shuffle.hosts.ultralytics.register") == "ultralytics"
    assert _family_of_module("yolov5_shuffle.ultralytics") == "ultralytics"
    assert _family_of_module("yolov5_shuffle.measure.learning") is None


# --- one name, one thing ------------------------------------------------------------------------------------

# Names that say a module's role, the same role wherever it stands: a package's __init__, and the base class every
# member of a registry is (hosts/base.py, deploy/runtimes/base.py).
ROLE_NAMES = {"__init__", "base"}
# One thing under two names on purpose: the public import re-exports the ultralytics host's registration.
SAME_THING = {"ultralytics"}


def test_no_module_is_named_like_another_in_another_folder():
    """commands/<name>.py mirror the command names by design (commands/bench.py is the ``bench`` command, whose
    core is measure/bench.py); any other two modules or packages sharing a name must be one thing (SAME_THING) or
    share a role (ROLE_NAMES): files.py beside outputs.py is fine, two files.py are not."""
    names = Counter()
    for name, path in _modules().items():
        if not name.startswith("yolov5_shuffle.commands.") and name != "yolov5_shuffle":
            names[path.stem if path.name != "__init__.py" else path.parent.name] += 1
    twice = sorted(n for n, k in names.items() if k > 1 and n not in ROLE_NAMES | SAME_THING)
    assert not twice, f"modules named alike in different folders: {twice}"
