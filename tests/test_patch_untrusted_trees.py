"""A tree from a stranger (cloned, downloaded, unpacked) never makes patch or vendor write outside it: a journal
found in the tree is replayed only when this tool wrote it in this folder and every entry checks out, a link
planted in the tree leading out of it is refused (or, at our temporary name, removed), and vendor copies only
what is inside its --from, a folder and an archive by one rule. Every payload lands in a sandbox folder,
checked untouched afterwards."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
from pathlib import Path

import pytest

from conftest import snapshot
from errors_support import assert_one_line, call, debris
from yolov5_shuffle.patching import journal
from yolov5_shuffle.patching import patch as patcher

PAYLOAD = b"import os; os.system('echo owned')\n"


@pytest.fixture
def tree(tree_factory):
    return tree_factory("7.0.14", "pypi")


@pytest.fixture
def sandbox(tmp_path):
    """A folder outside the tree, holding a file a payload might overwrite, delete or copy."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.txt").write_text("the user's own file\n")
    return d


def _journal(root: Path, entries: list, saved: dict | None = None) -> Path:
    """A journal as a run in this folder writes it (so that it passes the folder check: as if someone guessed
    the folder's inode, or wrote it here), then its entries replaced."""
    folder = journal.write(root, [])
    for name, data in (saved or {}).items():
        (folder / name).write_bytes(data)
    manifest = json.loads((folder / journal.MANIFEST).read_text())
    manifest["entries"] = entries
    (folder / journal.MANIFEST).write_text(json.dumps(manifest))
    return folder


def _entry(rel: str, orig: str | None = "0.orig", mode=None) -> dict:
    return {"rel": rel, "orig": orig, "mode": mode}


def _leave_journal(case: str, root: Path, sandbox: Path) -> None:
    """A journal in ``root`` that fails one check (``case``); payloads aim at the sandbox or beside the tree."""
    original = (root / "models" / "yolo.py").read_bytes()
    (root.parent / "victim.txt").write_text("not the tree's\n")  # beside the tree: outside it
    (sandbox / "yolo.py").write_bytes(original)  # a copy that would pass every other check
    folder = root / journal.JOURNAL
    forged = {  # case -> (entries, saved copies), written as a run in this folder writes a journal
        "absolute path": ([_entry(str(sandbox / "planted.py"), mode=0o644)], {"0.orig": PAYLOAD}),
        "../ path": ([_entry("../victim.txt", orig=None)], {}),
        "a file patch does not write": ([_entry("train.py", mode=0o755)], {"0.orig": PAYLOAD}),
        "a saved copy outside the journal": ([_entry("models/yolo.py", orig=os.path.relpath(sandbox / "yolo.py",
                                                                                            folder))], {}),
        "a saved copy that is a link": ([_entry("models/yolo.py")], {}),
        "a mode that is not a number": ([_entry("models/yolo.py", mode="4755")], {"0.orig": original}),
        "a source changed beyond our lines": ([_entry("models/yolo.py")], {"0.orig": PAYLOAD}),
        "a config that is not ours": ([_entry("models/yolov5s-shufflenetv2.yaml")], {"0.orig": PAYLOAD}),
    }
    if case in forged:
        _journal(root, *forged[case])
        if case == "a saved copy that is a link":
            (folder / "0.orig").symlink_to(sandbox / "yolo.py")
    elif case == "a manifest that is not JSON":
        folder.mkdir()
        (folder / journal.MANIFEST).write_text("[{'rel':")
    elif case == "a bare list, as shipped in a tree":  # the earlier format, an absolute path, ../, a setuid mode
        folder.mkdir()
        (folder / "0.orig").write_bytes(PAYLOAD)
        entries = [_entry(str(sandbox / "planted.py"), mode=0o4755), _entry("../victim.txt", orig=None)]
        (folder / journal.MANIFEST).write_text(json.dumps(entries))
    else:  # the journal folder itself a link out of the tree, to a folder holding a manifest for this tree
        (sandbox / "journal").mkdir()
        manifest = {"format": journal.FORMAT, "folder": journal.folder_id(root), "entries": []}
        (sandbox / "journal" / journal.MANIFEST).write_text(json.dumps(manifest))
        folder.symlink_to(sandbox / "journal")


CASES = ["absolute path", "../ path", "a file patch does not write", "a saved copy outside the journal",
         "a saved copy that is a link", "a mode that is not a number", "a source changed beyond our lines",
         "a config that is not ours", "a manifest that is not JSON", "a journal folder linked out of the tree",
         "a bare list, as shipped in a tree"]


@pytest.mark.parametrize("case", CASES)
def test_a_journal_that_fails_a_check_is_refused_and_nothing_is_written(tree, sandbox, tmp_path, capsys, case):
    _leave_journal(case, tree, sandbox)
    before = snapshot(tmp_path)
    for args in ([], ["--check"], ["--dry-run"], ["--revert"]):
        code, out, err = call(capsys, "patch", tree, *args)
        assert code == 2, (case, args, out, err)
        assert_one_line(err, "patch", f"{tree / journal.JOURNAL}: not replayed: ")
        assert snapshot(tmp_path) == before, (case, args)  # the tree, the sandbox, the file beside the tree
    assert not (sandbox / "planted.py").exists() and (tree.parent / "victim.txt").is_file()


def test_a_journal_that_came_with_a_copied_tree_is_not_replayed(tree, tmp_path, capsys):
    """A journal of a run interrupted after its first file, in the folder where it ran: replayed there; in a copy
    of that tree (what a clone, a download or an archive gives), refused: it was written for another folder."""
    p = patcher.plan(tree)
    journal.write(tree, [(f.rel, f.old, f.mode) for f in p.changes])
    journal.write_file(tree / p.changes[0].rel, p.changes[0].new, p.changes[0].mode)
    copy = tmp_path / "download" / "yolov5"
    shutil.copytree(tree, copy, symlinks=True)
    before = snapshot(copy)
    code, out, err = call(capsys, "patch", copy)
    assert code == 2
    assert_one_line(err, "patch", "it was written in another folder (this tree was copied, cloned or unpacked with it)")
    assert snapshot(copy) == before
    code, out, err = call(capsys, "patch", tree)
    assert code == 0, err
    assert f"{tree}: rolled back an interrupted run (models/yolo.py)" in out
    assert patcher.status(tree)[0] == patcher.PATCHED and not debris(tree)


def test_a_journal_mode_is_restored_as_permission_bits_only(tree, capsys):
    """Even a journal this folder's run wrote gets no setuid, setgid or sticky bit through."""
    yolo = tree / "models" / "yolo.py"
    original = yolo.read_bytes()
    patcher.run(tree)
    _journal(tree, [{"rel": "models/yolo.py", "orig": "0.orig", "mode": 0o6755}], {"0.orig": original})
    code, out, err = call(capsys, "patch", tree, "--revert")
    assert code == 0, err
    assert yolo.read_bytes() == original
    assert stat.S_IMODE(yolo.stat().st_mode) == 0o755


def test_patch_refuses_a_dangling_config_link_out_of_the_tree(tree, sandbox, tmp_path, capsys):
    link = tree / "models" / "yolov5s-shufflenetv2.yaml"
    link.symlink_to(sandbox / "cron" / "planted.yaml")  # dangling: patch would create its target
    (sandbox / "cron").mkdir()
    before = snapshot(tmp_path)
    for args in ([], ["--check"], ["--dry-run"]):
        code, out, err = call(capsys, "patch", tree, *args)
        assert code == 2, (args, out, err)
        assert_one_line(err, "patch", f"{link}: a link leads out of the tree (to {sandbox / 'cron' / 'planted.yaml'})")
    assert snapshot(tmp_path) == before and not (sandbox / "cron" / "planted.yaml").exists()


def test_patch_refuses_a_source_linked_out_of_the_tree(tree, sandbox, tmp_path, capsys):
    """Not even an existing host file is edited through a link that leaves the tree (a folder on the way counts)."""
    models = tree / "models"
    shutil.move(models, sandbox / "models")
    models.symlink_to(sandbox / "models")
    before = snapshot(sandbox)
    code, out, err = call(capsys, "patch", tree)
    assert code == 2
    assert_one_line(err, "patch", f"{models / 'yolo.py'}: a link leads out of the tree")
    assert snapshot(sandbox) == before


def test_patch_never_writes_through_a_link_planted_at_its_temporary_name(tree, sandbox, capsys):
    planted = tree / "models" / f"{journal.TMP_PREFIX}yolo.py"
    planted.symlink_to(sandbox / "secret.txt")
    (sandbox / "secret.txt").chmod(0o600)
    before = snapshot(sandbox)
    code, out, err = call(capsys, "patch", tree)
    assert code == 0, err
    yolo = tree / "models" / "yolo.py"
    assert not yolo.is_symlink() and b"# yolov5-shuffle" in yolo.read_bytes()
    assert snapshot(sandbox) == before and stat.S_IMODE((sandbox / "secret.txt").stat().st_mode) == 0o600
    assert not debris(tree)


# --- vendor --from: a folder and an archive, one rule ----------------------------------------------

def _tar(folder: Path, dest: Path, mode: str = "w:gz") -> Path:
    with tarfile.open(dest, mode) as t:
        t.add(folder, arcname=folder.name)
    return dest


@pytest.mark.parametrize("route", ["folder", "tar"])
@pytest.mark.parametrize("link", ["absolute", "relative"])
def test_vendor_refuses_a_link_out_of_its_source_from_a_folder_and_an_archive(tree_factory, sandbox, tmp_path, capsys,
                                                                             route, link):
    src = tree_factory("7.0.14", "upstream")
    target = str(sandbox / "secret.txt") if link == "absolute" else os.path.relpath(sandbox / "secret.txt", src / "data")
    (src / "data" / "leak.txt").symlink_to(target)
    (src / "data" / "inside.yaml").symlink_to("coco128.yaml")  # a link inside the tree is fine
    source = src if route == "folder" else _tar(src, tmp_path / "src.tar.gz")
    dest = tmp_path / "vendored" / "yolov5-git"
    code, out, err = call(capsys, "vendor", "--from", source, "--dest", dest, "--no-pth")
    assert code == 2, (out, err)
    name = "data/leak.txt" if route == "folder" else f"{src.name}/data/leak.txt"
    assert_one_line(err, "vendor", f"{name} is a link to {target}, outside the tree")
    assert not dest.exists() and not list((tmp_path / "vendored").glob(".vendor-*"))


def test_vendor_keeps_a_link_inside_its_source_folder_as_a_link(tree_factory, tmp_path, capsys):
    src = tree_factory("7.0.14", "upstream")
    (src / "data" / "inside.yaml").symlink_to("coco128.yaml")
    dest = tmp_path / "vendored" / "yolov5-git"
    code, out, err = call(capsys, "vendor", "--from", src, "--dest", dest, "--no-pth")
    assert code == 0, err
    assert (dest / "data" / "inside.yaml").is_symlink() and os.readlink(dest / "data" / "inside.yaml") == "coco128.yaml"


@pytest.mark.parametrize("mode,suffix", [("w:gz", "tar.gz"), ("w", "tar")])
def test_vendor_refuses_a_truncated_archive_in_one_line(tree_factory, tmp_path, capsys, mode, suffix):
    archive = _tar(tree_factory("7.0.14", "upstream"), tmp_path / f"src.{suffix}", mode)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) * 2 // 3])
    dest = tmp_path / "vendored" / "yolov5-git"
    code, out, err = call(capsys, "vendor", "--from", archive, "--dest", dest, "--no-pth")
    assert code == 2, (out, err)
    assert_one_line(err, "vendor", f"--from {archive}: the archive is truncated or corrupt")
    assert not dest.exists()
