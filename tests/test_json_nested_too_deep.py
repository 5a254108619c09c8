"""A JSON file we read back (a patch journal's manifest, a yardstick table or its --add, a learning.json for
bench --accuracy) nested deeper than Python's JSON decoder recurses is the file's fault: one line naming it
(exit 2), never an internal error."""

from __future__ import annotations

import pytest

from yolov5_shuffle.errors import UserError

DEEP = "[" * 100_000 + "]" * 100_000


def test_a_patch_journal_manifest_nested_too_deep_is_refused(tmp_path):
    from yolov5_shuffle.patching import journal

    (tmp_path / journal.JOURNAL).mkdir()
    (tmp_path / journal.JOURNAL / journal.MANIFEST).write_text(DEEP)
    with pytest.raises(UserError, match=r"not replayed: its manifest.json is not JSON"):
        journal.read(tmp_path, {})


def test_a_yardstick_table_nested_too_deep_is_refused_and_kept(tmp_path):
    from yolov5_shuffle.measure.yardstick import load_rows
    from yolov5_shuffle.outputs import update_json

    table = tmp_path / "yardstick.json"
    table.write_text(DEEP)
    with pytest.raises(UserError, match="not a yardstick table"):
        load_rows(table)
    with pytest.raises(UserError, match="not a JSON file"):
        update_json(table, lambda old: {"rows": []})
    assert table.read_text() == DEEP


def test_a_learning_json_nested_too_deep_is_refused_by_name(tmp_path):
    from yolov5_shuffle.measure.bench import read_accuracy

    f = tmp_path / "learning.json"
    f.write_text(DEEP)
    with pytest.raises(UserError, match=f"--accuracy {f}: not a learning.json"):
        read_accuracy([f])
