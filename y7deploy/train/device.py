"""Choosing the torch device from the `--device` value users already type for upstream."""

from __future__ import annotations

import torch

from y7deploy.errors import NotAvailable, UserError


def select_device(value: str | None = "", batch_size: int | None = None) -> torch.device:
    """`cpu`, `0`, `0,1` or empty (first GPU if any, else CPU).

    Asking for CUDA on a machine without it is an error rather than a silent fallback:
    a run the user believes is on a GPU but crawls on the CPU wastes hours.
    """
    text = str(value or "").strip().lower().replace("cuda:", "")
    if text == "cpu":
        return torch.device("cpu")
    if text == "":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise UserError(f"--device {value!r}: expected 'cpu', a GPU index like '0', or a list like '0,1'")
    if not torch.cuda.is_available():
        raise NotAvailable(f"--device {value!r}: CUDA is not available on this machine (use --device cpu)")
    count = torch.cuda.device_count()
    for p in parts:
        if int(p) >= count:
            raise NotAvailable(f"--device {value!r}: GPU {p} does not exist (this machine has {count})")
    if batch_size is not None and len(parts) > 1 and batch_size % len(parts):
        raise UserError(f"--batch-size {batch_size} is not a multiple of the {len(parts)} GPUs in --device {value!r}")
    return torch.device(f"cuda:{parts[0]}")
