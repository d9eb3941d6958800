from pathlib import Path

import pytest

from y7deploy.data.config import load_data_config
from y7deploy.errors import UserError


def _layout(tmp_path, with_images=True):
    for split in ("train", "val"):
        (tmp_path / split / "images").mkdir(parents=True)
        if with_images:
            (tmp_path / split / "images" / "a.jpg").write_bytes(b"x")
    return tmp_path


def test_paths_resolve_relative_to_the_yaml(tmp_path, monkeypatch):
    _layout(tmp_path)
    y = tmp_path / "data.yaml"
    y.write_text("train: train/images\nval: val/images\nnc: 2\nnames: [a, b]\n")
    monkeypatch.chdir("/")
    cfg = load_data_config(y)
    assert cfg.train == (tmp_path / "train/images",) and cfg.names == ("a", "b") and cfg.nc == 2
    assert cfg.images("val") == [tmp_path / "val/images/a.jpg"]


def test_txt_list_and_dict_names(tmp_path):
    _layout(tmp_path)
    (tmp_path / "train.txt").write_text("./train/images/a.jpg\n")
    y = tmp_path / "data.yaml"
    y.write_text("train: train.txt\nval: [val/images]\nnc: 1\nnames: {0: thing}\n")
    cfg = load_data_config(y)
    assert cfg.images("train")[0].resolve() == (tmp_path / "train/images/a.jpg").resolve()
    assert cfg.names == ("thing",)


@pytest.mark.parametrize("text, message", [
    ("val: v\nnc: 1\nnames: [a]\n", "missing key 'train'"),
    ("train: t\nval: v\nnames: [a]\n", "missing key 'nc'"),
    ("train: t\nval: v\nnc: 1\n", "missing key 'names'"),
    ("train: train/images\nval: val/images\nnc: 3\nnames: [a, b]\n", "nc is 3 but names has 2 entries"),
    ("- just\n- a list\n", "expected a mapping"),
    ("train: [unclosed\n", "not valid YAML"),
])
def test_bad_yaml(tmp_path, text, message):
    _layout(tmp_path)
    y = tmp_path / "data.yaml"
    y.write_text(text)
    with pytest.raises(UserError, match=message) as info:
        load_data_config(y)
    assert str(y) in str(info.value)


def test_empty_dataset(tmp_path):
    _layout(tmp_path, with_images=False)
    y = tmp_path / "data.yaml"
    y.write_text("train: train/images\nval: val/images\nnc: 1\nnames: [a]\n")
    with pytest.raises(UserError, match="empty dataset: no images in train"):
        load_data_config(y)


def test_missing_folder(tmp_path):
    y = tmp_path / "data.yaml"
    y.write_text("train: nowhere\nval: nowhere\nnc: 1\nnames: [a]\n")
    with pytest.raises(UserError, match="train path does not exist"):
        load_data_config(y)


def test_upstream_cwd_relative_paths_still_work(tmp_path, monkeypatch):
    _layout(tmp_path)
    (tmp_path / "cfg").mkdir()
    y = tmp_path / "cfg" / "data.yaml"
    y.write_text("train: ./train/images\nval: ./val/images\nnc: 1\nnames: [a]\n")
    monkeypatch.chdir(tmp_path)
    assert load_data_config(y).train == ((tmp_path / "train/images").resolve(),)


def test_a_relative_yaml_path_with_a_folder_part_resolves_once(tmp_path, monkeypatch):
    _layout(tmp_path / "datasets" / "shapes")
    (tmp_path / "datasets/shapes/data.yaml").write_text("train: train/images\nval: val/images\nnc: 1\nnames: [a]\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_data_config("datasets/shapes/data.yaml")
    assert cfg.images("train") == [Path("datasets/shapes/train/images/a.jpg")]


def test_a_path_key_is_a_root_relative_to_the_yaml(tmp_path, monkeypatch):
    _layout(tmp_path / "root")
    (tmp_path / "data.yaml").write_text("path: root\ntrain: train/images\nval: val/images\nnc: 1\nnames: [a]\n")
    monkeypatch.chdir("/")
    assert load_data_config(tmp_path / "data.yaml").train == (tmp_path / "root/train/images",)
