"""The DeepStream-Yolo head and the export/verify machinery, on a tiny detector of our own.

The detector keeps the forward contract of y7deploy.model (eval forward returns
(pred, raw), pred [B, N, 5+nc] in input pixels, sigmoided), so these tests pin the
export path without depending on the real network.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from y7deploy.errors import NotAvailable, UserError
from y7deploy.model.export import (
    DEFAULT_OPSET,
    DeepStreamOutput,
    ExportError,
    check_img_size,
    deepstream_layout,
    expected_rows,
    export_model,
    read_metadata,
)
from y7deploy.model.trt_check import gpu_missing_reason
from y7deploy.release import open_release

torch.set_num_threads(1)


class TinyDetector(nn.Module):
    """One patchify conv per level, decoded like YOLOv7's Detect (3 anchors per cell)."""

    def __init__(self, nc: int = 3, strides=(8, 16, 32)):
        super().__init__()
        self.nc, self.no = nc, nc + 5
        self.register_buffer("stride", torch.tensor(strides, dtype=torch.float32))
        self.levels = nn.ModuleList(nn.Conv2d(3, 3 * self.no, s, s) for s in strides)
        self.anchors = [torch.tensor([[10.0, 13], [16, 30], [33, 23]]) * (i + 1) for i in range(len(strides))]

    def forward(self, x):
        out, raw = [], []
        for conv, s, anchor in zip(self.levels, self.stride, self.anchors):
            y = conv(x)
            b, _, h, w = y.shape
            y = y.view(b, 3, self.no, h, w).permute(0, 1, 3, 4, 2).contiguous()
            raw.append(y)
            gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            grid = torch.stack((gx, gy), 2).view(1, 1, h, w, 2).float()
            y = y.sigmoid()
            xy = (y[..., 0:2] * 2 - 0.5 + grid) * s
            wh = (y[..., 2:4] * 2) ** 2 * anchor.view(1, 3, 1, 1, 2)
            out.append(torch.cat((xy, wh, y[..., 4:]), -1).view(b, -1, self.no))
        return torch.cat(out, 1), raw


def test_layout_converts_centre_size_and_scores():
    pred = torch.tensor([[[50.0, 40.0, 20.0, 10.0, 0.5, 0.1, 0.8, 0.3]]])
    out = deepstream_layout(pred)
    assert out.shape == (1, 1, 6)
    assert torch.allclose(out[0, 0], torch.tensor([40.0, 35.0, 60.0, 45.0, 0.4, 1.0]))


def test_rows_formula():
    assert expected_rows((640, 640), [8, 16, 32]) == 25200
    assert expected_rows((1280, 1280), [8, 16, 32, 64]) == 3 * (160**2 + 80**2 + 40**2 + 20**2)


def test_img_size_must_be_multiple_of_max_stride():
    assert check_img_size([640], 32) == (640, 640)
    assert check_img_size([384, 640], 64) == (384, 640)
    with pytest.raises(UserError, match="--img-size 100 is not a positive multiple of the model's max stride 32"):
        check_img_size([640, 100], 32)


def run_export(tmp_path, model, **kw):
    kw.setdefault("img_size", [64, 96])
    return export_model(model, ["a", "b", "c"], name="tiny", version="1", out=tmp_path / "releases", **kw)


@pytest.mark.parametrize("batch", [1, 2])
def test_static_export_parity_and_metadata(tmp_path, batch):
    result = run_export(tmp_path, TinyDetector().eval(), batch=batch)
    assert result.verification.ok and result.verification.batches == (batch,)
    rel = open_release(result.release.path)
    proto = onnx.load(str(rel.model_path))
    assert proto.opset_import[0].version == DEFAULT_OPSET == rel.opset
    assert [i.name for i in proto.graph.input] == ["input"] and [o.name for o in proto.graph.output] == ["output"]
    session = ort.InferenceSession(str(rel.model_path), providers=["CPUExecutionProvider"])
    rows = expected_rows((64, 96), [8, 16, 32])
    assert session.get_outputs()[0].shape == [batch, rows, 6]
    meta = read_metadata(rel.model_path)
    assert json.loads(meta["names"]) == ["a", "b", "c"] and json.loads(meta["nc"]) == 3
    assert json.loads(meta["stride"]) == [8, 16, 32] and json.loads(meta["img_size"]) == [64, 96]
    assert "source_sha256" in meta
    assert rel.manifest["output"]["rows"] == rows and rel.batch == batch
    assert rel.manifest["input"]["shape"] == [batch, 3, 64, 96]
    assert rel.manifest["output"]["parser"] == "NvDsInferParseYolo"


def test_dynamic_batch_runs_at_1_and_2(tmp_path):
    model = TinyDetector().eval()
    result = run_export(tmp_path, model, dynamic=True)
    assert result.verification.batches == (1, 2) and result.release.batch is None
    session = ort.InferenceSession(str(result.release.model_path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] == "batch"
    for b in (1, 2):
        x = np.random.default_rng(b).random((b, 3, 64, 96), dtype=np.float32)
        got = session.run(None, {"input": x})[0]
        with torch.no_grad():
            want = DeepStreamOutput(model)(torch.from_numpy(x)).numpy()
        assert got.shape == (b, expected_rows((64, 96), [8, 16, 32]), 6)
        assert np.abs(got[..., :5] - want[..., :5]).max() < 1e-3


@pytest.mark.parametrize("dynamic", [False, True])
def test_simplified_export_still_verifies(tmp_path, dynamic):
    result = run_export(tmp_path, TinyDetector().eval(), do_simplify=True, dynamic=dynamic)
    assert result.verification.ok and result.release.manifest["simplified"] is True
    proto = onnx.load(str(result.release.model_path))
    assert proto.opset_import[0].version == DEFAULT_OPSET and proto.ir_version == 7  # what TensorRT 8.2 reads


def test_graph_that_differs_from_pytorch_writes_nothing(tmp_path):
    """A hook that only acts while exporting puts a real mismatch into the graph."""
    model = TinyDetector().eval()

    def sabotage(module, args, output):
        if torch.onnx.is_in_onnx_export():
            return output * 1.5

    model.levels[1].register_forward_hook(sabotage)
    with pytest.raises(ExportError, match="disagrees with PyTorch.*nothing written"):
        run_export(tmp_path, model)
    assert not (tmp_path / "releases").exists() or not any((tmp_path / "releases").iterdir())


def test_names_must_match_model_classes(tmp_path):
    with pytest.raises(UserError, match="predicts 4 classes but has 3 names"):
        run_export(tmp_path, TinyDetector(nc=4).eval())


def test_batch_and_dynamic_exclude_each_other(tmp_path):
    with pytest.raises(UserError, match="exclude each other"):
        run_export(tmp_path, TinyDetector().eval(), batch=2, dynamic=True)


def test_opset_out_of_range(tmp_path):
    with pytest.raises(UserError, match="--opset 9"):
        run_export(tmp_path, TinyDetector().eval(), opset=9)


NO_GPU = gpu_missing_reason()


@pytest.mark.gpu
@pytest.mark.skipif(NO_GPU is not None, reason=NO_GPU or "")
def test_tensorrt_parses_and_builds(tmp_path):
    result = run_export(tmp_path, TinyDetector().eval(), check_trt=True, dynamic=True)
    assert "tensorrt" in result.seconds


@pytest.mark.skipif(NO_GPU is None, reason="a GPU is present")
def test_check_trt_without_gpu_is_not_available(tmp_path):
    with pytest.raises(NotAvailable, match="GPU|tensorrt"):
        run_export(tmp_path, TinyDetector().eval(), check_trt=True)
    assert not (tmp_path / "releases").exists()


def test_opset_override(tmp_path):
    result = run_export(tmp_path, TinyDetector().eval(), opset=13, dynamic=True)
    assert onnx.load(str(result.release.model_path)).opset_import[0].version == 13 == result.release.opset


def test_fp16_asks_devices_for_an_fp16_engine_and_keeps_the_onnx_float32(tmp_path):
    rel = run_export(tmp_path, TinyDetector().eval(), fp16=True).release
    assert rel.precision == "fp16" and rel.manifest["fp16"] is True
    proto = onnx.load(str(rel.model_path))
    assert {t.data_type for t in proto.graph.initializer if t.dims} == {onnx.TensorProto.FLOAT}


def test_default_release_name():
    from pathlib import Path

    from y7deploy.model.export import default_name

    assert default_name(Path("runs/train/exp/weights/best.pt"), "yolov7-tiny") == "yolov7-tiny"
    assert default_name(Path("best.pt"), None) == "best"
    assert default_name(Path("helmets v2 (final).pt"), "yolov7") == "helmets-v2-final"


@pytest.mark.parametrize("dynamic", [False, True])
def test_lab_trtexec_reads_the_input_binding(tmp_path, dynamic):
    """The lab's trtexec stand-in reads graph inputs the way trtexec does; our bundle must suit it."""
    from y7deploy.lab.standins.engine import onnx_inputs

    rel = run_export(tmp_path, TinyDetector().eval(), dynamic=dynamic, batch=1).release
    assert onnx_inputs(rel.model_path) == [("input", ["batch" if dynamic else 1, 3, 64, 96])]


@pytest.mark.parametrize("box_px, score, ok", [(0.05, 0.0, True), (0.2, 0.0, False), (0.0, 5e-4, False)])
def test_verification_limits_are_the_issue_s(tmp_path, box_px, score, ok):
    """Boxes within 1e-3 of the image size (0.096 px at 64x96), scores within 1e-4: a graph
    off by a little more than that is refused, a little less passes."""
    model = TinyDetector().eval()

    def nudge(module, args, output):
        if torch.onnx.is_in_onnx_export():
            pred, raw = output
            shift = torch.zeros(pred.shape[-1])
            shift[0], shift[4] = box_px, score
            return pred + shift, raw

    model.register_forward_hook(nudge)
    if ok:
        assert run_export(tmp_path, model).verification.ok
    else:
        with pytest.raises(ExportError, match="disagrees with PyTorch"):
            run_export(tmp_path, model)


def test_default_opset_is_one_every_lab_tensorrt_parses(tmp_path):
    """The default export goes through the lab's trtexec rule on every profile (TensorRT 8.2
    reads up to opset 13), and a --opset above 13 is one the JetPack 4.6 profile refuses."""
    from y7deploy.lab.profiles import PROFILES
    from y7deploy.lab.standins.engine import onnx_opset, opset_refusal

    default = run_export(tmp_path / "a", TinyDetector().eval()).release.model_path
    assert onnx_opset(default) == DEFAULT_OPSET
    assert all(opset_refusal(default, {"tensorrt": p.tensorrt}) is None for p in PROFILES.values())
    newer = run_export(tmp_path / "b", TinyDetector().eval(), opset=14).release.model_path
    refused = {name for name, p in PROFILES.items() if opset_refusal(newer, {"tensorrt": p.tensorrt})}
    assert refused == {"nano-jp461"}
