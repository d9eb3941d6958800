"""Export parity through onnxruntime for the real networks (small widths, small images)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from y7deploy.model.export import DEFAULT_OPSET, deepstream_layout, expected_rows, export_model, read_metadata
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
            pred = model(torch.from_numpy(x))[0]
        want = deepstream_layout(pred).numpy()
        assert np.abs(got[..., :4] - want[..., :4]).max() <= 1e-3 * max(size) * 10  # relative to training form
        assert np.abs(got[..., 4] - want[..., 4]).max() <= 1e-3
        assert_same_classes(got, want, pred)


def assert_same_classes(got: np.ndarray, want: np.ndarray, pred: torch.Tensor, gap: float = 1e-3) -> None:
    """The class column agrees wherever PyTorch's best class leads the second by more than ``gap``."""
    top2 = torch.topk(pred[..., 5:], k=2, dim=-1).values.numpy()
    decided = top2[..., 0] - top2[..., 1] > gap
    assert decided.mean() > 0.5, "the fixture's classes are near ties everywhere: nothing is compared"
    assert (got[..., 5][decided] == want[..., 5][decided]).all()
    assert set(np.unique(got[..., 5])) <= set(range(pred.shape[-1] - 5))


def test_already_deploy_model_exports_the_same(tmp_path, make_model):
    """Exporting the deploy form gives the graph that exporting the training form gives: both
    bundles, run by onnxruntime on the same images, answer the same in every column."""
    model = make_model("yolov7-tiny", nc=3, names=["a", "b", "c"]).eval()
    from_training = export_model(model, model.names, name="t", version="1", out=tmp_path, img_size=[64],
                                 reparameterize=reparameterize).release
    from_deploy = export_model(reparameterize(model), model.names, name="d", version="1", out=tmp_path,
                               img_size=[64], reparameterize=reparameterize).release
    x = np.random.default_rng(5).random((1, 3, 64, 64), dtype=np.float32)
    a, b = (ort.InferenceSession(str(r.model_path), providers=["CPUExecutionProvider"]).run(["output"], {"input": x})[0]
            for r in (from_training, from_deploy))
    assert a.shape == b.shape == (1, expected_rows((64, 64), [8, 16, 32]), 6)
    np.testing.assert_allclose(b[..., :5], a[..., :5], rtol=1e-5, atol=1e-4)
    with torch.no_grad():
        pred = model(torch.from_numpy(x))[0]
    assert_same_classes(b, a, pred)


def test_640_gives_deepstream_yolo_s_25200_rows(tmp_path, make_model):
    model = make_model("yolov7-tiny", nc=2, names=["a", "b"], width=0.0625).eval()
    rel = export_model(model, model.names, name="t", version="1", out=tmp_path, img_size=[640],
                       reparameterize=reparameterize).release
    assert rel.manifest["output"]["rows"] == 25200
    shapes = ort.InferenceSession(str(rel.model_path), providers=["CPUExecutionProvider"]).get_outputs()[0].shape
    assert shapes == [1, 25200, 6]


def test_head_whose_anchor_buffers_disagree_is_refused(tmp_path, make_model):
    """anchors (grid units, what the loss trained with) and anchor_grid (pixels, what the graph
    decodes with) changed apart: the export would draw boxes of other sizes than were trained."""
    from y7deploy.model.export import ExportError

    model = make_model("yolov7-tiny", nc=3, names=["a", "b", "c"]).eval()
    with torch.no_grad():
        model.model[-1].anchors.mul_(1.5)
    with pytest.raises(ExportError, match="anchors disagree.*nothing written"):
        export_model(model, model.names, name="t", version="1", out=tmp_path, img_size=[64],
                     reparameterize=reparameterize)
    assert not any(tmp_path.iterdir())
