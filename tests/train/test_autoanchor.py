"""Autoanchor: the fit measure by hand and against upstream's check_anchors, evolution, and where
the chosen anchors end up (head buffers, cfg, checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from y7deploy.train.autoanchor import check_anchors, evolve_anchors, fit, kmeans, label_sizes

UPSTREAM = json.loads((Path(__file__).parent / "data" / "upstream" / "anchors.json").read_text())


def test_fit_by_hand():
    # ratio 4 exactly is not inside anchor_t 4 (upstream compares > 1/thr)
    assert fit(np.array([[10.0, 10]]), np.array([[10.0, 10], [40, 10], [41, 10]]), 4.0) == pytest.approx((1 / 3, 1 / 3))
    # 20x20 is within a factor 2 of both anchors: caught, by 2 anchors
    assert fit(np.array([[10.0, 20], [40, 40]]), np.array([[20.0, 20]]), 4.0) == pytest.approx((1.0, 2.0))
    assert fit(np.array([[10.0, 20], [40, 40]]), np.array([[20.0, 20]]), 1.5) == pytest.approx((0.0, 0.0))


def test_label_sizes_follow_the_long_side():
    shapes = np.array([[200.0, 100], [50, 100]])  # (w, h)
    labels = [np.array([[0, 0.5, 0.5, 0.5, 0.5]]), np.array([[1, 0.5, 0.5, 1.0, 0.25]])]
    assert label_sizes(shapes, labels, 100).tolist() == [[50.0, 25.0], [50.0, 25.0]]
    assert label_sizes(shapes, labels, 100, np.array([[2.0], [1.0]])).tolist() == [[100.0, 50.0], [50.0, 25.0]]


@pytest.mark.parametrize("case", UPSTREAM["cases"], ids=lambda c: c["name"])
def test_fit_equals_upstream_check_anchors(case):
    """BPR and anchors/label as upstream's check_anchors printed them (anchors_upstream.py), with its
    size jitter drawn from numpy's generator seeded to 0 as the script did."""
    shapes = np.array(UPSTREAM["shapes"], dtype=np.float64)
    labels = [np.array(lb, dtype=np.float32).reshape(-1, 5) for lb in UPSTREAM["labels"]]
    scale = np.random.RandomState(UPSTREAM["seed"]).uniform(0.9, 1.1, size=(len(shapes), 1))
    wh = label_sizes(shapes, labels, case["img_size"], scale).astype(np.float32)
    bpr, aat = fit(np.array(case["anchors"], dtype=np.float32).reshape(-1, 2), wh, case["thr"])
    assert bpr == pytest.approx(case["bpr"], abs=5e-5)
    assert aat == pytest.approx(case["anchors_per_label"], abs=5e-3)


def test_kmeans_finds_two_obvious_clusters():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (50, 2)), rng.normal(5, 0.1, (50, 2))])
    centres = kmeans(points, 2, rng)
    centres = centres[np.argsort(centres[:, 0])]
    assert centres == pytest.approx(np.array([points[:50].mean(0), points[50:].mean(0)]), abs=1e-9)


def tall_thin_set(n: int = 60):
    """Boxes 3-4 px wide and 100-120 px tall in 128 px images: no P5 anchor is within 4x."""
    rng = np.random.default_rng(1)
    shapes = np.full((n, 2), 128.0)
    labels = [np.array([[0, 0.5, 0.5, rng.uniform(3, 4) / 128, rng.uniform(100, 120) / 128]]) for _ in range(n)]
    return shapes, labels


def test_evolution_fits_odd_shapes():
    shapes, labels = tall_thin_set()
    wh = label_sizes(shapes, labels, 128)
    p5 = np.array([10, 13, 16, 30, 33, 23, 30, 61, 62, 45, 59, 119, 116, 90, 156, 198, 373, 326.0]).reshape(-1, 2)
    assert fit(p5, wh, 4.0)[0] < 0.98
    evolved = evolve_anchors(wh, 9, 4.0, np.random.default_rng(0), generations=200)
    assert evolved.shape == (9, 2)
    assert fit(evolved, wh, 4.0)[0] == 1.0
    assert (np.diff(evolved.prod(1)) >= 0).all()  # small to large


def test_check_anchors_replaces_the_heads_anchors_and_they_reach_the_checkpoint(tiny_cfg, tmp_path):
    from y7deploy.model.yolo import build_model
    from y7deploy.train.checkpoints import load_model, save_training_state
    from y7deploy.train.loss import head_of

    model = build_model(str(tiny_cfg), nc=1, names=["thin"])
    head = head_of(model)
    before = head.anchor_grid.clone()
    shapes, labels = tall_thin_set()
    report = check_anchors(model, head, shapes, labels, 128, 4.0, np.random.default_rng(0))
    assert report.bpr < 0.98 and report.replaced and report.new_bpr > report.bpr
    assert "evolved anchors" in report.message and "replace" in report.message
    assert not torch.equal(head.anchor_grid, before)
    grid = head.anchor_grid.view(head.nl, -1, 2)
    assert torch.allclose(head.anchors * head.stride.view(-1, 1, 1), grid)  # loss and decode agree
    assert (grid.prod(-1).mean(1).diff() > 0).all()  # larger anchors on coarser levels
    assert np.array(model.yaml["anchors"]).reshape(-1, 2) == pytest.approx(grid.view(-1, 2).numpy(), abs=0.01)

    path = tmp_path / "best.pt"
    save_training_state(path, model, None, None, None, names=["thin"], epoch=0)
    loaded, _ = load_model(path)
    assert torch.equal(head_of(loaded).anchor_grid, head.anchor_grid)


def test_fitting_anchors_are_kept(tiny_cfg):
    from y7deploy.model.yolo import build_model
    from y7deploy.train.loss import head_of

    model = build_model(str(tiny_cfg), nc=1, names=["box"])
    head = head_of(model)
    before = head.anchor_grid.clone()
    shapes = np.full((3, 2), 640.0)
    labels = [np.array([[0, 0.5, 0.5, 40 / 640, 40 / 640], [0, 0.5, 0.5, 150 / 640, 200 / 640]])] * 3
    report = check_anchors(model, head, shapes, labels, 640, 4.0, np.random.default_rng(0))
    assert report.bpr == 1.0 and not report.replaced and report.new_bpr is None
    assert "fit" in report.message
    assert torch.equal(head.anchor_grid, before)
