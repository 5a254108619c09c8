"""Small, named edits that let a 2020-2023 host tree run on today's packages (torch >= 2.6, numpy 2,
Pillow >= 10, setuptools >= 81, no internet). The vendor step applies the ones a host lists in
``Host.fixes``. Each is an exact-text or tight-regex replacement that is valid on old and new packages
alike, idempotent (a second run edits nothing), and says in its docstring the symptom it removes and
which hosts need it. Edited lines carry ``MARK``, which is not the patch's marker: ``patch --revert``
leaves these fixes in place.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable

MARK = "# fixed for today's packages"
FIXES: dict[str, Callable[[Path], int]] = {}


def fix(func: Callable[[Path], int]) -> Callable[[Path], int]:
    """Register a fix under its name without the ``fix_`` prefix."""
    FIXES[func.__name__.removeprefix("fix_")] = func
    return func


# ----------------------------------------------------------------------------------------------- helpers
def _sources(root: Path) -> Iterable[Path]:
    for py in sorted(Path(root).rglob("*.py")):
        if "__pycache__" not in py.parts:
            yield py


def _files(root: Path, rel: Iterable[str] | None) -> Iterable[Path]:
    if rel is None:
        yield from _sources(root)
    else:
        for r in rel:
            p = Path(root) / r
            if p.is_file():
                yield p


def _sub(root: Path, pattern: str, repl, rel: Iterable[str] | None = None, flags: int = re.M) -> int:
    """Regex replace in the given files (all *.py when rel is None); number of matches actually changed."""
    rx = re.compile(pattern, flags)
    n = 0
    for py in _files(root, rel):
        text = py.read_text(encoding="utf-8")
        k = 0

        def one(m):
            nonlocal k
            out = m.expand(repl) if isinstance(repl, str) else repl(m)
            k += out != m.group(0)
            return out

        new = rx.sub(one, text)
        if k:
            py.write_text(new, encoding="utf-8")
            n += k
    return n


def _replace(root: Path, old: str, new: str, rel: Iterable[str] | None = None) -> int:
    """Exact-text replace; ``old`` must not occur in ``new`` so that a second run is a no-op."""
    assert old not in new, old
    return _sub(root, re.escape(old), lambda m: new, rel)


def _add_keyword(root: Path, call: str, keyword: str, rel: Iterable[str] | None = None, name: str = "",
                 skip_line: str = "") -> int:
    """Add ``keyword`` to every ``call(...)`` whose arguments lack ``name`` (calls with up to two nested paren
    levels), except where the line holding the call matches the regex ``skip_line``."""
    name = name or keyword.split("=")[0]
    inner = r"(?:[^()]|\((?:[^()]|\([^()]*\))*\))*"

    def repl(m):
        args = m.group(1)
        line = m.string[m.string.rfind("\n", 0, m.start()) + 1:m.end()]
        if re.search(rf"\b{name}\b", args) or (skip_line and re.search(skip_line, line)):
            return m.group(0)
        body = args.rstrip()
        sep = "" if body.endswith(",") else ","
        last = body.splitlines()[-1] if body else ""
        if "#" in last:  # last argument line ends in a comment: put the keyword on its own line
            sep += "\n" + " " * (len(last) - len(last.lstrip()))
        else:
            sep += " "
        tail = args[len(body):]  # keep a multi-line call's closing layout
        return f"{call}({body}{sep}{keyword}{tail})"

    return _sub(root, r"(?<![\w.])" + re.escape(call) + r"\((" + inner + r")\)", repl, rel, flags=0)


# ----------------------------------------------------------------------------------------------- fixes
_PKG_SHIM = """\
{i}import importlib.metadata as _md  {mark}: setuptools >= 81 has no pkg_resources
{i}import types as _types
{i}from packaging.requirements import Requirement as _Req
{i}from packaging.version import parse as _parse_version


{i}def _parse_requirements(s):
{i}    lines = s.splitlines() if isinstance(s, str) else s
{i}    return [_Req(x.split('#')[0].strip()) for x in lines if x.split('#')[0].strip()]


{i}def _require(r):
{i}    q = _Req(str(r))
{i}    try:
{i}        v = _md.version(q.name)
{i}    except _md.PackageNotFoundError as e:
{i}        e.req = q
{i}        raise
{i}    if not q.specifier.contains(v, prereleases=True):
{i}        e = ImportError(f'{{q.name}}=={{v}} is installed, {{q}} is required')
{i}        e.req = q
{i}        raise e


{i}pkg = _types.SimpleNamespace(parse_version=_parse_version, parse_requirements=_parse_requirements, require=_require)
"""


_PKG_MINI = """\
{i}import types as _types  {mark}: setuptools >= 81 has no pkg_resources
{i}from packaging.version import parse as _parse_version
{i}pkg = _types.SimpleNamespace(parse_version=_parse_version)
"""


def _pkg_shim(indent: str, full) -> str:
    text = (_PKG_SHIM if full else _PKG_MINI).format(i=indent, mark=MARK).rstrip("\n")
    return text.replace("\n\n\n", "\n\n") if indent else text  # inside a function: single blank lines


@fix
def fix_pkg_resources(root: Path) -> int:
    """ModuleNotFoundError 'pkg_resources' (setuptools >= 81): a packaging/importlib.metadata shim named pkg. yolov5-pypi-7.0, yolov5-pypi-6.0, yolov7."""
    n = 0
    for py in _sources(root):
        text = py.read_text(encoding="utf-8")
        full = re.search(r"\bpkg\.(require|parse_requirements)\(", text)
        n += _sub(root, r"^([ \t]*)import pkg_resources as pkg[ \t]*$", lambda m: _pkg_shim(m.group(1), full),
                  rel=[py.relative_to(root)])
    return n


@fix
def fix_roboflow_optional(root: Path) -> int:
    """ModuleNotFoundError 'roboflow' when importing train.py: make the roboflow import optional. yolov5-pypi-7.0."""
    return _replace(root, "from roboflow import Roboflow\nfrom roboflow.core.version import Version\n",
                    f"try:  {MARK}: roboflow is only needed for roboflow.com datasets / --roboflow_upload\n"
                    "    from roboflow import Roboflow\n    from roboflow.core.version import Version\n"
                    "except ImportError:\n    Roboflow = Version = None\n", rel=["utils/roboflow.py"])


@fix
def fix_hub_download_optional(root: Path) -> int:
    """ModuleNotFoundError 'huggingface_hub' (or its moved utils._errors) in attempt_download of a local .pt: skip the HF hub for local files and when it is unusable. yolov5-pypi-7.0."""
    n = _replace(root, "    result = attempt_download_from_hub(file, hf_token=hf_token)\n",
                 "    result = None if Path(str(file).strip().replace(\"'\", '')).exists() else \\\n"
                 f"        attempt_download_from_hub(file, hf_token=hf_token)  {MARK}: local file, no hub\n",
                 rel=["utils/downloads.py"])
    for fn in ("get_model_filename_from_hfhub(repo_id, hf_token=None)",
               "attempt_download_from_hub(repo_id, hf_token=None, revision=None)"):
        n += _sub(root, r"^(def " + re.escape(fn) + r":\n)((?:    from huggingface_hub[^\n]*\n)+)",
                  lambda m: m.group(1) + f"    try:  {MARK}: huggingface_hub is optional\n"
                  + "".join("    " + x + "\n" for x in m.group(2).splitlines())
                  + "    except ImportError:\n        return None\n", rel=["utils/downloads.py"])
    return n


@fix
def fix_font_offline(root: Path) -> int:
    """URLError downloading Arial.ttf offline (check_dataset -> check_font; in 6.0.x already at import of utils/plots): fall back to matplotlib's DejaVuSans.ttf copied as CONFIG_DIR/<font>. yolov5-pypi-7.0, yolov5-pypi-6.0, yolov5-master."""
    return _sub(root, r"^([ \t]+(?:LOGGER\.info|print)\(f(['\"])Downloading \{url\} to \{(?:file|font)\}\.\.\.\2\)\n)"
                r"([ \t]+)(torch\.hub\.download_url_to_file\(url, str\((file|font)\), progress=\w+\))[ \t]*$",
                lambda m: (f"{m.group(1)}{m.group(3)}try:\n"
                           f"{m.group(3)}    {m.group(4)}\n"
                           f"{m.group(3)}except Exception:  {MARK}: offline, use matplotlib's DejaVuSans.ttf\n"
                           f"{m.group(3)}    import shutil, matplotlib\n"
                           f"{m.group(3)}    shutil.copyfile(Path(matplotlib.get_data_path()) / 'fonts/ttf/DejaVuSans.ttf', {m.group(5)})"),
                rel=["utils/general.py", "utils/plots.py"])


@fix
def fix_font_getsize(root: Path) -> int:
    """AttributeError 'FreeTypeFont' object has no attribute 'getsize' (Pillow >= 10): use getbbox(text)[2:] (Pillow >= 8). yolov5-pypi-7.0, yolov5-pypi-6.0, yolov7."""
    return _sub(root, r"\b((?:self\.)?font)\.getsize\(([^()\n]*)\)", r"\1.getbbox(\2)[2:]")


@fix
def fix_np_trapz(root: Path) -> int:
    """AttributeError numpy has no attribute 'trapz' (deprecated in numpy 2.0, gone in 2.4) in compute_ap: np.trapezoid where it exists. yolov5-pypi-7.0, yolov5-pypi-6.0, yolov7."""
    return _sub(root, r"\bnp\.trapz\(", "(np.trapezoid if hasattr(np, 'trapezoid') else np.trapz)(")


@fix
def fix_np_aliases(root: Path) -> int:
    """AttributeError numpy has no attribute 'int'/'float'/'bool'/'object'/'str'/'complex' (numpy >= 1.24): use the builtins they aliased. yolov5-pypi-7.0, yolov5-pypi-6.0, yolov7."""
    return _sub(root, r"\bnp\.(int|float|bool|object|str|complex)\b(?![\w.])", r"\1")


@fix
def fix_torch_load_safe(root: Path) -> int:
    """UnpicklingError 'Weights only load failed' (torch >= 2.6 defaults weights_only=True) loading the host's own checkpoints, and a stranger's .pt running code once weights_only=False: every torch.load goes through yolov5_shuffle.hosts.torch_load, the untrusted-checkpoint loader (yolov5_shuffle.untrusted.checkpoint: only torch's tensor-rebuild calls, classes of torch, ours and the hosts' loaded model code created, never called; YOLOV5_SHUFFLE_TRUST_CHECKPOINTS=1 for a trusted other file). yolov5-pypi-7.0, yolov5-pypi-6.0, yolov5-master, yolov7."""
    return _sub(root, r"(?<![\w.])torch\.load\(", "__import__('yolov5_shuffle.hosts').hosts.torch_load(")


_MODEL_YAML = "__import__('yolov5_shuffle.untrusted.model_yaml', fromlist=['read_model_yaml'])"


@fix
def fix_model_yaml_data(root: Path) -> int:
    """A model yaml runs code: Model.__init__ reads it unbounded (yaml.safe_load: nested aliases cost gigabytes) and parse_model evals its activation, module names and string arguments (train.py --cfg evil.yaml, or a checkpoint's yaml dict with --weights): read it with yolov5_shuffle.untrusted.model_yaml.read_model_yaml and check the dict (literals, and the layers of this tree's own namespace) before parse_model sees it. yolov5-pypi-7.0, yolov5-pypi-6.0, yolov5-master, yolov7."""
    n = _sub(root, r"^([ \t]+)self\.yaml = yaml\.(?:safe_load\(f\)|load\(f, Loader=yaml\.SafeLoader\))"
                   r"[ \t]*(?:#[^\n]*)?$",
             lambda m: f"{m.group(1)}self.yaml = {_MODEL_YAML}.read_model_yaml(cfg)  {MARK}: bounded, no aliases",
             rel=["models/yolo.py"])
    n += _sub(root, r"^([^\n]*\n)([ \t]+)(self\.model, self\.save = parse_model\(deepcopy\(self\.yaml\), ch=\[ch\]\))",
              lambda m: m.group(0) if MARK in m.group(1) else
              f"{m.group(1)}{m.group(2)}{_MODEL_YAML}.check_in_namespace(self.yaml, 'the model dict' if isinstance("
              f"cfg, dict) else str(cfg), globals())  {MARK}: a model yaml is data, not code\n{m.group(2)}{m.group(3)}",
              rel=["models/yolo.py"])
    return n


@fix
def fix_noval_map50s(root: Path) -> int:
    """UnboundLocalError 'map50s' in train.py --noval from the first epoch without validation (the PyPI 7.0.x packaging logs per-class mAP50 that only validation sets): start it at zeros like maps. yolov5-pypi-7.0."""
    n = 0
    for rel in ("train.py", "segment/train.py"):
        f = Path(root) / rel
        if f.is_file() and "list(map50s)" in f.read_text(encoding="utf-8"):
            n += _sub(root, r"^([ \t]*)maps = np\.zeros\(nc\)  # mAP per class\n(?![ \t]*map50s = )",
                      lambda m: f"{m.group(0)}{m.group(1)}map50s = np.zeros(nc)  {MARK}: --noval logs it before val\n",
                      rel=[rel])
    return n


_OV_EXPORT_OLD = """    check_requirements('openvino-dev')  # requires openvino-dev: https://pypi.org/project/openvino-dev/
    import openvino.inference_engine as ie

    LOGGER.info(f'\\n{prefix} starting export with openvino {ie.__version__}...')
    f = str(file).replace('.pt', f'_openvino_model{os.sep}')

    args = [
        'mo',
        '--input_model',
        str(file.with_suffix('.onnx')),
        '--output_dir',
        f,
        '--data_type',
        ('FP16' if half else 'FP32'),]
    subprocess.run(args, check=True, env=os.environ)  # export
"""
_OV_EXPORT_NEW = f"""    import openvino as ov  {MARK}: openvino >= 2023.1 converts in Python, as YOLOv5 master does

    LOGGER.info(f'\\n{{prefix}} starting export with openvino {{ov.__version__}}...')
    f = str(file).replace('.pt', f'_openvino_model{{os.sep}}')
    ov.save_model(ov.convert_model(str(file.with_suffix('.onnx'))), str(Path(f) / file.with_suffix('.xml').name),
                  compress_to_fp16=half)
"""


@fix
def fix_export_openvino_convert(root: Path) -> int:
    """export.py --include openvino: "No module named 'openvino.inference_engine'", and DetectMultiBackend: "No module named 'openvino.runtime'" (openvino 2025/2026 removed both): convert with openvino.convert_model/save_model and load with openvino.Core, as YOLOv5 master does. yolov5-pypi-7.0."""
    n = _replace(root, _OV_EXPORT_OLD, _OV_EXPORT_NEW, rel=["export.py"])
    n += _sub(root, r"^            from openvino\.runtime import Core, Layout, get_batch\n",
              f"            from openvino import Core, Layout, get_batch  {MARK}: openvino >= 2023.1; 2025 has no .runtime\n",
              rel=["models/common.py"])
    return n


@fix
def fix_export_failure_points_to_ours(root: Path) -> int:
    """export.py --include <format> whose converter cannot take the model (or whose package is missing) logs 'export failure' among other lines and exits 0: say it in one line that points to `yolov5-shuffle export` (OpenVINO, ncnn, TFLite, int8 of our models, each checked against PyTorch), and exit 1 when nothing asked for was exported. yolov5-pypi-7.0."""
    n = _replace(root, "            LOGGER.info(f'{prefix} export failure ❌ {dt.t:.1f}s: {e}')\n",
                 f"            LOGGER.info(f'{{prefix}} export failure ❌ {{dt.t:.1f}}s: {{e}}; for OpenVINO, ncnn, TFLite or int8 "
                 f"use `yolov5-shuffle export --weights ...` (each format checked against PyTorch)')  {MARK}\n",
                 rel=["export.py"])
    n += _sub(root, r"^(    f = \[str\(x\) for x in f if x\]  # filter out '' and None\n)(?!    if not f and )",
              lambda m: m.group(1) + f"    if not f and include:  {MARK}: a failed export must not exit 0\n"
              "        raise SystemExit(f'export failure: nothing of {include} was exported (see above); for OpenVINO, "
              "ncnn, TFLite or int8 use `yolov5-shuffle export`')\n", rel=["export.py"])
    return n


@fix
def fix_onnx_export_dynamo(root: Path) -> int:
    """ONNX 'export failure: No module named onnxscript' (torch >= 2.9 exports through dynamo by default): pass dynamo=False where torch knows it. yolov5-pypi-7.0, yolov5-pypi-6.0, yolov7."""
    return _add_keyword(root, "torch.onnx.export", "**({'dynamo': False} if 'dynamo' in __import__('inspect')"
                        ".signature(torch.onnx.export).parameters else {})", name="dynamo")


_DATA_COMPAT = f"""\
def data_yaml_compat(d):  {MARK}: accept YOLOv5/ultralytics data.yaml ('path:' root, names as a dict)
    if isinstance(d, dict):
        root = d.get('path')
        if root:
            for k in ('train', 'val', 'test'):
                v = d.get(k)
                if isinstance(v, str) and not os.path.isabs(v):
                    d[k] = str(Path(root) / v)
                elif isinstance(v, list):
                    d[k] = [x if os.path.isabs(x) else str(Path(root) / x) for x in v]
        if isinstance(d.get('names'), dict):
            d['names'] = [d['names'][k] for k in sorted(d['names'])]
        if 'nc' not in d and d.get('names'):
            d['nc'] = len(d['names'])
    return d


"""


@fix
def fix_yolov7_data_yaml(root: Path) -> int:
    """'WARNING: Dataset not found, nonexistent paths' / class names shown as numbers with a YOLOv5/ultralytics-style data.yaml (path: root, names: {0: a}): resolve path:, names dict -> list. yolov7."""
    n = 0
    gen = Path(root) / "utils/general.py"
    if gen.is_file() and "def data_yaml_compat(" not in gen.read_text(encoding="utf-8"):
        n += _sub(root, r"^def check_dataset\(dict\):\n", lambda m: _DATA_COMPAT + m.group(0)
                  + "    data_yaml_compat(dict)  " + MARK + "\n", rel=["utils/general.py"])
    n += _sub(root, r"^(        data_dict = yaml\.load\(f, Loader=yaml\.SafeLoader\)  # data dict\n)"
                    r"(?!    from utils\.general import data_yaml_compat)",
              lambda m: m.group(1) + "    from utils.general import data_yaml_compat  " + MARK + "\n"
              "    data_dict = data_yaml_compat(data_dict)\n", rel=["train.py"])
    return n


@fix
def fix_yolov7_foreign_cache(root: Path) -> int:
    """UnpicklingError in LoadImagesAndLabels when labels/*.cache was written by YOLOv5 (np.save) or is unreadable: re-cache instead of crashing. yolov7."""
    return _sub(root, r"^([ \t]+if cache_path\.is_file\(\):\n)([ \t]+)(cache, exists = torch\.load\(cache_path[^\n]*\), True  # load)\n",
                lambda m: f"{m.group(1)}{m.group(2)}try:  {MARK}: a YOLOv5 (np.save) or unreadable cache\n"
                          f"{m.group(2)}    {m.group(3)}\n"
                          f"{m.group(2)}except Exception:\n"
                          f"{m.group(2)}    cache, exists = self.cache_labels(cache_path, prefix), False  # re-cache\n",
                rel=["utils/datasets.py"])


@fix
def fix_yolov7_attempt_download(root: Path) -> int:
    """attempt_load of an existing .pt under a path with capitals tries to download it (path .lower()ed), then CalledProcessError 'git tag' outside a git checkout: keep the path's case, tolerate no git. yolov7."""
    n = _replace(root, "    file = Path(str(file).strip().replace(\"'\", '').lower())\n",
                 f"    file = Path(str(file).strip().replace(\"'\", ''))  {MARK}: .lower() broke paths with capitals\n",
                 rel=["utils/google_utils.py"])
    n += _sub(root, r"^([^\n]*\n)([ \t]+)(tag = subprocess\.check_output\('git tag', shell=True\)\.decode\(\)\.split\(\)\[-1\])[ \t]*\n",
              lambda m: m.group(0) if MARK in m.group(1) else
              f"{m.group(1)}{m.group(2)}try:  {MARK}: not a git checkout / no tags\n"
              f"{m.group(2)}    {m.group(3)}\n"
              f"{m.group(2)}except Exception:\n"
              f"{m.group(2)}    tag = 'v0.1'\n", rel=["utils/google_utils.py"])
    return n


@fix
def fix_yolov7_simplify_onnxslim(root: Path) -> int:
    """export.py --simplify prints 'Simplifier failure: No module named onnxsim' (onnx-simplifier is rarely installable today): fall back to onnxslim. yolov7."""
    return _replace(root, "                import onnxsim\n\n                print('\\nStarting to simplify ONNX...')\n"
                          "                onnx_model, check = onnxsim.simplify(onnx_model)\n",
                    "                try:\n                    import onnxsim\n\n"
                    "                    print('\\nStarting to simplify ONNX...')\n"
                    "                    onnx_model, check = onnxsim.simplify(onnx_model)\n"
                    f"                except ImportError:  {MARK}: no onnx-simplifier, use onnxslim\n"
                    "                    import onnxslim\n\n"
                    "                    print('\\nStarting to simplify ONNX with onnxslim %s...' % onnxslim.__version__)\n"
                    "                    onnx_model, check = onnxslim.slim(onnx_model), True\n", rel=["export.py"])


@fix
def fix_meshgrid_indexing(root: Path) -> int:
    """UserWarning 'torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument': pass indexing='ij' (the old default; torch >= 1.10); lines already choosing by torch version are left alone. yolov7."""
    return _add_keyword(root, "torch.meshgrid", "indexing='ij'", skip_line=r"indexing|torch_1_10")


@fix
def fix_boto3_optional(root: Path) -> int:
    """ModuleNotFoundError 'boto3' when importing train.py (utils/aws.py imports it at module level): make it optional (only --s3_upload_dir needs it). yolov5-pypi-6.0."""
    return _replace(root, "import boto3\nimport numpy as np\nfrom botocore.exceptions import NoCredentialsError\n",
                    f"import numpy as np\n\ntry:  {MARK}: boto3 is only needed for --s3_upload_dir\n"
                    "    import boto3\n    from botocore.exceptions import NoCredentialsError\n"
                    "except ImportError:\n    boto3 = None\n\n    class NoCredentialsError(Exception):\n        pass\n",
                    rel=["utils/aws.py"])


@fix
def fix_label_cache_except(root: Path) -> int:
    """AttributeError/AssertionError loading labels/*.cache written by another host or version (PyPI 6.0.x re-caches only on FileNotFoundError): re-cache on any error, as upstream does. yolov5-pypi-6.0."""
    return _replace(root, "        except FileNotFoundError:\n            cache, exists = self.cache_labels(cache_path, prefix), False  # cache\n",
                    f"        except Exception:  {MARK}: stale/foreign cache\n"
                    "            cache, exists = self.cache_labels(cache_path, prefix), False  # cache\n",
                    rel=["utils/datasets.py", "utils/dataloaders.py"])


@fix
def fix_loss_clamp_long(root: Path) -> int:
    """RuntimeError 'result type Float can't be cast to the desired output type long int' in build_targets (torch >= 1.12, float gain): clamp long grid indices with int bounds. yolov5-pypi-6.0 (YOLOv5 < 6.1)."""
    return _replace(root, "gj.clamp_(0, gain[3] - 1), gi.clamp_(0, gain[2] - 1)",
                    "gj.clamp_(0, int(gain[3]) - 1), gi.clamp_(0, int(gain[2]) - 1)", rel=["utils/loss.py"])


def apply_fixes(root: Path, names: Iterable[str]) -> dict[str, int]:
    """Run the named fixes on a tree; name -> number of edits."""
    names = tuple(names)
    unknown = [n for n in names if n not in FIXES]
    if unknown:
        raise KeyError(f"unknown fix(es) {', '.join(unknown)}; known: {', '.join(FIXES)}")
    return {n: FIXES[n](Path(root)) for n in names}


# ---------------------------------------------- quieter demo output (added by the accuracy helper, issue 17)
@fix
def fix_requirements_check_packaged(root: Path) -> int:
    """'requirements.txt not found, check failed' at every train.py/detect.py/val.py start (the PyPI packaging ships no requirements.txt; 7.0.x asks ultralytics' check_requirements for its own, which its wheel lacks): skip that whole-file check (pip resolved the requirements). yolov5-pypi-7.0, yolov5-pypi-6.0."""
    return _sub(root, r"^([ \t]*)check_requirements\((?:exclude=\('tensorboard', ?'thop'\))?\)[ \t]*$",
                rf"\1pass  {MARK}: a pip-installed YOLOv5 has no requirements.txt to check",
                rel=["train.py", "detect.py", "val.py"])


@fix
def fix_nms_time_limit_message(root: Path) -> int:
    """'WARNING NMS time limit 3.700s exceeded' in the first epochs' validation reads like a failure: say that the batch kept the boxes found so far, and when it is expected. yolov5-pypi-7.0."""
    return _replace(root, "LOGGER.warning(f'WARNING ⚠️ NMS time limit {time_limit:.3f}s exceeded')",
                    "LOGGER.warning(f'NMS time limit {time_limit:.3f}s exceeded: this batch keeps the boxes "
                    "found so far (expected while a model is young and proposes thousands of boxes; its mAP "
                    f"reads a little low)')  {MARK}: say what it means", rel=["utils/general.py"])


@fix
def fix_video_end_retrieve(root: Path) -> int:
    """OpenCV's '[ERROR] global cap_ffmpeg_impl.hpp retrieveFrame Picture does not contain data' at the end of every video detect.py reads (LoadImages retrieves after a failed grab): retrieve only a grabbed frame. yolov5-pypi-7.0."""
    return _replace(root, "            for _ in range(self.vid_stride):\n                self.cap.grab()\n"
                          "            ret_val, im0 = self.cap.retrieve()\n",
                    "            for _ in range(self.vid_stride):\n                grabbed = self.cap.grab()\n"
                    "            ret_val, im0 = self.cap.retrieve() if grabbed else (False, None)  "
                    f"{MARK}: no retrieve past the end\n", rel=["utils/dataloaders.py"])
