"""A detect source folder with unreadable files: they are skipped with a warning, one line however many there are."""

from __future__ import annotations

from errors_support import write_image
from yolov5_shuffle.data.sources import readable_sources


def test_many_unreadable_images_give_one_warning_line_with_the_count_and_first_names(tmp_path, capsys):
    folder = tmp_path / "src"
    good = write_image(folder / "good.jpg", size=32)
    for i in range(250):
        (folder / f"empty_{i:04d}.jpg").write_bytes(b"")
    files, skipped = readable_sources(folder)
    assert files == [good] and skipped
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"warning: {folder}: 250 files are not readable images (empty_0000.jpg, empty_0001.jpg, "
                     "empty_0002.jpg and 247 more); skipped"]


def test_one_unreadable_image_is_named_in_its_warning(tmp_path, capsys):
    folder = tmp_path / "src"
    write_image(folder / "good.jpg", size=32)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    readable_sources(folder)
    assert capsys.readouterr().out.strip() == f"warning: {folder / 'broken.jpg'}: not a readable image; skipped"
