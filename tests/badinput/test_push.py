"""Bad input to push, rollback and status: broken bundles and bad options stop before any device changes.

Every case runs the real CLI against the shared lab, with the cameras a push needs set,
and checks the one-line refusal and that every host's /opt/y7deploy is byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.lab

CAMERA = "file:///opt/nvidia/deepstream/deepstream/samples/streams/sample_1080p_h264.mp4"


@pytest.fixture
def fleet(tmp_path: Path, lab, bundle: Path) -> Path:
    """tmp_path holding inventory/ (the lab's hosts and a camera each) and releases/ (a good copy of the bundle)."""
    (tmp_path / "inventory" / "group_vars").mkdir(parents=True)
    shutil.copyfile(lab.inventory_path, tmp_path / "inventory" / "hosts.yml")
    (tmp_path / "inventory" / "group_vars" / "all.yml").write_text(yaml.safe_dump({"y7_sources": [CAMERA]}))
    shutil.copytree(bundle, tmp_path / "releases" / bundle.name)
    return tmp_path


@pytest.fixture
def refused_on_devices(y7, refused, snapshot, fleet_baseline, fleet, monkeypatch):
    monkeypatch.setenv("Y7DEPLOY_LEDGER", str(fleet / "ledger.sqlite"))

    def check(*args: str, needles: list[str]) -> str:
        line = refused(y7(*args, "-i", "inventory"), *needles)
        assert snapshot() == fleet_baseline
        return line

    return check


def _manifest_edit(release: Path, **fields) -> None:
    manifest = json.loads((release / "manifest.json").read_text())
    manifest.update(fields)
    (release / "manifest.json").write_text(json.dumps(manifest))


def test_push_refuses_a_bundle_whose_model_was_tampered_with(fleet, refused_on_devices):
    with open(fleet / "releases" / "shapes-1.0.0" / "model.onnx", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00tampered\x00")
    refused_on_devices("push", "shapes-1.0.0", "--releases", "releases",
                       needles=["releases/shapes-1.0.0/model.onnx", "sha256 does not match"])


def test_push_refuses_a_bundle_with_a_file_missing(fleet, refused_on_devices):
    (fleet / "releases" / "shapes-1.0.0" / "labels.txt").unlink()
    refused_on_devices("push", "shapes-1.0.0", "--releases", "releases",
                       needles=["releases/shapes-1.0.0/labels.txt", "missing"])


def test_push_refuses_a_manifest_from_a_newer_schema(fleet, refused_on_devices):
    _manifest_edit(fleet / "releases" / "shapes-1.0.0", schema=2)
    refused_on_devices("push", "shapes-1.0.0", "--releases", "releases",
                       needles=["releases/shapes-1.0.0/manifest.json", "schema 2", "upgrade"])


def test_push_refuses_a_manifest_naming_a_file_outside_the_bundle(fleet, refused_on_devices):
    release = fleet / "releases" / "shapes-1.0.0"
    manifest = json.loads((release / "manifest.json").read_text())
    manifest["files"]["../../../etc/cron.d/job"] = manifest["files"]["labels.txt"]
    (release / "manifest.json").write_text(json.dumps(manifest))
    refused_on_devices("push", "shapes-1.0.0", "--releases", "releases",
                       needles=["shapes-1.0.0/manifest.json", "'../../../etc/cron.d/job'"])


def test_push_refuses_a_model_that_is_not_onnx(fleet, refused_on_devices):
    """Rehashed, so the file check passes: the model check must catch it before any device does."""
    release = fleet / "releases" / "shapes-1.0.0"
    (release / "model.onnx").write_bytes(b"<html>a download that went wrong</html>\n")
    manifest = json.loads((release / "manifest.json").read_text())
    manifest["files"]["model.onnx"] = {"sha256": hashlib.sha256((release / "model.onnx").read_bytes()).hexdigest(),
                                       "size": (release / "model.onnx").stat().st_size}
    (release / "manifest.json").write_text(json.dumps(manifest))
    refused_on_devices("push", "shapes-1.0.0", "--releases", "releases",
                       needles=["releases/shapes-1.0.0/model.onnx", "not an ONNX model"])


def test_push_refuses_a_manifest_whose_opset_is_not_the_models(fleet, refused_on_devices):
    _manifest_edit(fleet / "releases" / "shapes-1.0.0", opset=11)
    refused_on_devices("push", "shapes-1.0.0", "--releases", "releases",
                       needles=["releases/shapes-1.0.0/model.onnx", "opset 12", "opset 11"])


PUSH_OPTIONS = {
    "release-unknown": (["shapes-9.9.9"], ["'shapes-9.9.9'"]),
    "max-fail-percentage-above-100": (["shapes-1.0.0", "--max-fail-percentage", "150"], ["--max-fail-percentage", "150"]),
    "max-fail-percentage-negative": (["shapes-1.0.0", "--max-fail-percentage", "-5"], ["--max-fail-percentage", "-5"]),
    "precision-unknown": (["shapes-1.0.0", "--precision", "fp8"], ["--precision", "'fp8'"]),
    "on-abort-unknown": (["shapes-1.0.0", "--on-abort", "maybe"], ["--on-abort", "'maybe'"]),
    "limit-matches-nothing": (["shapes-1.0.0", "--limit", "jetson99"], ["'jetson99'"]),
    "forks-zero": (["shapes-1.0.0", "--forks", "0"], ["--forks", "0"]),
    "release-missing-argument": ([], ["RELEASE"]),
    "serial-not-a-size": (["shapes-1.0.0", "--serial", "1,lots"], ["--serial", "'lots'"]),
    "lock-timeout-negative": (["shapes-1.0.0", "--lock-timeout", "-1"], ["--lock-timeout", "-1"]),
    "extra-vars-bad-json": (["shapes-1.0.0", "-e", '{"y7_min_fps": '], ["-e", "JSON"]),
}


@pytest.mark.parametrize("args, needles", PUSH_OPTIONS.values(), ids=PUSH_OPTIONS.keys())
def test_push_refuses_a_bad_option(fleet, refused_on_devices, args, needles):
    refused_on_devices("push", *args, "--releases", "releases", needles=needles)


def test_rollback_refuses_a_limit_that_matches_nothing(fleet, refused_on_devices):
    refused_on_devices("rollback", "--limit", "jetson99", needles=["'jetson99'"])


def test_status_refuses_a_bad_host_pattern(fleet, refused_on_devices):
    refused_on_devices("status", "--limit", "~jetson[", needles=["'~jetson['"])
