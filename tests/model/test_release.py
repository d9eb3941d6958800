"""Release bundles: atomic, immutable, verified on read (files, and the model against its manifest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from y7deploy.errors import UserError
from y7deploy.release import (
    find_release,
    list_releases,
    open_release,
    release_id,
    sha256_file,
    write_release,
)

INFO = {"input_size": [640, 640], "batch": 1, "dynamic_batch": False, "opset": 12, "stride": [8, 16, 32]}


@pytest.fixture
def onnx_file(tmp_path: Path, tiny_onnx) -> Path:
    return tiny_onnx(tmp_path / "exported.onnx")


def make(root: Path, onnx_file: Path, version: str = "1.0.0", **kw):
    return write_release(root, name="yolov7-tiny", version=version, model_file=onnx_file,
                         names=["person", "car"], info=INFO, **kw)


def test_bundle_has_files_hashes_and_manifest(tmp_path, onnx_file):
    rel = make(tmp_path / "releases", onnx_file)
    assert rel.id == "yolov7-tiny-1.0.0"
    assert rel.path == tmp_path / "releases" / "yolov7-tiny-1.0.0"
    assert sorted(p.name for p in rel.path.iterdir()) == ["labels.txt", "manifest.json", "model.onnx"]
    assert rel.labels_path.read_text() == "person\ncar\n"
    manifest = json.loads((rel.path / "manifest.json").read_text())
    assert manifest["schema"] == 1 and manifest["nc"] == 2 and manifest["names"] == ["person", "car"]
    assert manifest["created"].endswith("Z")
    assert manifest["files"]["model.onnx"]["sha256"] == sha256_file(onnx_file)
    assert manifest["files"]["labels.txt"]["sha256"] == sha256_file(rel.labels_path)
    assert rel.input_size == (640, 640) and rel.batch == 1 and rel.opset == 12
    assert not [p for p in (tmp_path / "releases").iterdir() if p.name.startswith(".")]


def test_existing_version_is_never_overwritten(tmp_path, onnx_file, tiny_onnx):
    root = tmp_path / "releases"
    first = make(root, onnx_file)
    before = (first.path / "manifest.json").read_bytes()
    tiny_onnx(onnx_file, graph="different")
    with pytest.raises(UserError, match="already exists.*--force"):
        make(root, onnx_file)
    assert (first.path / "manifest.json").read_bytes() == before
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_force_replaces_explicitly(tmp_path, onnx_file, tiny_onnx):
    root = tmp_path / "releases"
    make(root, onnx_file)
    different = tiny_onnx(onnx_file, graph="different").read_bytes()
    rel = make(root, onnx_file, force=True)
    assert rel.model_path.read_bytes() == different
    assert open_release(rel.path).manifest["files"]["model.onnx"]["sha256"] == sha256_file(onnx_file)
    assert sorted(p.name for p in root.iterdir()) == ["yolov7-tiny-1.0.0"]


@pytest.mark.parametrize("victim", ["model.onnx", "labels.txt"])
def test_tampered_bundle_is_refused(tmp_path, onnx_file, victim):
    rel = make(tmp_path / "releases", onnx_file)
    with open(rel.path / victim, "ab") as f:
        f.write(b"x")
    with pytest.raises(UserError, match=f"{victim}: sha256 does not match"):
        open_release(rel.path)


def test_manifest_edit_that_contradicts_labels_is_refused(tmp_path, onnx_file):
    rel = make(tmp_path / "releases", onnx_file)
    manifest = json.loads((rel.path / "manifest.json").read_text())
    manifest["names"] = ["person", "truck"]
    (rel.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="disagree with labels.txt"):
        open_release(rel.path)


def test_missing_file_and_not_a_bundle(tmp_path, onnx_file):
    rel = make(tmp_path / "releases", onnx_file)
    rel.model_path.unlink()
    with pytest.raises(UserError, match="model.onnx: listed in the manifest but missing"):
        open_release(rel.path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="manifest.json: missing"):
        open_release(tmp_path / "empty")


def test_list_and_find(tmp_path, onnx_file):
    root = tmp_path / "releases"
    make(root, onnx_file, "1.0.0")
    broken = make(root, onnx_file, "1.0.1")
    broken.labels_path.write_text("nope\n")
    listed = {r.path.name: r for r in list_releases(root)}
    assert listed["yolov7-tiny-1.0.0"].release is not None
    assert listed["yolov7-tiny-1.0.1"].release is None and "labels.txt" in listed["yolov7-tiny-1.0.1"].problem
    assert find_release(root, "yolov7-tiny-1.0.0").version == "1.0.0"
    with pytest.raises(UserError, match="not found"):
        find_release(root, "yolov7-tiny-9")
    assert list_releases(tmp_path / "nowhere") == []


def _rehash(rel_path: Path) -> None:
    """Make the manifest list model.onnx as it now is: the file check passes, the model check must not."""
    manifest = json.loads((rel_path / "manifest.json").read_text())
    model = rel_path / "model.onnx"
    manifest["files"]["model.onnx"] = {"sha256": sha256_file(model), "size": model.stat().st_size}
    (rel_path / "manifest.json").write_text(json.dumps(manifest))


MODELS = {
    "not-onnx": (dict(), b"not an onnx file", "not an ONNX model"),
    "other-opset": (dict(opset=13), None, "imports opset 13, its manifest records opset 12"),
    "other-names": (dict(names=("images", "output0")), None, "['images'] -> ['output0']"),
    "other-size": (dict(size=(320, 320)), None, "has shape [1, 3, 320, 320], the manifest records [1, 3, 640, 640]"),
    "dynamic-for-static": (dict(batch=None), None, "the manifest records [1, 3, 640, 640]"),
}


@pytest.mark.parametrize("model, junk, message", MODELS.values(), ids=MODELS.keys())
def test_a_model_its_manifest_does_not_describe_is_refused(tmp_path, onnx_file, tiny_onnx, model, junk, message):
    rel = make(tmp_path / "releases", onnx_file)
    if junk is not None:
        rel.model_path.write_bytes(junk)
    else:
        tiny_onnx(rel.model_path, **model)
    _rehash(rel.path)
    with pytest.raises(UserError, match="model.onnx: ") as refused:
        open_release(rel.path)
    assert message in str(refused.value)


def test_a_dynamic_batch_model_matches_a_manifest_without_a_batch(tmp_path, tiny_onnx):
    model = tiny_onnx(tmp_path / "dyn.onnx", batch=None)
    rel = write_release(tmp_path / "releases", name="yolov7-tiny", version="1.0.0", model_file=model,
                        names=["person", "car"], info={**INFO, "batch": None, "dynamic_batch": True})
    assert open_release(rel.path).dynamic_batch


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "v 1", "-1"])
def test_unsafe_version_refused(bad):
    with pytest.raises(UserError, match="release version"):
        release_id("yolov7", bad)


def test_racing_writer_does_not_clobber(tmp_path, onnx_file, monkeypatch):
    """A second writer that finds the id taken at rename time gets a UserError, the first bundle stays."""
    import y7deploy.release as release

    root = tmp_path / "releases"
    first = make(root, onnx_file)
    real_exists = Path.exists  # the check before writing misses the bundle, as if it landed just after
    monkeypatch.setattr(release.Path, "exists", lambda self: False if self == first.path else real_exists(self))
    with pytest.raises(UserError, match="appeared at"):
        make(root, onnx_file)
    monkeypatch.undo()
    assert open_release(first.path).id == "yolov7-tiny-1.0.0"
    assert sorted(p.name for p in root.iterdir()) == ["yolov7-tiny-1.0.0"]


def test_release_module_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, y7deploy.release; sys.exit('torch' in sys.modules or 'onnx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("batch, opset", [(1, 12), (None, 13), (4, 17)])
def test_the_header_reader_agrees_with_the_onnx_package(tmp_path, tiny_onnx, batch, opset):
    onnx = pytest.importorskip("onnx")
    from y7deploy.onnx_header import read_onnx_header

    file = tiny_onnx(tmp_path / "m.onnx", size=(96, 128), batch=batch, opset=opset)
    model = onnx.load(file)

    def dims(value_info):
        return tuple(d.dim_value if d.HasField("dim_value") else d.dim_param
                     for d in value_info.type.tensor_type.shape.dim)

    header = read_onnx_header(file)
    assert header.opset == next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    assert header.ir_version == model.ir_version and header.nodes == len(model.graph.node)
    weights = {t.name for t in model.graph.initializer}
    assert [(t.name, t.shape) for t in header.inputs] == [(i.name, dims(i)) for i in model.graph.input
                                                          if i.name not in weights]
    assert [(t.name, t.shape) for t in header.outputs] == [(o.name, dims(o)) for o in model.graph.output]
