"""What a run shows while it trains: the per-epoch progress line and TensorBoard scalars."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import torch


class Progress:
    """A per-epoch progress bar with the running losses (rich on a TTY, one plain line otherwise)."""

    def __init__(self, total: int, epoch: int, epochs: int, enabled: bool):
        self.total, self.epoch, self.epochs, self.enabled = total, epoch, epochs, enabled
        self.tty = enabled and sys.stdout.isatty()
        self.text = ""
        self.t0 = time.time()
        self._bar = None
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

            self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), transient=False)
            self._task = self._bar.add_task(self._describe(), total=total)
            self._bar.start()

    def _describe(self) -> str:
        return f"{self.epoch + 1}/{self.epochs} {self.text}"

    def update(self, mloss: torch.Tensor, n_labels: int, size: int) -> None:
        box, obj, cls, total = mloss.tolist()
        self.text = f"box {box:.4f} obj {obj:.4f} cls {cls:.4f} total {total:.4f} labels {n_labels} img {size}"
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=self._describe())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.enabled:
            print(f"epoch {self._describe()} ({time.time() - self.t0:.1f}s)", flush=True)


class Board:
    """TensorBoard scalars when tensorboard is installed; otherwise a one-time notice and nothing."""

    def __init__(self, log_dir: Path | None, say: Callable[[str], None]):
        self.writer = None
        if log_dir is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            say("TensorBoard not installed: no events written (pip install tensorboard)")
            return
        self.writer = SummaryWriter(str(log_dir))

    def scalars(self, values: dict, step: int) -> None:
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
