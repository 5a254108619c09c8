"""Materialise a host tree into a git-ignored folder, ready to run offline on today's packages.

Default source: the PyPI distribution ``yolov5`` (its wheel, sha256-checked). ``--from`` takes a
checkout, a wheel or an archive the user already has (YOLOv5 of any supported version, YOLOv7); it is
copied, never touched, and only what is inside it is copied: a link leading out of it is refused, by one
rule for a folder and an archive. The copy gets its host's compatibility fixes (``patching/fixes.py``); what lives
in the environment (fonts, the import path of the PyPI packaging) is done here too.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

from ..digest import sha256_file
from ..errors import UserError, user_path
from ..hosts import find
from .fixes import apply_fixes

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
    got = sha256_file(wheel)
    if got != want:
        if got == KNOWN_WHEELS.get(version):  # the cached wheel is the one we checked: the given hash is wrong
            raise VendorError(f"--sha256 {sha256}: does not match {wheel} ({got}), which is the yolov5=={version} "
                              "wheel we know; nothing was changed (check the hash you passed)")
        wheel.unlink()
        raise VendorError(f"{wheel.name}: sha256 {got} does not match the expected {want}; deleted it")
    return wheel




def check_source_hash(source: Path, sha256: str | None) -> None:
    """``--from FILE --sha256 X``: the file must hash to X (a folder has no single hash to check)."""
    if sha256 is None:
        return
    if not source.is_file():
        raise VendorError(f"--sha256: applies to a wheel or archive; --from {source} is a folder")
    got = sha256_file(source)
    if got != sha256.strip().lower():
        raise VendorError(f"--from {source}: sha256 {got} does not match --sha256 {sha256}; nothing was vendored")


SKIPPED = (".git", "__pycache__", "runs")  # not copied from a --from folder


def _link_out(src: Path, name: str, target: str) -> VendorError:
    """The one refusal of a link out of the source, for a folder and an archive alike."""
    return VendorError(f"--from {src}: {name} is a link to {target}, outside the tree; vendor copies only what is "
                       "inside it (replace the link with the file, or remove it); nothing was vendored")


def _check_links(src: Path) -> None:
    """Refuse a folder holding a link that is absolute or resolves outside it, as tarfile's "data" filter refuses
    one in an archive (links inside are copied as links)."""
    top = src.resolve()
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in SKIPPED]
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink():
                target = os.readlink(path)
                if os.path.isabs(target) or not Path(os.path.realpath(path)).is_relative_to(top):
                    raise _link_out(src, str(path.relative_to(top)), target)


def _unpack(src: Path, into: Path) -> None:
    """Copy or unpack src into ``into``; a truncated or corrupt archive, or one with a link or a path outside
    itself, is refused in one line."""
    try:
        if src.is_dir():
            _check_links(src)
            shutil.copytree(src, into, symlinks=True, ignore=shutil.ignore_patterns(*SKIPPED))
        elif zipfile.is_zipfile(src):
            with zipfile.ZipFile(src) as z:
                z.extractall(into)
        elif tarfile.is_tarfile(src):
            with tarfile.open(src) as t:
                t.extractall(into, filter="data")
        else:
            raise VendorError(f"{src}: not a folder, wheel, zip or tar archive")
    except (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError) as e:
        raise _link_out(src, e.tarinfo.name, e.tarinfo.linkname) from None
    except tarfile.FilterError as e:
        raise VendorError(f"--from {src}: {e}; vendor unpacks only what stays inside the archive's folder; "
                          "nothing was vendored") from None
    except (EOFError, tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError) as e:
        raise VendorError(f"--from {src}: the archive is truncated or corrupt ({str(e) or type(e).__name__}); "
                          "nothing was vendored") from None


def _extract(src: Path, into: Path) -> Path:
    """Unpack or copy src into the empty folder ``into``; return the YOLOv5 root inside it."""
    base = into / "tree"
    _unpack(src, base)
    roots = sorted({p.parent.parent for p in base.rglob("models/yolo.py")}, key=lambda p: len(p.parts))
    if not roots:
        raise VendorError(f"{src}: no models/yolo.py inside; not a YOLOv5/YOLOv7 checkout or release")
    return roots[0]


def font_dir() -> Path:
    """YOLOv5's settings folder (fonts live there): $YOLOV5_CONFIG_DIR or ~/.config/Ultralytics."""
    return Path(os.getenv("YOLOV5_CONFIG_DIR") or Path.home() / ".config" / "Ultralytics")


def install_fonts() -> Path:
    """Put a TrueType font where YOLOv5 looks for Arial, so plotting never downloads one."""
    import matplotlib

    src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    d = font_dir()
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


def _fixes_id(names: tuple[str, ...]) -> str:
    """Which fixes, in which revision of fixes.py: a tree vendored with other fixes is made again."""
    digest = hashlib.sha256(Path(__file__).with_name("fixes.py").read_bytes()).hexdigest()[:12]
    return f"fixes {','.join(names) or 'none'} @{digest}"


def vendor(version: str = DEFAULT_VERSION, from_path: Path | None = None, dest: Path | None = None,
           sha256: str | None = None, pth: bool = True, force: bool = False) -> Path:
    """Materialise a host tree at dest (atomically) with its compatibility fixes; return dest.

    dest defaults to third_party/<host> (third_party/yolov5 for the PyPI packaging, which must be
    named yolov5 because its code imports ``yolov5.*``).
    """
    source = Path(from_path).resolve() if from_path else fetch_wheel(version, sha256)
    if from_path and not source.exists():
        raise VendorError(f"--from {from_path}: no such file or folder")
    if from_path:
        check_source_hash(source, sha256)
    label = str(source) if from_path else f"yolov5=={version} (PyPI, sha256 checked)"
    with tempfile.TemporaryDirectory(prefix=".vendor-") as probe, user_path("--from", source):
        tree = find(_extract(source, Path(probe)))
    host = tree.host
    dest = Path(dest or DEFAULT_DEST.parent / host.vendor_dir).resolve()
    stamp = f"{label}\n{_fixes_id(host.fixes)}"
    if (dest / STAMP).is_file() and not force:
        made = (dest / STAMP).read_text().strip()
        if made == stamp:
            print(f"{dest}: already vendored from {label}; reusing it")
            if pth:
                _environment(dest, host)
            return dest
        if made.splitlines()[0] != label:
            raise VendorError(f"{dest}: holds another tree ({made.splitlines()[0]}); "
                              "pass --force to replace it or choose another --dest")
        print(f"{dest}: vendored with other fixes ({made.splitlines()[-1]}); making it again")
    if dest.exists() and not (dest / STAMP).is_file():
        raise VendorError(f"{dest}: exists and was not made by yolov5-shuffle vendor; choose another --dest")
    if from_path and dest.is_relative_to(source):
        raise VendorError(f"--dest {dest} is inside --from {source}; choose a folder outside it")
    if host.import_name and dest.name != host.import_name:
        raise VendorError(f"--dest {dest}: {host.label} imports itself as '{host.import_name}', so the folder "
                          f"must be named {host.import_name} (e.g. third_party/{host.import_name})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".vendor-") as tmp, user_path("--dest", dest):
        root = find(_extract(source, Path(tmp))).root
        fixed = apply_fixes(root, host.fixes)
        (root / STAMP).write_text(stamp + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        root.rename(dest)
    done = ", ".join(f"{k} {v}" for k, v in fixed.items() if v) or "none needed"
    print(f"vendored {host.label} from {label} -> {dest}; fixes for today's packages: {done}")
    if pth:
        _environment(dest, host)
    return dest


def _environment(dest: Path, host) -> None:
    if host.import_name:  # the tree imports itself by its folder's name: its parent goes on the import path
        print(f"import path: {write_pth(dest.parent)} -> {dest.parent}")
    print(f"fonts for plots: {install_fonts()}")
