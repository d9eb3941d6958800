"""Bad input on the workstation half: data yaml, label files, CVAT zips, checkpoints, ONNX, CLI arguments.

Each case writes one malformed input, runs the real CLI and expects one line naming it.
None of these commands reach a device; what they must not do is write half an output.
"""

from __future__ import annotations

import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest

from y7deploy.data.demo import write_demo_dataset


@pytest.fixture(scope="module")
def demo_zip(tmp_path_factory) -> Path:
    return write_demo_dataset(tmp_path_factory.mktemp("demo") / "shapes.zip", n_images=8, img_size=64, seed=0)


@pytest.fixture
def image(demo_zip: Path) -> bytes:
    with zipfile.ZipFile(demo_zip) as z:
        return z.read(next(n for n in z.namelist() if n.endswith(".jpg")))


# --------------------------------------------------------------------------- data yaml

DATA_YAMLS = {
    "no-nc": ("train: images\nval: images\nnames: [a]\n", ["data.yaml", "'nc'"]),
    "nc-disagrees-with-names": ("train: images\nval: images\nnc: 2\nnames: [a]\n", ["data.yaml", "nc is 2", "1 entries"]),
    "nc-not-a-number": ("train: images\nval: images\nnc: two\nnames: [a, b]\n", ["data.yaml", "'two'"]),
    "train-path-missing": ("train: nowhere/images\nval: images\nnc: 1\nnames: [a]\n", ["data.yaml", "nowhere/images"]),
    "not-yaml": ("train: [unclosed\n", ["data.yaml", "line 1"]),
    "a-list": ("- train\n- val\n", ["data.yaml", "list"]),
}


@pytest.mark.parametrize("text, needles", DATA_YAMLS.values(), ids=DATA_YAMLS.keys())
def test_dataset_check_refuses_a_malformed_data_yaml(tmp_path, y7, refused, text, needles):
    (tmp_path / "images").mkdir()
    (tmp_path / "data.yaml").write_text(text)
    refused(y7("dataset", "check", "data.yaml"), *needles)


def test_train_refuses_a_malformed_data_yaml_before_building_anything(tmp_path, y7, refused):
    (tmp_path / "data.yaml").write_text(DATA_YAMLS["nc-disagrees-with-names"][0])
    refused(y7("train", "--data", "data.yaml", "--cfg", "yolov7-tiny", "--epochs", "1", "--project", "runs"),
            "data.yaml", "nc is 2")
    assert not (tmp_path / "runs").exists()


def test_preview_refuses_a_data_yaml_that_names_no_data(tmp_path, y7, refused):
    refused(y7("dataset", "preview", "missing.yaml", "--out", "p.png"), "missing.yaml")
    assert not (tmp_path / "p.png").exists()


TRAINING = {
    "cfg-missing": (["--cfg", "yolov9-huge.yaml"], ["'yolov9-huge.yaml'"]),
    "cfg-not-a-model": (["--cfg", "model.yaml"], ["model.yaml", "backbone"]),
    "hyp-missing": (["--hyp", "hyp.nothere.yaml"], ["hyp.nothere.yaml"]),
    "hyp-not-yaml": (["--hyp", "hyp.yaml"], ["hyp.yaml", "YAML"]),
    "batch-size-zero": (["--batch-size", "0"], ["--batch-size 0"]),
    "epochs-negative": (["--epochs", "-3"], ["--epochs -3"]),
}


@pytest.mark.parametrize("args, needles", TRAINING.values(), ids=TRAINING.keys())
def test_train_refuses_bad_settings_before_writing_a_run(tmp_path, y7, refused, demo_zip, args, needles):
    assert y7("dataset", "import", str(demo_zip), "--out", "ds").returncode == 0
    (tmp_path / "model.yaml").write_text("nc: 3\ndepth_multiple: 1.0\n")
    (tmp_path / "hyp.yaml").write_text("lr0: [0.01\n")
    options = dict(zip(["--cfg", "--epochs"], ["yolov7-tiny", "1"]))
    options.update(zip(args[::2], args[1::2]))
    refused(y7("train", "--data", str(tmp_path / "ds" / "data.yaml"), "--img-size", "64", "--project", "runs",
               *[x for kv in options.items() for x in kv]), *needles)
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------- label files (--strict)

LABELS = {
    "class-out-of-range": ("7 0.5 0.5 0.1 0.1\n", ["a.txt:1", "class index", "7"]),
    "four-fields": ("0 0.5 0.5 0.1\n", ["a.txt:1", "expected 5", "got 4"]),
    "coordinate-above-one": ("0 0.5 0.5 0.1 0.1\n0 1.5 0.5 0.1 0.1\n", ["a.txt:2", "1.5"]),
    "not-a-number": ("0 x 0.5 0.1 0.1\n", ["a.txt:1", "not a number"]),
    "nan-coordinate": ("0 nan 0.5 0.1 0.1\n", ["a.txt:1", "nan"]),
    "zero-area-box": ("0 0.5 0.5 0 0\n", ["a.txt:1", "zero-area"]),
    "not-text": (b"\xff\xfe\x00garbage", ["a.txt", "unreadable"]),
}


@pytest.mark.parametrize("content, needles", LABELS.values(), ids=LABELS.keys())
def test_strict_import_refuses_a_bad_label_line_naming_file_and_line(tmp_path, y7, refused, image, content, needles):
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    (src / "images" / "a.jpg").write_bytes(image)
    label = src / "labels" / "a.txt"
    label.write_bytes(content) if isinstance(content, bytes) else label.write_text(content)
    (src / "classes.txt").write_text("a\nb\nc\n")
    refused(y7("dataset", "import", "src", "--out", "ds", "--strict"), *needles)
    assert not (tmp_path / "ds").exists()


# --------------------------------------------------------------------------- CVAT zips

def _zip(path: Path, members: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)


def test_import_refuses_a_file_that_is_not_a_zip(tmp_path, y7, refused):
    (tmp_path / "export.zip").write_text("this is not a zip")
    refused(y7("dataset", "import", "export.zip", "--out", "ds"), "export.zip", "not a zip")
    assert not (tmp_path / "ds").exists()


def test_import_refuses_a_truncated_zip(tmp_path, y7, refused, demo_zip):
    (tmp_path / "export.zip").write_bytes(demo_zip.read_bytes()[:2000])
    refused(y7("dataset", "import", "export.zip", "--out", "ds"), "export.zip")
    assert not (tmp_path / "ds").exists()


def test_import_refuses_a_zip_member_that_climbs_out(tmp_path, y7, refused):
    _zip(tmp_path / "export.zip", {"obj.names": "a\n", "../../escaped.txt": "x"})
    refused(y7("dataset", "import", "export.zip", "--out", "ds"), "export.zip", "../../escaped.txt")
    assert not (tmp_path / "ds").exists() and not (tmp_path.parent / "escaped.txt").exists()


def test_import_refuses_an_export_with_an_empty_class_list(tmp_path, y7, refused):
    _zip(tmp_path / "export.zip", {"obj.names": "", "obj.data": "classes = 0\n", "train.txt": ""})
    refused(y7("dataset", "import", "export.zip", "--out", "ds"), "obj.names", "no class names")
    assert not (tmp_path / "ds").exists()


def test_import_refuses_a_val_fraction_out_of_range(tmp_path, y7, refused, demo_zip):
    refused(y7("dataset", "import", str(demo_zip), "--out", "ds", "--val-fraction", "1.5"), "--val-fraction", "1.5")
    assert not (tmp_path / "ds").exists()


def test_import_refuses_a_missing_source(tmp_path, y7, refused):
    refused(y7("dataset", "import", "nothere.zip", "--out", "ds"), "nothere.zip")


# --------------------------------------------------------------------------- checkpoints and ONNX

class _Hostile:
    """Unpickling this runs a shell command: the classic malicious checkpoint."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_hostile_pickle_is_refused_and_nothing_in_it_runs(tmp_path, y7, refused):
    import torch

    marker = tmp_path / "pwned"
    torch.save({"model": _Hostile(marker), "epoch": 1}, tmp_path / "best.pt")
    for args in (["export", "best.pt", "--version", "1.0.0", "--out", "releases"],
                 ["reparam", "best.pt", "--out", "deploy.pt"]):
        refused(y7(*args), "best.pt", "system")
    assert not marker.exists()
    assert not (tmp_path / "releases").exists() and not (tmp_path / "deploy.pt").exists()


def test_a_plain_pickle_outside_torch_zip_is_screened_too(tmp_path, y7, refused):
    marker = tmp_path / "pwned"
    (tmp_path / "old.pt").write_bytes(pickle.dumps({"model": _Hostile(marker)}))
    refused(y7("export", "old.pt", "--version", "1.0.0"), "old.pt", "refused")
    assert not marker.exists()


CHECKPOINTS = {
    "random-bytes": (os.urandom(4096), ["w.pt", "not a PyTorch checkpoint"]),
    "empty-file": (b"", ["w.pt", "not a PyTorch checkpoint"]),
}


@pytest.mark.parametrize("content, needles", CHECKPOINTS.values(), ids=CHECKPOINTS.keys())
def test_export_refuses_a_file_that_is_not_a_checkpoint(tmp_path, y7, refused, content, needles):
    (tmp_path / "w.pt").write_bytes(content)
    refused(y7("export", "w.pt", "--version", "1.0.0", "--out", "releases"), *needles)
    assert not (tmp_path / "releases").exists()


def test_export_refuses_a_checkpoint_without_a_model(tmp_path, y7, refused):
    import torch

    torch.save({"epoch": 3, "optimizer": None}, tmp_path / "last.pt")
    refused(y7("export", "last.pt", "--version", "1.0.0"), "last.pt", "not a YOLOv7 checkpoint")


def test_export_refuses_an_onnx_file_given_as_weights(tmp_path, y7, refused, bundle):
    shutil.copyfile(bundle / "model.onnx", tmp_path / "model.onnx")
    refused(y7("export", "model.onnx", "--version", "2.0.0", "--out", "releases"), "model.onnx",
            "not a PyTorch checkpoint")
    assert not (tmp_path / "releases").exists()


EXPORT_OPTIONS = {
    "opset-out-of-range": (["--opset", "20"], ["--opset 20", "11..17"]),
    "batch-and-dynamic": (["--batch", "2", "--dynamic"], ["--batch 2", "--dynamic"]),
}  # each case costs a CLI start with torch (~20 s on the loaded 2-core machine): the two that need a checkpoint


@pytest.mark.parametrize("args, needles", EXPORT_OPTIONS.values(), ids=EXPORT_OPTIONS.keys())
def test_export_refuses_a_bad_option_before_writing_a_release(tmp_path, y7, refused, bundle, args, needles):
    shutil.copyfile(bundle.parent.parent / "tiny.pt", tmp_path / "tiny.pt")
    refused(y7("export", "tiny.pt", "--cfg", "yolov7-tiny", "--version", "2.0.0", "--out", "releases", *args),
            *needles)  # a later --cfg wins, as click reads a repeated option
    assert not (tmp_path / "releases").exists()


# --------------------------------------------------------------------------- CLI arguments

ARGUMENTS = {
    "unknown-command": (["deploy-everything"], ["'deploy-everything'"]),
    "unknown-option": (["play", "site.yml", "-i", "hosts", "--bogus"], ["--bogus"]),
    "forks-out-of-range": (["play", "site.yml", "-i", "hosts", "--forks", "0"], ["--forks", "0"]),
    "missing-argument": (["dataset", "import", "--out", "ds"], ["SRC"]),
    "val-fraction-not-a-number": (["dataset", "import", "x.zip", "--out", "ds", "--val-fraction", "half"],
                                  ["--val-fraction", "half"]),
    "img-size-not-a-size": (["export", "w.pt", "--version", "1", "--img-size", "big"], ["--img-size", "big"]),
    "version-with-a-path": (["export", "w.pt", "--version", "../../etc"], ["'../../etc'"]),
    "epochs-zero": (["train", "--data", "d.yaml", "--epochs", "0"], ["--epochs", "0"]),
    "unknown-lab-profile": (["lab", "up", "--name", "badinput", "--profile", "tx2-jp32"], ["--profile", "tx2-jp32"]),
    "unknown-fault": (["lab", "fault", "jetson01", "meteor"], ["'meteor'"]),
    "lab-name-unsafe": (["lab", "status", "--name", "../x"], ["'../x'"]),
    "limit-bad-regex": (["inventory", "-i", "hosts.yml", "--list", "--limit", "~["], ["'~['"]),
    "release-unknown": (["release", "show", "nothere-1.0.0", "--dir", "releases"], ["'nothere-1.0.0'"]),
}


@pytest.mark.parametrize("args, needles", ARGUMENTS.values(), ids=ARGUMENTS.keys())
def test_a_bad_argument_is_one_line(tmp_path, y7, refused, args, needles):
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    h1:\n")
    refused(y7(*args), *needles)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hosts.yml"]
