"""Numbers on the command line are finite and within sense: a deadline that is not a number of minutes, or is too
short to see one epoch, is refused by argparse in one line before any work (exit 2)."""

from __future__ import annotations

import pytest

from errors_support import assert_one_line, call
from yolov5_shuffle.measure import yardstick


@pytest.mark.parametrize("value", ["nan", "inf", "1e-12", "0.01"])
def test_yardstick_refuses_a_deadline_that_is_not_a_sane_number_of_minutes(value, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(yardstick, "run_yardstick", lambda **kw: pytest.fail(f"yardstick ran with {kw}"))
    code, out, err = call(capsys, "yardstick", "--deadline-min", value, "--report-only", "--out", tmp_path / "o")
    assert code == 2 and not out
    assert_one_line(err, "yardstick", "argument --deadline-min: must be")
