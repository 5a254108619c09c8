"""Materialise a pinned YOLOv5 into a git-ignored folder, ready to run offline on today's stack.

Default source: the PyPI distribution ``yolov5`` (its wheel, sha256-checked). ``--from`` takes a
checkout, a wheel or an archive the user already has; it is copied, never touched. The copy gets
the fixes of ``shared/docs/offline-yolov5.md`` that must live in the tree (checkpoint loading under
torch >= 2.6); the ones that live in the environment (fonts, import path) are done here too.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from pathlib import Path

from .errors import UserError

DEFAULT_VERSION = "7.0.14"
DEFAULT_DEST = Path("third_party/yolov5")
STAMP = ".yolov5-shuffle-vendor"
PTH_NAME = "yolov5-shuffle-vendor.pth"

# sha256 of the PyPI wheels we have checked (pip download --no-deps yolov5==V).
KNOWN_WHEELS = {
    "7.0.14": "67d0e3f7cb055cc7ff0c9d66fc993577f7394ca83a16ab097c0343ee4db3ca4b",
    "6.2.3": "252d9a2cb9b0d771d9ba220ab3845c21392da4c5a743f80a173886a2cfd71222",
    "6.1.9": "9d8c9d0d8c60194da7356ef38df89121579c6cf7ccc29b8e0df04be615c7ccf6",
    "6.0.7": "11976935c876157f1a617447b7acf5cee1a93b36a844244194ea12c56c698a71",
}
CACHE = Path.home() / ".cache" / "yolov5-shuffle" / "wheels"

# (call, keyword to add): torch.load of YOLOv5's own checkpoints (full pickles, refused by torch >= 2.6's
# weights_only=True default) and torch.onnx.export (torch >= 2.9 defaults to the dynamo exporter, which
# needs onnxscript and differs from what YOLOv5 7.0 was written for).
_COMPAT = (("torch.load", "weights_only=False"), ("torch.onnx.export", "dynamo=False"))


class VendorError(UserError):
    pass


def fetch_wheel(version: str, sha256: str | None = None, cache: Path = CACHE) -> Path:
    """The yolov5==version wheel from PyPI (pip download), checked against its known sha256."""
    want = sha256 or KNOWN_WHEELS.get(version)
    if want is None:
        raise VendorError(f"yolov5=={version}: no known sha256; pass --sha256 HASH (from a download you trust)")
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"yolov5-{version}-*.whl"))
    if not found:
        print(f"downloading yolov5=={version} from PyPI (pip download --no-deps) ...", flush=True)
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                            "-d", str(cache), f"yolov5=={version}"], capture_output=True, text=True)
        found = sorted(cache.glob(f"yolov5-{version}-*.whl"))
        if r.returncode or not found:
            raise VendorError(f"pip could not download yolov5=={version}:\n{r.stderr.strip()[-2000:]}")
    wheel = found[0]
    got = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if got != want:
        wheel.unlink()
        raise VendorError(f"{wheel.name}: sha256 {got} does not match the expected {want}; deleted it")
    return wheel


def _extract(src: Path, into: Path) -> Path:
    """Unpack or copy src into the empty folder ``into``; return the YOLOv5 root inside it."""
    if src.is_dir():
        shutil.copytree(src, into / "tree", ignore=shutil.ignore_patterns(".git", "__pycache__", "runs"))
        base = into / "tree"
    elif zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as z:
            z.extractall(into / "tree")
        base = into / "tree"
    elif tarfile.is_tarfile(src):
        with tarfile.open(src) as t:
            t.extractall(into / "tree", filter="data")
        base = into / "tree"
    else:
        raise VendorError(f"{src}: not a folder, wheel, zip or tar archive")
    roots = sorted({p.parent.parent for p in base.rglob("models/yolo.py")}, key=lambda p: len(p.parts))
    if not roots:
        raise VendorError(f"{src}: no models/yolo.py inside; not a YOLOv5 checkout or release")
    return roots[0]


def is_pypi_layout(root: Path) -> bool:
    text = (root / "models" / "yolo.py").read_text(errors="replace")
    return re.search(r"^from yolov5\.models", text, re.M) is not None


def compat_fixes(root: Path) -> int:
    """Add the keywords of ``_COMPAT`` to YOLOv5's calls that lack them; return how many calls changed."""
    n = 0
    for py in root.rglob("*.py"):
        text = new = py.read_text()
        for call, keyword in _COMPAT:
            pattern = re.compile(re.escape(call) + r"\(((?:[^()]|\([^()]*\))*)\)")

            def repl(m, call=call, keyword=keyword):
                if keyword.split("=")[0] in m.group(1):
                    return m.group(0)
                return f"{call}({m.group(1).rstrip()}, {keyword})"

            new, k = pattern.subn(repl, new)
            n += k
        if new != text:
            py.write_text(new)
    return n


def torch_version() -> str:
    import torch

    return torch.__version__.split("+")[0]


def config_dir() -> Path:
    """YOLOv5's settings folder (fonts live there): $YOLOV5_CONFIG_DIR or ~/.config/Ultralytics."""
    import os

    return Path(os.getenv("YOLOV5_CONFIG_DIR") or Path.home() / ".config" / "Ultralytics")


def install_fonts() -> Path:
    """Put a TrueType font where YOLOv5 looks for Arial, so plotting never downloads one."""
    import matplotlib

    src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    d = config_dir()
    d.mkdir(parents=True, exist_ok=True)
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        if not (d / name).exists():
            shutil.copyfile(src, d / name)
    return d


def write_pth(parent: Path) -> Path:
    """Make ``import yolov5`` find the vendored PyPI-layout tree (its code imports ``yolov5.*``)."""
    site = Path(sysconfig.get_paths()["purelib"])
    pth = site / PTH_NAME
    pth.write_text(f"{parent.resolve()}\n")
    return pth


def vendor(version: str = DEFAULT_VERSION, from_path: Path | None = None, dest: Path = DEFAULT_DEST,
           sha256: str | None = None, pth: bool = True, force: bool = False) -> Path:
    """Materialise YOLOv5 at dest (atomically) and return dest."""
    dest = Path(dest).resolve()
    source = Path(from_path).resolve() if from_path else fetch_wheel(version, sha256)
    label = str(source) if from_path else f"yolov5=={version} (PyPI, sha256 checked)"
    if (dest / STAMP).is_file() and not force:
        if (dest / STAMP).read_text().strip() == label:
            print(f"{dest}: already vendored from {label}; reusing it")
            _environment(dest)
            return dest
        raise VendorError(f"{dest}: holds another YOLOv5 ({(dest / STAMP).read_text().strip()}); "
                          "pass --force to replace it or choose another --dest")
    if dest.exists() and not (dest / STAMP).is_file():
        raise VendorError(f"{dest}: exists and was not made by yolov5-shuffle vendor; choose another --dest")
    if from_path and dest.is_relative_to(source):
        raise VendorError(f"--dest {dest} is inside --from {source}; choose a folder outside it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".vendor-") as tmp:
        root = _extract(source, Path(tmp))
        if is_pypi_layout(root) and dest.name != "yolov5":
            raise VendorError(f"--dest {dest}: a PyPI-layout YOLOv5 imports itself as 'yolov5', so the folder "
                              "must be named yolov5 (e.g. third_party/yolov5)")
        fixed = compat_fixes(root)
        (root / STAMP).write_text(label + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        root.rename(dest)
    print(f"vendored {label} -> {dest} ({fixed} torch.load/torch.onnx.export call(s) made to work with torch {torch_version()})")
    if pth:
        _environment(dest)
    return dest


def _environment(dest: Path) -> None:
    if is_pypi_layout(dest):
        print(f"import path: {write_pth(dest.parent)} -> {dest.parent}")
    print(f"fonts for plots: {install_fonts()}")
    try:
        import pkg_resources  # noqa: F401  (YOLOv5's utils/general.py needs it)
    except ImportError:
        print("warning: this environment lacks pkg_resources, which YOLOv5 imports; "
              "run: pip install --no-deps 'setuptools<70'", file=sys.stderr)
