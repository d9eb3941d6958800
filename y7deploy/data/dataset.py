"""The training/validation loader: upstream's LoadImagesAndLabels and collate_fn contract.

An item is `(img, labels, path, shapes)`:
  img     uint8 tensor [3, H, W], RGB, letterboxed (or mosaic) to the target size;
  labels  float tensor [n, 6]: (index of the image in its batch, class, x, y, w, h),
          coordinates normalised 0-1 to `img`; `collate_fn` fills the batch index;
  path    the image file, as a string;
  shapes  None for mosaic items, else ((h0, w0), ((h / h0, w / w0), (padw, padh))) to
          map predictions back to the original image (as upstream's).

Augmentation is seeded per (seed, epoch, index), so a batch is reproducible whatever
the number of workers; `SeededLoader` advances the epoch on each pass (or take it from
`loader.set_epoch(e)`, which also reaches a DistributedSampler).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from y7deploy.data.augment import (
    PasteSample,
    augment_hsv,
    cut_objects,
    flip_lr,
    flip_ud,
    letterbox,
    mixup,
    mosaic,
    mosaic9,
    mosaic_size,
    paste_in,
    random_perspective,
    xywhn_to_xyxy,
    xyxy_to_xywhn,
)
from y7deploy.data.checks import Problem, scan_images
from y7deploy.data.config import resolve_images
from y7deploy.data.files import label_path
from y7deploy.data.hyp import load_hyp
from y7deploy.errors import UserError

log = logging.getLogger(__name__)

MAX_STRIDE = 32  # every YOLOv7 model downsamples by 32 at least; P6 models pass their 64
PASTE_SAMPLES = 30  # paste-in gathers this many objects to choose from (upstream's number)
PASTE_TRIES = 30  # mosaics cut for them at most (upstream loops until it has them)


def check_img_size(img_size: int, stride: int = MAX_STRIDE) -> int:
    """Refuse a size the network cannot tile; upstream rounds silently, which hides typos."""
    step = max(int(stride), MAX_STRIDE)
    if not isinstance(img_size, int) or img_size <= 0 or img_size % step:
        raise UserError(f"image size {img_size} is not a positive multiple of {step}")
    return img_size


class YoloDataset(Dataset):
    """Images and their YOLO labels, with YOLOv7's augmentation when `augment`.

    Public attributes the trainer relies on: `img_files` (list[str]), `label_files`,
    `labels` (list of [n,5] float32 arrays: class, x, y, w, h normalised), `shapes`
    ([N,2] original (w, h)), `n`, `img_size`, `hyp`, `problems` (bad lines dropped).
    """

    def __init__(self, path, img_size: int = 640, batch_size: int = 16, stride: int = 32,
                 hyp: dict | None = None, augment: bool = False, rect: bool = False,
                 pad: float = 0.0, seed: int = 0, nc: int | None = None):
        self.img_size = check_img_size(img_size, stride)
        self.stride = stride
        self.augment = augment
        self.hyp = hyp if hyp is not None else (load_hyp() if augment else None)
        self.rect = rect
        self.mosaic = augment and not rect  # a mosaic is square, so rect batches cannot use it
        self.seed = seed
        self.epoch = 0

        images = resolve_images(path if isinstance(path, (list, tuple)) else [path])
        scan = scan_images(images, nc, check_orphans=False, read_shape=_image_size)
        self.problems: list[Problem] = scan.problems
        self.img_files = [str(e.image) for e in scan.entries]
        self.label_files = [str(label_path(e.image)) for e in scan.entries]
        self.labels = [e.labels for e in scan.entries]
        if not self.img_files:
            raise UserError(f"empty dataset: no readable images in {path}")
        if self.problems:
            log.warning("%d label problem(s) in %s, bad lines dropped; first: %s",
                        len(self.problems), path, self.problems[0])
        self.shapes = np.array([(w, h) for h, w in (e.shape for e in scan.entries)], dtype=np.float64)
        self.n = len(self.img_files)
        self.indices = range(self.n)

        if rect:
            self._sort_by_aspect_ratio(batch_size, pad)

    def _sort_by_aspect_ratio(self, batch_size: int, pad: float) -> None:
        """Group images of similar aspect ratio so each batch pads as little as possible."""
        batch_index = np.floor(np.arange(self.n) / batch_size).astype(int)
        nb = batch_index[-1] + 1
        ar = self.shapes[:, 1] / self.shapes[:, 0]  # h / w
        order = ar.argsort(kind="stable")
        self.img_files = [self.img_files[i] for i in order]
        self.label_files = [self.label_files[i] for i in order]
        self.labels = [self.labels[i] for i in order]
        self.shapes = self.shapes[order]
        ar = ar[order]
        shapes = [[1.0, 1.0]] * nb
        for i in range(nb):
            ari = ar[batch_index == i]
            lo, hi = ari.min(), ari.max()
            if hi < 1:
                shapes[i] = [hi, 1.0]
            elif lo > 1:
                shapes[i] = [1.0, 1.0 / lo]
        self.batch = batch_index
        self.batch_shapes = (np.ceil(np.array(shapes) * self.img_size / self.stride + pad).astype(int)
                             * self.stride)  # (h, w) per batch

    def __len__(self) -> int:
        return self.n

    def load_image(self, index: int):
        """The image resized so its long side is img_size: (img BGR, (h0, w0), (h, w))."""
        path = self.img_files[index]
        img = cv2.imread(path)
        if img is None:
            raise UserError(f"unreadable image: {path}")
        h0, w0 = img.shape[:2]
        r = self.img_size / max(h0, w0)
        if r != 1:
            interp = cv2.INTER_AREA if r < 1 and not self.augment else cv2.INTER_LINEAR
            img = cv2.resize(img, (max(1, int(w0 * r)), max(1, int(h0 * r))), interpolation=interp)
        return img, (h0, w0), img.shape[:2]

    def load_mosaic(self, index: int, rng: np.random.Generator):
        """A 4- or (a fifth of the time, as upstream) 9-image mosaic around `index`, warped
        and cropped back to img_size; pixel xyxy labels."""
        s = self.img_size
        count = mosaic_size(rng)
        picks = [index, *rng.integers(0, self.n, count - 1)]
        tiles = [(self.load_image(i)[0], self.labels[i]) for i in picks]
        img, labels = (mosaic if count == 4 else mosaic9)(tiles, s, rng)
        hyp = self.hyp
        return random_perspective(img, labels, rng, degrees=hyp["degrees"], translate=hyp["translate"],
                                  scale=hyp["scale"], shear=hyp["shear"], perspective=hyp["perspective"],
                                  border=(-s // 2, -s // 2))

    def paste_samples(self, rng: np.random.Generator) -> list[PasteSample]:
        """Objects to paste in, cut from 4-image mosaics of random images (upstream's
        load_samples) until there are PASTE_SAMPLES, or the first mosaic held none."""
        samples: list[PasteSample] = []
        for _ in range(PASTE_TRIES):
            picks = rng.integers(0, self.n, 4)
            tiles = [(self.load_image(i)[0], self.labels[i]) for i in picks]
            samples += cut_objects(*mosaic(tiles, self.img_size, rng), rng)
            if not samples or len(samples) >= PASTE_SAMPLES:
                break
        return samples

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        hyp = self.hyp
        use_mosaic = self.mosaic and rng.random() < hyp["mosaic"]
        if use_mosaic:
            img, labels = self.load_mosaic(index, rng)
            shapes = None
            if rng.random() < hyp["mixup"]:
                img2, labels2 = self.load_mosaic(int(rng.integers(0, self.n)), rng)
                img, labels = mixup(img, labels, img2, labels2, rng)
        else:
            img, (h0, w0), (h, w) = self.load_image(index)
            shape = tuple(self.batch_shapes[self.batch[index]]) if self.rect else self.img_size
            img, ratio, pad = letterbox(img, shape, auto=False, scaleup=self.augment)
            shapes = (h0, w0), ((h / h0, w / w0), pad)
            labels = xywhn_to_xyxy(self.labels[index], ratio[0] * w, ratio[1] * h, pad[0], pad[1])
            if self.augment:
                img, labels = random_perspective(img, labels, rng, degrees=hyp["degrees"],
                                                 translate=hyp["translate"], scale=hyp["scale"],
                                                 shear=hyp["shear"], perspective=hyp["perspective"])
        if self.augment:
            augment_hsv(img, rng, hgain=hyp["hsv_h"], sgain=hyp["hsv_s"], vgain=hyp["hsv_v"])
            if rng.random() < hyp["paste_in"]:
                labels = paste_in(img, labels, self.paste_samples(rng), rng)

        labels = xyxy_to_xywhn(labels, img.shape[1], img.shape[0])
        if self.augment:
            if rng.random() < hyp["flipud"]:
                img, labels = flip_ud(img, labels)
            if rng.random() < hyp["fliplr"]:
                img, labels = flip_lr(img, labels)

        labels_out = torch.zeros((len(labels), 6))
        if len(labels):
            labels_out[:, 1:] = torch.from_numpy(labels)
        img = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1))  # BGR HWC -> RGB CHW
        return torch.from_numpy(img), labels_out, self.img_files[index], shapes

    @staticmethod
    def collate_fn(batch):
        return collate_fn(batch)


def collate_fn(batch):
    """Stack images, concatenate labels with their image's index in column 0."""
    imgs, labels, paths, shapes = zip(*batch)
    for i, lb in enumerate(labels):
        lb[:, 0] = i
    return torch.stack(imgs, 0), torch.cat(labels, 0), paths, shapes


def _image_size(path: Path) -> tuple[int, int] | None:
    """(h, w) as cv2 will decode it (EXIF rotation applied), from the header only when
    Pillow is there (it comes with matplotlib), else by decoding."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        from y7deploy.data.checks import read_image_shape

        return read_image_shape(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


class SeededLoader(DataLoader):
    """A DataLoader whose every pass is reproducible: augmentation and shuffling are
    seeded by (seed, epoch), and each `iter()` moves on to the next epoch."""

    def __init__(self, dataset: YoloDataset, *args, seed: int = 0, **kwargs):
        super().__init__(dataset, *args, **kwargs)
        self.seed = seed
        self.next_epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch `epoch` (call it each epoch when resuming)."""
        self.next_epoch = epoch

    def __iter__(self):
        epoch = self.next_epoch
        self.next_epoch += 1
        self.dataset.epoch = epoch  # workers get a copy of the dataset per pass
        if isinstance(self.sampler, DistributedSampler):
            self.sampler.set_epoch(epoch)
        if self.generator is not None:
            self.generator.manual_seed(self.seed * 100003 + epoch)
        return super().__iter__()


def create_dataloader(path, img_size: int, batch_size: int, stride: int = 32, hyp: dict | None = None,
                      augment: bool = False, rect: bool = False, pad: float = 0.0, workers: int = 0,
                      shuffle: bool | None = None, seed: int = 0, rank: int = -1, sampler=None,
                      nc: int | None = None, drop_last: bool = False):
    """Build (loader, dataset) as upstream's create_dataloader does.

    `path` is a folder, a .txt list or a list of those (a DataConfig's `.train`).
    `shuffle` defaults to `augment and not rect`. With `rank != -1` a DistributedSampler
    splits the data between processes; `sampler` overrides both.
    """
    dataset = YoloDataset(path, img_size, batch_size, stride, hyp=hyp, augment=augment, rect=rect,
                          pad=pad, seed=seed, nc=nc)
    if shuffle is None:
        shuffle = augment and not rect
    if rect and shuffle:
        log.warning("rect batches are sorted by aspect ratio; shuffle ignored")
        shuffle = False
    batch_size = min(batch_size, len(dataset))
    workers = max(0, min(workers, os.cpu_count() or 1, batch_size if batch_size > 1 else 0))
    generator = torch.Generator()
    generator.manual_seed(seed)
    if sampler is None:
        if rank != -1:
            sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed)
        elif shuffle:
            sampler = RandomSampler(dataset, generator=generator)
        else:
            sampler = SequentialSampler(dataset)
    loader = SeededLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        collate_fn=collate_fn,
        drop_last=drop_last,
        generator=generator,
        worker_init_fn=_worker_init,
        seed=seed,
    )
    return loader, dataset


def _worker_init(worker_id: int) -> None:
    cv2.setNumThreads(0)  # cv2's own threads fight the worker processes for the cores
