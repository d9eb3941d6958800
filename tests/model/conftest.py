"""Fixtures for the model tests: small-width networks and weights that exercise every fold.

Random init alone hides folding bugs (BN statistics at 0/1, implicit values near 0/1), so
``randomize`` gives BN random affine terms and measured statistics, and implicit layers values
far from 0/1.
"""

from __future__ import annotations

import functools
from pathlib import Path

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
    """Non-trivial BN and implicit values, BN statistics measured on random images: the same
    ``randomize`` that data/upstream/make.py gives the networks upstream's code saved."""
    return _make_py().randomize(model, torch, seed)


@functools.cache
def _make_py():
    import importlib.util

    spec = importlib.util.spec_from_file_location("upstream_make", Path(__file__).parent / "data/upstream/make.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


# --------------------------------------------------------------------------- a tiny real ONNX
# Release tests need a model.onnx that is ONNX (release.py reads its header) but not an
# export's cost: a one-node graph with DeepStream-Yolo's names and shapes, built with onnx.helper.


def write_tiny_onnx(path: Path, *, size: tuple[int, int] = (640, 640), batch: int | None = 1, opset: int = 12,
                    names: tuple[str, str] = ("input", "output"), graph: str = "tiny") -> Path:
    """input [batch, 3, H, W] reshaped to output [batch, 3*H*W/6, 6]; batch None is a dynamic axis."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    h, w = size
    b = batch if batch is not None else "batch"
    shape = helper.make_tensor("shape", TensorProto.INT64, [3], [0, -1, 6])
    model = helper.make_model(
        helper.make_graph([helper.make_node("Reshape", [names[0], "shape"], [names[1]])], graph,
                          [helper.make_tensor_value_info(names[0], TensorProto.FLOAT, [b, 3, h, w])],
                          [helper.make_tensor_value_info(names[1], TensorProto.FLOAT, [b, 3 * h * w // 6, 6])],
                          [shape]),
        opset_imports=[helper.make_opsetid("", opset)], ir_version=7)
    onnx.checker.check_model(model, full_check=True)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def tiny_onnx():
    return write_tiny_onnx
