"""Every subset of a CVAT export is read, the user's split is kept, and every image of the
export is either imported or named with why: images in == images out + images named."""

import yaml
from click.testing import CliRunner

from y7deploy.cli import cli
from y7deploy.data.cvat import import_dataset, subset_split


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


def items(build, prefix, n, first_class=0):
    return {f"{prefix}{i:02d}.jpg": (build.solid_image(), f"{(first_class + i) % 2} 0.5 0.5 0.4 0.4\n")
            for i in range(n)}


def imported_names(out, split):
    folder = out / split / "images"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def project_export(tmp_path, build):
    return build.write_cvat_export(tmp_path / "project", {
        "Train": items(build, "tr", 6), "Validation": items(build, "va", 3), "Test": items(build, "te", 2)})


def test_project_export_keeps_train_validation_and_test(tmp_path, build):
    zipped = build.zip_folder(project_export(tmp_path, build), tmp_path / "project.zip")
    result = import_dataset(zipped, tmp_path / "out")
    out = tmp_path / "out"
    assert (result.train_images, result.val_images, result.test_images) == (6, 3, 2)
    assert result.found == result.imported == 11 and not result.skipped and not result.problems
    assert imported_names(out, "val") == [f"va{i:02d}.jpg" for i in range(3)]
    assert imported_names(out, "test") == ["te00.jpg", "te01.jpg"]
    assert [(p.subset, p.split, p.images) for p in result.placements] == [
        ("Train", "train", 6), ("Validation", "val", 3), ("Test", "test", 2)]
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert (data["train"], data["val"], data["test"]) == ("train/images", "val/images", "test/images")


def test_cli_says_which_subset_went_where(tmp_path, build):
    result = run("dataset", "import", project_export(tmp_path, build), "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "6 train + 3 val + 2 test images" in result.output
    assert "11 image(s) in the export: 11 imported, 0 not imported" in result.output
    assert "subsets: Train (6) -> train, Validation (3) -> val, Test (2) -> test" in result.output


def test_task_export_holds_out_val_from_its_one_subset(tmp_path, build):
    export = build.write_cvat_export(tmp_path / "task", {"train": items(build, "im", 10)})
    result = import_dataset(export, tmp_path / "out", val_fraction=0.2)
    assert (result.train_images, result.val_images, result.test_images) == (8, 2, 0)
    assert result.held_out == 2 and result.found == result.imported == 10
    assert [(p.subset, p.split) for p in result.placements] == [("train", "train + val")]
    assert "test" not in yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())


def test_nested_item_folders_and_clashing_names(tmp_path, build):
    subset = {"day/cam1/f001.jpg": (build.solid_image(), "0 0.5 0.5 0.2 0.2\n"),
              "day/cam2/f001.jpg": (build.solid_image(), "1 0.5 0.5 0.2 0.2\n"),
              "night/f002.png": (build.solid_image(), "0 0.4 0.4 0.2 0.2\n")}
    export = build.write_cvat_export(tmp_path / "nested", {"Train": subset, "Validation": items(build, "v", 2)})
    result = import_dataset(export, tmp_path / "out")
    assert result.found == result.imported == 5 and not result.problems
    names = imported_names(tmp_path / "out", "train")
    assert len(names) == 3 and "f002.png" in names
    labels = sorted((tmp_path / "out" / "train" / "labels").glob("*f001*.txt"))
    assert sorted(p.read_text().split()[0] for p in labels) == ["0", "1"]  # each image kept its own label


def test_any_subset_name_is_read(tmp_path, build):
    export = build.write_cvat_export(tmp_path / "named", {
        "batch-march": items(build, "m", 3), "batch_april": items(build, "a", 3), "dev": items(build, "d", 2)})
    result = import_dataset(export, tmp_path / "out")
    assert (result.train_images, result.val_images) == (6, 2) and result.imported == result.found == 8
    assert subset_split("Validation") == subset_split("valid") == subset_split("dev") == "val"
    assert subset_split("Test") == "test" and subset_split("Train") == subset_split("Batch 7") == "train"


def test_a_subset_folder_obj_data_does_not_declare_is_read(tmp_path, build):
    export = build.write_cvat_export(tmp_path / "e", {"Train": items(build, "t", 4), "Extra": items(build, "x", 2)})
    (export / "obj.data").write_text("classes = 2\nTrain = data/Train.txt\nnames = data/obj.names\n")
    result = import_dataset(export, tmp_path / "out", val_fraction=0)
    assert result.train_images == 6 and result.found == result.imported == 6
    assert [p.subset for p in result.placements] == ["Train", "Extra"]


def lossy_export(tmp_path, build):
    """A project export with one image of every kind that cannot be imported."""
    export = build.write_cvat_export(tmp_path / "lossy", {
        "Train": {**items(build, "t", 4), "nolabel.jpg": (build.solid_image(), None)},
        "Validation": items(build, "v", 2)})
    (export / "obj_Train_data" / "broken.jpg").write_bytes(b"not a jpeg")
    (export / "obj_Train_data" / "broken.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with open(export / "Train.txt", "a") as f:
        f.write("data/obj_Train_data/broken.jpg\ndata/obj_Train_data/ghost.jpg\n")
    (export / "obj_Validation_data" / "unlisted.jpg").write_bytes((export / "obj_Validation_data" / "v00.jpg").read_bytes())
    (export / "obj_Validation_data" / "unlisted.txt").write_text("1 0.5 0.5 0.1 0.1\n")
    return export


def test_every_image_is_imported_or_named_with_why(tmp_path, build):
    export = lossy_export(tmp_path, build)
    result = import_dataset(export, tmp_path / "out")
    assert result.found == 9  # 7 good-looking + broken + unlisted (ghost is not there)
    assert result.imported == 6 and (result.train_images, result.val_images) == (4, 2)
    why = {p.file.name: p.message for p in result.skipped}
    assert set(why) == {"nolabel.jpg", "broken.jpg", "unlisted.jpg"}
    assert why["nolabel.jpg"].startswith("no label file: expected nolabel.txt")
    assert why["broken.jpg"].startswith("unreadable image")
    assert why["unlisted.jpg"].startswith("image in no subset list")
    assert result.found == result.imported + len(result.skipped)
    assert [str(p) for p in result.missing] == [f"{export / 'Train.txt'}:7: listed image missing: "
                                                "data/obj_Train_data/ghost.jpg"]


def test_cli_names_every_image_left_out_and_strict_exits_2(tmp_path, build):
    export = lossy_export(tmp_path, build)
    result = run("dataset", "import", export, "--out", tmp_path / "out")
    assert result.exit_code == 0
    for name in ("nolabel.jpg", "broken.jpg", "unlisted.jpg", "ghost.jpg"):
        assert sum(name in line and line.startswith("not imported: ") for line in result.output.splitlines()) == 1
    assert "9 image(s) in the export: 6 imported, 3 not imported" in result.output
    strict = run("dataset", "import", export, "--out", tmp_path / "strict", "--strict")
    assert strict.exit_code == 2 and "Traceback" not in strict.output
    assert strict.output.count("\n") == 1 and strict.output.startswith("error: 4 dataset problem(s): ")
    assert not (tmp_path / "strict").exists()


def test_resplit_pools_every_subset(tmp_path, build):
    export = project_export(tmp_path, build)
    a = import_dataset(export, tmp_path / "a", resplit=True, val_fraction=0.25, seed=1)
    b = import_dataset(export, tmp_path / "b", resplit=True, val_fraction=0.25, seed=1)
    assert (a.train_images, a.val_images, a.test_images) == (8, 3, 0) and a.imported == 11
    assert imported_names(tmp_path / "a", "val") == imported_names(tmp_path / "b", "val")
    assert {p.split for p in a.placements} == {"train + val"}


def test_no_train_subset_is_refused_with_a_way_out(tmp_path, build):
    export = build.write_cvat_export(tmp_path / "e", {"Validation": items(build, "v", 3)})
    result = run("dataset", "import", export, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "no train subset (subsets: Validation); use --resplit" in result.output
    assert run("dataset", "import", export, "--out", tmp_path / "out", "--resplit").exit_code == 0
