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
def releases(tmp_path: Path) -> Path:
    root = tmp_path / "releases"
    blob = tmp_path / "m.onnx"
    blob.write_bytes(b"onnx bytes")
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
