"""YOLOv7 in PyTorch: the network (``yolo``), safe checkpoint loading (``checkpoint``) and
reparameterization to the deploy form (``reparam``).

Names are imported lazily so ``import y7deploy.model`` costs nothing until torch is needed.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Model": "yolo", "build_model": "yolo", "resolve_cfg": "yolo", "ARCHITECTURES": "yolo",
    "Detect": "yolo", "IDetect": "yolo", "IAuxDetect": "yolo",
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint", "LoadedCheckpoint": "checkpoint",
    "reparameterize": "reparam", "deploy_cfg": "reparam",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
