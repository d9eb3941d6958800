"""Checkpoints: upstream's pickled forms (files upstream's code wrote, data/upstream/make.py) load
without upstream's code, y7deploy's own format round-trips, hostile or malformed pickles are
refused with nothing executed, bad input is a UserError."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from y7deploy.errors import UserError
from y7deploy.model.checkpoint import load_checkpoint, save_checkpoint
from y7deploy.model.reparam import reparameterize


DATA = Path(__file__).parent / "data" / "upstream"
FACTS = json.loads((DATA / "facts.json").read_text())  # what upstream's own objects in each file say


@pytest.mark.parametrize("file, kind", [
    ("yolov7-tiny_last.pt", "upstream-train"),
    ("yolov7-w6_best.pt", "upstream-stripped"),
    ("yolov7-tiny-w25-coco_best.pt", "upstream-stripped"),
    ("yolov7_deploy.pt", "upstream-deploy"),
    ("yolov7-tiny_model.pt", "upstream-model"),
])
def test_upstream_checkpoint_says_what_upstream_put_in_it(file, kind):
    """Every form upstream's code writes (make.py): the facts read without upstream's code are
    those upstream's objects hold."""
    facts = FACTS[file]
    ckpt = load_checkpoint(DATA / file)
    assert "models" not in sys.modules
    assert ckpt.kind == kind and ckpt.weights == ("ema" if facts.get("uses_ema") else "model")
    assert ckpt.names == facts["names"] and ckpt.nc == facts["nc"]
    assert ckpt.cfg_name == (Path(facts["yaml_file"]).stem if facts["yaml_file"] else None)
    assert ckpt.epoch == facts.get("epoch", -1)
    assert ckpt.metrics == ({"best_fitness": pytest.approx(facts["best_fitness"])}
                            if facts.get("best_fitness") is not None else {})
    assert set(ckpt.extra) == set(facts.get("keys", ["model"])) - {"model", "ema", "epoch"}
    assert ckpt.extra.get("updates") == facts.get("updates")
    if facts.get("nesterov") is not None:
        assert ckpt.extra["optimizer"]["param_groups"][0]["nesterov"] is facts["nesterov"]
    head = ckpt.model.model[-1]
    assert type(head).__name__ == facts["head"] and ckpt.model.stride.tolist() == facts["stride"]
    assert head.anchor_grid.reshape(head.nl, -1).tolist() == facts["anchors_px"]
    assert not ckpt.model.training and next(ckpt.model.parameters()).dtype == torch.float32
    assert len(ckpt.source_sha256) == 64


def test_which_weights_of_a_training_checkpoint():
    last = DATA / "yolov7-tiny_last.pt"
    ema, model = load_checkpoint(last, which="ema").model, load_checkpoint(last, which="model").model
    assert load_checkpoint(last).weights == "ema"
    assert any(not torch.equal(a, b) for a, b in zip(ema.state_dict().values(), model.state_dict().values()))
    with pytest.raises(UserError, match="no EMA"):
        load_checkpoint(DATA / "yolov7-w6_best.pt", which="ema")


def test_y7deploy_format_round_trip(make_model, tmp_path):
    model = make_model("yolov7-tiny", nc=2, names=["cat", "dog"])
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    path = save_checkpoint(tmp_path / "run" / "last.pt", model, epoch=12, metrics={"mAP_0.5": 0.61},
                           optimizer=opt.state_dict(), hyp={"lr0": 0.01}, data=tmp_path / "data.yaml",
                           cfg="yolov7-tiny", best_fitness=np.float64(0.3))
    raw = torch.load(path, weights_only=True)  # plain types only
    assert raw["format"] == "y7deploy" and raw["cfg"]["nc"] == 2 and raw["names"] == ["cat", "dog"]
    ckpt = load_checkpoint(path)
    assert ckpt.kind == "y7deploy" and ckpt.epoch == 12 and ckpt.metrics == {"mAP_0.5": 0.61}
    assert ckpt.names == ["cat", "dog"] and ckpt.cfg_name == "yolov7-tiny"
    assert ckpt.extra["data"] == str(tmp_path / "data.yaml") and ckpt.extra["best_fitness"] == 0.3
    assert ckpt.extra["optimizer"]["param_groups"][0]["momentum"] == 0.9
    for k, v in model.state_dict().items():
        assert torch.equal(ckpt.model.state_dict()[k], v), k
    x = torch.rand(1, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        assert torch.equal(ckpt.model(x)[0], model(x)[0])
    with pytest.raises(TypeError, match="extra.thing is a object"):
        save_checkpoint(tmp_path / "bad.pt", model, thing=object())


def test_deploy_form_round_trip_keeps_fusion_and_anchors(make_model, tmp_path):
    model = make_model("yolov7-e6", nc=2)
    with torch.no_grad():
        model.model[-1].anchor_grid.mul_(1.5)  # "trained" anchors differ from the cfg's
        model.model[-1].anchors.mul_(1.5)
    deploy = reparameterize(model)
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "deploy.pt", deploy, half=True))
    assert ckpt.model.yaml["fused"] and "model.1.conv.bias" in ckpt.model.state_dict()
    assert torch.allclose(ckpt.model.model[-1].anchor_grid, deploy.model[-1].anchor_grid, rtol=1e-3)


def test_plain_state_dict(make_model, make_cfg, tmp_path):
    model = make_model("yolov7-tiny", nc=4)
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    with pytest.raises(UserError, match="plain state_dict.*--cfg"):
        load_checkpoint(path)
    ckpt = load_checkpoint(path, cfg=make_cfg("yolov7-tiny"), names=list("abcd"))
    assert ckpt.kind == "state-dict" and ckpt.nc == 4 and ckpt.names == list("abcd")
    for k, v in model.state_dict().items():
        assert torch.equal(ckpt.model.state_dict()[k], v), k
    with pytest.raises(UserError, match="weights do not fit the cfg"):
        load_checkpoint(path, cfg=make_cfg("yolov7"))
    with pytest.raises(UserError, match="3 class names for nc=4"):
        load_checkpoint(path, cfg=make_cfg("yolov7-tiny"), names=list("abc"))
    bundled = tmp_path / "bundled.pt"
    torch.save({"state_dict": model.state_dict(), "cfg": make_cfg("yolov7-tiny"), "names": list("wxyz")}, bundled)
    assert load_checkpoint(bundled).names == list("wxyz")


def _evil_marker_pickles(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    class EvalEvil:
        def __reduce__(self):
            return (eval, (f"open({str(marker)!r}, 'w')",))

    return marker, [("system", {"epoch": 1, "model": Evil()}, True), ("eval", {"model": EvalEvil()}, True),
                    ("legacy", {"model": Evil()}, False)]


def test_hostile_pickles_are_refused_and_nothing_runs(tmp_path):
    marker, cases = _evil_marker_pickles(tmp_path)
    for name, obj, zip_format in cases:
        path = tmp_path / f"{name}.pt"
        torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
        with pytest.raises(UserError, match=r"refused: the pickle asks for (posix\.system|builtins\.eval)"):
            load_checkpoint(path)
        assert not marker.exists()


def test_unknown_upstream_class_is_refused(make_model, upstream_save, tmp_path):
    import torch.nn as nn

    class Bottleneck(nn.Module):  # a class upstream has but the yolov7 cfgs never use
        pass

    Bottleneck.__module__, Bottleneck.__qualname__ = "models.common", "Bottleneck"
    model = make_model("yolov7-tiny")

    def build(up):
        obj = up(model)
        obj.model[1] = Bottleneck()
        return {"model": obj}

    path = upstream_save(build, tmp_path / "odd.pt", extra_classes=[Bottleneck])
    with pytest.raises(UserError, match="models.common.Bottleneck"):
        load_checkpoint(path)


def test_malformed_upstream_object(make_model, upstream_save, tmp_path):
    model = make_model("yolov7-tiny")

    def cyclic(up):
        obj = up(model)
        obj.model[3]._modules["loop"] = obj.model  # a module graph containing itself
        return {"model": obj}

    with pytest.raises(UserError, match="contains itself"):
        load_checkpoint(upstream_save(cyclic, tmp_path / "cyclic.pt"))

    def no_cfg(up):
        obj = up(model)
        del obj.yaml
        return {"model": obj, "optimizer": None}

    with pytest.raises(UserError, match=r"no cfg \(.yaml\)"):
        load_checkpoint(upstream_save(no_cfg, tmp_path / "nocfg.pt"))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_bad_inputs(make_model, tmp_path):
    with pytest.raises(UserError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt")
    text = tmp_path / "notes.pt"
    text.write_text("hello, not a checkpoint\n")
    with pytest.raises(UserError, match="notes.pt: not a PyTorch checkpoint"):
        load_checkpoint(text)
    other = tmp_path / "other.pt"
    torch.save({"lr": 0.1, "epochs": [1, 2]}, other)
    with pytest.raises(UserError, match="not a YOLOv7 checkpoint"):
        load_checkpoint(other)
    ts = tmp_path / "scripted.pt"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(ts))
    with pytest.raises(UserError, match="TorchScript"):
        load_checkpoint(ts)
    truncated = tmp_path / "cut.pt"
    model = make_model("yolov7-tiny", nc=2)
    save_checkpoint(truncated, model)
    truncated.write_bytes(truncated.read_bytes()[:5000])
    with pytest.raises(UserError, match="cut.pt: not a PyTorch checkpoint"):
        load_checkpoint(truncated)
    good = save_checkpoint(tmp_path / "good.pt", model)
    with pytest.raises(UserError, match="nc=2 classes but nc=5 was expected"):
        load_checkpoint(good, nc=5)
    with pytest.raises(UserError, match="has 2 classes .* but 3 names were given"):
        load_checkpoint(good, names=["a", "b", "c"])
