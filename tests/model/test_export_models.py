"""Export parity through onnxruntime for the real networks (small widths, small images)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from y7deploy.model.export import DEFAULT_OPSET, DeepStreamOutput, expected_rows, export_model, read_metadata
from y7deploy.model.reparam import reparameterize

CASES = [  # arch, img size, export options
    ("yolov7-tiny", [128], {}),
    ("yolov7-tiny", [96, 160], {"dynamic": True}),
    ("yolov7-w6", [128], {"batch": 2}),
]


@pytest.mark.parametrize("arch,img_size,options", CASES, ids=["tiny-static", "tiny-dynamic", "w6-batch2"])
def test_export_parity(tmp_path, make_model, arch, img_size, options):
    model = make_model(arch, nc=3, names=["a", "b", "c"]).eval()
    result = export_model(model, model.names, name=arch, version="0.1", out=tmp_path, img_size=img_size,
                          reparameterize=reparameterize, source={"sha256": "ab" * 32}, **options)
    assert result.verification.ok, result.verification
    rel = result.release
    size = (img_size[0], img_size[-1])
    strides = [8, 16, 32, 64] if arch.endswith("w6") else [8, 16, 32]
    assert rel.manifest["stride"] == strides and rel.input_size == size
    assert rel.opset == DEFAULT_OPSET == onnx.load(str(rel.model_path)).opset_import[0].version
    assert read_metadata(rel.model_path)["source_sha256"] == "ab" * 32

    # The bundle's graph against the training-form model: export's own check compares with the
    # deploy model, this one also covers the reparameterization it ran.
    session = ort.InferenceSession(str(rel.model_path), providers=["CPUExecutionProvider"])
    for batch in (1, 2) if options.get("dynamic") else (options.get("batch", 1),):
        x = np.random.default_rng(batch).random((batch, 3, *size), dtype=np.float32)
        got = session.run(["output"], {"input": x})[0]
        assert got.shape == (batch, expected_rows(size, strides), 6)
        with torch.no_grad():
            want = DeepStreamOutput(model)(torch.from_numpy(x)).numpy()
        assert np.abs(got[..., :4] - want[..., :4]).max() <= 1e-3 * max(size) * 10  # relative to training form
        assert np.abs(got[..., 4] - want[..., 4]).max() <= 1e-3


def test_already_deploy_model_exports_the_same(tmp_path, make_model):
    model = make_model("yolov7-tiny", nc=3, names=["a", "b", "c"]).eval()
    deploy = reparameterize(model)
    first = export_model(deploy, model.names, name="d", version="1", out=tmp_path, img_size=[64],
                         reparameterize=reparameterize)
    assert first.verification.ok


def test_640_gives_deepstream_yolo_s_25200_rows(tmp_path, make_model):
    model = make_model("yolov7-tiny", nc=2, names=["a", "b"], width=0.0625).eval()
    rel = export_model(model, model.names, name="t", version="1", out=tmp_path, img_size=[640],
                       reparameterize=reparameterize).release
    assert rel.manifest["output"]["rows"] == 25200
    shapes = ort.InferenceSession(str(rel.model_path), providers=["CPUExecutionProvider"]).get_outputs()[0].shape
    assert shapes == [1, 25200, 6]
