"""Checkpoints written by upstream YOLOv7's own code (data/upstream/make.py, upstream commit
a207844) load without it, compute what upstream computed, and reparameterize and export.

These files come from upstream's Model, ModelEMA, train.py's dict, strip_optimizer and the
reparameterization notebook, so a mismatch between our idea of upstream and upstream
itself shows up here (test_checkpoint.py checks what else they hold against facts.json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from y7deploy.model.checkpoint import load_checkpoint
from y7deploy.model.export import export_model
from y7deploy.model.reparam import reparameterize

DATA = Path(__file__).parent / "data" / "upstream"


@pytest.fixture(scope="module")
def reference():
    return torch.load(DATA / "reference.pt", weights_only=True)


def outputs(model, x):
    with torch.no_grad():
        return model.eval()(x)[0]


@pytest.mark.parametrize("file, ref_key, which, kind, names", [
    ("yolov7-tiny_last.pt", "yolov7-tiny_last/ema", "ema", "upstream-train", ["car", "bus", "person"]),
    ("yolov7-tiny_last.pt", "yolov7-tiny_last/model", "model", "upstream-train", ["car", "bus", "person"]),
    ("yolov7-w6_best.pt", "yolov7-w6_best", None, "upstream-stripped", ["helmet", "head"]),
    ("yolov7_deploy.pt", "yolov7_deploy", None, "upstream-deploy", ["cat", "dog"]),
    ("yolov7-tiny_model.pt", "yolov7-tiny_model", None, "upstream-model", ["drone"]),
])
def test_upstream_file_loads_and_computes_what_upstream_computed(reference, file, ref_key, which, kind, names):
    ckpt = load_checkpoint(DATA / file, **({"which": which} if which else {}))
    assert "models" not in sys.modules  # upstream's package was never needed
    assert ckpt.kind == kind and ckpt.names == names and ckpt.nc == len(names)
    got = outputs(ckpt.model, reference["x"])
    torch.testing.assert_close(got, reference[ref_key], rtol=1e-5, atol=1e-4)
    # ...and the deploy form of it still computes the same (in float64: only a folding error differs)
    model64 = ckpt.model.double()
    deploy = reparameterize(model64)
    x64 = reference["x"].double()
    torch.testing.assert_close(outputs(deploy, x64), outputs(model64, x64), rtol=1e-9, atol=1e-7)


def test_upstream_best_exports(tmp_path):
    ckpt = load_checkpoint(DATA / "yolov7-w6_best.pt")
    result = export_model(ckpt.model, ckpt.names, name="w6", version="1", out=tmp_path, img_size=[128],
                          reparameterize=reparameterize)
    assert result.verification.ok and result.release.names == ["helmet", "head"]
    assert result.release.manifest["stride"] == [8, 16, 32, 64]


SHAPES = json.loads((DATA / "state_dicts.json").read_text())


@pytest.mark.parametrize("form_arch", sorted(SHAPES))
def test_state_dict_keys_and_shapes_are_upstream_s(form_arch):
    """Every packaged architecture, both forms: the same keys with the same shapes as
    upstream's Model built from upstream's own cfg (digest made by data/upstream/make.py)."""
    import hashlib

    from y7deploy.model.yolo import build_model, resolve_cfg

    form, arch = form_arch.split("/")
    cfg = resolve_cfg(arch, form=form)
    cfg["width_multiple"] *= 0.125  # as make.py's SHAPES_WIDTH
    sd = build_model(cfg, nc=80).state_dict()
    lines = sorted(f"{k} {'x'.join(map(str, v.shape))}" for k, v in sd.items())
    assert len(lines) == SHAPES[form_arch]["keys"]
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest() == SHAPES[form_arch]["sha256"]
