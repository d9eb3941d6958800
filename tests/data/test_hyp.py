import pytest

from y7deploy.data.hyp import REQUIRED_KEYS, builtin_hyps, load_hyp
from y7deploy.errors import UserError


def test_builtin_custom_has_the_guide_values():
    hyp = load_hyp("scratch.custom")
    expected = dict(hsv_h=0.015, hsv_s=0.7, hsv_v=0.4, degrees=0.0, translate=0.2, scale=0.9, shear=0.0,
                    perspective=0.0, flipud=0.0, fliplr=0.5, mosaic=1.0, mixup=0.15)
    assert {k: hyp[k] for k in expected} == expected
    assert hyp["lr0"] == 0.01 and hyp["loss_ota"] == 1


def test_builtin_names_and_tiny_variant():
    assert builtin_hyps() == ["scratch.custom", "scratch.tiny"]
    tiny = load_hyp("hyp.scratch.tiny.yaml")
    assert tiny["lrf"] == 0.01 and tiny["mixup"] == 0.05 and tiny["translate"] == 0.1
    assert set(REQUIRED_KEYS) <= set(tiny)


def test_unknown_key_is_named(tmp_path):
    text = (load_hyp.__globals__["HYP_DIR"] / "hyp.scratch.custom.yaml").read_text()
    bad = tmp_path / "hyp.yaml"
    bad.write_text(text + "mosiac: 1.0\n")
    with pytest.raises(UserError, match=r"hyp\.yaml: unknown key 'mosiac'"):
        load_hyp(bad)


def test_missing_key_is_named(tmp_path):
    text = (load_hyp.__globals__["HYP_DIR"] / "hyp.scratch.custom.yaml").read_text()
    bad = tmp_path / "hyp.yaml"
    bad.write_text("\n".join(l for l in text.splitlines() if not l.startswith("fliplr")))
    with pytest.raises(UserError, match=r"hyp\.yaml: missing key 'fliplr'"):
        load_hyp(bad)


def test_not_found():
    with pytest.raises(UserError, match="hyp file not found: nope"):
        load_hyp("nope")


def _with(tmp_path, line):
    text = (load_hyp.__globals__["HYP_DIR"] / "hyp.scratch.custom.yaml").read_text()
    key = line.split(":")[0]
    path = tmp_path / "hyp.mine.yaml"
    path.write_text("\n".join(l for l in text.splitlines() if not l.startswith(key + ":")) + f"\n{line}\n")
    return path


def test_copy_paste_is_refused_naming_key_and_file(tmp_path):
    path = _with(tmp_path, "copy_paste: 0.3")
    with pytest.raises(UserError, match=rf"^{path}: key 'copy_paste' is 0.3: .*polygon segments"):
        load_hyp(path)


def test_the_model_keys_reach_the_trainer_as_written(tmp_path):
    assert load_hyp(_with(tmp_path, "anchors: 3"))["anchors"] == 3  # the trainer checks it against the cfg
    assert "anchors" not in load_hyp("scratch.custom")  # absent, as in upstream's files (the cfg's anchors)
    assert load_hyp(_with(tmp_path, "loss_ota: 0"))["loss_ota"] == 0
    assert load_hyp(_with(tmp_path, "paste_in: 0.15"))["paste_in"] == 0.15


def test_every_key_says_where_it_takes_effect():
    from y7deploy.data.hyp import APPLIED_BY, OPTIONAL_DEFAULTS, OPTIONAL_KEYS

    assert set(APPLIED_BY) == set(REQUIRED_KEYS) | set(OPTIONAL_DEFAULTS) | set(OPTIONAL_KEYS)


def test_upstreams_own_hyp_files_load(upstream_checkout):
    files = sorted((upstream_checkout / "data").glob("hyp.*.yaml"))
    assert len(files) >= 4
    for path in files:
        hyp = load_hyp(path)
        assert hyp["copy_paste"] == 0 and hyp["loss_ota"] == 1
