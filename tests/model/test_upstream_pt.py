"""`y7deploy export --format upstream-pt`: a file upstream YOLOv7's own code loads and computes with.

The oracle is upstream's code itself: data/upstream/loads_ours.py wrote y7deploy checkpoints
(``ours_ARCH.pt``, with anchors chosen as autoanchor leaves them), exported them with this
command, loaded the result with upstream's torch.load path, its attempt_load (test.py and
detect.py) and its Model(yaml) + load_state_dict (train.py --weights), ran upstream's forward,
and kept the outputs and what upstream's objects said. Here the same checkpoints are exported
again and must give the same file contents, and our model must compute what upstream computed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from y7deploy.cli import cli
from y7deploy.model.checkpoint import load_checkpoint, pickle_globals, safe_load
from y7deploy.model.export import deepstream_layout, export_model, read_metadata
from y7deploy.model.reparam import reparameterize

DATA = Path(__file__).parent / "data" / "upstream"
FACTS = json.loads((DATA / "ours_upstream.json").read_text())
ARCHS = sorted(FACTS)


@pytest.fixture(scope="module")
def kept():
    return torch.load(DATA / "ours_upstream.pt", weights_only=True)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _script():
    """data/upstream/loads_ours.py, whose digest of upstream's loaded tensors FACTS records."""
    spec = importlib.util.spec_from_file_location("loads_ours", DATA / "loads_ours.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outputs(model, x):
    with torch.no_grad():
        return model.eval()(x)[0]


@pytest.mark.parametrize("arch", ARCHS)
def test_upstream_computes_what_our_model_computes(kept, arch):
    ours = load_checkpoint(DATA / f"ours_{arch}.pt").model
    got = outputs(ours, kept["x"])
    torch.testing.assert_close(got, kept[f"{arch}/model"], rtol=1e-5, atol=1e-4)  # upstream's classes, unfused
    torch.testing.assert_close(got, kept[f"{arch}/rebuilt"], rtol=1e-5, atol=1e-4)  # upstream's Model(yaml)
    fused = kept[f"{arch}/attempt_load"]  # upstream folded BN, RepConv and the implicit head itself
    assert ((got - fused).abs() / fused.abs().clamp_min(1e-3)).max().item() < 1e-3
    assert FACTS[arch]["keys_upstream_lacks"] == [] and FACTS[arch]["keys_upstream_has_more"] == []


@pytest.mark.parametrize("arch", ARCHS)
def test_export_writes_the_file_upstream_loaded(tmp_path, arch):
    out = tmp_path / "best.pt"
    result = run("export", DATA / f"ours_{arch}.pt", "--format", "upstream-pt", "--out", out)
    assert result.exit_code == 0, result.output
    facts = FACTS[arch]
    assert pickle_globals(out) == facts["pickle_globals"]
    assert [g for g in facts["pickle_globals"] if "y7deploy" in g] == []
    written = safe_load(out)  # through our allowlist: the classes map back onto ours
    model = written["model"]
    assert _script().tensors_digest(model.state_dict()) == facts["tensors_sha256"]
    assert model.yaml == facts["yaml"] and model.names == facts["names"] and model.yaml_file == facts["yaml_file"]
    assert {k: written[k] for k in ("epoch", "optimizer", "best_fitness")} == \
        {k: facts[k] for k in ("epoch", "optimizer", "best_fitness")}
    assert f"{out}: upstream YOLOv7 checkpoint" in result.output


@pytest.mark.parametrize("arch", ARCHS)
def test_chosen_anchors_travel_into_the_checkpoint_and_both_exports(tmp_path, kept, arch):
    """Anchors as autoanchor leaves them in the head (not the cfg's) are what upstream's
    Detect holds after loading our upstream-pt, and what the ONNX graph decodes with: its
    boxes and class column equal upstream's own output on the same input."""
    from y7deploy.model.yolo import resolve_cfg

    chosen = FACTS[arch]["anchors_px"]
    assert chosen != resolve_cfg(arch)["anchors"]
    ckpt = load_checkpoint(DATA / f"ours_{arch}.pt")
    assert ckpt.model.model[-1].anchor_grid.reshape(len(chosen), -1).tolist() == chosen
    assert FACTS[arch]["yaml_anchors"] == chosen  # a model upstream rebuilds from the yaml starts from them

    import onnxruntime as ort

    rel = export_model(ckpt.model, ckpt.names, name=arch, version="1", out=tmp_path, img_size=[64],
                       reparameterize=reparameterize).release
    assert rel.manifest["anchors"] == chosen and json.loads(read_metadata(rel.model_path)["anchors"]) == chosen
    session = ort.InferenceSession(str(rel.model_path), providers=["CPUExecutionProvider"])
    got = session.run(["output"], {"input": kept["x"].numpy()})[0]
    upstream = kept[f"{arch}/model"]
    want = deepstream_layout(upstream).numpy()
    assert np.abs(got[..., :4] - want[..., :4]).max() < 1e-3 * 64
    assert np.abs(got[..., 4] - want[..., 4]).max() < 1e-4
    top2 = torch.topk(upstream[..., 5:], k=2, dim=-1).values
    decided = (top2[..., 0] - top2[..., 1] > 1e-4).numpy()
    assert decided.mean() > 0.9 and (got[..., 5][decided] == want[..., 5][decided]).all()


def test_default_out_is_next_to_the_weights_and_never_overwritten(tmp_path):
    weights = tmp_path / "best.pt"
    weights.write_bytes((DATA / "ours_yolov7-tiny.pt").read_bytes())
    assert run("export", weights, "--format", "upstream-pt").exit_code == 0
    made = tmp_path / "best-upstream.pt"
    assert pickle_globals(made) == FACTS["yolov7-tiny"]["pickle_globals"]
    before = made.read_bytes()
    again = run("export", weights, "--format", "upstream-pt")
    assert again.exit_code == 2 and "best-upstream.pt already exists (use --force" in again.stderr
    assert made.read_bytes() == before
    assert run("export", weights, "--format", "upstream-pt", "--force").exit_code == 0


@pytest.mark.parametrize("extra, fragment", [
    (["--dynamic"], "--dynamic applies to the ONNX release bundle"),
    (["--img-size", "320"], "--img-size applies to the ONNX release bundle"),
    (["--version", "1.0.0"], "--version applies to the ONNX release bundle"),
])
def test_onnx_options_are_refused_with_upstream_pt(tmp_path, extra, fragment):
    result = run("export", DATA / "ours_yolov7-tiny.pt", "--format", "upstream-pt", "--out", tmp_path / "x.pt",
                 *extra)
    assert result.exit_code == 2 and fragment in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()


def test_a_fused_checkpoint_is_refused_in_one_line(tmp_path):
    deploy = tmp_path / "deploy.pt"
    assert run("reparam", DATA / "ours_yolov7-tiny.pt", "--out", deploy).exit_code == 0
    result = run("export", deploy, "--format", "upstream-pt", "--out", tmp_path / "x.pt")
    assert result.exit_code == 2 and "fused" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()


def test_onnx_still_needs_a_version(tmp_path):
    result = run("export", DATA / "ours_yolov7-tiny.pt", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "--version is required" in result.stderr


@pytest.mark.parametrize("arch", ARCHS)
def test_upstream_detect_py_draws_boxes_our_model_predicts(arch):
    """Upstream's detect.py, run on our upstream-pt file and data/upstream/detect.png, wrote label
    lines (class, centre and size over the image, confidence); each is a prediction of our model
    on the same pixels: same class, same confidence, the same box to detect.py's whole pixels."""
    import cv2

    rows = FACTS[arch]["detect_txt"]
    assert rows, "detect.py found nothing above its threshold: nothing to compare"
    bgr = cv2.imread(str(DATA / "detect.png"))
    x = torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1].transpose(2, 0, 1))).float()[None] / 255
    h, w = bgr.shape[:2]
    pred = outputs(load_checkpoint(DATA / f"ours_{arch}.pt").model, x)[0]
    conf, cls = (pred[:, 5:] * pred[:, 4:5]).max(1)
    xyxy = torch.cat([pred[:, :2] - pred[:, 2:4] / 2, pred[:, :2] + pred[:, 2:4] / 2], 1)
    xyxy = torch.stack([xyxy[:, 0].clamp(0, w), xyxy[:, 1].clamp(0, h), xyxy[:, 2].clamp(0, w),
                        xyxy[:, 3].clamp(0, h)], 1)
    scale = torch.tensor([w, h, w, h])
    ours = torch.cat([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], 1) / scale
    for c, *box, score in rows:
        same = (cls == int(c)) & ((conf - score).abs() < 2e-6)  # detect.py writes 6 digits
        same &= ((ours - torch.tensor(box)).abs() * scale <= 1.0).all(1)
        assert same.any(), f"detect.py's {c:g} {box} {score} is no prediction of ours"
    assert min(r[-1] for r in rows) >= FACTS[arch]["detect_conf_thres"]
