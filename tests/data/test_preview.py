import cv2
import numpy as np
import pytest

from y7deploy.data.config import load_data_config
from y7deploy.data.preview import class_colour, write_preview
from y7deploy.errors import UserError


def test_boxes_are_drawn_where_the_labels_say(tmp_path):
    for split in ("train", "val"):
        (tmp_path / split / "images").mkdir(parents=True)
        (tmp_path / split / "labels").mkdir(parents=True)
        cv2.imwrite(str(tmp_path / split / "images" / "a.png"), np.full((160, 320, 3), 40, np.uint8))
        (tmp_path / split / "labels" / "a.txt").write_text("1 0.5 0.5 0.25 0.5\n")
    (tmp_path / "data.yaml").write_text("train: train/images\nval: val/images\nnc: 2\nnames: [a, b]\n")
    out = write_preview(load_data_config(tmp_path / "data.yaml"), tmp_path / "p.png", split="val", tile=320)
    sheet = cv2.imread(str(out))
    assert sheet.shape == (320, 320, 3)
    # the 320x160 image sits in the middle (pad 80 above); box x 120..200, y 80+40..80+120
    colour = np.array(class_colour(1))
    assert np.abs(sheet[200, 120].astype(int) - colour).max() <= 2  # left edge of the box
    assert np.abs(sheet[150, 200].astype(int) - colour).max() <= 2  # right edge
    assert np.abs(sheet[160, 160].astype(int) - 40).max() <= 2  # inside: the image, untouched


def test_preview_needs_png(demo_dataset, tmp_path):
    with pytest.raises(UserError, match="must be a .png"):
        write_preview(load_data_config(demo_dataset), tmp_path / "p.jpg")


def test_grid_of_many(demo_dataset, tmp_path):
    out = write_preview(load_data_config(demo_dataset), tmp_path / "grid.png", count=9, tile=96)
    assert cv2.imread(str(out)).shape == (288, 288, 3)
