"""The `dataset` commands through click, as a user runs them."""

import zipfile

from click.testing import CliRunner

from y7deploy.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


def test_import_check_preview(demo_zip, tmp_path):
    result = run("dataset", "import", demo_zip, "--out", tmp_path / "ds", "--val-fraction", 0.25, "--seed", 3)
    assert result.exit_code == 0, result.output
    assert "30 train + 10 val images, 3 classes (circle, square, triangle)" in result.output
    result = run("dataset", "check", tmp_path / "ds" / "data.yaml")
    assert result.exit_code == 0, result.output
    for row in ("images", "empty images", "boxes: circle", "boxes: triangle", "median box"):
        assert row in result.output
    result = run("dataset", "preview", tmp_path / "ds" / "data.yaml", "--out", tmp_path / "p.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _broken_export(tmp_path, build):
    items = build.balanced_items(6)
    items["img003.jpg"] = (build.solid_image(), "1 0.5 0.5 0.4 0.4\n1 0.5 0.5 0.4\n")
    return build.write_cvat_folder(tmp_path / "export", items)


def test_strict_import_exits_2_naming_file_and_line(tmp_path, build):
    export = _broken_export(tmp_path, build)
    result = run("dataset", "import", export, "--out", tmp_path / "ds", "--strict")
    assert result.exit_code == 2
    assert f"{export / 'obj_train_data' / 'img003.txt'}:2: wrong field count" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "ds").exists()


def test_default_import_drops_and_summarises(tmp_path, build):
    export = _broken_export(tmp_path, build)
    result = run("dataset", "import", export, "--out", tmp_path / "ds")
    assert result.exit_code == 0
    assert "dropped 1 problem(s)" in result.output and "img003.txt:2" in result.output
    strict = run("dataset", "check", tmp_path / "ds" / "data.yaml", "--strict")
    assert strict.exit_code == 0  # the imported copy is clean


def test_check_strict_on_a_bad_dataset(tmp_path, build):
    export = _broken_export(tmp_path, build)
    run("dataset", "import", export, "--out", tmp_path / "ds", "--val-fraction", 0)
    label = tmp_path / "ds" / "train" / "labels" / "img000.txt"
    label.write_text("0 0.5 0.5 0.2 0.2\n9 0.5 0.5 0.2 0.2\n")
    result = run("dataset", "check", tmp_path / "ds" / "data.yaml")
    assert result.exit_code == 0 and f"{label}:2: class index out of range" in result.output
    result = run("dataset", "check", tmp_path / "ds" / "data.yaml", "--strict")
    assert result.exit_code == 2 and f"error: 1 dataset problem(s): {label}:2" in result.output


def test_bad_inputs_exit_2(tmp_path):
    (tmp_path / "data.yaml").write_text("train: a\nval: b\nnc: 2\nnames: [x]\n")
    result = run("dataset", "check", tmp_path / "data.yaml")
    assert result.exit_code == 2 and "nc is 2 but names has 1 entries" in result.output
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../x.txt", "boom")
    result = run("dataset", "import", evil, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "unsafe path in zip: '../../x.txt'" in result.output


def test_demo_command(tmp_path):
    result = run("dataset", "demo", "--out", tmp_path / "d.zip", "--images", 5, "--img-size", 128)
    assert result.exit_code == 0 and zipfile.is_zipfile(tmp_path / "d.zip")
