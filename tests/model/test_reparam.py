"""Reparameterization: the deploy form computes what the training form computes.

Weights are randomized first (BN statistics and affine terms, implicit layers): with fresh
initialisation BN is nearly the identity and ImplicitA/M nearly 0/1, which hides folding bugs.
"""

from __future__ import annotations

import pytest
import torch

from y7deploy.model.reparam import deploy_cfg, is_deploy_form, reparameterize
from y7deploy.model.yolo import Conv, Detect, RepConv, resolve_cfg


def _assert_same_outputs(train_model, deploy_model, x, tol=1e-3):
    """Boxes within ``tol`` of the image size, scores within ``tol``/10 (export's own limits at
    float32). Random narrow networks amplify float32 rounding far more than trained ones, so
    the whole-network comparisons run in float64, where only a folding error can differ."""
    train_model.eval()
    with torch.no_grad():
        pred, raw = train_model(x)
        pred2, raw2 = deploy_model(x)
    assert pred.shape == pred2.shape and len(raw) == len(raw2)
    box_px = (pred[..., :4] - pred2[..., :4]).abs().max().item()
    assert box_px <= tol * max(x.shape[-2:]), f"boxes off by {box_px} px"
    assert (pred[..., 4:] - pred2[..., 4:]).abs().max().item() <= tol / 10
    assert pred[..., 4:].std() > 1e-3  # the scores depend on the input: there is something to compare
    for a, b in zip(raw, raw2):
        torch.testing.assert_close(b, a, rtol=tol, atol=tol)


def test_deploy_equals_training(arch, make_model):
    model = make_model(arch, nc=3).double()
    head = model.model[-1]
    with torch.no_grad():  # "trained" anchors, different from the cfg's: they must survive
        head.anchor_grid.mul_(1.3)
        head.anchors.mul_(1.3)
    deploy = reparameterize(model)
    assert not deploy.training and is_deploy_form(deploy) and deploy.yaml["fused"]
    assert type(deploy.model[-1]) is Detect and deploy.names == model.names
    keys = deploy.state_dict().keys()
    assert not any(".bn." in k or "rbr_dense" in k or "implicit" in k or ".m2." in k for k in keys)
    assert torch.equal(deploy.model[-1].anchor_grid, head.anchor_grid)
    assert torch.equal(deploy.stride, model.stride)
    assert next(deploy.parameters()).dtype == torch.float64
    _assert_same_outputs(model, deploy, torch.rand(2, 3, 128, 192, dtype=torch.float64), tol=1e-6)
    assert sum(p.numel() for p in deploy.parameters()) < sum(p.numel() for p in model.parameters())


def test_notebook_form_then_fused(make_model):
    model = make_model("yolov7-d6", nc=2).double()
    unfused = reparameterize(model, fuse=False)
    assert "model.1.bn.running_mean" in unfused.state_dict() and not unfused.yaml.get("fused")
    assert len(unfused.model) == len(model.model) - 4  # the four aux-only rows are gone
    x = torch.rand(1, 3, 128, 128, dtype=torch.float64)
    _assert_same_outputs(model, unfused, x, tol=1e-6)
    again = reparameterize(unfused)  # a deploy-form model reparameterizes to itself (fused)
    _assert_same_outputs(model, again, x, tol=1e-6)


def test_packaged_deploy_cfgs_are_the_derived_ones(arch):
    derived, keep = deploy_cfg(resolve_cfg(arch))
    packaged = resolve_cfg(arch, form="deploy")
    assert derived["backbone"] + derived["head"] == packaged["backbone"] + packaged["head"]
    assert derived["anchors"] == packaged["anchors"]
    assert len(keep) == len(packaged["backbone"]) + len(packaged["head"])


@pytest.mark.parametrize("c1, c2, s, g", [(8, 8, 1, 1), (8, 8, 1, 2), (8, 16, 1, 1), (8, 8, 2, 1)])
def test_repconv_branches_fold(c1, c2, s, g, randomized):
    block = randomized(RepConv(c1, c2, 3, s, g=g), seed=c2 + s + g).eval()
    for bn in block.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.eps = 1e-3
    assert (block.rbr_identity is not None) == (c1 == c2 and s == 1)
    x = torch.rand(2, c1, 12, 12)
    with torch.no_grad():
        want = block(x)
        block.fuse()
        got = block(x)
    assert block.deploy and not hasattr(block, "rbr_dense")
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_conv_bn_folds_with_groups(randomized):
    conv = randomized(Conv(8, 16, 3, 2, g=4, act=torch.nn.LeakyReLU(0.1)), seed=5).eval()
    x = torch.rand(1, 8, 10, 10)
    with torch.no_grad():
        want = conv(x)
        conv.fuse()
        got = conv(x)
    assert isinstance(conv.bn, torch.nn.Identity) and conv.conv.bias is not None
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
