"""The model-side CLI: export, reparam, release list|show, and its errors (one line, exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from y7deploy.cli import cli
from y7deploy.model.trt_check import gpu_missing_reason
from y7deploy.release import write_release

INFO = {"input_size": [128, 128], "batch": 1, "dynamic_batch": False, "opset": 12}


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_user_error(result, *fragments: str):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def releases(tmp_path: Path, tiny_onnx) -> Path:
    root = tmp_path / "releases"
    blob = tiny_onnx(tmp_path / "m.onnx", size=(128, 128))
    for version in ("1.0.0", "1.1.0"):
        write_release(root, name="tiny", version=version, model_file=blob, names=["a", "b"], info=INFO)
    return root


def test_release_list_table_and_json(releases):
    result = run("release", "list", "--dir", releases)
    assert result.exit_code == 0
    assert "tiny-1.0.0" in result.output and "tiny-1.1.0" in result.output and "128x128" in result.output
    listed = json.loads(run("release", "list", "--dir", releases, "--json").output)
    assert {r["id"] for r in listed} == {"tiny-1.0.0", "tiny-1.1.0"} and all(r["ok"] for r in listed)


def test_release_show_verifies(releases):
    result = run("release", "show", "tiny-1.0.0", "--dir", releases)
    assert result.exit_code == 0 and "verified" in result.output and "a, b" in result.output
    manifest = json.loads(run("release", "show", "tiny-1.0.0", "--dir", releases, "--json").output)
    assert manifest["id"] == "tiny-1.0.0" and manifest["nc"] == 2

    (releases / "tiny-1.0.0" / "model.onnx").write_bytes(b"swapped")
    assert_user_error(run("release", "show", "tiny-1.0.0", "--dir", releases), "model.onnx", "sha256")
    listed = run("release", "list", "--dir", releases)
    assert listed.exit_code == 0 and "modified" in listed.output


def test_release_show_unknown(releases):
    assert_user_error(run("release", "show", "nope-1", "--dir", releases), "'nope-1' not found")


def test_export_missing_file(tmp_path):
    assert_user_error(run("export", tmp_path / "nope.pt", "--version", "1", "--out", tmp_path / "r"),
                      "nope.pt: no such checkpoint file")
    assert not (tmp_path / "r").exists()


def test_export_bad_version(tmp_path):
    assert_user_error(run("export", tmp_path / "x.pt", "--version", "../1", "--out", tmp_path / "r"),
                      "release version '../1'")


def test_release_room_needs_no_torch():
    """The fleet half reads bundles with the core install: no torch behind these imports."""
    code = "import sys, y7deploy.release, y7deploy.cli.model; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.skipif(gpu_missing_reason() is None, reason="a GPU is present: the no-GPU refusal cannot be shown")
def test_check_trt_without_gpu_says_so(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"never read: the GPU check comes first")
    assert_user_error(run("export", tmp_path / "x.pt", "--version", "1", "--check-trt", "--out", tmp_path / "r"),
                      "GPU")


# --------------------------------------------------------------------------- with real checkpoints


@pytest.fixture
def ckpt(tmp_path, make_model) -> Path:
    """A small yolov7-tiny in y7deploy's checkpoint format, as `y7deploy train` writes it."""
    import torch

    from y7deploy.model.checkpoint import save_checkpoint

    model = make_model("yolov7-tiny", nc=2, names=["cat", "dog"], width=0.125)
    with torch.no_grad():
        model.train()(torch.rand(2, 3, 64, 64))  # moves BN statistics as training would
    return save_checkpoint(tmp_path / "pets.pt", model.eval(), epoch=7, metrics={"mAP50": 0.42})


def test_export_y7deploy_checkpoint(tmp_path, ckpt):
    out = tmp_path / "releases"
    result = run("export", ckpt, "--version", "1.0.0", "--img-size", "96", "128", "--out", out)
    assert result.exit_code == 0, result.output + result.stderr
    assert "release pets-1.0.0 written" in result.output and "verified with onnxruntime" in result.output
    from y7deploy.release import open_release, sha256_file

    rel = open_release(out / "pets-1.0.0")
    assert rel.input_size == (96, 128) and rel.names == ["cat", "dog"] and rel.batch == 1
    assert rel.manifest["source"]["sha256"] == sha256_file(ckpt) and rel.manifest["source"]["epoch"] == 7
    assert rel.manifest["metrics"] == {"mAP50": 0.42}
    assert rel.labels_path.read_text() == "cat\ndog\n"
    from y7deploy import __version__

    m = rel.manifest  # every field issue 4 lists for the manifest
    assert (m["schema"], m["name"], m["version"], m["nc"], m["names"]) == (1, "pets", "1.0.0", 2, ["cat", "dog"])
    assert m["created"] and m["y7deploy_version"] == __version__ and m["opset"] == 12
    assert m["input_size"] == [96, 128] and m["batch"] == 1 and m["dynamic_batch"] is False
    assert set(m["files"]) == {"model.onnx", "labels.txt"}
    assert all(len(f["sha256"]) == 64 for f in m["files"].values())

    again = run("export", ckpt, "--version", "1.0.0", "--img-size", "96", "128", "--out", out)
    assert_user_error(again, "pets-1.0.0 already exists", "--force")
    forced = run("export", ckpt, "--version", "1.0.0", "--dynamic", "--img-size", "64", "--out", out, "--force",
                 "--name", "pets")
    assert forced.exit_code == 0, forced.stderr
    assert open_release(out / "pets-1.0.0").dynamic_batch


def test_export_img_size_not_multiple_of_stride(tmp_path, ckpt):
    result = run("export", ckpt, "--version", "1", "--img-size", "100", "--out", tmp_path / "r")
    assert_user_error(result, "--img-size 100", "max stride 32")
    assert not (tmp_path / "r").exists()


def test_export_not_a_checkpoint(tmp_path):
    bogus = tmp_path / "notes.pt"
    bogus.write_text("these are not weights\n")
    assert_user_error(run("export", bogus, "--version", "1", "--out", tmp_path / "r"), "notes.pt")
    assert not (tmp_path / "r").exists()


def test_export_names_nc_mismatch(tmp_path, ckpt):
    import torch

    data = torch.load(ckpt, weights_only=True)
    data["names"] = ["cat", "dog", "bird"]
    torch.save(data, tmp_path / "bad.pt")
    assert_user_error(run("export", tmp_path / "bad.pt", "--version", "1", "--out", tmp_path / "r"),
                      "bad.pt", "3 class names for nc=2")
    assert not (tmp_path / "r").exists()


def test_reparam_writes_a_deploy_checkpoint(tmp_path, ckpt):
    out = tmp_path / "deploy.pt"
    result = run("reparam", ckpt, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "reparameterized" in result.output
    from y7deploy.model.checkpoint import load_checkpoint
    from y7deploy.model.reparam import is_deploy_form

    deploy = load_checkpoint(out)
    assert is_deploy_form(deploy.model) and deploy.names == ["cat", "dog"]
    assert deploy.epoch == 7 and deploy.metrics == {"mAP50": 0.42}
    again = run("reparam", out, "--out", tmp_path / "deploy2.pt")
    assert again.exit_code == 0 and "already in deploy form" in again.output


def test_export_upstream_stripped_checkpoint(tmp_path):
    """A best.pt as upstream's train.py leaves it after strip_optimizer (written by upstream's code)."""
    import shutil

    best = tmp_path / "best.pt"
    shutil.copyfile(Path(__file__).parent / "data" / "upstream" / "yolov7-w6_best.pt", best)
    out = tmp_path / "releases"
    result = run("export", best, "--version", "2024.1", "--img-size", "64", "--simplify", "--out", out)
    assert result.exit_code == 0, result.stderr
    from y7deploy.release import open_release

    rel = open_release(out / "yolov7-w6-2024.1")  # best.pt says nothing: the name comes from the cfg
    assert rel.names == ["helmet", "head"] and rel.manifest["source"]["kind"] == "upstream-stripped"
    assert rel.manifest["simplified"] is True and rel.manifest["stride"] == [8, 16, 32, 64]


def test_export_plain_state_dict_needs_and_takes_cfg(tmp_path, make_model, make_cfg):
    import torch
    import yaml

    model = make_model("yolov7-tiny", nc=2)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    out = tmp_path / "r"
    assert_user_error(run("export", tmp_path / "weights.pt", "--version", "1", "--out", out), "--cfg")
    cfg = tmp_path / "tiny-small.yaml"
    cfg.write_text(yaml.safe_dump(make_cfg("yolov7-tiny")))
    result = run("export", tmp_path / "weights.pt", "--version", "1", "--img-size", "64", "--cfg", cfg, "--out", out)
    assert result.exit_code == 0, result.stderr
    from y7deploy.release import open_release

    rel = open_release(out / "tiny-small-1")  # "weights" says nothing: named after the cfg
    assert rel.names == ["0", "1"] and rel.manifest["source"]["kind"] == "state-dict"


class _Hostile:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_export_hostile_pickle_refused_in_one_line(tmp_path):
    import torch

    marker = tmp_path / "pwned"
    torch.save({"model": _Hostile(marker), "epoch": 1}, tmp_path / "evil.pt")
    assert_user_error(run("export", tmp_path / "evil.pt", "--version", "1", "--out", tmp_path / "r"),
                      "evil.pt", "refused", "posix.system")
    assert_user_error(run("reparam", tmp_path / "evil.pt", "--out", tmp_path / "d.pt"), "refused")
    assert not marker.exists() and not (tmp_path / "r").exists() and not (tmp_path / "d.pt").exists()
