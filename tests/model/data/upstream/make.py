"""Regenerate the checkpoints in this folder with upstream YOLOv7's own code.

    python tests/model/data/upstream/make.py /path/to/WongKinYiu/yolov7

Made from upstream commit a207844b1ce82d204ab36d87d496728d3d2348e7 with torch 2.13 (CPU).
Not run by the tests and not part of y7deploy: it imports upstream's `models`/`utils`,
which y7deploy must never need. Upstream's modules for plotting, datasets and logging
import packages the y7deploy environment lacks (pandas, torchvision, scipy, ...); they
are not used to build or save a model, so empty stand-ins are put in their place.

Each file is saved the way upstream saves it, by upstream's code paths, from a network
at a tiny width (width_multiple 1/32, so the files stay small) with non-trivial BN
statistics and implicit values (``randomize``, shared with tests/model/conftest.py):
- yolov7-tiny_last.pt  train.py's dict (model, EMA, SGD optimizer state, numpy best_fitness)
- yolov7-w6_best.pt    the same after upstream's strip_optimizer (IAuxDetect head)
- yolov7-tiny_model.pt a bare pickled Model (torch.save(model))
- yolov7_deploy.pt     tools/reparameterization.ipynb's yolov7 cell (implicit folded, Detect head)
- yolov7-tiny-w25-coco_best.pt  yolov7-tiny at width 0.25 with 80 classes and upstream's own
                       initialisation, after strip_optimizer (tests/train fine-tune from it)
- reference.pt         a fixed input and upstream's own eval output for each file (plain tensors)
- facts.json           per file, what upstream's objects in it say: its keys, epoch, best_fitness,
                       EMA, optimizer; the model's head class, names, nc, yaml_file, stride, anchors
- state_dicts.json     for every packaged architecture and form (upstream's cfg/training and
                       cfg/deploy yaml at width_multiple x 1/8, nc=80): the sha256 of its sorted
                       "key shape" lines, and the number of its keys
"""

from __future__ import annotations

import copy
import importlib.machinery
import sys
import types
from pathlib import Path

HERE = Path(__file__).parent
WIDTH = 0.03125
STUBBED = ("pandas", "torchvision", "torchvision.ops", "torchvision.utils", "scipy", "scipy.cluster",
           "scipy.cluster.vq", "scipy.signal", "tqdm", "seaborn", "requests", "thop")


class _Anything(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything(name)

    def __call__(self, *args, **kwargs):
        return _Anything("call")

    def __setattr__(self, name, value):
        pass


def stub_missing() -> None:
    for name in STUBBED:
        try:
            __import__(name)
        except ImportError:
            module = _Anything(name)
            module.__dict__["__spec__"] = importlib.machinery.ModuleSpec(name, None)
            module.__dict__["__path__"] = []
            module.__dict__["DeformConv2d"] = object
            sys.modules[name] = module


def randomize(model, torch, seed: int = 7):
    """Give every BN non-trivial affine terms and statistics and every implicit layer values
    far from 0/1 (fresh initialisation leaves them at 0/1, which hides folding bugs).

    BN statistics are measured on random images, as training leaves them: made-up ones make a
    deep, narrow network's output stop depending on its input (or blow up), and comparing
    outputs would then prove nothing about the early layers. The images are large enough that
    the deepest level still has a few cells to average over.
    """
    g = torch.Generator().manual_seed(seed)

    def rand(t, lo, hi):
        return torch.rand(t.shape, generator=g) * (hi - lo) + lo

    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    channels = model.yaml["ch"] if hasattr(model, "yaml") else \
        next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d)).in_channels
    was_training, momenta = model.training, [bn.momentum for bn in bns]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(rand(bn.weight, 0.5, 1.5))
            bn.bias.copy_(rand(bn.bias, -0.3, 0.3))
        for k, p in model.named_parameters():
            if ".ia." in k:
                p.copy_(rand(p, -0.5, 0.5))
            elif ".im." in k:
                p.copy_(rand(p, 0.5, 1.5))
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # a plain average over the calibration batch
        model.train()(torch.rand(4, channels, 256, 256, generator=g))
        model.train(was_training)
        for bn, momentum in zip(bns, momenta):
            bn.momentum = momentum
    return model


def build(Model, yaml, torch, cfg: str, nc: int, names: list[str]):
    with open(cfg) as f:
        d = yaml.safe_load(f)
    d["width_multiple"] = WIDTH
    torch.manual_seed(0)
    model = Model(d, ch=3, nc=nc)
    model.yaml_file = Path(cfg).name  # what Model(path) records; a dict cfg leaves it unset
    randomize(model, torch)
    model.names, model.nc = names, nc
    model.hyp, model.gr = {"lr0": 0.01, "box": 0.05, "cls": 0.3, "obj": 0.7}, 1.0
    model.class_weights = torch.ones(nc)
    return model


ARCHITECTURES = ("yolov7-tiny", "yolov7", "yolov7x", "yolov7-w6", "yolov7-e6", "yolov7-d6", "yolov7-e6e")
SHAPES_WIDTH = 0.125  # times the cfg's own width_multiple


def state_dict_digest(state_dict) -> dict:
    """What must agree between upstream's network and ours for weights to move 1:1."""
    import hashlib

    lines = sorted(f"{k} {'x'.join(map(str, v.shape))}" for k, v in state_dict.items())
    return {"sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest(), "keys": len(lines)}


def eval_output(model, x, torch):
    with torch.no_grad():
        return copy.deepcopy(model).float().eval()(x)[0]


def train_dict(model, ema, optimizer, np, epoch: int, best_fitness: float) -> dict:
    """What upstream's train.py saves as last.pt."""
    return {"epoch": epoch, "best_fitness": np.array([best_fitness]), "training_results": f"  {epoch}/299 ...",
            "model": copy.deepcopy(model).half(), "ema": copy.deepcopy(ema.ema).half(), "updates": ema.updates,
            "optimizer": None if optimizer is None else optimizer.state_dict(), "wandb_id": None}


def notebook_deploy(Model, yaml, cfg: Path, trained):
    """tools/reparameterization.ipynb's yolov7 cell, on a training checkpoint of ours."""
    state_dict = copy.deepcopy(trained).half().float().state_dict()  # as read back from the fp16 file
    with open(cfg / "deploy/yolov7.yaml") as f:
        d = yaml.safe_load(f)
    d["width_multiple"] = WIDTH
    model = Model(d, ch=3, nc=2)
    anchors = len(d["anchors"][0]) // 2
    model.load_state_dict({k: v for k, v in state_dict.items()
                           if k in model.state_dict() and v.shape == model.state_dict()[k].shape}, strict=False)
    model.names, model.nc = trained.names, trained.nc
    sd = model.state_dict()
    for i in range((model.nc + 5) * anchors):
        for j in range(3):
            sd[f"model.105.m.{j}.weight"].data[i, :, :, :] *= state_dict[f"model.105.im.{j}.implicit"].data[:, i, ::].squeeze()
    for j in range(3):
        sd[f"model.105.m.{j}.bias"].data += state_dict[f"model.105.m.{j}.weight"].mul(
            state_dict[f"model.105.ia.{j}.implicit"]).sum(1).squeeze()
        sd[f"model.105.m.{j}.bias"].data *= state_dict[f"model.105.im.{j}.implicit"].data.squeeze()
    return {"model": copy.deepcopy(model).half(), "optimizer": None, "training_results": None, "epoch": -1}


def facts_of(ckpt, np) -> dict:
    """What upstream's own objects in a file say, for the tests to check our reading against."""
    model = ckpt if not isinstance(ckpt, dict) else ckpt["ema"] if ckpt.get("ema") else ckpt["model"]
    head = model.model[-1]
    facts = {"head": type(head).__name__, "names": list(model.names), "nc": int(model.yaml["nc"]),
             "yaml_file": getattr(model, "yaml_file", None), "stride": model.stride.tolist(),
             "anchors_px": head.anchor_grid.float().reshape(head.nl, -1).tolist()}
    if isinstance(ckpt, dict):
        opt = ckpt.get("optimizer")
        facts.update({"keys": sorted(ckpt), "epoch": ckpt["epoch"], "uses_ema": bool(ckpt.get("ema")),
                      "updates": ckpt.get("updates"),
                      "best_fitness": None if ckpt.get("best_fitness") is None else float(np.ravel(ckpt["best_fitness"])[0]),
                      "nesterov": None if opt is None else opt["param_groups"][0]["nesterov"]})
    return facts


def main(upstream: str) -> None:
    sys.path.insert(0, upstream)
    stub_missing()
    import numpy as np
    import torch
    import yaml
    from models.yolo import Model
    from utils.general import strip_optimizer
    from utils.torch_utils import ModelEMA

    # upstream was written for torch < 2.6, whose torch.load unpickled anything; these are
    # files this script just wrote
    real_load = torch.load
    torch.load = lambda *a, **k: real_load(*a, **{"weights_only": False, **k})
    cfg = Path(upstream) / "cfg"
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    refs = {"x": x}

    # train.py's checkpoint after one optimizer step
    tiny = build(Model, yaml, torch, cfg / "training/yolov7-tiny.yaml", 3, ["car", "bus", "person"])
    ema = ModelEMA(tiny)
    opt = torch.optim.SGD(tiny.parameters(), lr=0.01, momentum=0.937, nesterov=True)
    tiny.train()
    sum(p.float().mean() for p in tiny(torch.rand(2, 3, 64, 64))).backward()  # moves weights a little
    opt.step()
    ema.update(tiny)
    ckpt = train_dict(tiny, ema, opt, np, epoch=4, best_fitness=0.3125)
    torch.save(ckpt, HERE / "yolov7-tiny_last.pt")
    refs["yolov7-tiny_last/ema"] = eval_output(ckpt["ema"], x, torch)
    refs["yolov7-tiny_last/model"] = eval_output(ckpt["model"], x, torch)

    # strip_optimizer on a w6 train.py checkpoint
    w6 = build(Model, yaml, torch, cfg / "training/yolov7-w6.yaml", 2, ["helmet", "head"])
    torch.save(train_dict(w6, ModelEMA(w6), None, np, epoch=9, best_fitness=0.5), HERE / "yolov7-w6_best.pt")
    strip_optimizer(str(HERE / "yolov7-w6_best.pt"))
    refs["yolov7-w6_best"] = eval_output(torch.load(HERE / "yolov7-w6_best.pt")["model"], x, torch)

    # a bare pickled Model, as torch.save(model) in a notebook leaves it
    bare = build(Model, yaml, torch, cfg / "training/yolov7-tiny.yaml", 1, ["drone"])
    torch.save(copy.deepcopy(bare).half(), HERE / "yolov7-tiny_model.pt")
    refs["yolov7-tiny_model"] = eval_output(torch.load(HERE / "yolov7-tiny_model.pt"), x, torch)

    trained = build(Model, yaml, torch, cfg / "training/yolov7.yaml", 2, ["cat", "dog"])
    ckpt = notebook_deploy(Model, yaml, cfg, trained)
    torch.save(ckpt, HERE / "yolov7_deploy.pt")
    refs["yolov7_deploy"] = eval_output(ckpt["model"], x, torch)

    # for tests/train: upstream's yolov7-tiny at a quarter width with COCO's 80 classes, as
    # strip_optimizer leaves it (upstream's own init, like a pretrained file to fine-tune from)
    with open(cfg / "training/yolov7-tiny.yaml") as f:
        d = yaml.safe_load(f)
    d["width_multiple"] = 0.25
    torch.manual_seed(0)
    coco = Model(d, ch=3, nc=80)
    coco.yaml_file = "yolov7-tiny.yaml"
    coco.names = [f"class{i}" for i in range(80)]
    torch.save(train_dict(coco, ModelEMA(coco), None, np, epoch=299, best_fitness=0.4), HERE / "yolov7-tiny-w25-coco_best.pt")
    strip_optimizer(str(HERE / "yolov7-tiny-w25-coco_best.pt"))

    torch.save(refs, HERE / "reference.pt")
    import json

    facts = {p.name: facts_of(torch.load(p), np) for p in sorted(HERE.glob("yolov7*.pt"))}
    (HERE / "facts.json").write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")

    digests = {}
    for form in ("training", "deploy"):
        for arch in ARCHITECTURES:
            with open(cfg / form / f"{arch}.yaml") as f:
                d = yaml.safe_load(f)
            d["width_multiple"] *= SHAPES_WIDTH
            digests[f"{form}/{arch}"] = state_dict_digest(Model(d, ch=3, nc=80).state_dict())
    (HERE / "state_dicts.json").write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    for p in sorted(HERE.glob("*.pt")):
        print(f"{p.name}: {p.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main(sys.argv[1])
