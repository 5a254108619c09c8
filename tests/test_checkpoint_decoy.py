"""The checkpoint safety scan reads the pickle torch will unpickle, not a harmless decoy beside it: a zip with two
data.pkl is refused, and its payload never runs."""

from __future__ import annotations

import os

import pytest


def test_a_checkpoint_with_a_decoy_pickle_beside_the_real_one_is_refused(tmp_path):
    import pickle
    import zipfile

    from yolov5_shuffle.untrusted import checkpoint as checkpoints

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    path = tmp_path / "decoy.pt"
    with zipfile.ZipFile(path, "w") as z:  # torch reads a/data.pkl (the first record's folder); a/x/ is the decoy
        z.writestr("a/version", "3\n")
        z.writestr("a/x/data.pkl", pickle.dumps({"epoch": 1}, protocol=2))
        z.writestr("a/data.pkl", pickle.dumps({"model": Payload()}, protocol=2))
    with pytest.raises(checkpoints.CheckpointRefused, match="2 data.pkl pickles"):
        checkpoints.check_calls(path)
    with pytest.raises(checkpoints.CheckpointRefused):
        checkpoints.load(path)
    assert not (tmp_path / "ran").exists()
