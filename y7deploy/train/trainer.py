"""Training a YOLOv7 on a data yaml: one process, or one per GPU under torchrun (DDP).

The recipe is upstream's train.py, in named steps (check_inputs, setup_device,
prepare_run_dir, build_model, build_loaders, fit_anchors, build_optimisation,
train_one_epoch, evaluate_epoch, record_epoch): autoanchor, parameter groups (decay only
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
from y7deploy.train.progress import Board, Progress

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
    noautoanchor: bool = False  # keep the cfg's anchors even when they fit the labels badly
    warmup_epochs: float | None = None  # overrides the hyp's warmup_epochs
    save_dir: str | None = None  # set by the trainer


@dataclass
class TrainResult:
    save_dir: Path
    epochs_done: int
    best_fitness: float
    last_metrics: dict
    images_per_second: float
    transferred: tuple[int, int] | None = None  # (moved, total) from --weights
    epochs: list = field(default_factory=list)  # one Epoch (times, images) per epoch trained now


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


@dataclass
class Setup:
    """What the checks before any work produce."""

    opt: TrainOptions
    resume_from: Path | None
    rank: int
    local_rank: int
    world: int
    data: object  # y7deploy.data.config.DataConfig
    hyp_raw: dict  # as read (and as saved), warmup_epochs overridden by --warmup-epochs

    @property
    def main(self) -> bool:
        return self.rank in (-1, 0)


@dataclass
class ModelState:
    model: nn.Module
    start_epoch: int = 0
    best_fitness: float = 0.0
    resume_state: checkpoints.TrainingState | None = None
    transferred: tuple[int, int] | None = None


@dataclass
class Optimisation:
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    lf: Callable[[float], float]
    ema: ModelEMA | None
    hyp: dict  # scaled to this run (loss gains, weight decay)
    accumulate: int
    total_batch: int


class Refused(UserError):
    """A hyperparameter y7deploy does not implement: refused rather than silently ignored."""


def refuse_unsupported_hyp(hyp: dict, where: str, anchors_per_level: int | None) -> None:
    """Keys upstream acts on that y7deploy does not (and says so instead of ignoring them).

    `iou_t` is accepted: upstream reads it nowhere either (its use in the loss is commented out).
    """
    if hyp.get("loss_ota", 1) != 1:
        raise Refused(f"{where}: loss_ota {hyp['loss_ota']}: only the OTA loss (loss_ota: 1) is implemented")
    if anchors_per_level is not None and hyp.get("anchors") not in (None, 0, anchors_per_level):
        raise Refused(f"{where}: anchors {hyp['anchors']}: the model has {anchors_per_level} anchors per level; "
                      "change the count in the model cfg instead")


def check_inputs(opt: TrainOptions, explicit: set[str]) -> Setup:
    """Everything that costs nothing, before any work: bad input fails here."""
    from y7deploy.data.config import load_data_config
    from y7deploy.data.dataset import check_img_size
    from y7deploy.data.hyp import load_hyp, resolve_hyp
    from y7deploy.model.yolo import resolve_cfg

    resume_from = None
    if opt.resume is not None:
        opt, resume_from = resolve_resume(opt, explicit)
    rank, local_rank, world = ddp_env()
    if opt.epochs < 1:
        raise UserError(f"--epochs {opt.epochs}: must be at least 1")
    if opt.batch_size < 1 or opt.batch_size % world:
        raise UserError(f"--batch-size {opt.batch_size}: must be a positive multiple of the {world} processes")
    if opt.warmup_epochs is not None and opt.warmup_epochs < 0:
        raise UserError(f"--warmup-epochs {opt.warmup_epochs}: must be 0 or more")
    check_img_size(opt.img_size)
    data = load_data_config(opt.data)
    hyp_name = opt.hyp or "scratch.custom"
    hyp_raw = load_hyp(hyp_name)
    if opt.warmup_epochs is not None:
        hyp_raw["warmup_epochs"] = float(opt.warmup_epochs)
    if opt.cfg is None and opt.weights is None:
        raise UserError("give --cfg (yolov7-tiny, yolov7, ... or a yaml) or --weights to start from")
    na = None
    if opt.cfg is not None:
        cfg = resolve_cfg(opt.cfg)  # unknown cfg -> UserError now, not after loading data
        anchors = cfg.get("anchors")
        na = len(anchors[0]) // 2 if isinstance(anchors, list) else int(anchors)
    refuse_unsupported_hyp(hyp_raw, str(resolve_hyp(hyp_name)), na)
    return Setup(opt, resume_from, rank, local_rank, world, data, hyp_raw)


def setup_device(setup: Setup) -> torch.device:
    """The device (refusing CUDA asked for but absent) and, under torchrun, the process group."""
    opt, world = setup.opt, setup.world
    device = select_device(opt.device, opt.batch_size)
    if world > 1:
        cuda = device.type == "cuda"
        if cuda:
            torch.cuda.set_device(setup.local_rank)
            device = torch.device("cuda", setup.local_rank)
        else:
            device = torch.device("cpu")
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if cuda else "gloo")
    seed_everything(opt.seed + 1 + max(setup.rank, 0))
    return device


def prepare_run_dir(setup: Setup) -> Path:
    """runs/train/NAME (the resumed run's own dir when resuming), with hyp.yaml and opt.yaml."""
    opt = setup.opt
    if setup.resume_from is not None:
        save_dir = setup.resume_from.parent.parent
    else:
        save_dir = increment_path(Path(opt.project) / opt.name, opt.exist_ok)
    opt.save_dir = str(save_dir)
    if setup.main:
        (save_dir / "weights").mkdir(parents=True, exist_ok=True)
        (save_dir / "hyp.yaml").write_text(yaml.safe_dump(setup.hyp_raw, sort_keys=False))
        (save_dir / "opt.yaml").write_text(yaml.safe_dump(asdict(opt), sort_keys=False))
    return save_dir


def build_model(setup: Setup, device: torch.device, say: Callable[[str], None]) -> ModelState:
    """From our last.pt (--resume), from weights (--weights, upstream's or ours), or from a cfg."""
    from y7deploy.model.yolo import build_model as build

    opt, names = setup.opt, list(setup.data.names)
    if setup.resume_from is not None:
        state = checkpoints.load_training_state(setup.resume_from)
        built = ModelState(state.model, state.epoch + 1, state.best_fitness, state)
        if built.start_epoch >= opt.epochs:
            raise UserError(f"--resume: {setup.resume_from} has already trained {built.start_epoch} epochs; "
                            f"pass --epochs larger than {built.start_epoch} to train on")
        say(f"Resuming {setup.resume_from} from epoch {built.start_epoch + 1} to {opt.epochs}")
    elif opt.weights:
        source = checkpoints.load_weights(opt.weights)
        model = build(opt.cfg or source.cfg, nc=setup.data.nc, names=names)
        moved, total = checkpoints.transfer(source.state_dict, model, skip_anchors=opt.cfg is not None)
        built = ModelState(model, transferred=(moved, total))
        say(f"Transferred {moved}/{total} items from {opt.weights}")
    else:
        built = ModelState(build(opt.cfg, nc=setup.data.nc, names=names))
    built.model.names = names
    built.model = built.model.to(device)
    frozen = freeze_layers(built.model, opt.freeze)
    if frozen:
        say(f"Froze {frozen} parameter tensors")
    return built


def fit_anchors(setup: Setup, model: nn.Module, dataset, say: Callable[[str], None]) -> None:
    """Upstream's autoanchor at the start of a new run (not on resume, not with --noautoanchor)."""
    from y7deploy.train.autoanchor import check_anchors

    if setup.resume_from is not None:
        return
    if setup.opt.noautoanchor:
        say("autoanchor: skipped (--noautoanchor), the cfg's anchors are used as they are")
        return
    report = check_anchors(model, head_of(model), dataset.shapes, dataset.labels, setup.opt.img_size,
                           setup.hyp_raw["anchor_t"], np.random.default_rng(setup.opt.seed))
    say(report.message)


def build_optimisation(setup: Setup, model: nn.Module, built: ModelState) -> Optimisation:
    """SGD/Adam groups, LR schedule, EMA and the run's scaled hyp; restored when resuming."""
    opt, data = setup.opt, setup.data
    head = head_of(model)
    total_batch = opt.batch_size
    accumulate = max(round(opt.nbs / total_batch), 1)
    hyp = dict(setup.hyp_raw)
    hyp["weight_decay"] *= total_batch * accumulate / opt.nbs
    hyp = scale_loss_gains(hyp, head.nl, data.nc, opt.img_size, opt.label_smoothing)
    optimizer = build_optimizer(model, hyp, opt.adam)
    lf = lr_lambda(opt.epochs, hyp["lrf"], opt.linear_lr)
    ema = ModelEMA(model) if setup.main else None
    state = built.resume_state
    if state is not None:
        if state.optimizer is not None:
            optimizer.load_state_dict(state.optimizer)
        if ema is not None and state.ema_updates is not None:
            ema.ema.load_state_dict(state.ema_state)
            ema.updates = state.ema_updates
    for g in optimizer.param_groups:
        g.setdefault("initial_lr", hyp["lr0"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lf, last_epoch=built.start_epoch - 1)
    return Optimisation(optimizer, scheduler, lf, ema, hyp, accumulate, total_batch)


def wrap_distributed(setup: Setup, model: nn.Module, device: torch.device, say: Callable[[str], None]) -> nn.Module:
    cuda = device.type == "cuda"
    if setup.world > 1:
        if setup.opt.sync_bn and cuda:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model).to(device)
            say("Using SyncBatchNorm")
        return nn.parallel.DistributedDataParallel(
            model, device_ids=[setup.local_rank] if cuda else None,
            output_device=setup.local_rank if cuda else None)
    if setup.opt.sync_bn:
        say("--sync-bn has no effect without torchrun on several GPUs")
    return model


def build_loaders(setup: Setup, stride: int, save_dir: Path):
    """(train loader, its dataset, val loader or None off rank 0); refuses labels beyond nc."""
    from y7deploy.data.dataset import create_dataloader
    from y7deploy.train.val import create_val_loader

    opt, data = setup.opt, setup.data
    batch_size = opt.batch_size // setup.world
    loader, dataset = create_dataloader(
        list(data.train), opt.img_size, batch_size, stride, hyp=setup.hyp_raw, augment=True, rect=opt.rect,
        workers=opt.workers, seed=opt.seed, rank=setup.rank, nc=data.nc)
    labels = np.concatenate([lb for lb in dataset.labels if len(lb)] or [np.zeros((0, 5))], 0)
    if len(labels) and labels[:, 0].max() >= data.nc:
        raise UserError(f"{opt.data}: a label has class {int(labels[:, 0].max())}, but nc is {data.nc}")
    val_loader = None
    if setup.main:
        val_loader, _ = create_val_loader(list(data.val), opt.img_size, batch_size * 2, stride,
                                          workers=opt.workers, nc=data.nc)
        from y7deploy.train.plots import plot_labels

        plot_labels(labels, list(data.names), save_dir / "labels.png")
    return loader, dataset, val_loader


UPSTREAM_WARMUP_FLOOR = 1000  # iterations


def warmup_iterations(warmup_epochs: float, nb: int, epochs: int) -> tuple[int, str]:
    """(iterations, why) of warmup: upstream's max(warmup_epochs x batches, 1000), with the
    1000-iteration floor capped at a fifth of the run, so a short run on a small set leaves
    warmup (upstream's would warm up for the whole run). warmup_epochs 0 turns it off."""
    if warmup_epochs <= 0:
        return 0, "warmup: off (warmup_epochs 0)"
    asked = round(warmup_epochs * nb)
    floor = min(UPSTREAM_WARMUP_FLOOR, nb * epochs // 5)
    nw = max(asked, floor)
    why = f"warmup: {nw} iterations (warmup_epochs {warmup_epochs:g} = {asked}"
    if floor < UPSTREAM_WARMUP_FLOOR:
        why += f"; upstream's {UPSTREAM_WARMUP_FLOOR}-iteration floor capped at a fifth of this run, {floor})"
    else:
        why += f"; upstream's floor {UPSTREAM_WARMUP_FLOOR})"
    return nw, why


def warmup_step(optimizer: torch.optim.Optimizer, hyp: dict, ni: int, nw: int, epoch: int,
                lf: Callable[[float], float], nbs: int, total_batch: int) -> int:
    """Ramp LR (bias from warmup_bias_lr, others from 0) and momentum; returns the accumulation."""
    xi = [0, nw]
    for j, g in enumerate(optimizer.param_groups):
        start = hyp["warmup_bias_lr"] if j == 2 else 0.0
        g["lr"] = np.interp(ni, xi, [start, g["initial_lr"] * lf(epoch)])
        if "momentum" in g:
            g["momentum"] = np.interp(ni, xi, [hyp["warmup_momentum"], hyp["momentum"]])
    return max(1, int(np.interp(ni, xi, [1, nbs / total_batch]).round()))


@dataclass
class Epoch:
    mloss: torch.Tensor  # box, obj, cls, total (means over the epoch)
    images: int
    seconds: float
    data_seconds: float  # of which waiting for the loader


def train_one_epoch(model: nn.Module, loader, optim: Optimisation, compute_loss, scaler, epoch: int, nw: int,
                    state: dict, setup: Setup, device: torch.device, save_dir: Path) -> Epoch:
    """One pass over the loader: forward, loss, backward, accumulated optimizer steps, EMA.

    `state` carries what outlives an epoch: last_opt_step and the current accumulation.
    """
    opt, cuda = setup.opt, device.type == "cuda"
    model.train()
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    nb = len(loader)
    mloss = torch.zeros(4, device=device)
    bar = Progress(nb, epoch, opt.epochs, setup.main)
    t_epoch = time.perf_counter()
    data_time, images = 0.0, 0
    t_data = time.perf_counter()
    for i, (imgs, targets, _paths, _shapes) in enumerate(loader):
        data_time += time.perf_counter() - t_data
        ni = i + nb * epoch
        imgs = imgs.to(device, non_blocking=True).float() / 255.0
        targets = targets.to(device)
        if ni <= nw:
            state["accumulate"] = warmup_step(optim.optimizer, optim.hyp, ni, nw, epoch, optim.lf, opt.nbs,
                                              optim.total_batch)
        with torch.autocast("cuda", enabled=cuda):
            pred = model(imgs)
            loss, loss_items = compute_loss(pred, targets, imgs)
            if setup.world > 1:
                loss = loss * setup.world  # DDP averages gradients over processes
        scaler.scale(loss).backward()
        if ni - state["last_opt_step"] >= state["accumulate"]:
            scaler.step(optim.optimizer)
            scaler.update()
            optim.optimizer.zero_grad()
            if optim.ema is not None:
                optim.ema.update(model)
            state["last_opt_step"] = ni
        mloss = (mloss * i + loss_items) / (i + 1)
        images += imgs.shape[0]
        bar.update(mloss, targets.shape[0], imgs.shape[-1])
        if setup.main and epoch == state["first_epoch"] and i < 3:
            from y7deploy.train.plots import plot_batch, targets_to_rows

            plot_batch(imgs, targets_to_rows(targets, *imgs.shape[-2:]), save_dir / f"train_batch{i}.jpg",
                       list(setup.data.names))
        t_data = time.perf_counter()
    bar.close()
    return Epoch(mloss, images, time.perf_counter() - t_epoch, data_time)


def evaluate_epoch(ema_model: nn.Module, val_loader, setup: Setup, device: torch.device, compute_loss,
                   plots_dir: Path | None, say: Callable[[str], None]) -> tuple[dict, dict, float]:
    """(metrics, val losses, fitness) of the EMA weights, as upstream's test.py scores them."""
    from y7deploy.train.val import evaluate

    res = evaluate(ema_model, val_loader, list(setup.data.names), device, compute_loss=compute_loss, half=False,
                   plots_dir=plots_dir)
    metrics = {"metrics/precision": res.ap.mp, "metrics/recall": res.ap.mr,
               "metrics/mAP_0.5": res.map50, "metrics/mAP_0.5:0.95": res.map}
    val_loss = dict(zip(["val/box_loss", "val/obj_loss", "val/cls_loss"], res.loss))
    say(f"  val: P {res.ap.mp:.3f}  R {res.ap.mr:.3f}  mAP@.5 {res.map50:.3f}  mAP@.5:.95 {res.map:.3f}")
    return metrics, val_loss, fitness(res.map50, res.map)


def record_epoch(results_csv: Path, board: Board, epoch: int, mloss: torch.Tensor, metrics: dict,
                 val_loss: dict, lrs: list[float]) -> None:
    """One row of results.csv (and TensorBoard): train losses, last metrics, val losses, LRs."""
    row = dict(zip(RESULT_KEYS[:3], mloss[:3].tolist()))
    row.update({k: metrics.get(k, 0.0) for k in RESULT_KEYS[3:7]})
    row.update({k: val_loss.get(k, 0.0) for k in RESULT_KEYS[7:10]})
    row.update(dict(zip(RESULT_KEYS[10:], lrs)))
    if not results_csv.exists():
        with open(results_csv, "w", newline="") as f:
            csv.writer(f).writerow(["epoch", *RESULT_KEYS])
    with open(results_csv, "a", newline="") as f:
        csv.writer(f).writerow([epoch] + [f"{row[k]:.6g}" for k in RESULT_KEYS])
    board.scalars(row, epoch)


def train(opt: TrainOptions, explicit: set[str] | None = None, say: Callable[[str], None] = print) -> TrainResult:
    """Run a whole training; `explicit` names the options the user typed (for --resume)."""
    setup = check_inputs(opt, explicit or set())
    opt = setup.opt
    say = say if setup.main else (lambda _msg: None)
    device = setup_device(setup)
    save_dir = prepare_run_dir(setup)
    wdir = save_dir / "weights"
    names = list(setup.data.names)

    built = build_model(setup, device, say)
    model = built.model
    gs = max(int(head_of(model).stride.max()), 32)
    from y7deploy.data.dataset import check_img_size

    check_img_size(opt.img_size, gs)
    loader, dataset, val_loader = build_loaders(setup, gs, save_dir)
    fit_anchors(setup, model, dataset, say)  # before the EMA copy and the loss read the anchors
    optim = build_optimisation(setup, model, built)
    model = wrap_distributed(setup, model, device, say)
    nb = len(loader)
    nw, warmup_why = warmup_iterations(setup.hyp_raw["warmup_epochs"], nb, opt.epochs)
    compute_loss = build_loss(model, optim.hyp)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    board = Board(save_dir if setup.main else None, say)
    world = setup.world
    say(f"Training {opt.cfg or opt.weights} on {len(dataset)} images ({len(val_loader.dataset) if val_loader else 0} val), "
        f"{device}{f' world {world}' if world > 1 else ''}, batch {optim.total_batch} "
        f"(x{optim.accumulate} accumulation), img {opt.img_size}, "
        f"epochs {built.start_epoch + 1}..{opt.epochs} -> {save_dir}")
    say(warmup_why)

    results_csv = save_dir / "results.csv"
    state = {"last_opt_step": -1, "accumulate": optim.accumulate, "first_epoch": built.start_epoch}
    epochs_trained: list[Epoch] = []
    best_fitness = built.best_fitness
    metrics = built.resume_state.metrics if built.resume_state is not None else {}
    optim.optimizer.zero_grad()
    epoch = built.start_epoch
    for epoch in range(built.start_epoch, opt.epochs):
        done = train_one_epoch(model, loader, optim, compute_loss, scaler, epoch, nw, state, setup, device, save_dir)
        epochs_trained.append(done)
        lrs = [g["lr"] for g in optim.optimizer.param_groups]
        optim.scheduler.step()
        if not setup.main:
            continue
        final = epoch + 1 == opt.epochs
        val_loss, fit = {}, -1.0
        if final or (epoch + 1) % max(opt.val_every, 1) == 0:
            metrics, val_loss, fit = evaluate_epoch(optim.ema.ema, val_loader, setup, device, compute_loss,
                                                    save_dir if final else None, say)
        record_epoch(results_csv, board, epoch, done.mloss, metrics, val_loss, lrs)
        improved = fit > best_fitness or not (wdir / "best.pt").exists()
        best_fitness = max(best_fitness, fit)
        common = dict(names=names, epoch=epoch, best_fitness=best_fitness, metrics=metrics,
                      opt=asdict(opt), hyp=setup.hyp_raw, cfg=opt.cfg or getattr(unwrap(model), "yaml", None))
        checkpoints.save_training_state(wdir / "last.pt", optim.ema.ema, unwrap(model), optim.optimizer,
                                        optim.ema.updates, **common)
        if improved:
            checkpoints.save_training_state(wdir / "best.pt", optim.ema.ema, None, None, None, **common)

    if setup.main:
        from y7deploy.train.plots import plot_results

        plot_results(results_csv, save_dir / "results.png")
        board.close()
        say(f"Results saved to {save_dir}")
    if world > 1 and dist.is_initialized():
        dist.destroy_process_group()
    train_time = sum(e.seconds for e in epochs_trained)
    ips = sum(e.images for e in epochs_trained) * world / train_time if train_time else 0.0
    return TrainResult(save_dir, epoch + 1, best_fitness, metrics, ips, built.transferred, epochs_trained)
