"""Boxes must follow their pixels through every transform.

Each box is painted as a solid rectangle of its own hue (class k -> hue 15k) on a grey
background; after a transform, the pixels of hue k must lie inside the boxes of class k
and fill them (rotation or clipping may leave part of a box empty, never most of it).
"""

import cv2
import numpy as np
import pytest

from y7deploy.data.augment import (
    augment_hsv,
    flip_lr,
    flip_ud,
    letterbox,
    mixup,
    mosaic,
    random_perspective,
    xywhn_to_xyxy,
    xyxy_to_xywhn,
)

GREY = 100
HUE_STEP = 15  # 12 distinct hues


def hue_colour(cls: int) -> tuple[int, int, int]:
    bgr = cv2.cvtColor(np.uint8([[[cls * HUE_STEP, 255, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return tuple(int(v) for v in bgr)


def painted(h, w, boxes_xyxy, first_class=0):
    """A grey image with solid boxes; returns (image, pixel labels cls,x1,y1,x2,y2)."""
    img = np.full((h, w, 3), GREY, np.uint8)
    labels = []
    for k, (x1, y1, x2, y2) in enumerate(boxes_xyxy):
        cls = first_class + k
        img[y1:y2, x1:x2] = hue_colour(cls)
        labels.append([cls, x1, y1, x2, y2])
    return img, np.array(labels, np.float32).reshape(-1, 5)


def class_mask(img, cls, min_saturation=120):
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(int)
    hue_distance = np.minimum(abs(hsv[..., 0] - cls * HUE_STEP), 180 - abs(hsv[..., 0] - cls * HUE_STEP))
    return (hue_distance <= 3) & (hsv[..., 1] > min_saturation) & (hsv[..., 2] > 60)


def assert_aligned(img, labels, slack=2.5, classes=None, dropped_max=0, tight=True):
    """Pixel boxes (cls,x1,y1,x2,y2) against the painted pixels of their class.

    Every coloured pixel lies inside a box of its class; a box away from the image
    border is tight around its pixels (each edge within `slack`); a box clipped at the
    border still contains pixels of its class. A box whose visible part became too
    small is dropped on purpose (box_candidates); its class may then leave up to
    `dropped_max` coloured pixels unlabelled.
    """
    classes = classes if classes is not None else sorted({int(c) for c in labels[:, 0]})
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    for cls in classes:
        mask = class_mask(img, cls, 120 if tight else 40)  # a mixup blend halves the saturation
        covered = np.zeros_like(mask)
        for _, x1, y1, x2, y2 in labels[labels[:, 0] == cls]:
            inside = (xx >= x1 - slack) & (xx < x2 + slack) & (yy >= y1 - slack) & (yy < y2 + slack)
            covered |= inside
            ys, xs = np.nonzero(mask & inside)
            at_border = x1 < 1 or y1 < 1 or x2 > w - 1 or y2 > h - 1
            # blended (mixup) pixels at a warped border or under another box may lose their hue
            hidden = not tight and (at_border or _overlaps_another(labels, cls, (x1, y1, x2, y2)))
            assert len(xs) or hidden, f"class {cls}: box {x1:.1f},{y1:.1f},{x2:.1f},{y2:.1f} holds none of its pixels"
            if tight and not at_border:
                pixels = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                assert np.abs(pixels - [x1, y1, x2, y2]).max() <= slack, (
                    f"class {cls}: box {x1:.1f},{y1:.1f},{x2:.1f},{y2:.1f} but its pixels span {pixels}")
        if not tight:  # blends of two hues can look like a third class, but only where boxes overlap
            for _, x1, y1, x2, y2 in labels:
                covered |= (xx >= x1 - slack) & (xx < x2 + slack) & (yy >= y1 - slack) & (yy < y2 + slack)
        stray = mask & ~covered
        limit = max(3, dropped_max)  # (a mosaic may hold two copies of a box, one of them dropped)
        assert stray.sum() <= limit, f"class {cls}: {stray.sum()} coloured pixels outside its boxes"


def _overlaps_another(labels, cls, box):
    x1, y1, x2, y2 = box
    others = labels[labels[:, 0] != cls]
    return bool(((others[:, 1] < x2) & (others[:, 3] > x1) & (others[:, 2] < y2) & (others[:, 4] > y1)).any())


BOXES = [(10, 12, 50, 40), (70, 20, 110, 90), (20, 60, 60, 110), (90, 100, 150, 118)]


def test_painted_fixture_is_aligned():
    img, labels = painted(120, 160, BOXES)
    assert_aligned(img, labels, slack=0.5)


def test_coordinate_round_trip():
    labels = np.array([[1, 0.5, 0.25, 0.2, 0.1]], np.float32)
    xyxy = xywhn_to_xyxy(labels, 200, 100, padw=5, padh=7)
    assert np.allclose(xyxy, [[1, 85, 27, 125, 37]])
    xyxy[:, [1, 3]] -= 5
    xyxy[:, [2, 4]] -= 7
    assert np.allclose(xyxy_to_xywhn(xyxy, 200, 100), labels)


@pytest.mark.parametrize("shape, new", [((120, 160), 96), ((120, 160), 256), ((160, 90), (128, 96))])
def test_letterbox(shape, new):
    img, labels = painted(*shape, [(5, 5, 40, 30), (50, 60, 85, 110)] if shape[1] < 100 else BOXES)
    out, ratio, (padw, padh) = letterbox(img, new)
    expect = (new, new) if isinstance(new, int) else new
    assert out.shape[:2] == expect
    moved = labels.copy()
    moved[:, [1, 3]] = labels[:, [1, 3]] * ratio[0] + padw
    moved[:, [2, 4]] = labels[:, [2, 4]] * ratio[1] + padh
    assert_aligned(out, moved)


@pytest.mark.parametrize("params", [
    dict(degrees=0, translate=0.2, scale=0.5, shear=0, perspective=0),
    dict(degrees=30, translate=0.1, scale=0.3, shear=0, perspective=0),
    dict(degrees=0, translate=0.1, scale=0.2, shear=15, perspective=0),
    dict(degrees=10, translate=0.1, scale=0.2, shear=5, perspective=0.0008),
])
def test_random_perspective(params):
    img, labels = painted(120, 160, BOXES)
    largest = max((x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in BOXES) * (1.1 + params["scale"]) ** 2
    kept = 0
    for seed in range(12):
        out, moved = random_perspective(img.copy(), labels.copy(), np.random.default_rng(seed), **params)
        assert out.shape == img.shape
        assert_aligned(out, moved, classes=range(len(BOXES)), dropped_max=0.1 * largest)
        kept += len(moved)
    assert kept >= 0.6 * 12 * len(BOXES)


def test_random_perspective_drops_boxes_pushed_out():
    img, labels = painted(120, 160, [(2, 2, 20, 20)])
    out, moved = random_perspective(img, labels, np.random.default_rng(0), degrees=0, translate=0.0,
                                    scale=0.0, shear=0, border=(-40, -40))  # crop to the centre
    assert len(moved) == 0 and class_mask(out, 0).sum() == 0


def test_hsv_keeps_geometry():
    img, labels = painted(120, 160, BOXES)
    before = img.copy()
    augment_hsv(img, np.random.default_rng(1), 0.015, 0.7, 0.4)
    assert not np.array_equal(img, before)
    sat = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)[..., 1] > 60
    for _, x1, y1, x2, y2 in labels.astype(int):
        assert sat[y1:y2, x1:x2].all()
        sat[y1:y2, x1:x2] = False
    assert not sat.any()


def test_flips():
    img, labels = painted(120, 160, BOXES)
    norm = xyxy_to_xywhn(labels, 160, 120)
    for flip in (flip_lr, flip_ud):
        out, flipped = flip(img, norm)
        assert_aligned(out, xywhn_to_xyxy(flipped, 160, 120))
        again, back = flip(out, flipped)
        assert np.array_equal(again, img) and np.allclose(back, norm)


def test_mosaic_of_four():
    tiles = []
    for t in range(4):  # tile t holds classes 2t and 2t+1; long side 128 as the loader gives
        h, w = (128, 128) if t % 2 == 0 else (96, 128)
        img, labels = painted(h, w, [(8, 8, 48, 40), (60, 50, 120, 90)], first_class=2 * t)
        tiles.append((img, xyxy_to_xywhn(labels, w, h)))
    for seed in range(10):
        rng = np.random.default_rng(seed)
        canvas, labels = mosaic(tiles, 128, rng)
        assert canvas.shape == (256, 256, 3)
        assert_aligned(canvas, labels, classes=range(8))
        out, moved = random_perspective(canvas, labels, rng, degrees=0, translate=0.2, scale=0.5, shear=0,
                                        border=(-64, -64))
        assert out.shape == (128, 128, 3)
        assert_aligned(out, moved, classes=range(8), dropped_max=0.1 * 60 * 40 * 1.6 ** 2)


def test_mixup_keeps_both_sets_of_boxes():
    img1, labels1 = painted(120, 160, BOXES[:2])
    img2, labels2 = painted(120, 160, BOXES[2:], first_class=2)
    out, labels = mixup(img1, labels1, img2, labels2, np.random.default_rng(0))
    assert len(labels) == 4
    assert_aligned(out, labels, slack=0.5)  # the boxes do not overlap, so hues survive


def test_the_check_catches_a_shifted_box():
    img, labels = painted(120, 160, BOXES)
    shifted = labels.copy()
    shifted[1, [1, 3]] += 6
    with pytest.raises(AssertionError):
        assert_aligned(img, shifted)


# --- through the loader: letterbox, perspective, mosaic, mixup and flips together ---

def _painted_dataset(root, n=6):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        h, w = (120, 160) if i % 2 else (160, 120)
        img, labels = painted(h, w, [(8, 10, 48, 50), (60, 70, 110, 110)], first_class=2 * i)
        cv2.imwrite(str(root / "images" / f"{i}.png"), img)
        text = "".join(f"{int(c)} {x:.6f} {y:.6f} {bw:.6f} {bh:.6f}\n" for c, x, y, bw, bh in xyxy_to_xywhn(labels, w, h))
        (root / "labels" / f"{i}.txt").write_text(text)
    return root / "images"


def _item_pixel_labels(item):
    img, labels, path, shapes = item
    bgr = np.ascontiguousarray(img.numpy().transpose(1, 2, 0)[:, :, ::-1])
    h, w = bgr.shape[:2]
    return bgr, xywhn_to_xyxy(labels[:, 1:].numpy(), w, h)


@pytest.mark.parametrize("mode", ["letterbox", "perspective", "mosaic", "mixup"])
def test_loader_items_stay_aligned(tmp_path, mode):
    from y7deploy.data.dataset import YoloDataset
    from y7deploy.data.hyp import load_hyp

    hyp = load_hyp("scratch.custom")
    hyp.update(hsv_h=0.0, hsv_s=0.0, hsv_v=0.0, flipud=0.5, fliplr=0.5, degrees=5.0, shear=2.0,
               mosaic=1.0 if mode in ("mosaic", "mixup") else 0.0, mixup=1.0 if mode == "mixup" else 0.0)
    ds = YoloDataset(_painted_dataset(tmp_path), img_size=128, hyp=hyp, augment=mode != "letterbox", seed=3)
    # a box mostly cut away is dropped on purpose; its few remaining pixels may stay unlabelled
    dropped = 0.1 * 50 * 40 * (128 / 160 * 2.0) ** 2
    for epoch in range(3):
        ds.epoch = epoch
        for index in range(len(ds)):
            img, labels = _item_pixel_labels(ds[index])
            assert img.shape == (128, 128, 3)
            # mixup blends two images, so where boxes of both overlap neither hue survives
            assert_aligned(img, labels, classes=range(12), dropped_max=dropped, tight=mode != "mixup")
