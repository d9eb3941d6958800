"""`y7deploy train` and `y7deploy val`, with upstream YOLOv7's flag names.

torch and the training code load inside the commands, so `y7deploy --help` stays fast
and works on the core install.
"""

from __future__ import annotations

import click

from y7deploy.errors import UserError


def register(cli: click.Group) -> None:
    cli.add_command(train_cmd)
    cli.add_command(val_cmd)


def _explicit(ctx: click.Context) -> set[str]:
    """The options the user typed (not defaults): `--resume` keeps the saved ones for the rest."""
    return {k for k in ctx.params if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE}


@click.command("train")
@click.option("--data", required=False, help="Data yaml (train, val, nc, names).")
@click.option("--cfg", default=None, help="yolov7-tiny, yolov7, yolov7x, yolov7-w6, ... or a model yaml.")
@click.option("--weights", default=None, help="Start from these weights (upstream .pt or ours).")
@click.option("--hyp", default=None, help="Hyperparameters: scratch.custom (default), scratch.tiny or a yaml.")
@click.option("--epochs", type=int, default=300, show_default=True)
@click.option("--batch-size", type=int, default=16, show_default=True, help="Total over all GPUs.")
@click.option("--img-size", type=int, default=640, show_default=True, help="Train and val size (multiple of 32).")
@click.option("--device", default="", help="cpu, 0 or 0,1 (default: first GPU if any, else cpu).")
@click.option("--workers", type=int, default=8, show_default=True, help="Data loader processes.")
@click.option("--project", default="runs/train", show_default=True)
@click.option("--name", default="exp", show_default=True)
@click.option("--resume", is_flag=False, flag_value="", default=None, metavar="[PATH]",
              help="Continue the newest run's last.pt (or the run given by --name, or a path).")
@click.option("--freeze", type=int, multiple=True, help="Freeze layers 0..N-1 (once) or the listed layers.")
@click.option("--adam", is_flag=True, help="Adam instead of SGD nesterov.")
@click.option("--linear-lr", is_flag=True, help="Linear LR decay instead of one-cycle cosine.")
@click.option("--label-smoothing", type=float, default=0.0, show_default=True)
@click.option("--sync-bn", is_flag=True, help="SyncBatchNorm (torchrun on several GPUs only).")
@click.option("--rect", is_flag=True, help="Rectangular batches (no mosaic).")
@click.option("--exist-ok", is_flag=True, help="Reuse project/name instead of name2, name3, ...")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--noautoanchor", is_flag=True, help="Keep the cfg's anchors even when they fit the labels badly.")
@click.option("--warmup-epochs", type=float, default=None,
              help="Warmup length in epochs (overrides the hyp's warmup_epochs); 0 turns warmup off.")
@click.pass_context
def train_cmd(ctx: click.Context, **kw) -> None:
    """Train YOLOv7 on a data yaml; writes runs/train/NAME/ (best.pt, last.pt, results, plots).

    Several GPUs: torchrun --nproc_per_node 2 -m y7deploy.train --data ... --device 0,1
    """
    if kw["data"] is None and kw["resume"] is None:
        raise UserError("--data is required (or --resume to continue a run)")
    from y7deploy.train.trainer import TrainOptions, train

    freeze = list(kw.pop("freeze")) or [0]
    opt = TrainOptions(data=kw.pop("data") or "", freeze=freeze, **kw)
    result = train(opt, explicit=_explicit(ctx), say=click.echo)
    m = result.last_metrics
    if m:
        click.echo(f"done: {result.epochs_done} epochs, mAP@.5 {m.get('metrics/mAP_0.5', 0):.3f}, "
                   f"mAP@.5:.95 {m.get('metrics/mAP_0.5:0.95', 0):.3f}, "
                   f"{result.images_per_second:.1f} img/s -> {result.save_dir}")


@click.command("val")
@click.option("--data", required=True, help="Data yaml (its val split is used).")
@click.option("--weights", required=True, help="A checkpoint: best.pt, last.pt or upstream's .pt.")
@click.option("--img-size", type=int, default=640, show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--device", default="", help="cpu, 0, ... (default: first GPU if any, else cpu).")
@click.option("--conf-thres", type=float, default=0.001, show_default=True)
@click.option("--iou-thres", type=float, default=0.65, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--coco", is_flag=True, help="Also COCO's own metric, by pycocotools (pip install 'y7deploy[coco]').")
def val_cmd(data: str, weights: str, img_size: int, batch_size: int, device: str, conf_thres: float,
            iou_thres: float, workers: int, coco: bool) -> None:
    """mAP@0.5, mAP@0.5:0.95 and P/R at the best F1, overall and per class, as upstream's test.py."""
    from y7deploy.train.val import validate

    result = validate(data, weights, img_size=img_size, batch_size=batch_size, device=device,
                      conf_thres=conf_thres, iou_thres=iou_thres, workers=workers, coco=coco)
    click.echo(result.table())
    click.echo(f"mAP@0.5 {result.map50:.4f}  mAP@0.5:0.95 {result.map:.4f}  "
               f"P {result.ap.mp:.4f}  R {result.ap.mr:.4f}  ({result.ms_per_image:.1f} ms/image)")
    if result.coco is not None:
        click.echo(result.coco.summary.rstrip())
        click.echo(f"COCO (pycocotools): mAP@0.5 {result.coco.map50:.4f}  mAP@0.5:0.95 {result.coco.map:.4f}")
