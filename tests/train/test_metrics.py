"""Metrics against cases small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from y7deploy.train.metrics import (
    IOU_THRESHOLDS,
    ConfusionMatrix,
    box_iou,
    compute_ap,
    fitness,
    match_predictions,
    nms,
    non_max_suppression,
)
from y7deploy.train.val import DetectionStats


def det(x1, y1, x2, y2, conf, cls=0):
    return [x1, y1, x2, y2, conf, cls]


def test_box_iou_by_hand():
    a = torch.tensor([[0.0, 0, 10, 10]])
    b = torch.tensor([[0.0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 7.2]])
    iou = box_iou(a, b)[0]
    assert iou.tolist() == pytest.approx([1.0, 50 / 150, 0.0, 0.72], abs=1e-6)


def test_nms_keeps_the_best_of_each_cluster():
    boxes = torch.tensor([
        [0.0, 0, 10, 10],    # 0: cluster A, best
        [1.0, 1, 11, 11],    # 1: IoU with 0 = 81/119 = 0.68 -> suppressed at 0.5
        [20.0, 20, 30, 30],  # 2: alone
        [0.0, 0, 10, 6],     # 3: IoU with 0 = 0.6 -> suppressed at 0.5, kept at 0.65
    ])
    scores = torch.tensor([0.9, 0.8, 0.3, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]
    assert nms(boxes, scores, 0.65).tolist() == [0, 3, 2]
    assert nms(boxes, scores, 0.5, max_keep=1).tolist() == [0]
    assert nms(boxes[:0], scores[:0], 0.5).numel() == 0


def test_nms_per_class_and_thresholds():
    # eval output rows: cx, cy, w, h, obj, cls0, cls1
    pred = torch.tensor([[
        [5.0, 5, 10, 10, 0.9, 0.9, 0.1],
        [5.5, 5.5, 10, 10, 0.9, 0.1, 0.8],  # overlaps the first, but another class: kept
        [6.0, 6, 10, 10, 0.8, 0.9, 0.1],    # same class as the first, overlapping: dropped
        [50.0, 50, 10, 10, 0.1, 0.5, 0.5],  # under conf_thres 0.25 (0.05): dropped
    ]])
    out = non_max_suppression(pred, conf_thres=0.25, iou_thres=0.45)[0]
    assert out.shape == (2, 6)
    assert out[:, 5].tolist() == [0.0, 1.0]
    assert out[0, :4].tolist() == pytest.approx([0, 0, 10, 10])
    assert out[0, 4].item() == pytest.approx(0.81)
    agnostic = non_max_suppression(pred, conf_thres=0.25, iou_thres=0.45, agnostic=True)[0]
    assert agnostic.shape[0] == 1


def test_ap_of_known_case():
    """2 labels; detections TP (0.9), FP (0.8), TP (0.7, IoU 0.72), worked out as upstream's compute_ap.

    At IoU 0.5..0.70 both TPs count: recall 1/2, 1/2, 1; precision 1, 1/2, 2/3. With the
    sentinels recall (0, .5, .5, 1, 1.01) / envelope (1, 1, 2/3, 2/3, 0), the 101 points are
    1 below recall 0.5 and 2/3 from 0.5 on; the trapezoid sum is (49 + (1 + 2/3) / 2 + 50 * 2/3) / 100.
    At IoU 0.75..0.95 the third is a FP: recall (0, .5, .5, .5, .51), envelope (1, 1, 1/2, 1/3, 0):
    (49 + (1 + 1/3) / 2 + (1/3) / 2) / 100.
    """
    stats = DetectionStats(nc=1)
    labels = torch.tensor([[0, 0.0, 0, 10, 10], [0, 100.0, 100, 110, 110]])
    dets = torch.tensor([det(0, 0, 10, 10, 0.9), det(50, 50, 60, 60, 0.8), det(100, 100, 110, 107.2, 0.7)])
    stats.add(dets, labels)
    r = stats.result()
    ap_full = (49 + (1 + 2 / 3) / 2 + 50 * 2 / 3) / 100
    ap_half = (49 + (1 + 1 / 3) / 2 + (1 / 3) / 2) / 100
    assert r.ap[0, 0] == pytest.approx(ap_full)
    assert r.map50 == pytest.approx(ap_full)
    # IoU thresholds 0.50, 0.55, 0.60, 0.65, 0.70 pass 0.72; 0.75 .. 0.95 do not
    assert r.map == pytest.approx((5 * ap_full + 5 * ap_half) / 10)
    # best F1 over confidence: at 0.7 (P 2/3, R 1, F1 0.8) beats 0.9 (P 1, R 1/2, F1 0.667)
    assert r.p[0] == pytest.approx(2 / 3, abs=0.01)
    assert r.r[0] == pytest.approx(1.0, abs=0.01)
    assert fitness(r.map50, r.map) == pytest.approx(0.1 * r.map50 + 0.9 * r.map)


def test_ap_two_classes_and_missed_label():
    """Class 0: TP then FP -> recall (0, 1, 1, 1.01), envelope (1, 1, 1/2, 0): the point at recall 1
    already takes the 1/2, so AP is (99 + 3/4) / 100, not 1 (upstream's quirk, kept).
    Class 1: 2 labels, one found -> recall (0, .5, .51), envelope (1, 1, 0): (50 + 1/2) / 100."""
    stats = DetectionStats(nc=2)
    stats.add(torch.tensor([det(0, 0, 10, 10, 0.9, 0)]), torch.tensor([[0, 0.0, 0, 10, 10]]))
    stats.add(torch.tensor([det(0, 0, 10, 10, 0.6, 1), det(0, 0, 10, 10, 0.5, 0)]),
              torch.tensor([[1, 0.0, 0, 10, 10], [1, 30.0, 30, 40, 40]]))
    r = stats.result()
    assert r.classes.tolist() == [0, 1]
    assert r.ap[:, 0].tolist() == pytest.approx([0.9975, 0.505])
    assert r.map50 == pytest.approx((0.9975 + 0.505) / 2)
    assert r.n_labels.tolist() == [1, 2]


def test_a_detection_takes_its_best_label_even_if_taken():
    """test.py's rule, not COCO's: d1 (0.9) takes label B, its best (IoU 90/110); d2 (0.8) also has B
    as its best (88/112) and finds it taken, so it is a false positive although it overlaps A by
    72/128 > 0.5 (COCO's matcher would give it A). d1 is scored at every threshold by its IoU 0.818."""
    labels = torch.tensor([[0, 0.0, 0, 10, 10], [0, 4.0, 0, 14, 10]])  # A, B
    dets = torch.tensor([det(3, 0, 13, 10, 0.9), det(2.8, 0, 12.8, 10, 0.8)])
    ious = box_iou(dets[:, :4], labels[:, 1:])
    assert ious.flatten().tolist() == pytest.approx([70 / 130, 90 / 110, 72 / 128, 88 / 112])
    correct = match_predictions(dets, labels, IOU_THRESHOLDS)
    assert correct[0].tolist() == [90 / 110 > t for t in IOU_THRESHOLDS.tolist()]
    assert correct[0].sum() == 7  # 0.50 .. 0.80
    assert not correct[1].any()


def test_iou_exactly_at_threshold_is_not_a_match():
    """test.py compares IoU > threshold, so IoU 0.5 exactly misses at 0.5."""
    labels = torch.tensor([[0, 0.0, 0, 10, 20]])
    dets = torch.tensor([det(0, 0, 10, 10, 0.9)])
    assert box_iou(dets[:, :4], labels[:, 1:]).item() == pytest.approx(0.5)
    assert not match_predictions(dets, labels, IOU_THRESHOLDS).any()


def test_no_true_positive_at_all_scores_zero():
    stats = DetectionStats(nc=1)
    stats.add(torch.tensor([det(50, 50, 60, 60, 0.9)]), torch.tensor([[0, 0.0, 0, 10, 10]]))
    r = stats.result()
    assert r.map50 == 0 and r.map == 0 and r.mp == 0 and r.mr == 0


def test_compute_ap_edges():
    assert compute_ap(np.array([1.0]), np.array([1.0]))[0] == pytest.approx(1.0)
    assert compute_ap(np.array([0.0]), np.array([0.0]))[0] == pytest.approx(0.0)


def test_confusion_matrix():
    cm = ConfusionMatrix(nc=2, conf=0.25, iou_thres=0.45)
    labels = torch.tensor([[0, 0.0, 0, 10, 10], [1, 20.0, 20, 30, 30], [1, 50.0, 50, 60, 60]])
    dets = torch.tensor([det(0, 0, 10, 10, 0.9, 0), det(20, 20, 30, 30, 0.9, 0), det(80, 80, 90, 90, 0.9, 1),
                         det(50, 50, 60, 60, 0.1, 1)])  # last one is under conf
    cm.update(dets, labels)
    m = cm.matrix
    assert m[0, 0] == 1  # class 0 right
    assert m[0, 1] == 1  # class 1 predicted as 0
    assert m[2, 1] == 1  # class 1 missed
    assert m[1, 2] == 1  # class 1 on background
    assert m.sum() == 4
