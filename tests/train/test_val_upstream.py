"""`y7deploy val` scores as upstream's test.py does, at any batch size; `--coco` is pycocotools.

eval/upstream.json holds what upstream's own test.py printed for eval/weights.pt on eval/
(made by data/upstream/eval_upstream.py from a checkout of WongKinYiu/yolov7). test.py gives
each image its own letterbox rectangle only at batch size 1; at larger batches it pads mixed
aspect ratios to the batch's widest, so its batch-1 numbers are the ones to meet.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from y7deploy.cli import cli

EVAL = Path(__file__).parent / "data" / "upstream" / "eval"
UPSTREAM = json.loads((EVAL / "upstream.json").read_text())


@pytest.fixture(scope="module")
def eval_yaml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("eval") / "data.yaml"
    images = str(EVAL / "images")
    path.write_text(yaml.safe_dump({"train": images, "val": images, "nc": 3, "names": ["circle", "square", "triangle"]}))
    return path


def val(eval_yaml: Path, *extra: str) -> tuple[float, float, str]:
    r = CliRunner().invoke(cli, ["val", "--data", str(eval_yaml), "--weights", str(EVAL / "weights.pt"),
                                 "--img-size", str(UPSTREAM["img_size"]), "--device", "cpu", "--workers", "0", *extra])
    assert r.exit_code == 0, r.output
    found = re.search(r"mAP@0.5 ([\d.]+)  mAP@0.5:0.95 ([\d.]+)", r.output)
    return float(found[1]), float(found[2]), r.output


@pytest.fixture(scope="module")
def by_batch_size(eval_yaml) -> dict[int, tuple[float, float]]:
    return {bs: val(eval_yaml, "--batch-size", str(bs))[:2] for bs in (1, 5, 32)}


def test_val_equals_upstream_test_py(by_batch_size):
    upstream = UPSTREAM["by_batch_size"]["1"]
    assert upstream["mAP_0.5"] > 0.1  # a detector that finds things, so the matching rules matter
    for map50, map5095 in by_batch_size.values():
        assert map50 == pytest.approx(upstream["mAP_0.5"], abs=0.005)
        assert map5095 == pytest.approx(upstream["mAP_0.5:0.95"], abs=0.005)


def test_val_does_not_depend_on_batch_size(by_batch_size):
    values = np.array(list(by_batch_size.values()))
    assert (values.max(0) - values.min(0) <= 0.002).all(), by_batch_size


def test_coco_flag_reports_pycocotools(eval_yaml):
    pytest.importorskip("pycocotools")
    _, _, output = val(eval_yaml, "--coco")
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]" in output
    found = re.search(r"COCO \(pycocotools\): mAP@0.5 ([\d.]+)  mAP@0.5:0.95 ([\d.]+)", output)
    assert 0 < float(found[2]) <= float(found[1]) <= 1


def test_coco_evaluate_by_hand():
    """Perfect boxes score 1; finding one of two labels at the top of the ranking scores COCO's
    51 of 101 recall points at every IoU threshold."""
    pytest.importorskip("pycocotools")
    from y7deploy.train.coco import coco_evaluate

    labels = np.array([[0, 10, 10, 50, 50], [1, 60, 60, 90, 100]], dtype=float)
    perfect = np.array([[10, 10, 50, 50, 0.9, 0], [60, 60, 90, 100, 0.8, 1]], dtype=float)
    result = coco_evaluate([((120, 120), perfect, labels)], nc=2)
    assert result.map == pytest.approx(1.0) and result.map50 == pytest.approx(1.0)
    two_of_class0 = np.array([[0, 10, 10, 50, 50], [0, 60, 60, 90, 100]], dtype=float)
    half = np.array([[10, 10, 50, 50, 0.9, 0]], dtype=float)
    result = coco_evaluate([((120, 120), half, two_of_class0)], nc=1)
    assert result.map50 == pytest.approx(51 / 101) and result.map == pytest.approx(51 / 101)
