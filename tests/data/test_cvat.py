import os
import stat
import zipfile

import cv2
import numpy as np
import pytest

from y7deploy.data.config import load_data_config
from y7deploy.data.cvat import import_dataset
from y7deploy.errors import UserError


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_good_zip(tmp_path, build):
    export = build.write_cvat_folder(tmp_path / "export", build.balanced_items(10))
    result = import_dataset(build.zip_folder(export, tmp_path / "task.zip"), tmp_path / "out", val_fraction=0.2, seed=0)
    out = tmp_path / "out"
    assert result.kind == "cvat" and result.names == ["cat", "dog"] and not result.problems
    assert (result.train_images, result.val_images) == (8, 2)
    assert len(_files(out / "train/images")) == 8 and len(_files(out / "val/labels")) == 2
    assert _files(out) == ["data.yaml", "train", "val"]  # the extracted zip is gone
    cfg = load_data_config(out / "data.yaml")
    assert cfg.nc == 2 and len(cfg.images("train")) == 8
    val_classes = {(out / "val/labels" / n).read_text().split()[0] for n in _files(out / "val/labels")}
    assert val_classes == {"0", "1"}  # both classes in val
    for name in _files(out / "train/images"):  # images bytes untouched
        assert (out / "train/images" / name).read_bytes() == (export / "obj_train_data" / name).read_bytes()


def test_folder_import_links_images(tmp_path, build):
    export = build.write_cvat_folder(tmp_path / "export", build.balanced_items(6))
    result = import_dataset(export, tmp_path / "out")
    assert result.linked == 6 and result.copied == 0
    some = next((tmp_path / "out/train/images").iterdir())
    assert some.stat().st_ino == (export / "obj_train_data" / some.name).stat().st_ino


def test_zip_with_a_top_folder(tmp_path, build):
    export = build.write_cvat_folder(tmp_path / "wrap" / "task_1", build.balanced_items(4))
    result = import_dataset(build.zip_folder(tmp_path / "wrap", tmp_path / "t.zip"), tmp_path / "out")
    assert result.train_images + result.val_images == 4
    assert export.exists()


def test_missing_obj_names(tmp_path, build):
    export = build.write_cvat_folder(tmp_path / "export", build.balanced_items(4), names=None)
    with pytest.raises(UserError, match="CVAT export without obj.names"):
        import_dataset(build.zip_folder(export, tmp_path / "t.zip"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert {p.name for p in tmp_path.iterdir()} == {"export", "t.zip"}  # no staging left behind


def test_bad_class_dropped_by_default_and_fatal_when_strict(tmp_path, build):
    items = build.balanced_items(6)
    items["img001.jpg"] = (build.solid_image(), "1 0.5 0.5 0.4 0.4\n5 0.5 0.5 0.2 0.2\n")
    export = build.write_cvat_folder(tmp_path / "export", items)
    zipped = build.zip_folder(export, tmp_path / "t.zip")
    with pytest.raises(UserError, match=r"t\.zip/obj_train_data/img001\.txt:2: class index out of range: 5"):
        import_dataset(zipped, tmp_path / "strict", strict=True)
    assert not (tmp_path / "strict").exists()
    result = import_dataset(zipped, tmp_path / "out")
    assert len(result.problems) == 1 and result.problems[0].line == 2
    written = list((tmp_path / "out").rglob("img001.txt"))[0].read_text().splitlines()
    assert written == ["1 0.500000 0.500000 0.400000 0.400000"]


@pytest.mark.parametrize("evil", ["../evil.txt", "/tmp/evil.txt", "obj_train_data/../../evil.txt"])
def test_traversal_in_zip_is_refused(tmp_path, evil, build):
    export = build.write_cvat_folder(tmp_path / "export", build.balanced_items(2))
    zipped = build.zip_folder(export, tmp_path / "t.zip")
    with zipfile.ZipFile(zipped, "a") as zf:
        zf.writestr(evil, "pwned")
    with pytest.raises(UserError, match="unsafe path in zip"):
        import_dataset(zipped, tmp_path / "sub" / "out")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "sub" / "out").exists() and not any((tmp_path / "sub").iterdir())


def test_symlink_in_zip_is_refused(tmp_path, build):
    export = build.write_cvat_folder(tmp_path / "export", build.balanced_items(2))
    zipped = build.zip_folder(export, tmp_path / "t.zip")
    with zipfile.ZipFile(zipped, "a") as zf:
        info = zipfile.ZipInfo("obj_train_data/link.jpg")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UserError, match="symbolic link in zip"):
        import_dataset(zipped, tmp_path / "out")


def test_not_a_zip(tmp_path, build):
    (tmp_path / "t.zip").write_text("hello")
    with pytest.raises(UserError, match="not a zip file"):
        import_dataset(tmp_path / "t.zip", tmp_path / "out")


def test_listed_image_missing_and_orphan_label(tmp_path, build):
    export = build.write_cvat_folder(tmp_path / "export", build.balanced_items(4))
    with open(export / "train.txt", "a") as f:
        f.write("data/obj_train_data/ghost.jpg\n")
    (export / "obj_train_data" / "stray.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    result = import_dataset(export, tmp_path / "out")
    messages = [str(p) for p in result.problems]
    assert any(m.startswith(f"{export / 'train.txt'}:5: listed image missing") for m in messages)
    assert any(m.startswith(f"{export / 'obj_train_data' / 'stray.txt'}: label without image") for m in messages)


def test_export_without_images(tmp_path, build):
    export = build.write_cvat_folder(tmp_path / "export", build.balanced_items(3))
    for image in (export / "obj_train_data").glob("*.jpg"):
        image.unlink()
    with pytest.raises(UserError, match="labels but no images"):
        import_dataset(export, tmp_path / "out")


def test_plain_images_labels_folder(tmp_path, build):
    src = tmp_path / "plain"
    for sub in ("a", "b"):  # the same file name in two folders
        (src / "images" / sub).mkdir(parents=True)
        (src / "labels" / sub).mkdir(parents=True)
        cv2.imwrite(str(src / "images" / sub / "0001.png"), np.zeros((20, 30, 3), np.uint8))
        (src / "labels" / sub / "0001.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    cv2.imwrite(str(src / "images" / "bg.png"), np.zeros((20, 30, 3), np.uint8))  # background
    (src / "classes.txt").write_text("thing\n")
    result = import_dataset(src, tmp_path / "out", val_fraction=0.34)
    assert result.kind == "folder" and result.names == ["thing"] and not result.problems
    all_images = sorted(p.name for p in (tmp_path / "out").rglob("images/*"))
    assert all_images == sorted(["images_a_0001_png.png", "images_b_0001_png.png", "bg.png"])
    assert [p.read_text() for p in (tmp_path / "out").rglob("labels/bg.txt")] == [""]


def test_plain_folder_without_names(tmp_path, build):
    (tmp_path / "plain" / "images").mkdir(parents=True)
    with pytest.raises(UserError, match="no class names"):
        import_dataset(tmp_path / "plain", tmp_path / "out")


def test_output_must_be_empty(tmp_path, build):
    export = build.write_cvat_folder(tmp_path / "export", build.balanced_items(2))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="output folder is not empty"):
        import_dataset(export, tmp_path / "out")
    assert os.listdir(tmp_path / "out") == ["keep.txt"]


def test_demo_zip_imports(demo_zip, tmp_path, build):
    result = import_dataset(demo_zip, tmp_path / "demo", seed=1)
    assert result.names == ["circle", "square", "triangle"] and not result.problems
    assert (result.train_images, result.val_images) == (32, 8)


def test_a_zip_without_obj_names_is_named_as_the_zip(tmp_path, build):
    export = build.write_cvat_folder(tmp_path / "export", build.balanced_items(2))
    (export / "obj.names").unlink()
    zipped = build.zip_folder(export, tmp_path / "t.zip")
    with pytest.raises(UserError) as info:
        import_dataset(zipped, tmp_path / "out")
    assert str(info.value).startswith(f"{zipped}: CVAT export without obj.names")
    assert f"{zipped}/obj.names" in str(info.value) and "_src" not in str(info.value)
