"""A checkpoint upstream YOLOv7's own code loads: `y7deploy export --format upstream-pt`.

Upstream's test.py and detect.py read weights with ``attempt_load`` and its train.py with
``torch.load(w)['model']``: both unpickle objects of upstream's classes (``models.yolo.Model``,
``models.common.Conv``...) and call their methods. Our classes carry upstream's class names,
attribute names and state-dict keys (see yolo.py), so a copy of our model that also has the
few attributes upstream's objects have beyond ours, pickled under upstream's module paths,
is an upstream model once unpickled next to upstream's code. Upstream is never imported here.

The file is the dict upstream's strip_optimizer leaves (its best.pt): the training-form model
in fp16 without gradients, ``epoch`` -1, no optimizer. The head's anchors (the trained or
auto-anchored ones, as the checkpoint holds them) are in the model's buffers and also written
into its ``yaml``, so a model upstream rebuilds from that cfg starts from them too.
"""

from __future__ import annotations

import pickle
from copy import deepcopy
from pathlib import Path
from typing import Any

import torch

from y7deploy.errors import UserError
from y7deploy.model import yolo
from y7deploy.model.yolo import Model

_IN_YOLO_PY = ("Model", "Detect", "IDetect", "IAuxDetect")  # upstream's models/yolo.py; the rest: common.py


def upstream_names() -> dict[type, tuple[str, str]]:
    """Our class -> (upstream module, class name) for every class a cfg can build."""
    ours = {name: cls for name, cls in yolo.MODULES.items() if not name.startswith("nn.")}
    ours["Model"] = Model
    return {cls: ("models.yolo" if name in _IN_YOLO_PY else "models.common", name) for name, cls in ours.items()}


class _UpstreamPickler(pickle._Pickler):
    """Pickles our classes by upstream's names (``models.common.Conv``), everything else as usual.

    The pure-Python pickler is the one whose global lookup can be overridden; the C pickler
    insists that the name it writes resolves to the object here, which upstream's does not.
    """

    renamed = upstream_names()

    def save_global(self, obj: Any, name: str | None = None) -> None:
        target = self.renamed.get(obj) if isinstance(obj, type) else None
        if target is None:
            return super().save_global(obj, name)
        module, qualname = target
        if self.proto >= 4:
            self.save(module)
            self.save(qualname)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode("ascii"))
        self.memoize(obj)


class _UpstreamPickle:
    """Stands in for the ``pickle`` module in ``torch.save(pickle_module=...)``."""

    __name__ = "y7deploy_upstream_pickle"
    Pickler = _UpstreamPickler


def head_anchors_px(model: Model) -> list[list[float]]:
    """The head's anchors in pixels, one flat [w, h, w, h, ...] list per level (the cfg's layout)."""
    return [[float(v) for v in level.reshape(-1).tolist()] for level in model.head.anchor_grid]


def upstream_model(model: Model, yaml_file: str | None = None, half: bool = True) -> Model:
    """A copy of ``model`` with the attributes upstream's objects carry beyond ours.

    Training or notebook (unfused) form only: upstream's loaders fuse Conv+BN themselves and
    cannot fuse a conv whose BN is already folded.
    """
    if model.yaml.get("fused"):
        raise UserError("a fused (reparameterized) model cannot become an upstream checkpoint: upstream's "
                        "loaders fold BN themselves; export the training checkpoint (best.pt or last.pt)")
    up = deepcopy(model).float().eval()
    up.yaml = {k: v for k, v in deepcopy(model.yaml).items() if k != "fused"}
    up.yaml["nc"] = up.nc
    up.yaml["anchors"] = head_anchors_px(model)
    up.names = [str(n) for n in model.names]
    up.traced = False
    if yaml_file:
        up.yaml_file = yaml_file
    head = up.head
    head.grid = [torch.zeros(1)] * head.nl
    for m in up.model:
        m.np = sum(p.numel() for p in m.parameters())
    if half:
        up.half()
    for p in up.parameters():
        p.requires_grad = False
    return up


def save_upstream_checkpoint(path: str | Path, model: Model, *, yaml_file: str | None = None,
                             best_fitness: float | None = None, half: bool = True) -> Path:
    """Write ``model`` as upstream's strip_optimizer dict around a pickled ``models.yolo.Model``."""
    path = Path(path)
    data = {"epoch": -1, "best_fitness": best_fitness, "training_results": None,
            "model": upstream_model(model, yaml_file, half), "ema": None, "updates": None, "optimizer": None,
            "wandb_id": None}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(data, tmp, pickle_module=_UpstreamPickle, pickle_protocol=2)
    tmp.replace(path)
    return path


def export_upstream(weights: str | Path, out: str | Path | None = None, *, cfg: str | None = None,
                    force: bool = False) -> dict[str, Any]:
    """`y7deploy export WEIGHTS --format upstream-pt`: any checkpoint load_checkpoint reads -> an
    upstream best.pt (default: next to WEIGHTS as STEM-upstream.pt)."""
    from y7deploy.model.checkpoint import load_checkpoint

    weights = Path(weights)
    out = Path(out) if out is not None else weights.with_name(f"{weights.stem}-upstream.pt")
    if out.exists() and not force:
        raise UserError(f"{out} already exists (use --force to replace it)")
    if out.resolve() == weights.resolve():
        raise UserError(f"--out {out} is the input checkpoint; write the upstream file elsewhere")
    ckpt = load_checkpoint(weights, cfg=cfg)
    best = ckpt.metrics.get("best_fitness")
    save_upstream_checkpoint(out, ckpt.model, yaml_file=f"{ckpt.cfg_name}.yaml" if ckpt.cfg_name else None,
                             best_fitness=float(best) if best is not None else None)
    return {"source": str(weights), "out": str(out), "kind": ckpt.kind, "names": list(ckpt.names),
            "anchors": head_anchors_px(ckpt.model), "params": sum(p.numel() for p in ckpt.model.parameters())}
