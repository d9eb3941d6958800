"""The 9-image mosaic and paste-in, as upstream YOLOv7's load_mosaic9 and pastein do them.

Hand-worked cases prove the geometry without upstream; with $Y7DEPLOY_UPSTREAM set to a
checkout, upstream's own functions run on the same images with the same random numbers
(a Script) and must give the same pixels and boxes.
"""

import random

import cv2
import numpy as np
import pytest

import y7deploy.data.dataset as dataset_module
from y7deploy.data.augment import (
    MOSAIC4_SHARE,
    PasteSample,
    cut_objects,
    mosaic,
    mosaic9,
    mosaic_size,
    paste_in,
    random_perspective,
    xyxy_to_xywhn,
)
from y7deploy.data.dataset import YoloDataset
from y7deploy.data.hyp import load_hyp

S = 64


def solid_tiles(values_and_sizes, box=(0.5, 0.5, 0.5, 0.5)):
    """Tiles of one grey value each, with one box (class = tile number) at `box` (normalised)."""
    return [(np.full((h, w, 3), v, np.uint8), np.array([[i, *box]], np.float32))
            for i, (v, (h, w)) in enumerate(values_and_sizes)]


def test_mosaic9_lays_nine_square_tiles_as_a_grid_and_crops_a_window(script):
    tiles = solid_tiles([(10 * (i + 1), (S, S)) for i in range(9)])
    window, labels = mosaic9(tiles, S, script([0.5, 0.25]))  # yc = 32, xc = 16
    assert window.shape == (2 * S, 2 * S, 3)
    # the 3x3 grid: centre at (64, 64), then top, top right, right, bottom right, bottom,
    # bottom left, left, top left; the window is canvas[32:160, 16:144]
    assert window[0, 0, 0] == 90  # canvas (16, 32): top left tile
    assert window[100, 100, 0] == 60  # canvas (116, 132): bottom tile
    assert window[40, 60, 0] == 10  # canvas (76, 72): centre tile
    # each tile's box is (16, 16, 48, 48) in the tile; boxes of the right column fall out
    expected = {0: (64, 48, 96, 80), 1: (64, 0, 96, 16), 5: (64, 112, 96, 128),
                6: (0, 112, 32, 128), 7: (0, 48, 32, 80), 8: (0, 0, 32, 16)}
    assert {int(c): tuple(b) for c, *b in labels.tolist()} == expected


def test_mosaic9_puts_a_tile_against_its_neighbour(script):
    sizes = [(S, 48), (S, 40), (32, S), (S, S), (S, S), (S, S), (S, S), (S, S), (S, S)]
    tiles = solid_tiles([(10 * (i + 1), hw) for i, hw in enumerate(sizes)])
    window, labels = mosaic9(tiles, S, script([0.0, 0.0]))  # the window is canvas[0:128, 0:128]
    # top (tile 1, 64 x 40) sits on the centre's top edge: x 64..104, y 0..64
    assert window[10, 64, 0] == 20 and window[10, 103, 0] == 20
    # top right (tile 2, 32 x 64) starts where tile 1 ends (x 104) and ends on y 64
    assert window[40, 104, 0] == 30 and window[31, 104, 0] == 114  # above it: the grey pad
    assert tuple(labels[labels[:, 0] == 2][0, 1:]) == (104 + 16, 32 + 8, 128, 32 + 24)  # clipped at x 128


def test_paste_in_hand_worked(script):
    img = np.full((100, 100, 3), 50, np.uint8)
    sample = PasteSample(3.0, np.full((40, 40, 3), 200, np.uint8), np.full((40, 40, 3), 255, np.uint8))
    # scale 0.75: used (0.5 >= 0.2); spot 38 x 38 (1 + floor(0.5 * 75)); centre 30 -> corner 11; sample 0;
    # the 19 other scales skipped (0.1 < 0.2)
    numbers = [0.5, 0.5, 0.5, 0.3, 0.3, 0.0] + [0.1] * 19
    labels = paste_in(img, np.zeros((0, 5), np.float32), [sample], script(numbers))
    assert labels.tolist() == [[3, 11, 11, 49, 49]]  # 40 * min(38/40, 38/40) = 38 pixels
    assert (img[11:49, 11:49] == 200).all() and (img == 200).sum() == 38 * 38 * 3


def test_paste_in_keeps_off_a_box_it_would_cover(script):
    img = np.full((100, 100, 3), 50, np.uint8)
    sample = PasteSample(3.0, np.full((40, 40, 3), 200, np.uint8), np.full((40, 40, 3), 255, np.uint8))
    there = np.array([[0, 10, 10, 50, 50]], np.float32)  # the same spot covers 90% of it
    labels = paste_in(img, there, [sample], script([0.5, 0.5, 0.5, 0.3, 0.3] + [0.1] * 19))
    assert labels.tolist() == there.tolist() and (img == 50).all()


def test_cut_objects_takes_half_of_the_boxes_whole(script):
    img = np.arange(60 * 80 * 3, dtype=np.uint32).reshape(60, 80, 3).astype(np.uint8)
    labels = np.array([[0, 5, 5, 25, 20], [1, 30, 10, 70, 50], [2, 60, 40, 90, 70], [1, 0, 0, 0.5, 9]], np.float32)
    samples = cut_objects(img, labels, script([0.0, 0.0]))  # picks boxes 0 and 1 (2 of 4)
    assert [s.cls for s in samples] == [0.0, 1.0]
    assert np.array_equal(samples[1].image, img[10:50, 30:70]) and (samples[1].mask == 255).all()
    assert [s.cls for s in cut_objects(img, labels, script([0.99, 0.99]))] == [2.0]  # box 3 is too thin
    assert cut_objects(img, labels, script([0.99, 0.99]))[0].image.shape == (19, 19, 3)  # clipped at 59, 79


def test_a_fifth_of_mosaics_hold_nine_images(script):
    assert MOSAIC4_SHARE == 0.8  # upstream: load_mosaic if random.random() < 0.8 else load_mosaic9
    assert mosaic_size(script([0.7999])) == 4 and mosaic_size(script([0.8])) == 9


# --- through the loader ---

HUE_STEP = 15


def hue_colour(cls):
    return tuple(int(v) for v in cv2.cvtColor(np.uint8([[[cls * HUE_STEP, 255, 255]]]), cv2.COLOR_HSV2BGR)[0, 0])


def painted_dataset(root, n=6, size=48):
    """n images, each with two solid boxes of their own classes' hues on grey."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        img = np.full((size, size, 3), 100, np.uint8)
        rows = []
        for k, box in enumerate([(4, 6, 22, 26), (26, 20, 44, 42)]):
            x1, y1, x2, y2 = (v * size // 48 for v in box)
            img[y1:y2, x1:x2] = hue_colour(2 * i + k)
            rows.append([2 * i + k, x1, y1, x2, y2])
        cv2.imwrite(str(root / "images" / f"{i}.png"), img)
        labels = xyxy_to_xywhn(np.array(rows, np.float32), size, size)
        (root / "labels" / f"{i}.txt").write_text("".join(
            f"{int(c)} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in labels))
    return root / "images"


def loader_hyp(**changes):
    hyp = load_hyp("scratch.custom")
    hyp.update(hsv_h=0.0, hsv_s=0.0, hsv_v=0.0, degrees=0.0, shear=0.0, perspective=0.0, mixup=0.0,
               flipud=0.0, fliplr=0.0, **changes)
    return hyp


def test_loader_boxes_hold_their_pixels_after_mosaic9_and_paste_in(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset_module, "mosaic_size", lambda rng: 9)
    ds = YoloDataset(painted_dataset(tmp_path), img_size=64, hyp=loader_hyp(paste_in=1.0), augment=True)
    boxes = 0
    for index in range(len(ds)):
        img, labels, _, _ = ds[index]
        assert img.shape == (3, 64, 64)
        bgr = np.ascontiguousarray(img.numpy().transpose(1, 2, 0)[:, :, ::-1])
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV).astype(int)
        for _, cls, x, y, w, h in labels.tolist():
            eps = 1e-6
            assert -eps <= x - w / 2 and x + w / 2 <= 1 + eps and -eps <= y - h / 2 and y + h / 2 <= 1 + eps
            assert w > 0 and h > 0
            assert cls == int(cls) and 0 <= cls < 12
            x1, y1, x2, y2 = (int(round(v * 64)) for v in (x - w / 2, y - h / 2, x + w / 2, y + h / 2))
            if x2 - x1 < 4 or y2 - y1 < 4:
                continue
            inner = hsv[y1 + 1:y2 - 1, x1 + 1:x2 - 1]
            hue = np.minimum(abs(inner[..., 0] - cls * HUE_STEP), 180 - abs(inner[..., 0] - cls * HUE_STEP))
            own = ((hue <= 3) & (inner[..., 1] > 120)).mean()
            assert own >= 0.4, f"item {index}: a box of class {cls} holds {own:.0%} of its colour"
            boxes += 1
    assert boxes > 2 * len(ds) * 2  # nine-image mosaics and pasted objects add boxes


def count_calls(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def recorder(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, recorder)
    return calls


def test_loader_draws_mosaic9_and_paste_in_as_often_as_upstream(tmp_path, monkeypatch):
    sizes = []
    monkeypatch.setattr(dataset_module, "mosaic_size", lambda rng: sizes.append(mosaic_size(rng)) or sizes[-1])
    pasted = count_calls(monkeypatch, dataset_module, "paste_in")
    ds = YoloDataset(painted_dataset(tmp_path, n=4, size=32), img_size=32, hyp=loader_hyp(paste_in=0.3), augment=True)
    ds.paste_samples = lambda rng: []  # what is pasted is tested above; here only how often
    items = 400
    for index in range(items):
        ds.epoch, i = divmod(index, ds.n)
        ds[i]
    assert abs(len(pasted) / items - 0.3) < 0.06
    assert len(sizes) == items and abs(sizes.count(9) / items - (1 - MOSAIC4_SHARE)) < 0.05


# --- against upstream's own functions ---

def noise_tiles(rng, sizes, boxes_per_tile=3):
    """Random-noise tiles (values 1..255, as upstream's cut-out treats 0 specially) with boxes."""
    tiles = []
    for i, (h, w) in enumerate(sizes):
        img = rng.integers(1, 256, (h, w, 3), dtype=np.uint8)
        corners = np.sort(rng.uniform(0, 1, (boxes_per_tile, 2, 2)), axis=1)  # inside the tile, as checked labels are
        xy, wh = corners.mean(1), corners[:, 1] - corners[:, 0]
        labels = np.concatenate([np.full((boxes_per_tile, 1), i), xy, wh], 1).astype(np.float32)
        tiles.append((img, labels))
    return tiles


def upstream_self(tiles, hyp):
    """What upstream's load_mosaic/load_mosaic9 read from a LoadImagesAndLabels, images cached."""
    class Self:
        pass

    me = Self()
    me.img_size, me.hyp, me.mosaic_border = S, hyp, [-S // 2, -S // 2]
    me.imgs = [img for img, _ in tiles]
    me.img_hw0 = me.img_hw = [img.shape[:2] for img, _ in tiles]
    me.labels = [labels for _, labels in tiles]
    me.segments = [[] for _ in tiles]
    me.indices = range(len(tiles))
    return me


WARPS = [dict(degrees=0.0, translate=0.2, scale=0.9, shear=0.0, perspective=0.0),
         dict(degrees=10.0, translate=0.1, scale=0.5, shear=3.0, perspective=0.0005)]


@pytest.mark.parametrize("warp", WARPS)
@pytest.mark.parametrize("count", [4, 9])
def test_mosaic_equals_upstreams(upstream, script, warp, count):
    for seed in range(4):
        rng = np.random.default_rng(seed)
        sizes = [(S, int(rng.integers(24, S + 1))) if rng.random() < 0.5 else (int(rng.integers(24, S + 1)), S)
                 for _ in range(count)]
        tiles = noise_tiles(rng, sizes)
        numbers = rng.random(16).tolist()
        canvas, labels = (mosaic if count == 4 else mosaic9)(tiles, S, script(numbers))
        ours, our_labels = random_perspective(canvas, labels, script(numbers[2:]), border=(-S // 2, -S // 2), **warp)
        upstream["random"] = script(numbers, picks=list(range(1, count)))
        load = upstream["load_mosaic" if count == 4 else "load_mosaic9"]
        theirs, their_labels = load(upstream_self(tiles, {**warp, "copy_paste": 0.0}), 0)
        assert np.array_equal(ours, theirs)
        assert our_labels.shape == their_labels.shape and np.allclose(our_labels, their_labels, atol=1e-3)


def test_paste_in_equals_upstreams(upstream, script):
    for seed in range(6):
        rng = np.random.default_rng(seed)
        img = rng.integers(1, 256, (S * 2, S * 3, 3), dtype=np.uint8)
        there = np.array([[0, 10, 10, 40, 30], [1, 100, 60, 150, 120]], np.float32)[:seed % 3]
        samples = []
        for k in range(4):
            h, w = (int(v) for v in rng.integers(8, 60, 2))
            mask = np.zeros((h, w, 3), np.uint8)
            if k % 2:  # an object cut along a polygon (an ellipse) rather than its box
                cv2.ellipse(mask, (w // 2, h // 2), (w // 2, h // 2), 0, 0, 360, (255, 255, 255), -1)
            else:
                mask[:] = 255
            samples.append(PasteSample(float(k + 2), rng.integers(1, 256, (h, w, 3), dtype=np.uint8), mask))
        numbers = rng.random(120).tolist()
        ours = img.copy()
        our_labels = paste_in(ours, there.copy(), samples, script(numbers))
        theirs = img.copy()
        upstream["random"] = script(numbers)
        their_labels = upstream["pastein"](theirs, there.copy(), [s.cls for s in samples],
                                           [s.image for s in samples], [s.mask for s in samples])
        assert np.array_equal(ours, theirs)
        assert np.allclose(our_labels, np.asarray(their_labels, np.float32).reshape(-1, 5))
        assert len(our_labels) > len(there) or seed  # the first case pastes something


def test_cut_objects_equals_upstreams_on_box_segments(upstream, script):
    rng = np.random.default_rng(0)
    img = rng.integers(1, 256, (S * 2, S * 2, 3), dtype=np.uint8)
    labels = np.array([[0, 3.5, 4.2, 40.7, 33.1], [1, 50, 60, 127.9, 120], [2, -5, 90, 30, 140],
                       [3, 70.2, 5.5, 71, 50], [4, 20, 20, 60, 60]], np.float32)
    segments = [np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32) for _, x1, y1, x2, y2 in labels]
    numbers = rng.random(8).tolist()
    ours = cut_objects(img, labels, script(numbers))
    upstream["random"] = script(numbers)
    cls, images, masks = upstream["sample_segments"](img, labels, segments, probability=0.5)
    assert [s.cls for s in ours] == [float(c) for c in cls]
    # upstream's mask is a view of the array it then fills with the image, so its "mask" holds
    # the object's pixels; pastein only asks where it is > 0, which is what is compared
    for sample, image, mask in zip(ours, images, masks):
        assert np.array_equal(sample.image, image) and np.array_equal(sample.mask > 0, mask > 0)


def test_upstreams_loader_draws_as_often_as_ours(upstream):
    """Upstream's own __getitem__, its loaders replaced by recorders: how often each runs."""
    calls = {"load_mosaic": 0, "load_mosaic9": 0, "pastein": 0}

    def recorder(name, result):
        def record(*args):
            calls[name] += 1
            return result() if callable(result) else result
        return record

    blank = lambda: (np.full((S, S, 3), 114, np.uint8), np.zeros((0, 5), np.float32))  # noqa: E731
    upstream.update(load_mosaic=recorder("load_mosaic", blank), load_mosaic9=recorder("load_mosaic9", blank),
                    pastein=recorder("pastein", np.zeros((0, 5), np.float32)),
                    load_samples=lambda self, index: ([], [], []), augment_hsv=lambda *a, **k: None,
                    random=random.Random(0))

    class Self:
        indices = range(10)
        labels = [np.zeros((0, 5), np.float32)] * 10
        img_files = [f"{i}.jpg" for i in range(10)]
        hyp = loader_hyp(paste_in=0.3)
        mosaic = augment = True

    items = 400
    for index in range(items):
        upstream["__getitem__"](Self(), index % 10)
    assert abs(calls["pastein"] / items - 0.3) < 0.06
    assert calls["load_mosaic"] + calls["load_mosaic9"] == items
    assert abs(calls["load_mosaic9"] / items - (1 - MOSAIC4_SHARE)) < 0.05
