"""Fixtures for the model tests: small-width networks and weights that exercise every fold.

Random init alone hides folding bugs (BN statistics at 0/1, implicit values near 0/1), so
``randomize`` perturbs BN statistics and affine parameters, implicit layers and head biases.
"""

from __future__ import annotations

import pytest
import torch

from y7deploy.model.yolo import ARCHITECTURES, build_model, resolve_cfg

# One thread: on a shared 2-core machine a second OpenMP thread mostly spin-waits (measured 10x slower).
torch.set_num_threads(1)


def small_cfg(name: str, width: float = 0.125, form: str = "training") -> dict:
    """The packaged cfg with its channels cut down (structure unchanged) so tests run fast."""
    cfg = resolve_cfg(name, form=form)
    cfg["width_multiple"] = width
    return cfg


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every BN non-trivial statistics and every implicit layer values far from 0/1."""
    g = torch.Generator().manual_seed(seed)

    def rand(t, lo, hi):
        return torch.rand(t.shape, generator=g) * (hi - lo) + lo

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(rand(m.running_mean, -0.5, 0.5))
                m.running_var.copy_(rand(m.running_var, 0.3, 2.0))
                m.weight.copy_(rand(m.weight, 0.5, 1.5))
                m.bias.copy_(rand(m.bias, -0.3, 0.3))
        for name, p in model.named_parameters():
            if ".ia." in name:
                p.copy_(rand(p, -0.5, 0.5))
            elif ".im." in name:
                p.copy_(rand(p, 0.5, 1.5))
    return model


def small_model(name: str, nc: int = 3, seed: int = 0, width: float = 0.125, **kw) -> torch.nn.Module:
    torch.manual_seed(seed)
    return randomize(build_model(small_cfg(name, width), nc=nc, **kw), seed)


@pytest.fixture(params=ARCHITECTURES)
def arch(request) -> str:
    return request.param


# pytest runs with --import-mode=importlib, so test files reach these helpers through fixtures.
@pytest.fixture
def make_cfg():
    return small_cfg


@pytest.fixture
def make_model():
    return small_model


@pytest.fixture
def randomized():
    return randomize


# --------------------------------------------------------------------------- upstream-form pickles
# Upstream checkpoints pickle objects of models.yolo.Model, models.common.Conv, ... . We make
# such files without upstream's code: throwaway modules named models.common / models.yolo with
# classes of those names, our module objects re-classed onto them, upstream's extra attributes
# added, then torch.save. The modules are removed again before anything is loaded.

_UPSTREAM_YOLO = ("Model", "Detect", "IDetect", "IAuxDetect")


def _write_fake_upstream(root):
    from y7deploy.model import yolo

    pkg = root / "models"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    common = [n for n in yolo.MODULES if not n.startswith("nn.") and n not in _UPSTREAM_YOLO]
    body = "import torch.nn as nn\n\n" + "".join(f"class {n}(nn.Module):\n    pass\n\n" for n in common)
    (pkg / "common.py").write_text(body)
    (pkg / "yolo.py").write_text(
        "import torch.nn as nn\n\n" + "".join(f"class {n}(nn.Module):\n    pass\n\n" for n in _UPSTREAM_YOLO))


def as_upstream_object(model, fake_modules, yaml_file="yolov7-tiny.yaml"):
    """A half-precision copy of ``model`` whose classes are upstream's (models.common.Conv...)
    carrying the attributes upstream's objects have beyond ours."""
    import copy

    common, yolo_mod = fake_modules
    up = copy.deepcopy(model).half()
    for m in up.modules():
        if type(m).__module__ == "y7deploy.model.yolo":
            name = type(m).__name__
            m.__class__ = getattr(yolo_mod if name in _UPSTREAM_YOLO else common, name)
    up.traced = False
    up.yaml_file = yaml_file
    up.hyp = {"lr0": 0.01, "box": 0.05}
    up.gr = 1.0
    up.class_weights = torch.ones(up.nc)
    head = up.model[-1]
    head.grid = [torch.zeros(1)] * head.nl
    for p in up.parameters():
        p.requires_grad = False
    return up


@pytest.fixture
def upstream_save(tmp_path):
    """save(obj_builder, path): run ``obj_builder(as_upstream)`` with the fake upstream modules
    importable, torch.save its result to ``path``, then make them unimportable again."""
    import importlib
    import sys

    root = tmp_path / "upstream_src"
    _write_fake_upstream(root)

    def save(build, path):
        sys.path.insert(0, str(root))
        try:
            common = importlib.import_module("models.common")
            yolo_mod = importlib.import_module("models.yolo")
            obj = build(lambda model, **kw: as_upstream_object(model, (common, yolo_mod), **kw))
            torch.save(obj, path)
        finally:
            sys.path.remove(str(root))
            for name in ("models", "models.common", "models.yolo"):
                sys.modules.pop(name, None)
        return path

    return save
