import cv2
import numpy as np
import pytest

from y7deploy.data.checks import parse_labels, scan_images
from y7deploy.errors import UserError


def _labels(tmp_path, text, nc=3):
    p = tmp_path / "x.txt"
    p.write_text(text)
    return p, parse_labels(p, nc)


@pytest.mark.parametrize("line, kind", [
    ("0 0.5 0.5 0.2", "wrong field count"),
    ("0 0.5 0.5 0.2 0.2 0.9", "wrong field count"),
    ("a 0.5 0.5 0.2 0.2", "not a number"),
    ("0 0.5 nan 0.2 0.2", "not a number"),
    ("3 0.5 0.5 0.2 0.2", "class index out of range"),
    ("-1 0.5 0.5 0.2 0.2", "class index out of range"),
    ("1.5 0.5 0.5 0.2 0.2", "class index out of range"),
    ("0 1.2 0.5 0.2 0.2", "coordinates outside [0,1]"),
    ("0 0.95 0.5 0.2 0.2", "box extends outside the image"),
    ("0 0.5 0.5 0 0.2", "zero-area box"),
    ("0 0.5 0.5 0.2 0.0000001", "zero-area box"),
])
def test_each_bad_line_is_named_and_dropped(tmp_path, line, kind):
    p, (labels, problems) = _labels(tmp_path, f"1 0.5 0.5 0.5 0.5\n{line}\n2 0.2 0.2 0.1 0.1\n")
    assert labels.shape == (2, 5) and list(labels[:, 0]) == [1, 2]
    assert len(problems) == 1
    assert problems[0].line == 2 and problems[0].file == p
    assert str(problems[0]).startswith(f"{p}:2: {kind}")


def test_duplicate_box(tmp_path):
    _, (labels, problems) = _labels(tmp_path, "0 0.5 0.5 0.2 0.2\n\n0 0.5 0.5 0.2 0.2\n")
    assert len(labels) == 1
    assert problems[0].line == 3 and "duplicate box: same as line 1" in problems[0].message


def test_small_tolerance_is_clipped(tmp_path):
    _, (labels, problems) = _labels(tmp_path, "0 0.1 0.5 0.205 0.2\n")
    assert not problems
    x, w = labels[0, 1], labels[0, 3]
    assert x - w / 2 == pytest.approx(0.0, abs=1e-6) and w == pytest.approx(0.2025, abs=1e-6)


def test_windows_line_ends_and_bom(tmp_path):
    p = tmp_path / "x.txt"
    p.write_bytes("\ufeff0 0.5 0.5 0.2 0.2\r\n1 0.3 0.3 0.1 0.1\r\n".encode())
    labels, problems = parse_labels(p, 2)
    assert not problems and labels[:, 0].tolist() == [0, 1]


def test_integral_float_class_is_accepted(tmp_path):
    _, (labels, problems) = _labels(tmp_path, "2.0 0.5 0.5 0.2 0.2\n")
    assert not problems and labels[0, 0] == 2


def test_scan_images(tmp_path):
    images = tmp_path / "images"
    labels = tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    cv2.imwrite(str(images / "good.jpg"), np.zeros((32, 48, 3), np.uint8))
    cv2.imwrite(str(images / "background.png"), np.zeros((32, 48, 3), np.uint8))
    (images / "broken.jpg").write_bytes(b"not a jpeg at all")
    (labels / "good.txt").write_text("0 0.5 0.5 0.5 0.5\n7 0.5 0.5 0.5 0.5\n")
    (labels / "broken.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (labels / "lonely.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    scan = scan_images(sorted(images.iterdir()), nc=2)
    by_name = {e.image.name: e for e in scan.entries}
    assert set(by_name) == {"good.jpg", "background.png"}
    assert len(by_name["background.png"].labels) == 0 and by_name["background.png"].label is None
    assert by_name["good.jpg"].shape == (32, 48) and len(by_name["good.jpg"].labels) == 1
    messages = sorted(str(p) for p in scan.problems)
    assert any(m.startswith(f"{images / 'broken.jpg'}: unreadable image") for m in messages)
    assert any(m.startswith(f"{labels / 'good.txt'}:2: class index out of range") for m in messages)
    assert any(m.startswith(f"{labels / 'lonely.txt'}: label without image") for m in messages)
    assert len(scan.problems) == 3
    with pytest.raises(UserError, match="3 dataset problem"):
        scan.raise_if_any()
    assert "unreadable image" in scan.summary()
