"""Every packaged architecture builds, follows the forward contract, and matches upstream's
parameter counts and state-dict naming (so upstream weights move 1:1)."""

from __future__ import annotations

import math

import pytest
import torch

from y7deploy.errors import UserError
from y7deploy.model.yolo import ARCHITECTURES, CFG_DIR, IAuxDetect, build_model, resolve_cfg


def test_forward_contract(arch, make_model):
    model = make_model(arch)
    head = model.model[-1]
    x = torch.rand(2, 3, 128, 192)
    model.train()
    raw = model(x)
    levels = 2 * head.nl if isinstance(head, IAuxDetect) else head.nl
    assert len(raw) == levels
    for i, r in enumerate(raw):
        s = int(head.stride[i % head.nl])
        assert r.shape == (2, head.na, 128 // s, 192 // s, head.nc + 5)
    model.eval()
    with torch.no_grad():
        pred, raw = model(x)
    n = sum(head.na * (128 // int(s)) * (192 // int(s)) for s in head.stride)
    assert pred.shape == (2, n, 8) and len(raw) == head.nl
    scores = pred[..., 4:]
    assert scores.min() >= 0 and scores.max() <= 1  # sigmoided
    xy = pred[..., :2]
    assert xy.min() > -0.5 * 128 and xy[..., 0].max() < 1.5 * 192  # centres around the image
    assert model.stride.tolist() == ([8.0, 16.0, 32.0] if head.nl == 3 else [8.0, 16.0, 32.0, 64.0])


def test_deploy_form_builds(arch, make_cfg):
    model = build_model(make_cfg(arch, form="deploy"), nc=2)
    assert type(model.model[-1]).__name__ == "Detect"
    model.eval()
    with torch.no_grad():
        pred, _ = model(torch.rand(1, 3, 128, 128))
    assert pred.shape[-1] == 7


@pytest.fixture(scope="module")
def yolov7_full():
    return build_model("yolov7")


def test_yolov7_counts_and_keys_match_upstream(yolov7_full):
    n = sum(p.numel() for p in yolov7_full.parameters())
    implicit = sum(p.numel() for k, p in yolov7_full.named_parameters() if "implicit" in k)
    # upstream prints 37620125 for cfg/deploy/yolov7.yaml (Detect head, BN and RepConv unfused);
    # the training form adds only the implicit layers.
    assert n - implicit == 37_620_125 and implicit == 2557
    assert round(n / 1e6, 1) == 37.6
    sd = yolov7_full.state_dict()
    expected = {
        "model.0.conv.weight": (32, 3, 3, 3),
        "model.0.bn.running_var": (32,),
        "model.51.cv7.conv.weight": (512, 1024, 1, 1),
        "model.102.rbr_dense.0.weight": (256, 128, 3, 3),
        "model.102.rbr_dense.1.weight": (256,),
        "model.102.rbr_1x1.0.weight": (256, 128, 1, 1),
        "model.105.ia.0.implicit": (1, 256, 1, 1),
        "model.105.im.0.implicit": (1, 255, 1, 1),
        "model.105.m.2.weight": (255, 1024, 1, 1),
        "model.105.anchors": (3, 3, 2),
        "model.105.anchor_grid": (3, 1, 3, 1, 1, 2),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    head = yolov7_full.model[-1]
    # anchors in grid units, anchor_grid in pixels (the yaml's numbers)
    assert head.anchor_grid[0].flatten().tolist() == [12, 16, 19, 36, 40, 28]
    assert torch.allclose(head.anchors[2] * 32, torch.tensor([[142.0, 110], [192, 243], [459, 401]]))
    assert sum(p.numel() for p in head.parameters()) - implicit == 457_725  # upstream's Detect row


@pytest.mark.parametrize("name, millions", [("yolov7-tiny", 6.2), ("yolov7x", 71.3)])
def test_published_parameter_counts(name, millions):
    model = build_model(name)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == millions


def test_p6_and_rep_keys(make_cfg):
    sd = build_model(make_cfg("yolov7-e6e")).state_dict()
    assert "model.2.cv1.conv.weight" in sd and "model.2.cv3.bn.running_mean" in sd  # DownC
    assert "model.265.m2.3.weight" in sd and "model.265.ia.3.implicit" in sd  # IAuxDetect
    assert "model.265.anchor_grid" in sd


def test_width_multiple_and_nc_override(make_cfg):
    model = build_model(make_cfg("yolov7", 0.25), nc=5, names=list("abcde"))
    assert model.nc == 5 and model.yaml["nc"] == 5 and model.names == list("abcde")
    assert model.model[0].conv.out_channels == 8
    assert model.model[-1].m[0].out_channels == 3 * 10
    assert build_model(make_cfg("yolov7-tiny"), names=["x", "y"]).nc == 2
    with pytest.raises(UserError, match="3 class names"):
        build_model(make_cfg("yolov7-tiny"), nc=2, names=["a", "b", "c"])


def test_initialize_biases_sets_priors(make_cfg):
    model = build_model(make_cfg("yolov7-tiny"), nc=3)
    head = model.model[-1]
    for conv, s in zip(head.m, head.stride):
        b = conv.bias.detach().view(3, -1)
        fan_in_bound = conv.in_channels ** -0.5  # default init is uniform within this
        obj = math.log(8 / (640 / float(s)) ** 2)
        assert ((b[:, 4] - obj).abs() <= fan_in_bound).all()
        assert ((b[:, 5:] - math.log(0.6 / (3 - 0.99))).abs() <= fan_in_bound).all()


def test_resolve_cfg_names_forms_and_paths(tmp_path):
    assert resolve_cfg("yolov7")["head"][-1][2] == "IDetect"
    assert resolve_cfg("yolov7", form="deploy")["head"][-1][2] == "Detect"
    assert resolve_cfg("yolov7-w6-deploy")["head"][-1][0] == [114, 115, 116, 117]
    for name in ARCHITECTURES:
        assert (CFG_DIR / f"{name}.yaml").is_file() and (CFG_DIR / f"{name}-deploy.yaml").is_file()
    path = tmp_path / "mine.yaml"
    path.write_text((CFG_DIR / "yolov7-tiny.yaml").read_text().replace("nc: 80", "nc: 4"))
    assert resolve_cfg(str(path))["nc"] == 4


def test_resolve_cfg_errors(tmp_path):
    with pytest.raises(UserError, match=r"'yolov9'.*known: yolov7-tiny, yolov7, "):
        resolve_cfg("yolov9")
    bad = tmp_path / "bad.yaml"
    bad.write_text("nc: [unclosed\n")
    with pytest.raises(UserError, match="bad.yaml"):
        resolve_cfg(bad)
    other = tmp_path / "other.yaml"
    other.write_text("lr0: 0.01\n")
    with pytest.raises(UserError, match="not an upstream-format"):
        resolve_cfg(other)


def test_cfg_rows_are_checked(make_cfg):
    cfg = make_cfg("yolov7-tiny")
    cfg["backbone"][3][2] = "Focus"
    with pytest.raises(UserError, match="row 3: unknown module 'Focus'"):
        build_model(cfg)
    cfg = make_cfg("yolov7-tiny")
    cfg["backbone"][0][3][-1] = "nn.GELU()"
    with pytest.raises(UserError, match="unknown activation 'nn.GELU"):
        build_model(cfg)
    cfg = make_cfg("yolov7-tiny")
    cfg["backbone"][1][3] = [64, 3, 2, None, 1, "nn.LeakyReLU(0.1)", "extra"]
    with pytest.raises(UserError, match="row 1: Conv with arguments .* does not build"):
        build_model(cfg)
    cfg = make_cfg("yolov7-tiny")
    cfg["backbone"][2][0] = 40
    with pytest.raises(UserError, match="row 2: 'from' 40"):
        build_model(cfg)
