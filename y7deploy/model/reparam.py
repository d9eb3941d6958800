"""Training form -> deploy form, with the same outputs.

What changes (upstream's tools/reparameterization.ipynb, done generically for any cfg):
- the head: IDetect's implicit layers are folded into its 1x1 convs
  (``W' = W * im``, ``b' = (b + W @ ia) * im``); IAuxDetect keeps only its lead head, and the
  rows that fed only the auxiliary head are dropped (so later rows are renumbered);
- every Conv's BN and every RepConv's three branches are folded into single biased convs;
- the trained anchors are carried over from the model, never re-read from the cfg (the
  notebook does the latter for the P6 models, and their boxes come out of scale).
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import Any

import torch

from y7deploy.errors import UserError
from y7deploy.model.checkpoint import load_checkpoint, save_checkpoint
from y7deploy.model.yolo import IAuxDetect, IDetect, Model


def _absolute(ref: int, row: int) -> int:
    """A row's ``from`` entry as an absolute row index (negative entries count back from it)."""
    return ref if ref >= 0 else row + ref


def deploy_cfg(cfg: dict) -> tuple[dict, dict[int, int]]:
    """The deploy-form cfg of a training-form cfg, and the map old row index -> new row index.

    IDetect/IAuxDetect become Detect; for IAuxDetect only the rows the lead head needs are
    kept. Relative ``from`` entries stay relative, absolute ones stay absolute.
    """
    rows = [list(r) for r in list(cfg["backbone"]) + list(cfg["head"])]
    n_backbone = len(cfg["backbone"])
    head_i = len(rows) - 1
    froms, _, name, args = rows[head_i]
    if name not in ("Detect", "IDetect", "IAuxDetect"):
        raise UserError(f"cfg: the last row must be a detection head, got {name!r}")
    froms = [froms] if isinstance(froms, int) else list(froms)
    if name == "IAuxDetect":
        froms = froms[: len(cfg["anchors"]) if isinstance(cfg["anchors"], list) else len(froms) // 2]

    needed = {head_i}
    stack = [_absolute(j, head_i) for j in froms]
    while stack:
        j = stack.pop()
        if j in needed or j < 0:
            continue
        needed.add(j)
        f = rows[j][0]
        stack.extend(_absolute(x, j) for x in ([f] if isinstance(f, int) else f))
    keep = {old: new for new, old in enumerate(sorted(needed))}

    def remap(ref: int, old_row: int) -> int:
        if ref == -1 and old_row == 0:
            return -1  # the input image
        new = keep[_absolute(ref, old_row)]
        return new - keep[old_row] if ref < 0 else new

    new_rows = []
    for old in sorted(needed):
        f, n, module, a = rows[old]
        if old == head_i:
            f, module = froms, "Detect"
        f = remap(f, old) if isinstance(f, int) else [remap(x, old) for x in f]
        new_rows.append([f, n, module, a])
    out = {k: deepcopy(v) for k, v in cfg.items() if k not in ("backbone", "head")}
    nb = sum(1 for old in needed if old < n_backbone)
    out["backbone"], out["head"] = new_rows[:nb], new_rows[nb:]
    return out, keep


def _folded_head(head) -> dict[str, torch.Tensor]:
    """State-dict entries of a Detect equal to ``head``'s lead outputs, implicit layers folded."""
    sd = {"anchors": head.anchors.detach().clone(), "anchor_grid": head.anchor_grid.detach().clone()}
    dtype = _working_dtype(head)
    for i in range(head.nl):
        w = head.m[i].weight.detach().to(dtype)
        b = head.m[i].bias.detach().to(dtype)
        if isinstance(head, IDetect):  # IAuxDetect is an IDetect too
            ia = head.ia[i].implicit.detach().to(dtype).reshape(-1)
            im = head.im[i].implicit.detach().to(dtype).reshape(-1)
            b = (b + w.reshape(w.shape[0], -1) @ ia) * im
            w = w * im.reshape(-1, 1, 1, 1)
        sd[f"m.{i}.weight"], sd[f"m.{i}.bias"] = w, b
    return sd


def _working_dtype(module: torch.nn.Module) -> torch.dtype:
    """float32 for half-precision weights (folding in fp16 loses digits), else the weights' own."""
    return torch.promote_types(next(module.parameters()).dtype, torch.float32)


def reparameterize(model: Model, fuse: bool = True) -> Model:
    """A new deploy-form Model (eval mode) computing what ``model`` computes in eval mode, in
    ``model``'s precision (at least float32).

    ``fuse=False`` stops after the head swap (Conv/RepConv still carry their BNs): the form
    upstream's reparameterization notebook saves.
    """
    dcfg, keep = deploy_cfg(model.yaml)
    deploy = Model(dcfg, names=model.names).to(_working_dtype(model))
    head_old, head_new = len(model.model) - 1, len(deploy.model) - 1
    sd = {}
    for key, value in model.state_dict().items():
        _, idx, rest = key.split(".", 2)
        if int(idx) != head_old and int(idx) in keep:
            sd[f"model.{keep[int(idx)]}.{rest}"] = value
    sd.update({f"model.{head_new}.{k}": v for k, v in _folded_head(model.model[-1]).items()})
    missing, unexpected = deploy.load_state_dict(sd, strict=False)
    if missing or unexpected:  # a structural bug, not user input
        raise RuntimeError(f"deploy model mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    deploy.to(next(model.parameters()).device).eval()
    with torch.no_grad():
        if fuse:
            deploy.fuse()
    return deploy


def is_deploy_form(model: Model) -> bool:
    """True when the head has no implicit layers and no auxiliary head."""
    return not isinstance(model.model[-1], (IDetect, IAuxDetect))


def reparam_checkpoint(weights: str | Path, out: str | Path, cfg: str | None = None) -> dict[str, Any]:
    """`y7deploy reparam`: a checkpoint in deploy form, for users who run PyTorch inference on it.

    Export does this itself; the command exists for upstream's workflow (the
    reparameterization notebook) and to inspect the deploy model on its own.
    """
    weights, out = Path(weights), Path(out)
    if not weights.is_file():
        raise UserError(f"{weights}: no such checkpoint file")
    if out.resolve() == weights.resolve():
        raise UserError(f"--out {out} is the input checkpoint; write the deploy form to another file")
    ckpt = load_checkpoint(weights, cfg=cfg)
    was_deploy = is_deploy_form(ckpt.model) and bool(ckpt.model.yaml.get("fused"))
    deploy = reparameterize(ckpt.model.float())
    # Epoch, metrics and the architecture's name travel along, so an export of the
    # deploy file still records them (and names its release after the cfg).
    extra = {"cfg": ckpt.cfg_name} if ckpt.cfg_name else {}
    save_checkpoint(out, deploy, list(ckpt.names), epoch=ckpt.epoch, metrics=dict(ckpt.metrics), **extra)
    return {
        "source": str(weights),
        "out": str(out),
        "kind": ckpt.kind,
        "params": sum(p.numel() for p in deploy.parameters()),
        "changed": "already in deploy form, copied" if was_deploy else "reparameterized",
    }
