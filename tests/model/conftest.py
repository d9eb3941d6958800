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


# --------------------------------------------------------------------------- crafted upstream pickles
# Files upstream's code wrote are in data/upstream (make.py). Malformed ones upstream never
# writes (a module graph containing itself, a Model without its cfg, a class no cfg uses) are
# crafted here: our model as export --format upstream-pt pickles it, altered first.


@pytest.fixture
def upstream_save():
    """save(build, path, extra_classes=()): torch.save ``build(up)`` where ``up(model)`` is the
    object export --format upstream-pt would pickle; ``extra_classes`` are pickled by their own
    ``__module__``/``__qualname__`` even though nothing here can import them."""
    from types import SimpleNamespace

    from y7deploy.model.upstream_pt import _UpstreamPickler, upstream_model, upstream_names

    def save(build, path, extra_classes=()):
        class Pickler(_UpstreamPickler):
            renamed = {**upstream_names(), **{c: (c.__module__, c.__qualname__) for c in extra_classes}}

        torch.save(build(upstream_model), path, pickle_module=SimpleNamespace(__name__="crafted", Pickler=Pickler),
                   pickle_protocol=2)
        return path

    return save
