"""Bad input to `train` and `val` is one `error:` line and exit 2, before any training starts."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from y7deploy.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(args))


def write_yaml(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture()
def bad_yamls(tmp_path, demo_data):
    good = yaml.safe_load(demo_data.read_text())
    base = demo_data.parent
    full = {**good, "train": str(base / good["train"]), "val": str(base / good["val"])}
    return {
        "missing": write_yaml(tmp_path / "missing.yaml", {k: v for k, v in full.items() if k != "val"}),
        "nc": write_yaml(tmp_path / "nc.yaml", {**full, "nc": full["nc"] + 1}),
        "empty": write_yaml(tmp_path / "empty.yaml", {**full, "train": str((tmp_path / "none").mkdir() or tmp_path / "none")}),
    }


@pytest.mark.parametrize("case, needle", [("missing", "missing key 'val'"), ("nc", "nc is 4 but names has 3"),
                                          ("empty", "empty dataset")])
def test_bad_data_yaml(bad_yamls, case, needle, tmp_path):
    r = run("train", "--data", str(bad_yamls[case]), "--cfg", "yolov7-tiny", "--epochs", "1",
            "--img-size", "64", "--device", "cpu", "--project", str(tmp_path / "runs"))
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and needle in r.output, r.output
    assert not (tmp_path / "runs").exists()  # nothing written for a run that never started


def test_img_size_not_multiple_of_32(demo_data, tmp_path):
    r = run("train", "--data", str(demo_data), "--cfg", "yolov7-tiny", "--img-size", "100", "--device", "cpu",
            "--project", str(tmp_path / "runs"))
    assert r.exit_code == 2 and "error: image size 100 is not a positive multiple of 32" in r.output, r.output


def test_unknown_cfg(demo_data, tmp_path):
    r = run("train", "--data", str(demo_data), "--cfg", "yolov9-huge", "--img-size", "64", "--device", "cpu",
            "--project", str(tmp_path / "runs"))
    assert r.exit_code == 2 and "error: --cfg 'yolov9-huge'" in r.output, r.output


def test_cuda_without_cuda(demo_data, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = run("train", "--data", str(demo_data), "--cfg", "yolov7-tiny", "--img-size", "64", "--device", "0",
            "--project", str(tmp_path / "runs"))
    assert r.exit_code == 2 and "--device '0'" in r.output and "CUDA is not available" in r.output, r.output


def test_missing_data_and_weights(tmp_path):
    r = run("train", "--cfg", "yolov7-tiny")
    assert r.exit_code == 2 and "error: --data is required" in r.output
    r = run("val", "--data", str(tmp_path / "nope.yaml"), "--weights", str(tmp_path / "nope.pt"))
    assert r.exit_code == 2 and "error: " in r.output


def test_resume_without_runs(tmp_path):
    r = run("train", "--resume", "--project", str(tmp_path / "runs"))
    assert r.exit_code == 2 and "no last.pt" in r.output, r.output
