import numpy as np
import pytest
import torch

from y7deploy.data.config import load_data_config
from y7deploy.data.dataset import YoloDataset, collate_fn, create_dataloader
from y7deploy.errors import UserError


@pytest.fixture(scope="module")
def cfg(demo_dataset):
    return load_data_config(demo_dataset)


def test_train_batches(cfg):
    loader, ds = create_dataloader(cfg.train, 160, 8, 32, augment=True, seed=0)
    assert len(ds) == 32 and len(loader) == 4 and ds.hyp["mosaic"] == 1.0
    imgs, targets, paths, shapes = next(iter(loader))
    assert imgs.shape == (8, 3, 160, 160) and imgs.dtype == torch.uint8
    assert targets.ndim == 2 and targets.shape[1] == 6 and len(targets) > 0
    assert set(targets[:, 0].long().tolist()) <= set(range(8))
    assert (targets[:, 0].diff() >= 0).all()  # batch index ascending
    assert ((targets[:, 2:] >= 0) & (targets[:, 2:] <= 1)).all() and (targets[:, 4:] > 0).all()
    assert set(targets[:, 1].long().tolist()) <= {0, 1, 2}
    assert len(paths) == 8 and all(p.endswith(".jpg") for p in paths)
    assert shapes == (None,) * 8  # mosaic items have no original shape


def test_labels_attribute_for_plots(cfg):
    _, ds = create_dataloader(cfg.train, 160, 8, 32)
    assert len(ds.labels) == len(ds.img_files) == len(ds.shapes)
    assert all(lb.dtype == np.float32 and lb.shape[1] == 5 for lb in ds.labels)
    assert sum(len(lb) for lb in ds.labels) > len(ds)
    assert ds.shapes.shape == (len(ds), 2)


def test_val_batches_and_shapes(cfg):
    loader, ds = create_dataloader(cfg.val, 160, 4, 32, augment=False)
    imgs, targets, paths, shapes = next(iter(loader))
    assert imgs.shape == (4, 3, 160, 160)
    (h0, w0), ((gh, gw), (padw, padh)) = shapes[0]
    assert (h0, w0) in {(160, 160), (120, 160)} and gh == gw == 1.0
    # the letterboxed labels of item 0 are its file's labels moved by the padding
    i = ds.img_files.index(paths[0])
    mine = targets[targets[:, 0] == 0][:, 1:].numpy()
    expect = ds.labels[i].copy()
    expect[:, 2] = (expect[:, 2] * h0 + padh) / 160
    expect[:, 4] = expect[:, 4] * h0 / 160
    assert np.allclose(mine, expect, atol=1e-5)


def test_rect_batches_are_stride_multiples(cfg):
    loader, _ = create_dataloader(cfg.val, 160, 4, 32, rect=True, pad=0.5)
    for imgs, *_ in loader:
        assert imgs.shape[2] % 32 == 0 and imgs.shape[3] % 32 == 0


def test_seeded_and_epoch_dependent(cfg):
    def first_batch(seed, epoch=None, workers=0):
        loader, _ = create_dataloader(cfg.train, 160, 8, 32, augment=True, seed=seed, workers=workers)
        if epoch is not None:
            loader.set_epoch(epoch)
        return next(iter(loader))

    a, b = first_batch(0), first_batch(0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    c = first_batch(1)
    assert not torch.equal(a[0], c[0])
    d = first_batch(0, epoch=1)
    assert not torch.equal(a[0], d[0])
    e = first_batch(0, workers=2)
    assert torch.equal(a[0], e[0])  # worker processes do not change the stream


def test_each_pass_is_a_new_epoch(cfg):
    loader, _ = create_dataloader(cfg.train, 160, 8, 32, augment=True, seed=0)
    first = next(iter(loader))[0]
    second = next(iter(loader))[0]
    assert not torch.equal(first, second)
    loader.set_epoch(0)
    assert torch.equal(next(iter(loader))[0], first)


def test_distributed_sampler_splits(cfg):
    from torch.utils.data.distributed import DistributedSampler

    seen = []
    for rank in (0, 1):
        sampler = DistributedSampler(YoloDataset(cfg.train, 160), num_replicas=2, rank=rank, shuffle=False)
        loader, _ = create_dataloader(cfg.train, 160, 4, 32, sampler=sampler)
        seen.append({p for _, _, paths, _ in loader for p in paths})
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == 32


@pytest.mark.parametrize("size", [100, 330, 0])
def test_img_size_must_be_multiple_of_32(cfg, size):
    with pytest.raises(UserError, match=f"image size {size} is not a positive multiple of 32"):
        create_dataloader(cfg.train, size, 8, 32)


def test_bad_lines_dropped_and_recorded(tmp_path):
    import cv2

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((64, 64, 3), np.uint8))
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n4 0.5 0.5 0.5 0.5\n")
    ds = YoloDataset(tmp_path / "images", 64, nc=2)
    assert len(ds.labels[0]) == 1 and ds.problems[0].line == 2


def test_empty_folder(tmp_path):
    with pytest.raises(UserError, match="empty dataset"):
        YoloDataset(tmp_path, 64)


def test_collate_fills_the_batch_index():
    items = [(torch.zeros(3, 32, 32, dtype=torch.uint8), torch.ones(n, 6), f"{n}.jpg", None) for n in (2, 0, 1)]
    imgs, targets, paths, shapes = collate_fn(items)
    assert imgs.shape == (3, 3, 32, 32) and targets[:, 0].tolist() == [0, 0, 2]
