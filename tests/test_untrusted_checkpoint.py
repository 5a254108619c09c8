"""A checkpoint from a stranger: what the loader (yolov5_shuffle.untrusted.checkpoint) refuses, and at what cost.

Each crafted file is built here and shown to do harm under plain unpickling where it can; the loader must
refuse it in one line, without running it, importing what it names, or expanding it first.
"""

from __future__ import annotations

import importlib.abc
import io
import os
import pickle
import subprocess
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from conftest import run_cli
from yolov5_shuffle import hosts
from yolov5_shuffle.untrusted import checkpoint, checkpoint_pickle

Refused = checkpoint.CheckpointRefused


def stored_zip(path: Path, records: dict[str, bytes], compression=zipfile.ZIP_STORED) -> Path:
    """A zip laid out as torch lays out a checkpoint: records in archive/."""
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in records.items():
            z.writestr(f"archive/{name}", data)
    return path


def saved_records(obj) -> dict[str, bytes]:
    """torch.save(obj)'s records, by their name inside the archive folder."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return {n.partition("/")[2]: z.read(n) for n in z.namelist()}


class RunsShell:
    """Unpickling this runs ``touch marker`` (os.system): proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def one_line(r: subprocess.CompletedProcess) -> bool:
    return r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


# --- calls: only torch's tensor-rebuild functions, and never a function or class smuggled into one -------------

@pytest.fixture
def host_model_payload(yolo_root, tmp_path, monkeypatch):
    """A checkpoint whose pickle calls torch._tensor._rebuild_from_type_v2(DetectionModel, DetectionModel, (cfg,),
    {}): DetectionModel(cfg) evals the cfg's activation, a payload that writes a file."""
    from yolov5.models.yolo import DetectionModel

    marker = tmp_path / "RAN"
    cfg = {"nc": 1, "depth_multiple": 1.0, "width_multiple": 1.0, "anchors": 1, "backbone": [], "head": [],
           "activation": f"__import__('pathlib').Path({str(marker)!r}).touch() or nn.SiLU()"}

    class IndirectCall:
        def __reduce__(self):
            return (torch._tensor._rebuild_from_type_v2, (DetectionModel, DetectionModel, (cfg,), {}))

    path = tmp_path / "indirect.pt"
    torch.save({"model": IndirectCall(), "epoch": 1}, path)
    from yolov5_shuffle.untrusted import model_yaml

    with monkeypatch.context() as m:  # the vendored Model checks its yaml too (a second guard): off, to show the file
        m.setattr(model_yaml, "check_in_namespace", lambda *a, **k: None)
        with pytest.raises(Exception):
            torch.load(path, weights_only=False)  # the activation runs, then the empty cfg fails to build ...
    assert marker.exists()
    marker.unlink()  # ... and each test checks it did not run again
    return path, marker


def test_rebuild_from_type_cannot_call_a_host_model_class(host_model_payload):
    path, marker = host_model_payload
    for load in (lambda: checkpoint.load(path, modules=hosts.model_modules()), lambda: hosts.torch_load(path),
                 lambda: hosts.host_for_checkpoint(path)):
        with pytest.raises(Refused, match=r"calls torch\._tensor\._rebuild_from_type_v2 to call "
                                          r"yolov5\.models\.yolo\.DetectionModel"):
            load()
    assert not marker.exists()


def test_rebuild_from_type_payload_is_refused_by_export_detect_and_the_vendored_detect(host_model_payload, yolo_root,
                                                                                       data, tmp_path):
    path, marker = host_model_payload
    images = data.parent / "images" / "val"
    for args in (("export", "--weights", path, "--imgsz", 64), ("detect", "--weights", path, "--source", images)):
        r = run_cli(*args, cwd=tmp_path)
        assert one_line(r) and "_rebuild_from_type_v2 to call" in r.stderr, r.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(yolo_root).parent),
                                                                      os.environ.get("PYTHONPATH")]))}
    r = subprocess.run([sys.executable, "detect.py", "--weights", str(path), "--source", str(images), "--imgsz", "64",
                        "--project", str(tmp_path / "p")], cwd=yolo_root, capture_output=True, text=True, env=env,
                       timeout=600)
    assert "_rebuild_from_type_v2 to call" in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
    assert not marker.exists()


def test_the_refusal_names_what_was_called(tmp_path):
    """A callable that is itself the result of a call (getattr(__import__('os'), 'system')) is named by the first
    call the file makes, never as '?'."""
    marker = tmp_path / "RAN"
    data = (b"\x80\x02c__builtin__\ngetattr\n(c__builtin__\n__import__\n(Vos\ntRVsystem\ntR(V"
            + f"touch {marker}".encode() + b"\ntR.")
    pickle.loads(data)
    assert marker.exists()
    marker.unlink()
    path = stored_zip(tmp_path / "chained.pt", {"data.pkl": data, "version": b"3\n"})
    with pytest.raises(Refused, match=r"its pickle calls builtins\.__import__;"):
        checkpoint.load(path)
    assert not marker.exists()


def test_a_class_called_without_arguments_is_allowed_only_when_that_runs_no_python_code(tmp_path, monkeypatch):
    """SimpleNamespace-like host classes pickle as a call with no arguments (C code only); an nn.Module's call runs
    its __init__, and is refused even with no arguments."""
    host = types.ModuleType("zz_bare_host")
    exec("import types, torch\nclass Args(types.SimpleNamespace): pass\nclass Net(torch.nn.Module): pass\n",
         vars(host))
    monkeypatch.setitem(sys.modules, "zz_bare_host", host)
    records = {"version": b"3\n"}
    for cls, name in ((host.Args, "args.pt"), (host.Net, "net.pt")):
        records["data.pkl"] = pickle.dumps(cls, protocol=2)[:-1] + b")R."  # GLOBAL cls, (), REDUCE
        stored_zip(tmp_path / name, records)
    assert isinstance(checkpoint.load(tmp_path / "args.pt", modules=("zz_bare_host",)), host.Args)
    with pytest.raises(Refused, match=r"calls zz_bare_host\.Net;"):
        checkpoint.load(tmp_path / "net.pt", modules=("zz_bare_host",))


# --- the bytes checked are the bytes torch loads -----------------------------------------------------------------

def test_a_case_variant_decoy_pickle_is_refused(tmp_path):
    """archive/data.pkl (harmless) beside archive/DATA.PKL (the payload): torch's reader matches names regardless
    of case and loads the payload."""
    marker = tmp_path / "RAN"
    path = stored_zip(tmp_path / "decoy.pt", {"DATA.PKL": pickle.dumps({"model": RunsShell(marker)}, protocol=2),
                                              "data.pkl": pickle.dumps({"epoch": 1}, protocol=2), "version": b"3\n"})
    torch.load(path, weights_only=False)
    assert marker.exists()
    marker.unlink()
    for load in (lambda: checkpoint.load(path), lambda: checkpoint.check_calls(path)):
        with pytest.raises(Refused, match="2 data.pkl pickles"):
            load()
    r = run_cli("export", "--weights", path, cwd=tmp_path)
    assert one_line(r) and "2 data.pkl pickles" in r.stderr, r.stderr[-2000:]
    assert not marker.exists()


def test_a_record_torch_would_read_under_another_name_is_refused(tmp_path):
    """Two records whose names differ only in case are ambiguous to torch's reader, whichever they are."""
    records = saved_records({"w": torch.zeros(2)})
    records["DATA/0"] = records["data/0"]
    path = stored_zip(tmp_path / "twins.pt", records)
    with pytest.raises(Refused, match="holds archive/data/0 twice"):
        checkpoint.load(path)


# --- bounded cost: refused before reading what genuine checkpoints never are ------------------------------------

def test_a_compressed_pickle_is_refused_before_it_is_expanded(tmp_path, monkeypatch):
    """torch stores records uncompressed: a deflated data.pkl (here 4 MB of opcodes in a few KB; a 1 MB file can
    expand to GiBs) is refused from the zip's directory, before Python or torch decompress or even open it."""
    data = b"\x80\x02" + b"N0" * 2_000_000 + b"N."
    path = stored_zip(tmp_path / "bomb.pt", {"data.pkl": data, "version": b"3\n"}, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < len(data) // 100

    def never(*args, **kwargs):
        raise AssertionError("the compressed record was opened")

    monkeypatch.setattr(zipfile, "_get_decompressor", never)
    monkeypatch.setattr(torch._C, "PyTorchFileReader", never)
    with pytest.raises(Refused, match="archive/data.pkl is compressed"):
        checkpoint.load(path)


def test_a_zip_claiming_more_records_than_a_checkpoint_holds_is_refused_from_its_end_record(tmp_path, monkeypatch):
    records = saved_records({"w": torch.zeros(2)})
    path = stored_zip(tmp_path / "many.pt", records)
    raw = bytearray(path.read_bytes())
    raw[-12:-10] = raw[-14:-12] = (0xFFFE).to_bytes(2, "little")  # entries in the end record: 65534
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as z:  # what Python's reader would otherwise parse
        assert len(z.infolist()) == len(records)
    path.write_bytes(bytes(raw))
    monkeypatch.setattr(checkpoint, "MAX_RECORDS", 1000)
    with pytest.raises(Refused, match="holds 65534 records.*at most 1000 are read"):
        checkpoint.load(path)


def test_five_million_trivial_opcodes_are_refused_by_the_step_bound(tmp_path):
    data = b"\x80\x02" + b"N0" * 2_500_000 + b"N."  # None, pop: 5 M opcodes, then a valid end
    path = stored_zip(tmp_path / "opcodes.pt", {"data.pkl": data, "version": b"3\n"})
    with pytest.raises(Refused, match=f"more than {checkpoint_pickle.MAX_STEPS:,} steps"):
        checkpoint.load(path)


def test_reading_a_pickle_is_bounded_in_time(tmp_path, monkeypatch):
    path = stored_zip(tmp_path / "slow.pt", {"data.pkl": b"\x80\x02" + b"N0" * 5000 + b"N.", "version": b"3\n"})
    assert checkpoint.load(path) is None
    monkeypatch.setattr(checkpoint_pickle, "MAX_SECONDS", 0.0)
    with pytest.raises(Refused, match="took more than 0 s"):
        checkpoint.load(path)


def test_calls_that_copy_a_big_container_count_against_the_bound(tmp_path):
    """set(L) a thousand times over one memoized list of 10 000 items: a few opcodes, 10 M items copied."""
    items = b"".join(b"J" + i.to_bytes(4, "little") for i in range(1000)) * 10
    data = (b"\x80\x02c__builtin__\nset\nq\x00]q\x01(" + items + b"e"
            + b"h\x00h\x01\x85R0" * 1000 + b"N.")
    assert pickle.loads(data) is None
    path = stored_zip(tmp_path / "copies.pt", {"data.pkl": data, "version": b"3\n"})
    with pytest.raises(Refused, match="steps"):
        checkpoint.load(path)


def test_dict_keys_a_file_could_make_collide_are_refused(tmp_path):
    """Ints equal modulo 2**61 - 1 hash alike: a dict of them costs as much per insert as it is long."""
    path = stored_zip(tmp_path / "keys.pt", {"data.pkl": pickle.dumps({k * (2**61 - 1): 0 for k in range(1, 4)},
                                                                      protocol=2), "version": b"3\n"})
    with pytest.raises(Refused, match="uses an int as a dict key"):
        checkpoint.load(path)


class ArrayOfAnyShape:
    def __reduce__(self):
        import numpy

        core = numpy._core.multiarray if hasattr(numpy, "_core") else numpy.core.multiarray
        return (core._reconstruct, (numpy.ndarray, (1 << 20,), b"b"))


def test_a_numpy_array_is_never_allocated_from_a_shape_the_file_gives(tmp_path):
    """numpy pickles an array as an empty one plus its data; _reconstruct with a shape allocates it right away
    (a few bytes could ask for gigabytes)."""
    import numpy

    path = tmp_path / "array.pt"
    torch.save({"a": ArrayOfAnyShape(), "genuine": numpy.arange(3.0)}, path)
    with pytest.raises(Refused, match=r"calls numpy\._core\.multiarray\._reconstruct with other than"):
        checkpoint.load(path)
    torch.save({"genuine": numpy.arange(3.0), "scalar": numpy.float64(0.5)}, path)
    out = checkpoint.load(path)
    assert out["genuine"].tolist() == [0.0, 1.0, 2.0] and out["scalar"] == 0.5


class LyingObjectDtype:
    """Pickles as numpy's object dtype with its object flag cleared: numpy's __setstate__ takes any flags."""

    def __reduce__(self):
        import numpy

        return numpy.dtype, ("O8", False, True), (3, "|", None, None, None, 8, 8, 0)


class ArrayOfPointers:
    """Pickles as an array of that dtype whose data are 8 bytes from the file: read, a pointer to 0x4141..."""

    def __reduce__(self):
        import numpy

        core = numpy._core.multiarray if hasattr(numpy, "_core") else numpy.core.multiarray
        return core._reconstruct, (numpy.ndarray, (0,), b"b"), (1, (1,), LyingObjectDtype(), False, b"A" * 8)


def test_a_numpy_dtype_keeps_the_state_its_code_gives_it(tmp_path):
    """A dtype's flags and itemsize in the file are never taken: genuine arrays of every kind still load."""
    import numpy

    path = tmp_path / "pointers.pt"
    torch.save({"a": ArrayOfPointers()}, path)
    with pytest.raises(Refused, match=r"gives a numpy dtype a state other than its own"):
        checkpoint.load(path)
    genuine = {"f": numpy.arange(3.0), "big": numpy.arange(3, dtype=">i4"), "u": numpy.array(["ab", "c"]),
               "o": numpy.array([1, "x"], dtype=object), "v": numpy.zeros(2, dtype="V3"), "s": numpy.float32(2)}
    torch.save(genuine, path)
    out, plain = checkpoint.load(path), torch.load(path, weights_only=False)
    assert all(out[k].dtype == plain[k].dtype and out[k].tolist() == v.tolist() for k, v in genuine.items())


class HugeSize:
    """Pickles as torch.Size((2**64,)): torch builds it, and any use of it then fails (it overflows int64)."""

    def __reduce__(self):
        return torch.Size, ((1 << 64,),)


def test_sizes_and_strides_are_int64s(tmp_path):
    path = tmp_path / "size.pt"
    torch.save({"shape": HugeSize()}, path)
    with pytest.raises(Refused, match=r"calls torch\.Size with other than a tuple of sizes"):
        checkpoint.load(path)
    torch.save({"shape": torch.Size((3, (1 << 63) - 1))}, path)
    assert checkpoint.load(path)["shape"] == torch.Size((3, (1 << 63) - 1))


def test_the_yolo_route_drops_a_dataset_url_a_checkpoint_names(tmp_path):
    """ultralytics' val/train use a checkpoint's train_args['data'] when data= is not given: a URL there would be
    downloaded and its yaml's download: script run. Local paths and dataset names are kept."""
    from yolov5_shuffle.hosts.ultralytics.safe_load import safe_torch_load

    path = tmp_path / "url.pt"
    torch.save({"train_args": {"data": "https://example.invalid/evil.yaml", "imgsz": 64}}, path)
    assert safe_torch_load(path)["train_args"] == {"imgsz": 64}
    torch.save({"train_args": {"data": "coco8.yaml", "imgsz": 64}}, path)
    assert safe_torch_load(path)["train_args"]["data"] == "coco8.yaml"


# --- nothing a file names is imported ------------------------------------------------------------------------

class ImportRecorder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.asked: list[str] = []

    def find_spec(self, name, path=None, target=None):
        if "zz_" in name:
            self.asked.append(name)
        return None


def test_nothing_a_checkpoint_names_is_imported(tmp_path, monkeypatch):
    """Neither a torch module nor a host model module that is not loaded: importing runs its top-level code."""
    pkg = tmp_path / "zz_host_models"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "layers.py").write_text(f"open({str(tmp_path / 'RAN')!r}, 'w')\nimport torch\n"
                                   "class Layer(torch.nn.Module): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    recorder = ImportRecorder()
    monkeypatch.setattr(sys, "meta_path", [recorder, *sys.meta_path])
    for module in ("torch.zz_unimported_module", "zz_host_models.layers"):
        data = b"\x80\x02c" + module.encode() + b"\nLayer\n)\x81."  # GLOBAL, (), NEWOBJ: creates module.Layer
        path = stored_zip(tmp_path / "names.pt", {"data.pkl": data, "version": b"3\n"})
        with pytest.raises(Refused, match=f"creates {module}.Layer, "):
            checkpoint.load(path, modules=("zz_host_models.",))
    assert recorder.asked == [] and "zz_host_models.layers" not in sys.modules
    assert not (tmp_path / "RAN").exists()


def test_a_hosts_model_modules_come_from_the_registry(tmp_path, monkeypatch):
    """The classes a checkpoint may create are those of each registered host's checkpoint_modules (a host added
    outside the package included), once its code is imported."""
    from yolov5_shuffle.hosts.base import Host

    host = types.ModuleType("zz_toy_models.layers")
    exec("import torch\nclass Layer(torch.nn.Module):\n    pass\n", vars(host))
    monkeypatch.setitem(sys.modules, "zz_toy_models.layers", host)

    class ToyHost(Host):
        name, label, checkpoint_modules = "zz-toy", "a toy host", ("zz_toy_models.",)

    monkeypatch.setattr(hosts, "_ADDED", [])
    hosts.add(ToyHost())
    assert "zz_toy_models." in hosts.model_modules()
    data = b"\x80\x02czz_toy_models.layers\nLayer\n)\x81}(U\x08trainingI00\nub."  # Layer created, given state
    path = stored_zip(tmp_path / "toy.pt", {"data.pkl": data, "version": b"3\n"})
    assert type(hosts.torch_load(path)) is host.Layer


def test_a_hosts_scripts_load_checkpoints_with_the_model_code_of_the_tree_they_run(tmp_path, monkeypatch):
    """YOLOv7's test.py loads a checkpoint before anything imported models/yolo.py: the host imports it, because
    this process runs that tree's models/common.py (never because the file names it)."""
    from yolov5_shuffle.hosts._tree import TreeHost

    pkg = tmp_path / "zz_tree_models"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "common.py").write_text("import torch\nclass Conv(torch.nn.Module): pass\n")
    (pkg / "yolo.py").write_text("import torch\nfrom zz_tree_models.common import Conv\n"
                                 "class Model(torch.nn.Module): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("zz_tree_models", "zz_tree_models.common", "zz_tree_models.yolo"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import zz_tree_models.yolo as yolo

    path = tmp_path / "tree.pt"
    torch.save({"model": yolo.Model()}, path)
    del sys.modules["zz_tree_models.yolo"]  # as in test.py: models.common and models.experimental, not yolo

    class ToyTree(TreeHost):
        name, label, checkpoint_modules = "zz-tree", "a toy tree host", ("zz_tree_models.",)

    monkeypatch.setattr(hosts, "_ADDED", [])
    hosts.add(ToyTree())
    assert type(hosts.torch_load(path)["model"]).__name__ == "Model"
    assert "zz_tree_models.yolo" in sys.modules


# --- formats, damaged files ------------------------------------------------------------------------------------

def test_a_legacy_checkpoint_is_named_as_such(tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(Refused, match=r"legacy format \(saved by torch < 1\.6\).*re-save it with torch >= 1\.6"):
        checkpoint.load(path)


def _yolov5_named(extra: dict) -> dict[str, bytes]:
    """The records of a file our registry takes for a YOLOv5 checkpoint (its pickle names DetectionModel), and
    ``extra``."""
    records = saved_records({"model": None, **extra})
    records["data.pkl"] = records["data.pkl"].replace(b"}q\x00(", b"}q\x00(X\x05\x00\x00\x00classcyolov5.models.yolo"
                                                                 b"\nDetectionModel\n", 1)
    assert b"DetectionModel" in records["data.pkl"]
    return records


class TensorPastItsStorage:
    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, (torch.zeros(2).untyped_storage(), 0, (1000,), (1,), False,
                                                  OrderedDict()))


def test_damaged_checkpoints_exit_2_in_one_line_through_export(tmp_path):
    """A tensor reaching past its storage (torch would resize it), a tensor record shorter than its tensor, a zip
    whose records are not in a folder: each one line, exit 2 (not an internal error)."""
    resize = _yolov5_named({"x": TensorPastItsStorage()})
    short = _yolov5_named({"x": torch.zeros(4)})
    short["data/0"] = short["data/0"][:8]
    files = {"resize": stored_zip(tmp_path / "resize.pt", resize), "short": stored_zip(tmp_path / "short.pt", short)}
    with zipfile.ZipFile(tmp_path / "flat.pt", "w") as z:
        for name, data in short.items():
            z.writestr(name, data)
    files["flat"] = tmp_path / "flat.pt"
    expect = {"resize": "needs 1000 elements of a storage that holds 8", "short": "holds 8",
              "flat": "its record data.pkl is not in a folder"}
    for what, path in files.items():
        with pytest.raises(Refused, match=expect[what]):
            checkpoint.check_calls(path, modules=hosts.model_modules())
        r = run_cli("export", "--weights", path, cwd=tmp_path)
        assert one_line(r) and expect[what] in r.stderr, (what, r.stderr[-2000:])


# --- what is kept ----------------------------------------------------------------------------------------------

def test_trusting_a_file_still_unpickles_it_plainly(tmp_path, monkeypatch):
    marker = tmp_path / "RAN"
    path = tmp_path / "trusted.pt"
    torch.save({"model": RunsShell(marker)}, path)
    monkeypatch.setenv(checkpoint.TRUST_ENV, "1")
    checkpoint.load(path)
    assert marker.exists()


def test_torch_force_weights_only_load_hands_the_file_to_torchs_own_loader(tmp_path, monkeypatch):
    marker = tmp_path / "RAN"
    path = tmp_path / "payload.pt"
    torch.save({"model": RunsShell(marker)}, path)
    monkeypatch.setenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(Refused, match="TORCH_FORCE_WEIGHTS_ONLY_LOAD is set and torch's weights-only loader refused"):
        checkpoint.load(path)
    torch.save({"w": torch.ones(2)}, path)
    assert checkpoint.load(path)["w"].sum() == 2
    assert not marker.exists()


def test_the_embedded_model_yaml_goes_to_the_model_yaml_check(tmp_path, monkeypatch):
    """YOLOv5's train.py rebuilds Model(ckpt['model'].yaml): that dict is checked as a model yaml, by
    yolov5_shuffle.untrusted.model_yaml.check_model_dict (a stand-in here)."""
    seen = []
    checker = types.ModuleType("yolov5_shuffle.untrusted.model_yaml")
    checker.check_model_dict = lambda d, source: seen.append((d, source))
    monkeypatch.setitem(sys.modules, "yolov5_shuffle.untrusted.model_yaml", checker)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1))
    model.yaml = {"nc": 1, "activation": "nn.SiLU()"}
    path = tmp_path / "yaml.pt"
    torch.save({"model": model}, path)
    checkpoint.load(path)
    assert seen == [(model.yaml, f"weights {path}: the model yaml inside it")]


def test_a_genuine_ultralytics_checkpoint_loads_once_its_host_code_is_imported(tmp_path):
    """The classes of ultralytics' model code (created, never called), its SimpleNamespace args (a call that runs
    no Python code), through the registry, which imports that code first."""
    pytest.importorskip("ultralytics")
    from yolov5_shuffle.hosts.ultralytics.registration import register

    register()
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils import IterableSimpleNamespace

    cfg = hosts.by_name("ultralytics").config_dir() / "yolo11n-shufflenetv2.yaml"
    model = DetectionModel(str(cfg), nc=2, verbose=False)
    model.args = IterableSimpleNamespace(imgsz=64, lr0=0.01)
    path = tmp_path / "last.pt"
    torch.save({"epoch": 0, "model": None, "ema": model.half(), "train_args": {"imgsz": 64},
                "optimizer": {"state": {0: {"momentum_buffer": torch.zeros(2)}}, "param_groups": [{"params": [0]}]}},
               path)
    ckpt = hosts.read_checkpoint(path)
    assert type(ckpt["ema"]) is DetectionModel and ckpt["ema"].args.imgsz == 64
    assert sum(p.numel() for p in ckpt["ema"].parameters()) == sum(p.numel() for p in model.parameters())
