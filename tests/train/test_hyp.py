"""Training hyperparameters: warmup as upstream's keys set it (with the short-run cap, said at the
start), and the keys y7deploy does not implement refused instead of ignored."""

from __future__ import annotations

import pytest
import torch
import yaml
from click.testing import CliRunner

from y7deploy.cli import cli
from y7deploy.train.trainer import TrainOptions, check_inputs, lr_lambda, warmup_iterations, warmup_step


def test_warmup_is_upstreams_on_long_runs():
    # 500 batches x 300 epochs: max(3 epochs = 1500, 1000) as upstream
    nw, why = warmup_iterations(3.0, 500, 300)
    assert nw == 1500 and "floor 1000" in why
    assert warmup_iterations(1.0, 500, 300)[0] == 1000


def test_warmup_floor_is_capped_on_short_runs():
    # 14 batches x 30 epochs: upstream would warm up 1000 iterations, longer than the run (420)
    nw, why = warmup_iterations(3.0, 14, 30)
    assert nw == 84 and "capped at a fifth of this run" in why
    assert warmup_iterations(10.0, 14, 30)[0] == 140  # warmup_epochs still counts above the cap
    assert warmup_iterations(0.0, 14, 30) == (0, "warmup: off (warmup_epochs 0)")


def test_warmup_step_ramps_lr_and_momentum():
    hyp = {"warmup_bias_lr": 0.1, "warmup_momentum": 0.8, "momentum": 0.937}
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(3)]
    opt = torch.optim.SGD([{"params": [p]} for p in params], lr=0.01, momentum=0.937)
    for g in opt.param_groups:
        g["initial_lr"] = 0.01
    lf = lr_lambda(10, 0.1, linear=False)
    assert warmup_step(opt, hyp, 0, 100, 0, lf, 64, 16) == 1
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.0, 0.0, 0.1])
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.8)
    assert warmup_step(opt, hyp, 100, 100, 0, lf, 64, 16) == 4  # accumulation reaches nbs / batch
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01] * 3)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.937)


def test_warmup_epochs_option_overrides_the_hyp(demo_data, quick_hyp):
    setup = check_inputs(TrainOptions(data=str(demo_data), cfg="yolov7-tiny", hyp=str(quick_hyp), warmup_epochs=1.5),
                         set())
    assert setup.hyp_raw["warmup_epochs"] == 1.5
    setup = check_inputs(TrainOptions(data=str(demo_data), cfg="yolov7-tiny", hyp=str(quick_hyp)), set())
    assert setup.hyp_raw["warmup_epochs"] == 0.0  # the quick hyp's own


def test_training_says_what_it_found(trained_run):
    _, _, messages = trained_run
    assert any(m.startswith("autoanchor: ") and "best possible recall" in m for m in messages), messages
    assert "warmup: off (warmup_epochs 0)" in messages


@pytest.mark.parametrize("key, value, needle", [
    ("loss_ota", 0, "loss_ota 0: only the OTA loss"),
    ("anchors", 4, "anchors 4: the model has 3 anchors per level"),
])
def test_unimplemented_hyp_values_are_refused(tmp_path, demo_data, quick_hyp, key, value, needle):
    hyp = yaml.safe_load(quick_hyp.read_text())
    hyp[key] = value
    path = tmp_path / "hyp.yaml"
    path.write_text(yaml.safe_dump(hyp))
    r = CliRunner().invoke(cli, ["train", "--data", str(demo_data), "--cfg", "yolov7-tiny", "--hyp", str(path),
                                 "--epochs", "1", "--img-size", "64", "--device", "cpu",
                                 "--project", str(tmp_path / "runs")])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and str(path) in r.output and needle in r.output, r.output
    assert not (tmp_path / "runs").exists()


def test_negative_warmup_is_refused(tmp_path, demo_data):
    r = CliRunner().invoke(cli, ["train", "--data", str(demo_data), "--cfg", "yolov7-tiny", "--warmup-epochs", "-1",
                                 "--device", "cpu", "--project", str(tmp_path / "runs")])
    assert r.exit_code == 2 and "--warmup-epochs -1" in r.output, r.output
