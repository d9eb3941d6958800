"""Fixtures for the model tests: small-width networks and weights that exercise every fold.

Random init alone hides folding bugs (BN statistics at 0/1, implicit values near 0/1), so
``randomize`` perturbs BN statistics and affine parameters, implicit layers and head biases.
"""

from __future__ import annotations

import os

import pytest
import torch

from y7deploy.model.yolo import ARCHITECTURES, build_model, resolve_cfg

torch.set_num_threads(min(2, os.cpu_count() or 1))


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
