import hashlib
import zipfile

import cv2
import numpy as np

from y7deploy.data.demo import NAMES, demo_image, write_demo_dataset


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes(tmp_path, demo_zip):
    again = write_demo_dataset(tmp_path / "again.zip", n_images=40, img_size=160, seed=0)
    assert _sha(again) == _sha(demo_zip)
    other = write_demo_dataset(tmp_path / "other.zip", n_images=40, img_size=160, seed=1)
    assert _sha(other) != _sha(demo_zip)


def test_cvat_layout(demo_zip):
    with zipfile.ZipFile(demo_zip) as zf:
        names = zf.namelist()
        assert {"obj.names", "obj.data", "train.txt"} <= set(names)
        assert zf.read("obj.names").decode().split() == list(NAMES)
        listed = zf.read("train.txt").decode().split()
        assert len(listed) == 40 and all(p.startswith("data/obj_train_data/") for p in listed)
        assert sum(n.endswith(".jpg") for n in names) == 40 and sum(n.endswith(".txt") for n in names) == 41  # + train.txt


def test_easy_shapes_are_exactly_labelled():
    rng = np.random.default_rng(5)
    counts = np.zeros(3, int)
    for _ in range(30):
        img, labels = demo_image(rng, 320)
        assert 1 <= len(labels) <= 4
        h, w = img.shape[:2]
        background = np.median(img.reshape(-1, 3), axis=0)
        for cls, x, y, bw, bh in labels:
            counts[int(cls)] += 1
            assert bw * w >= 0.15 * 240 and bh * h >= 0.15 * 240  # large objects
            x1, y1, x2, y2 = (int(round(v)) for v in ((x - bw / 2) * w, (y - bh / 2) * h, (x + bw / 2) * w, (y + bh / 2) * h))
            centre = img[(y1 + y2) // 2, (x1 + x2) // 2].astype(float)  # inside circle, square and triangle
            assert np.abs(centre - background).max() > 60  # high contrast
    assert (counts > 0).all()


def test_demo_round_trip_through_jpeg(tmp_path):
    path = write_demo_dataset(tmp_path / "d.zip", n_images=3, img_size=128, seed=2)
    with zipfile.ZipFile(path) as zf:
        data = np.frombuffer(zf.read("obj_train_data/demo_000000.jpg"), np.uint8)
        assert cv2.imdecode(data, cv2.IMREAD_COLOR).shape[1] == 128
