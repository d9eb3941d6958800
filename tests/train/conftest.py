"""A tiny demo dataset and a narrow yolov7-tiny, shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

# one thread: on a shared, loaded 2-core machine two OpenMP threads spin against each other
# and a step gets several times slower
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """20 demo images at 128 px, imported like a user would: returns its data.yaml."""
    from y7deploy.data.cvat import import_dataset
    from y7deploy.data.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("demo")
    zip_path = write_demo_dataset(root / "demo.zip", n_images=20, img_size=128, seed=1)
    return import_dataset(zip_path, root / "ds", val_fraction=0.25).data_yaml


@pytest.fixture(scope="session")
def tiny_cfg(tmp_path_factory) -> Path:
    """yolov7-tiny at a quarter of its width: the real structure, a fraction of the compute."""
    from y7deploy.model.yolo import resolve_cfg

    cfg = resolve_cfg("yolov7-tiny")
    cfg["width_multiple"] = 0.25
    path = tmp_path_factory.mktemp("cfg") / "yolov7-tiny-w25.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def quick_hyp(tmp_path_factory) -> Path:
    """The tiny hyp without warmup and without the heavy augmentations: a loss that can fall in 3 epochs."""
    from y7deploy.data.hyp import load_hyp

    hyp = load_hyp("scratch.tiny")
    hyp.update(warmup_epochs=0.0, mosaic=0.0, mixup=0.0, scale=0.1, translate=0.05, hsv_h=0.0, hsv_s=0.0, hsv_v=0.0)
    path = tmp_path_factory.mktemp("hyp") / "hyp.quick.yaml"
    path.write_text(yaml.safe_dump(hyp, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, demo_data, tiny_cfg, quick_hyp):
    """One short real training run (3 epochs) that several tests inspect."""
    from y7deploy.train.trainer import TrainOptions, train

    project = tmp_path_factory.mktemp("runs")
    opt = TrainOptions(data=str(demo_data), cfg=str(tiny_cfg), hyp=str(quick_hyp), epochs=3, batch_size=8,
                       img_size=96, device="cpu", workers=0, project=str(project), name="short", nbs=8)
    messages: list[str] = []
    result = train(opt, say=messages.append)
    return result, opt, messages


@pytest.fixture(scope="session")
def upstream_checkpoint() -> Path:
    """A file written by upstream's own code: strip_optimizer's dict around a pickled
    models.yolo.Model (yolov7-tiny at width 0.25, the demo's 3 classes, fp16), made by
    data/upstream/eval_upstream.py from a checkout of WongKinYiu/yolov7."""
    return Path(__file__).parent / "data" / "upstream" / "eval" / "weights.pt"
