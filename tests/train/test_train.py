"""Real (tiny) training runs: every batch steps the optimizer, the run directory is complete, resume and
--weights work."""

from __future__ import annotations

import csv

import pytest
import torch

from y7deploy.train.trainer import RESULT_KEYS, TrainOptions, increment_path, param_groups, train


def read_results(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def total_loss(row):
    return sum(float(row[k]) for k in ("train/box_loss", "train/obj_loss", "train/cls_loss"))


def test_every_batch_steps_the_optimizer_and_every_artifact_exists(trained_run):
    """Three epochs on 15 images move the loss by less than its noise (it fell on one machine
    and rose on another), so this run proves the steps, not the learning: that the loss's
    gradients point downhill is tests/train/test_loss.py's test_loss_falls_when_optimised."""
    result, _opt, messages = trained_run
    d = result.save_dir
    rows = read_results(d / "results.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert list(rows[0]) == ["epoch", *RESULT_KEYS]
    assert all(0 < total_loss(r) < float("inf") for r in rows)
    last = torch.load(d / "weights" / "last.pt", map_location="cpu", weights_only=False)
    # 15 training images (20 with a quarter for val) in batches of 8: 2 a epoch; nbs 8: a step each.
    assert last["extra"]["ema_updates"] == 3 * 2
    momentum = [s["momentum_buffer"] for s in last["extra"]["optimizer"]["state"].values()]
    assert momentum and all(m.abs().sum() > 0 for m in momentum)
    for name in ("weights/best.pt", "weights/last.pt", "hyp.yaml", "opt.yaml", "results.png", "PR_curve.png",
                 "confusion_matrix.png", "labels.png", "train_batch0.jpg"):
        assert (d / name).is_file() and (d / name).stat().st_size > 0, name
    assert list(d.glob("events.out.tfevents.*")), "TensorBoard events"
    assert any("val: P" in m for m in messages)


def test_checkpoints_hold_names_epoch_metrics(trained_run, demo_data):
    from y7deploy.model.checkpoint import load_checkpoint

    result, _opt, _ = trained_run
    last = load_checkpoint(result.save_dir / "weights" / "last.pt")
    assert last.names == ["circle", "square", "triangle"]
    assert last.epoch == 2
    assert set(last.metrics) >= {"metrics/mAP_0.5", "metrics/mAP_0.5:0.95"}
    assert "optimizer" in last.extra and "train_state" in last.extra and last.extra["ema_updates"] > 0
    best = load_checkpoint(result.save_dir / "weights" / "best.pt")
    assert "optimizer" not in best.extra  # best.pt is weights only


def test_val_cli_on_trained_weights(trained_run, demo_data):
    from click.testing import CliRunner

    from y7deploy.cli import cli

    result, _opt, _ = trained_run
    r = CliRunner().invoke(cli, ["val", "--data", str(demo_data), "--weights",
                                 str(result.save_dir / "weights" / "best.pt"), "--img-size", "96", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "mAP@0.5 " in r.output and "mAP@0.5:0.95" in r.output
    for name in ("all", "circle", "square", "triangle"):
        assert f" {name} " in r.output or r.output.count(name) >= 1


def test_resume_continues_to_requested_epochs(trained_run, tmp_path):
    import shutil

    result, opt, _ = trained_run
    run_copy = tmp_path / "short"
    shutil.copytree(result.save_dir, run_copy)
    messages: list[str] = []
    resumed = train(TrainOptions(data="", resume=str(run_copy / "weights" / "last.pt"), epochs=4, device="cpu"),
                    explicit={"resume", "epochs", "device"}, say=messages.append)
    assert resumed.save_dir == run_copy
    assert any("Resuming" in m and "from epoch 4 to 4" in m for m in messages), messages
    rows = read_results(run_copy / "results.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    from y7deploy.model.checkpoint import load_checkpoint

    assert load_checkpoint(run_copy / "weights" / "last.pt").epoch == 3


def test_resume_refuses_a_finished_run(trained_run):
    from y7deploy.errors import UserError

    result, _opt, _ = trained_run
    with pytest.raises(UserError, match="already trained 3 epochs"):
        train(TrainOptions(data="", resume=str(result.save_dir), device="cpu"), explicit={"resume"})


def test_weights_from_upstream_checkpoint(tmp_path, demo_data, tiny_cfg, quick_hyp, upstream_checkpoint):
    """A checkpoint upstream's code wrote (pickled models.yolo.Model): with --cfg every tensor but the
    cfg's anchors moves; without, the checkpoint's own architecture is rebuilt and everything moves."""
    common = dict(data=str(demo_data), weights=str(upstream_checkpoint), hyp=str(quick_hyp), epochs=1, batch_size=8,
                  img_size=64, device="cpu", workers=0, project=str(tmp_path), nbs=8, noautoanchor=True)
    messages: list[str] = []
    result = train(TrainOptions(cfg=str(tiny_cfg), name="ft", **common), say=messages.append)
    moved, total = result.transferred
    line = next(m for m in messages if m.startswith("Transferred"))
    assert line.startswith(f"Transferred {moved}/{total} items from ")
    assert total - moved == 2  # anchors, anchor_grid come from --cfg (upstream's rule)
    assert "autoanchor: skipped (--noautoanchor), the cfg's anchors are used as they are" in messages
    assert (result.save_dir / "weights" / "last.pt").is_file()
    result = train(TrainOptions(name="ft-own-cfg", **common), say=messages.append)
    moved, total = result.transferred
    assert moved == total


def test_increment_path(tmp_path):
    assert increment_path(tmp_path / "exp") == tmp_path / "exp"
    (tmp_path / "exp").mkdir()
    assert increment_path(tmp_path / "exp") == tmp_path / "exp2"
    (tmp_path / "exp2").mkdir()
    assert increment_path(tmp_path / "exp") == tmp_path / "exp3"
    assert increment_path(tmp_path / "exp", exist_ok=True) == tmp_path / "exp"


def test_param_groups_cover_every_parameter_once(tiny_cfg):
    from y7deploy.model.yolo import build_model

    model = build_model(str(tiny_cfg), nc=3)
    no_decay, decay, biases = param_groups(model)
    ids = [id(p) for p in no_decay + decay + biases]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert all(p.ndim > 1 for p in decay)  # conv weights only
    implicit = [p for n, p in model.named_parameters() if n.endswith("implicit")]
    assert implicit and all(any(p is q for q in no_decay) for p in implicit)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_one_epoch_on_gpu_with_amp(tmp_path, demo_data, tiny_cfg, quick_hyp):
    result = train(TrainOptions(data=str(demo_data), cfg=str(tiny_cfg), hyp=str(quick_hyp), epochs=1, batch_size=8,
                                img_size=96, device="0", workers=0, project=str(tmp_path), name="gpu", nbs=8),
                   say=lambda _m: None)
    assert (result.save_dir / "weights" / "last.pt").is_file()


def test_lr_schedules_run_from_1_to_lrf():
    from y7deploy.train.trainer import lr_lambda

    cos, lin = lr_lambda(10, 0.1, linear=False), lr_lambda(10, 0.1, linear=True)
    assert cos(0) == pytest.approx(1.0) and cos(10) == pytest.approx(0.1) and cos(5) == pytest.approx(0.55)
    assert lin(0) == pytest.approx(1.0) and lin(9) == pytest.approx(0.1)


def test_freeze_first_layers(tiny_cfg):
    from y7deploy.model.yolo import build_model
    from y7deploy.train.trainer import build_optimizer, freeze_layers

    model = build_model(str(tiny_cfg), nc=3)
    n = freeze_layers(model, [2])
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert n == len(frozen) > 0 and all(name.startswith(("model.0.", "model.1.")) for name in frozen)
    assert freeze_layers(model, [0]) == 0 and all(p.requires_grad for p in model.parameters())
    opt = build_optimizer(model, {"lr0": 0.001, "momentum": 0.9, "weight_decay": 5e-4}, adam=True)
    assert isinstance(opt, torch.optim.Adam) and [g["weight_decay"] for g in opt.param_groups] == [0, 5e-4, 0]
