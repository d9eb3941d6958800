"""What a training run reads and writes as .pt, on top of the model room's checkpoint format.

`y7deploy.model.checkpoint` owns the file format (and the safe loading of upstream
pickles); this module only decides what a run puts in it:
- `model` is the EMA weights: what `val` and `export` should use, as upstream's `ema`;
- `last.pt` also carries the raw training weights, the optimizer and the EMA counter,
  everything `--resume` needs to continue as if never stopped; `best.pt` does not.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from y7deploy.errors import UserError


@dataclass
class SourceWeights:
    """Weights to start from (`--weights`): upstream's or ours."""

    state_dict: dict
    cfg: Any  # the architecture they were trained with (a cfg dict)


@dataclass
class TrainingState:
    model: nn.Module  # the raw training weights, ready to train on
    ema_state: dict
    ema_updates: int | None
    optimizer: dict | None
    epoch: int
    best_fitness: float
    metrics: dict  # of the last evaluation, carried into results.csv until the next one


def _extra(ckpt: Any) -> dict:
    """The extra fields save_checkpoint stored (attribute `extra`, or a plain dict)."""
    if isinstance(ckpt, dict):
        return ckpt
    extra = getattr(ckpt, "extra", None)
    return dict(extra) if isinstance(extra, dict) else {}


def _load(path: str | Path):
    from y7deploy.model.checkpoint import load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint file")
    return load_checkpoint(path)


def load_weights(path: str | Path) -> SourceWeights:
    ckpt = _load(path)
    model = ckpt.model
    return SourceWeights({k: v.float() if v.dtype.is_floating_point else v for k, v in model.state_dict().items()},
                         getattr(model, "yaml", None))


def transfer(state_dict: dict, model: nn.Module, skip_anchors: bool = False) -> tuple[int, int]:
    """Copy every tensor whose name and shape match; returns (moved, tensors in the model).

    A different class count changes the head's shapes, so the head is left as built.
    With an explicit --cfg the anchors come from the cfg, not the weights (upstream's rule).
    """
    own = model.state_dict()
    moved = {
        k: v for k, v in state_dict.items()
        if k in own and own[k].shape == v.shape and not (skip_anchors and "anchor" in k)
    }
    model.load_state_dict(moved, strict=False)
    return len(moved), len(own)


def load_training_state(path: str | Path) -> TrainingState:
    ckpt = _load(path)
    extra = _extra(ckpt)
    if "train_state" not in extra:
        raise UserError(f"{path}: not a y7deploy last.pt (no training state to resume from)")
    model = deepcopy(ckpt.model).float()
    model.load_state_dict(extra["train_state"])
    return TrainingState(
        model=model,
        ema_state=ckpt.model.float().state_dict(),
        ema_updates=extra.get("ema_updates"),
        optimizer=extra.get("optimizer"),
        epoch=int(extra.get("epoch", getattr(ckpt, "epoch", -1))),
        best_fitness=float(extra.get("best_fitness", 0.0)),
        metrics=dict(getattr(ckpt, "metrics", None) or {}),
    )


def save_training_state(path: Path, ema_model: nn.Module, train_model: nn.Module | None,
                        optimizer: torch.optim.Optimizer | None, ema_updates: int | None,
                        names: list[str], **info: Any) -> None:
    """Write best.pt (train_model None: weights only) or last.pt (everything to resume)."""
    from y7deploy.model.checkpoint import save_checkpoint

    extra = dict(info)
    if train_model is not None:
        extra["train_state"] = {k: v.detach().cpu() for k, v in train_model.state_dict().items()}
        extra["optimizer"] = optimizer.state_dict() if optimizer is not None else None
        extra["ema_updates"] = ema_updates
    tmp = path.with_name(path.name + ".tmp")
    save_checkpoint(tmp, ema_model, names, **extra)
    tmp.replace(path)  # a crash mid-write never leaves a truncated last.pt


def load_model(path: str | Path) -> tuple[nn.Module, list[str]]:
    """The model a checkpoint holds (the EMA for ours) and its class names, for evaluation."""
    ckpt = _load(path)
    model = ckpt.model
    names = list(getattr(ckpt, "names", None) or getattr(model, "names", None) or [])
    return model, names
