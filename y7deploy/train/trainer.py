"""Training a YOLOv7 on a data yaml: one process, or one per GPU under torchrun (DDP).

The recipe is upstream's train.py, in small named steps: parameter groups (decay only
on conv/linear weights), SGD nesterov (or Adam), nominal batch 64 by gradient
accumulation, warmup, one-cycle cosine or linear LR, EMA of the weights, AMP on CUDA.
Under torchrun every process trains its share of each batch; rank 0 alone evaluates
and writes the run directory.
"""

from __future__ import annotations

import csv
import math
import os
import random
import sys
import time
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn

from y7deploy.errors import UserError
from y7deploy.train import checkpoints
from y7deploy.train.device import select_device
from y7deploy.train.loss import build_loss, head_of
from y7deploy.train.metrics import fitness

RESULT_KEYS = [
    "train/box_loss", "train/obj_loss", "train/cls_loss",
    "metrics/precision", "metrics/recall", "metrics/mAP_0.5", "metrics/mAP_0.5:0.95",
    "val/box_loss", "val/obj_loss", "val/cls_loss", "x/lr0", "x/lr1", "x/lr2",
]


@dataclass
class TrainOptions:
    """What `y7deploy train` takes; saved as opt.yaml so `--resume` can pick the run up again."""

    data: str
    cfg: str | None = None
    weights: str | None = None
    hyp: str | None = None  # built-in name or path; default scratch.custom
    epochs: int = 300
    batch_size: int = 16  # total over all processes
    img_size: int = 640
    device: str = ""
    workers: int = 8
    project: str = "runs/train"
    name: str = "exp"
    resume: str | None = None  # "" = the newest last.pt of --project (or of --name there), or a path
    freeze: list[int] = field(default_factory=lambda: [0])
    adam: bool = False
    linear_lr: bool = False
    label_smoothing: float = 0.0
    sync_bn: bool = False
    rect: bool = False
    exist_ok: bool = False
    seed: int = 0
    nbs: int = 64  # nominal batch size: gradients are accumulated up to this many images
    val_every: int = 1  # evaluate every N epochs (and always at the last one)
    save_dir: str | None = None  # set by the trainer


@dataclass
class TrainResult:
    save_dir: Path
    epochs_done: int
    best_fitness: float
    last_metrics: dict
    images_per_second: float
    transferred: tuple[int, int] | None = None  # (moved, total) from --weights


# ------------------------------------------------------------------ small steps


def increment_path(path: Path, exist_ok: bool = False) -> Path:
    """runs/train/exp, then exp2, exp3, ... as upstream (unless exist_ok)."""
    if exist_ok or not path.exists():
        return path
    n = 2
    while Path(f"{path}{n}").exists():
        n += 1
    return Path(f"{path}{n}")


def ddp_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's environment; rank -1 when not distributed."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1:
        return -1, -1, 1
    return int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), world


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def scale_loss_gains(hyp: dict, nl: int, nc: int, img_size: int, label_smoothing: float) -> dict:
    """Upstream's gains are tuned for 3 levels, 80 classes and 640 px; rescale them to this run."""
    hyp = dict(hyp)
    hyp["box"] *= 3.0 / nl
    hyp["cls"] *= nc / 80.0 * 3.0 / nl
    hyp["obj"] *= (img_size / 640) ** 2 * 3.0 / nl
    hyp["label_smoothing"] = label_smoothing
    return hyp


def param_groups(model: nn.Module) -> tuple[list, list, list]:
    """(no decay: BN weights and implicit knowledge, decay: other weights, biases).

    Decided per parameter from its module and name, so every parameter lands in exactly one group.
    """
    no_decay, decay, biases = [], [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if name == "bias":
                biases.append(p)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm) or name == "implicit":
                no_decay.append(p)
            else:
                decay.append(p)
    return no_decay, decay, biases


def build_optimizer(model: nn.Module, hyp: dict, adam: bool) -> torch.optim.Optimizer:
    no_decay, decay, biases = param_groups(model)
    if adam:
        opt = torch.optim.Adam(no_decay, lr=hyp["lr0"], betas=(hyp["momentum"], 0.999))
    else:
        opt = torch.optim.SGD(no_decay, lr=hyp["lr0"], momentum=hyp["momentum"], nesterov=True)
    opt.add_param_group({"params": decay, "weight_decay": hyp["weight_decay"]})
    opt.add_param_group({"params": biases})
    return opt


def lr_lambda(epochs: int, lrf: float, linear: bool) -> Callable[[float], float]:
    """LR factor per epoch: linear from 1 to lrf, or one-cycle cosine from 1 to lrf."""
    if linear:
        return lambda x: (1 - x / max(epochs - 1, 1)) * (1.0 - lrf) + lrf
    return lambda x: ((1 - math.cos(x * math.pi / epochs)) / 2) * (lrf - 1) + 1


def freeze_layers(model: nn.Module, freeze: list[int]) -> int:
    """`--freeze N` freezes layers 0..N-1, `--freeze a b c` those layers; returns how many tensors."""
    layers = freeze if len(freeze) > 1 else range(freeze[0] if freeze else 0)
    prefixes = tuple(f"model.{x}." for x in layers)
    count = 0
    for name, p in model.named_parameters():
        p.requires_grad = True
        if prefixes and name.startswith(prefixes):
            p.requires_grad = False
            count += 1
    return count


class ModelEMA:
    """Exponential moving average of the weights; the EMA is what gets evaluated and saved.

    The decay ramps up from 0 (1 - exp(-updates/2000)), so early epochs follow the model closely.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9999, updates: int = 0):
        self.ema = deepcopy(unwrap(model)).eval()
        self.updates = updates
        self.decay = lambda x: decay * (1 - math.exp(-x / 2000))
        for p in self.ema.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay(self.updates)
        msd = unwrap(model).state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


class Progress:
    """A per-epoch progress bar with the running losses (rich on a TTY, one plain line otherwise)."""

    def __init__(self, total: int, epoch: int, epochs: int, enabled: bool):
        self.total, self.epoch, self.epochs, self.enabled = total, epoch, epochs, enabled
        self.tty = enabled and sys.stdout.isatty()
        self.text = ""
        self.t0 = time.time()
        self._bar = None
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

            self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), transient=False)
            self._task = self._bar.add_task(self._describe(), total=total)
            self._bar.start()

    def _describe(self) -> str:
        return f"{self.epoch + 1}/{self.epochs} {self.text}"

    def update(self, mloss: torch.Tensor, n_labels: int, size: int) -> None:
        box, obj, cls, total = mloss.tolist()
        self.text = f"box {box:.4f} obj {obj:.4f} cls {cls:.4f} total {total:.4f} labels {n_labels} img {size}"
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=self._describe())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.enabled:
            print(f"epoch {self._describe()} ({time.time() - self.t0:.1f}s)", flush=True)


class Board:
    """TensorBoard scalars when tensorboard is installed; otherwise a one-time notice and nothing."""

    def __init__(self, log_dir: Path | None, say: Callable[[str], None]):
        self.writer = None
        if log_dir is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            say("TensorBoard not installed: no events written (pip install tensorboard)")
            return
        self.writer = SummaryWriter(str(log_dir))

    def scalars(self, values: dict, step: int) -> None:
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# ------------------------------------------------------------------ the run


def resolve_resume(opt: TrainOptions, explicit: set[str]) -> tuple[TrainOptions, Path]:
    """Find the last.pt to resume and merge the saved options with the ones given now.

    The saved run's options win (same data, hyp, cfg, dir), except `epochs`, `device`,
    `workers` and `batch_size` when given explicitly: training can be extended or moved.
    """
    if opt.resume:
        last = Path(opt.resume)
        if last.is_dir():
            last = last / "weights" / "last.pt"
    elif "name" in explicit:
        last = Path(opt.project) / opt.name / "weights" / "last.pt"
    else:
        found = sorted(Path(opt.project).glob("*/weights/last.pt"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise UserError(f"--resume: no last.pt under {opt.project}/*/weights/")
        last = found[-1]
    if not last.is_file():
        raise UserError(f"--resume: {last} does not exist")
    opt_file = last.parent.parent / "opt.yaml"
    if not opt_file.is_file():
        raise UserError(f"--resume: {opt_file} is missing, cannot tell how the run was started")
    saved = yaml.safe_load(opt_file.read_text()) or {}
    known = TrainOptions.__dataclass_fields__
    merged = {k: v for k, v in saved.items() if k in known}
    for k in ("epochs", "device", "workers", "batch_size"):
        if k in explicit:
            merged[k] = getattr(opt, k)
    merged["resume"] = str(last)
    merged["weights"] = None
    return TrainOptions(**merged), last


def train(opt: TrainOptions, explicit: set[str] | None = None, say: Callable[[str], None] = print) -> TrainResult:
    """Run a whole training; `explicit` names the options the user typed (for --resume)."""
    from y7deploy.data.config import load_data_config
    from y7deploy.data.dataset import check_img_size, create_dataloader
    from y7deploy.data.hyp import load_hyp
    from y7deploy.model.yolo import build_model, resolve_cfg
    from y7deploy.train.val import evaluate

    explicit = explicit or set()
    resume_from = None
    if opt.resume is not None:
        opt, resume_from = resolve_resume(opt, explicit)
    rank, local_rank, world = ddp_env()
    main = rank in (-1, 0)
    say = say if main else (lambda _msg: None)

    # -- checks that cost nothing, before any work --------------------------------------
    if opt.epochs < 1:
        raise UserError(f"--epochs {opt.epochs}: must be at least 1")
    if opt.batch_size < 1 or opt.batch_size % world:
        raise UserError(f"--batch-size {opt.batch_size}: must be a positive multiple of the {world} processes")
    check_img_size(opt.img_size)
    data = load_data_config(opt.data)
    hyp_raw = load_hyp(opt.hyp or "scratch.custom")
    if opt.cfg is None and opt.weights is None:
        raise UserError("give --cfg (yolov7-tiny, yolov7, ... or a yaml) or --weights to start from")
    if opt.cfg is not None:
        resolve_cfg(opt.cfg)  # unknown cfg -> UserError now, not after loading data

    # -- device and processes ------------------------------------------------------------
    device = select_device(opt.device, opt.batch_size)  # also refuses CUDA asked for but absent
    if world > 1:
        cuda = device.type == "cuda"
        if cuda:
            torch.cuda.set_device(local_rank)
            device = torch.device("cuda", local_rank)
        else:
            device = torch.device("cpu")
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if cuda else "gloo")
    cuda = device.type == "cuda"
    seed_everything(opt.seed + 1 + max(rank, 0))

    # -- run directory ---------------------------------------------------------------------
    if resume_from is not None:
        save_dir = resume_from.parent.parent
    else:
        save_dir = increment_path(Path(opt.project) / opt.name, opt.exist_ok)
    opt.save_dir = str(save_dir)
    wdir = save_dir / "weights"
    if main:
        wdir.mkdir(parents=True, exist_ok=True)
        (save_dir / "hyp.yaml").write_text(yaml.safe_dump(hyp_raw, sort_keys=False))
        (save_dir / "opt.yaml").write_text(yaml.safe_dump(asdict(opt), sort_keys=False))

    # -- model, from cfg / upstream weights / our last.pt ---------------------------------
    names = list(data.names)
    transferred = None
    start_epoch, best_fitness = 0, 0.0
    resume_state = None
    if resume_from is not None:
        resume_state = checkpoints.load_training_state(resume_from)
        model = resume_state.model
        start_epoch = resume_state.epoch + 1
        best_fitness = resume_state.best_fitness
        if start_epoch >= opt.epochs:
            raise UserError(f"--resume: {resume_from} has already trained {start_epoch} epochs; "
                            f"pass --epochs larger than {start_epoch} to train on")
        say(f"Resuming {resume_from} from epoch {start_epoch + 1} to {opt.epochs}")
    elif opt.weights:
        source = checkpoints.load_weights(opt.weights)
        model = build_model(opt.cfg or source.cfg, nc=data.nc, names=names)
        moved, total = checkpoints.transfer(source.state_dict, model, skip_anchors=opt.cfg is not None)
        transferred = (moved, total)
        say(f"Transferred {moved}/{total} items from {opt.weights}")
    else:
        model = build_model(opt.cfg, nc=data.nc, names=names)
    model.names = names
    model = model.to(device)
    head = head_of(model)
    gs = max(int(head.stride.max()), 32)
    check_img_size(opt.img_size, gs)
    frozen = freeze_layers(model, opt.freeze)
    if frozen:
        say(f"Froze {frozen} parameter tensors")

    # -- optimisation -------------------------------------------------------------------
    total_batch = opt.batch_size
    batch_size = total_batch // world
    accumulate = max(round(opt.nbs / total_batch), 1)
    hyp = dict(hyp_raw)
    hyp["weight_decay"] *= total_batch * accumulate / opt.nbs
    hyp = scale_loss_gains(hyp, head.nl, data.nc, opt.img_size, opt.label_smoothing)
    optimizer = build_optimizer(model, hyp, opt.adam)
    lf = lr_lambda(opt.epochs, hyp["lrf"], opt.linear_lr)
    ema = ModelEMA(model) if main else None
    if resume_state is not None:
        if resume_state.optimizer is not None:
            optimizer.load_state_dict(resume_state.optimizer)
        if ema is not None and resume_state.ema_updates is not None:
            ema.ema.load_state_dict(resume_state.ema_state)
            ema.updates = resume_state.ema_updates
    for g in optimizer.param_groups:
        g.setdefault("initial_lr", hyp["lr0"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lf, last_epoch=start_epoch - 1)

    if world > 1:
        if opt.sync_bn and cuda:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model).to(device)
            say("Using SyncBatchNorm")
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if cuda else None, output_device=local_rank if cuda else None)
    elif opt.sync_bn:
        say("--sync-bn has no effect without torchrun on several GPUs")

    # -- data -----------------------------------------------------------------------------
    loader, dataset = create_dataloader(
        list(data.train), opt.img_size, batch_size, gs, hyp=hyp_raw, augment=True, rect=opt.rect,
        workers=opt.workers, seed=opt.seed, rank=rank, nc=data.nc)
    labels = np.concatenate([lb for lb in dataset.labels if len(lb)] or [np.zeros((0, 5))], 0)
    if len(labels) and labels[:, 0].max() >= data.nc:
        raise UserError(f"{opt.data}: a label has class {int(labels[:, 0].max())}, but nc is {data.nc}")
    val_loader = None
    if main:
        val_loader, _ = create_dataloader(list(data.val), opt.img_size, batch_size * 2, gs, augment=False,
                                          rect=True, pad=0.5, workers=opt.workers, seed=opt.seed, nc=data.nc)
        from y7deploy.train.plots import plot_labels

        plot_labels(labels, names, save_dir / "labels.png")
    nb = len(loader)
    # upstream warms up for at least 1000 iterations; a short run on a small set would never leave
    # warmup, so the floor is capped at a fifth of the run
    nw = max(round(hyp["warmup_epochs"] * nb), min(1000, nb * opt.epochs // 5)) if hyp["warmup_epochs"] > 0 else 0
    compute_loss = build_loss(model, hyp)
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    board = Board(save_dir if main else None, say)
    say(f"Training {opt.cfg or opt.weights} on {len(dataset)} images ({len(val_loader.dataset) if val_loader else 0} val), "
        f"{device}{f' world {world}' if world > 1 else ''}, batch {total_batch} (x{accumulate} accumulation), "
        f"img {opt.img_size}, "
        f"epochs {start_epoch + 1}..{opt.epochs} -> {save_dir}")

    # -- the loop -------------------------------------------------------------------------
    results_csv = save_dir / "results.csv"
    if main and not results_csv.exists():
        with open(results_csv, "w", newline="") as f:
            csv.writer(f).writerow(["epoch", *RESULT_KEYS])
    last_opt_step = -1
    images_seen, train_time = 0, 0.0
    metrics = resume_state.metrics if resume_state is not None else {}
    optimizer.zero_grad()
    epoch = start_epoch
    for epoch in range(start_epoch, opt.epochs):
        model.train()
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        mloss = torch.zeros(4, device=device)
        bar = Progress(nb, epoch, opt.epochs, main)
        t_epoch = time.time()
        for i, (imgs, targets, _paths, _shapes) in enumerate(loader):
            ni = i + nb * epoch
            imgs = imgs.to(device, non_blocking=True).float() / 255.0
            targets = targets.to(device)
            if ni <= nw:  # warmup: accumulate and lr ramp up, momentum ramps to its value
                xi = [0, nw]
                accumulate = max(1, np.interp(ni, xi, [1, opt.nbs / total_batch]).round())
                for j, g in enumerate(optimizer.param_groups):
                    start = hyp["warmup_bias_lr"] if j == 2 else 0.0
                    g["lr"] = np.interp(ni, xi, [start, g["initial_lr"] * lf(epoch)])
                    if "momentum" in g:
                        g["momentum"] = np.interp(ni, xi, [hyp["warmup_momentum"], hyp["momentum"]])
            with torch.autocast("cuda", enabled=cuda):
                pred = model(imgs)
                loss, loss_items = compute_loss(pred, targets, imgs)
                if world > 1:
                    loss = loss * world  # DDP averages gradients over processes
            scaler.scale(loss).backward()
            if ni - last_opt_step >= accumulate:
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad()
                if ema is not None:
                    ema.update(model)
                last_opt_step = ni
            mloss = (mloss * i + loss_items) / (i + 1)
            images_seen += imgs.shape[0]
            bar.update(mloss, targets.shape[0], imgs.shape[-1])
            if main and epoch == start_epoch and i < 3:
                from y7deploy.train.plots import plot_batch, targets_to_rows

                plot_batch(imgs, targets_to_rows(targets, *imgs.shape[-2:]), save_dir / f"train_batch{i}.jpg", names)
        bar.close()
        train_time += time.time() - t_epoch
        lrs = [g["lr"] for g in optimizer.param_groups]
        scheduler.step()

        if not main:
            continue
        final = epoch + 1 == opt.epochs
        row = dict(zip(RESULT_KEYS[:3], mloss[:3].tolist()))
        if final or (epoch + 1) % max(opt.val_every, 1) == 0:
            res = evaluate(ema.ema, val_loader, names, device, compute_loss=compute_loss, half=False,
                           plots_dir=save_dir if final else None)
            metrics = {"metrics/precision": res.ap.mp, "metrics/recall": res.ap.mr,
                       "metrics/mAP_0.5": res.map50, "metrics/mAP_0.5:0.95": res.map}
            val_loss = dict(zip(["val/box_loss", "val/obj_loss", "val/cls_loss"], res.loss))
            say(f"  val: P {res.ap.mp:.3f}  R {res.ap.mr:.3f}  mAP@.5 {res.map50:.3f}  mAP@.5:.95 {res.map:.3f}")
            fit = fitness(res.map50, res.map)
        else:
            val_loss, fit = {}, -1.0
        row.update({k: metrics.get(k, 0.0) for k in RESULT_KEYS[3:7]})
        row.update({k: val_loss.get(k, 0.0) for k in RESULT_KEYS[7:10]})
        row.update(dict(zip(RESULT_KEYS[10:], lrs)))
        with open(results_csv, "a", newline="") as f:
            csv.writer(f).writerow([epoch] + [f"{row[k]:.6g}" for k in RESULT_KEYS])
        board.scalars(row, epoch)
        improved = fit > best_fitness or not (wdir / "best.pt").exists()
        best_fitness = max(best_fitness, fit)
        common = dict(names=names, epoch=epoch, best_fitness=best_fitness, metrics=metrics,
                      opt=asdict(opt), hyp=hyp_raw, cfg=opt.cfg or getattr(unwrap(model), "yaml", None))
        checkpoints.save_training_state(wdir / "last.pt", ema.ema, unwrap(model), optimizer, ema.updates, **common)
        if improved:
            checkpoints.save_training_state(wdir / "best.pt", ema.ema, None, None, None, **common)

    if main:
        from y7deploy.train.plots import plot_results

        plot_results(results_csv, save_dir / "results.png")
        board.close()
        say(f"Results saved to {save_dir}")
    if world > 1 and dist.is_initialized():
        dist.destroy_process_group()
    ips = images_seen * world / train_time if train_time else 0.0
    return TrainResult(save_dir, epoch + 1, best_fitness, metrics, ips, transferred)
