"""A good guest: installing the plugin changes none of the packages a host's environment already has."""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
import tarfile
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from conftest import REPO, fixture_archive


def install_requires() -> list[Requirement]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return [Requirement(x) for x in cfg.get("options", "install_requires").split("\n") if x.strip()]


def host_requirements(archive: str) -> list[Requirement]:
    """A host's requirements.txt, read from its source archive."""
    with tarfile.open(fixture_archive(archive)) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("/requirements.txt") and m.name.count("/") == 1)
        text = t.extractfile(member).read().decode()
    reqs = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            reqs.append(Requirement(line))
    return reqs


def test_install_requires_are_lower_bounds_only():
    reqs = install_requires()
    assert reqs, "setup.cfg lists no install_requires"
    for r in reqs:
        assert r.specifier, f"{r}: give the lowest version our code needs"
        assert all(s.operator == ">=" for s in r.specifier), f"{r}: only lower bounds (>=), never pins or caps"


@pytest.mark.parametrize("archive", ["yolov5-master-5081342.tar.gz", "yolov7-a207844.tar.gz"])
def test_our_floors_fit_under_every_host_cap(archive):
    """Where a host caps a package (YOLOv7: numpy<1.24), our floor leaves versions both accept."""
    host = {r.name.lower(): r for r in host_requirements(archive)}
    for ours in install_requires():
        theirs = host.get(ours.name.lower())
        if theirs is None:
            continue
        floor = Version(next(iter(ours.specifier)).version)
        for s in theirs.specifier:
            if s.operator in ("<", "<=", "==", "~="):
                assert floor < Version(s.version) or (s.operator != "<" and floor == Version(s.version)), \
                    f"our {ours} leaves nothing under {archive}'s {theirs}"


def test_pip_install_changes_no_installed_package(tmp_path):
    """In this environment (today's packages, YOLOv5 master's requirements, ultralytics) pip would add our
    package and nothing else: no upgrade, no downgrade."""
    report = tmp_path / "report.json"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-build-isolation", "--quiet",
                        "--report", str(report), "-e", str(REPO)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    installs = [(i["metadata"]["name"], i["metadata"]["version"]) for i in json.loads(report.read_text())["install"]]
    assert [n for n, _ in installs] == ["yolov5-shuffle"], f"pip would also install or change: {installs}"


def test_this_environment_is_yolov5_masters_own():
    """The environment the tests run in satisfies YOLOv5 master's requirements.txt (numpy 2, Pillow >= 10.3,
    ultralytics >= 8.4.118): the no-change test above is about the environment a master user has."""
    missing = []
    for r in host_requirements("yolov5-master-5081342.tar.gz"):
        try:
            have = metadata.version(r.name)
        except metadata.PackageNotFoundError:
            missing.append(f"{r} (not installed)")
            continue
        if not r.specifier.contains(have, prereleases=True):
            missing.append(f"{r} (have {have})")
    assert not missing, f"not YOLOv5 master's environment: {missing}"


def test_the_command_line_starts_without_heavy_imports():
    """Building the parser (every command, `patch` included) imports no torch, OpenCV or runtime: a patch
    is a text edit, and `--help` or a bad argument should answer at once."""
    code = ("import sys, yolov5_shuffle.cli as c; c.build_parser(); "
            "print(' '.join(m for m in ('torch', 'cv2', 'numpy', 'onnxruntime', 'openvino', 'matplotlib') "
            "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
