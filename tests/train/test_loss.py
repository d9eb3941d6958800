"""The OTA loss on raw head outputs: finite, differentiable, device-safe, label-free batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from y7deploy.train.loss import AuxOTALoss, OTALoss, build_loss

torch.set_num_threads(1)

HYP = {"box": 0.05, "obj": 0.7, "cls": 0.3, "cls_pw": 1.0, "obj_pw": 1.0, "anchor_t": 4.0, "fl_gamma": 0.0}
ANCHORS_P5 = [[12, 16, 19, 36, 40, 28], [36, 75, 76, 55, 72, 146], [142, 110, 192, 243, 459, 401]]


class Head(nn.Module):
    """Just the attributes the loss reads from a YOLOv7 detection head."""

    def __init__(self, nc: int, strides: list[int], anchors_px: list[list[int]], aux: bool = False):
        super().__init__()
        self.nc, self.nl, self.na, self.no = nc, len(strides), len(anchors_px[0]) // 2, nc + 5
        self.register_buffer("stride", torch.tensor(strides, dtype=torch.float32))
        a = torch.tensor(anchors_px, dtype=torch.float32).view(self.nl, -1, 2)
        self.register_buffer("anchors", a / self.stride.view(-1, 1, 1))
        if aux:
            self.m2 = nn.ModuleList()


class Net(nn.Module):
    def __init__(self, head: nn.Module):
        super().__init__()
        self.model = nn.ModuleList([head])


def raw_outputs(head, batch: int, size: int, device="cpu", levels_times: int = 1):
    outs = []
    for _ in range(levels_times):
        for s in head.stride.tolist():
            n = size // int(s)
            outs.append(torch.randn(batch, head.na, n, n, head.no, device=device, requires_grad=True))
    return outs


def targets_for(batch: int, device="cpu") -> torch.Tensor:
    return torch.tensor(
        [[0, 0, 0.5, 0.5, 0.3, 0.4], [0, 2, 0.2, 0.25, 0.1, 0.1], [batch - 1, 1, 0.7, 0.6, 0.5, 0.3]],
        device=device,
    )


def check(loss_fn, p, targets, imgs):
    loss, items = loss_fn(p, targets, imgs)
    assert torch.isfinite(loss).all() and torch.isfinite(items).all()
    assert items.shape == (4,)
    loss.sum().backward()
    for t in p:
        assert t.grad is not None and torch.isfinite(t.grad).all()
    return loss, items


def test_loss_with_targets_on_cpu():
    head = Head(3, [8, 16, 32], ANCHORS_P5)
    loss_fn = build_loss(Net(head), HYP)
    assert type(loss_fn) is OTALoss
    p = raw_outputs(head, 2, 64)
    loss, items = check(loss_fn, p, targets_for(2), torch.zeros(2, 3, 64, 64))
    box, obj, cls, total = items.tolist()
    assert box > 0 and obj > 0 and cls > 0
    assert total == pytest.approx(box + obj + cls, rel=1e-5)
    assert loss.item() == pytest.approx(2 * total, rel=1e-5)  # scaled by batch size
    assert p[0].grad[0].abs().sum() > 0  # image 0 has labels, so its boxes get a gradient


def test_loss_without_targets():
    head = Head(3, [8, 16, 32], ANCHORS_P5)
    loss_fn = OTALoss(Net(head), HYP)
    p = raw_outputs(head, 2, 64)
    _, items = check(loss_fn, p, torch.zeros((0, 6)), torch.zeros(2, 3, 64, 64))
    box, obj, cls, _ = items.tolist()
    assert box == 0 and cls == 0 and obj > 0  # only "nothing here" objectness is learned


def test_loss_with_labels_only_in_some_images_and_rect_shape():
    head = Head(2, [8, 16, 32], ANCHORS_P5)
    loss_fn = OTALoss(Net(head), HYP)
    p = [torch.randn(3, 3, 64 // s, 96 // s, 7, requires_grad=True) for s in (8, 16, 32)]
    t = torch.tensor([[1, 1, 0.5, 0.5, 0.2, 0.3]])
    check(loss_fn, p, t, torch.zeros(3, 3, 64, 96))


def test_single_class_has_no_class_loss():
    head = Head(1, [8, 16, 32], ANCHORS_P5)
    loss_fn = OTALoss(Net(head), HYP)
    t = targets_for(1)
    t[:, 1] = 0
    _, items = check(loss_fn, raw_outputs(head, 1, 64), t, torch.zeros(1, 3, 64, 64))
    assert items[2] == 0


def test_loss_falls_when_optimised():
    """Gradient steps on the raw outputs lower the loss: the gradients point the right way."""
    head = Head(3, [8, 16, 32], ANCHORS_P5)
    loss_fn = OTALoss(Net(head), HYP)
    p = raw_outputs(head, 2, 64)
    opt = torch.optim.SGD(p, lr=5.0)
    t = targets_for(2)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss, _ = loss_fn(p, t, torch.zeros(2, 3, 64, 64))
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


def test_aux_variant_for_p6_heads():
    anchors = [[19, 27, 44, 40, 38, 94], [96, 68, 86, 152, 180, 137], [140, 301, 303, 264, 238, 542], [436, 615, 739, 380, 925, 792]]
    head = Head(3, [8, 16, 32, 64], anchors, aux=True)
    loss_fn = build_loss(Net(head), HYP)
    assert isinstance(loss_fn, AuxOTALoss)
    p = raw_outputs(head, 2, 128, levels_times=2)  # lead levels then aux levels
    check(loss_fn, p, targets_for(2), torch.zeros(2, 3, 128, 128))
    assert p[4].grad.abs().sum() > 0  # the aux head learns too
    p = raw_outputs(head, 2, 128, levels_times=2)
    check(loss_fn, p, torch.zeros((0, 6)), torch.zeros(2, 3, 128, 128))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_loss_on_last_cuda_device():
    """Upstream hard-codes cuda:0 in its empty path; ours follows the targets wherever they are."""
    device = torch.device(f"cuda:{torch.cuda.device_count() - 1}")
    head = Head(3, [8, 16, 32], ANCHORS_P5).to(device)
    loss_fn = OTALoss(Net(head), HYP)
    for t in (targets_for(2, device), torch.zeros((0, 6), device=device)):
        p = raw_outputs(head, 2, 64, device=device)
        loss, _ = check(loss_fn, p, t, torch.zeros(2, 3, 64, 64, device=device))
        assert loss.device == device


def test_equals_upstream_computelossota():
    """The box/obj/cls terms and the total of upstream's utils/loss.py ComputeLossOTA on the same
    inputs, as data/upstream/loss_upstream.py computed them from a checkout of WongKinYiu/yolov7."""
    up = json.loads((Path(__file__).parent / "data" / "upstream" / "loss.json").read_text())
    head = Head(3, [8, 16, 32], up["anchors"])
    loss_fn = OTALoss(Net(head), up["hyp"])
    g = torch.Generator().manual_seed(up["seed"])
    p = [torch.randn(2, 3, 128 // s, 128 // s, 8, generator=g) for s in (8, 16, 32)]
    loss, items = loss_fn(p, torch.tensor(up["targets"]), torch.zeros(2, 3, 128, 128))
    assert items.tolist() == pytest.approx(up["items_box_obj_cls_total"], rel=1e-5)
    assert loss.item() == pytest.approx(up["loss"], rel=1e-5)
