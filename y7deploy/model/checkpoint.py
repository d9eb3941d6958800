"""Reading and writing weights: upstream YOLOv7 checkpoints (safely) and y7deploy's own format.

Upstream checkpoints are torch pickles of ``models.yolo.Model`` objects. Unpickling normally
imports and runs whatever the file names, so here a restricted unpickler resolves only an
allowlist of globals: tensor rebuilding, storage types, OrderedDict/set, the numpy types
upstream stores for ``best_fitness``, the torch.nn layers upstream models contain, and
upstream's ``models.common.*`` / ``models.yolo.*`` class names mapped onto ours. Anything else
is refused before any of it runs.

The unpickled objects are then only read, never used: we take the ``.yaml`` cfg, ``.names``
and the tensors, build our own Model from the cfg and load the tensors into it.

Forms understood (``LoadedCheckpoint.kind``):
- ``upstream-train``: train.py's dict (epoch, best_fitness, training_results, model, ema,
  updates, optimizer, wandb_id); the EMA is used unless ``which="model"``;
- ``upstream-stripped``: the same after strip_optimizer (model is the EMA, optimizer None);
- ``upstream-deploy``: reparameterization notebook output ({model, optimizer, training_results, epoch});
- ``upstream-model``: a bare pickled Model;
- ``state-dict``: a plain state_dict (or {"state_dict", "cfg", "names"}); needs ``cfg`` unless
  the file carries one;
- ``y7deploy``: ours (``save_checkpoint``), a dict of plain types and tensors that
  ``torch.load(weights_only=True)`` reads.
"""

from __future__ import annotations

import _compat_pickle
import functools
import hashlib
import io
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from y7deploy.errors import UserError
from y7deploy.model import yolo
from y7deploy.model.yolo import Model, resolve_cfg

FORMAT = "y7deploy"
FORMAT_VERSION = 1

# --------------------------------------------------------------------------- safe unpickling

_TORCH_NN_CLASSES = ("Conv2d", "BatchNorm2d", "SiLU", "LeakyReLU", "ReLU", "ReLU6", "Hardswish", "Sigmoid",
                     "Identity", "MaxPool2d", "Upsample", "Sequential", "ModuleList")
_TORCH_DTYPES = ("float16", "float32", "float64", "bfloat16", "half", "float", "double", "uint8", "int8",
                 "int16", "int32", "int64", "long", "int", "bool")
_TORCH_REBUILDERS = ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
                     "_rebuild_parameter_with_state")


def _numpy_globals() -> dict[str, Any]:
    """numpy's pickle helpers under both their 1.x (numpy.core) and 2.x (numpy._core) paths."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with torch installs here
        return {}
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    found = {}
    for base in ("numpy.core.multiarray", "numpy._core.multiarray"):
        found[f"{base}._reconstruct"] = multiarray._reconstruct
        found[f"{base}.scalar"] = multiarray.scalar
    found["numpy.ndarray"] = np.ndarray
    found["numpy.dtype"] = np.dtype
    return found


@functools.cache
def _allowed_globals() -> dict[str, Any]:
    """'module.name' -> object for every global a checkpoint may name."""
    import argparse
    import codecs
    import collections

    allowed: dict[str, Any] = {
        "collections.OrderedDict": collections.OrderedDict,
        "builtins.set": set,
        "builtins.frozenset": frozenset,
        "_codecs.encode": codecs.encode,  # how protocol 2 stores bytes (numpy scalars)
        "argparse.Namespace": argparse.Namespace,
        "torch.Size": torch.Size,
        "torch.device": torch.device,
        "torch.nn.parameter.Parameter": nn.Parameter,
        "torch._tensor._rebuild_from_type_v2": torch._tensor._rebuild_from_type_v2,
    }
    allowed.update({f"torch._utils.{n}": getattr(torch._utils, n) for n in _TORCH_REBUILDERS
                    if hasattr(torch._utils, n)})
    allowed.update({f"torch.{n}": getattr(torch, n) for n in _TORCH_DTYPES})
    allowed.update(_numpy_globals())
    # upstream's classes by their upstream module, mapped onto ours (same names, same attributes)
    ours = {n: c for n, c in yolo.MODULES.items() if not n.startswith("nn.")}
    ours["Model"] = Model
    for name, cls in ours.items():
        allowed[f"models.common.{name}"] = cls
        allowed[f"models.yolo.{name}"] = cls
        allowed[f"y7deploy.model.yolo.{name}"] = cls
    return allowed


class RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.qualified = f"{module}.{name}"


class _RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose only way to reach code is the allowlist."""

    def find_class(self, module: str, name: str) -> Any:
        # protocol 2 writes Python 2 names (__builtin__.set); the base find_class maps them
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        allowed = _allowed_globals()
        if f"{module}.{name}" in allowed:
            return allowed[f"{module}.{name}"]
        if module.startswith("torch.nn.modules.") and name in _TORCH_NN_CLASSES:
            return getattr(nn, name)
        raise RefusedGlobal(module, name)


class _SafePickle:
    """Stands in for the ``pickle`` module in ``torch.load(pickle_module=...)``."""

    __name__ = "y7deploy_safe_pickle"
    Unpickler = _RestrictedUnpickler

    @staticmethod
    def load(file, **kwargs):
        return _RestrictedUnpickler(file, **kwargs).load()


def safe_load(path: Path, data: bytes | None = None) -> Any:
    """Unpickle a torch checkpoint file (``data``: its bytes, if already read) through the
    allowlist. Raises UserError."""
    data = path.read_bytes() if data is None else data
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            raise UserError(f"{path}: a TorchScript archive, not a checkpoint (y7deploy does not run TorchScript)")
        if not any(n.endswith("data.pkl") for n in names):
            raise UserError(f"{path}: a zip file but not a PyTorch checkpoint (no data.pkl)")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", pickle_module=_SafePickle, weights_only=False)
    except RefusedGlobal as e:
        raise UserError(f"{path}: refused: the pickle asks for {e.qualified}, which is not on the allowlist of "
                        f"checkpoint contents (nothing from the file was run)") from None
    except UserError:
        raise
    except Exception as e:  # truncated zip, foreign pickle, garbage bytes...
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"{path}: not a PyTorch checkpoint ({detail})") from None


def pickle_globals(path: Path) -> list[str]:
    """Every 'module.name' a torch checkpoint's pickle refers to, read without unpickling it."""
    import pickletools

    with zipfile.ZipFile(path) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    found, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            found.add(arg.replace(" ", "."))
        elif op.name == "STACK_GLOBAL":
            found.add(".".join(strings[-2:]))
        elif isinstance(arg, str):
            strings.append(arg)
    return sorted(found)


# --------------------------------------------------------------------------- reading


@dataclass
class LoadedCheckpoint:
    """A checkpoint's model (float32, eval mode) and what is known about it."""

    model: Model
    names: list[str]
    kind: str
    path: Path
    source_sha256: str
    epoch: int = -1
    metrics: dict[str, float] = field(default_factory=dict)
    cfg_name: str | None = None  # e.g. "yolov7" when the file says which packaged cfg it came from
    weights: str = "model"  # which weights of the file were loaded: "model" or "ema"
    extra: dict[str, Any] = field(default_factory=dict)  # everything else the file stores

    @property
    def nc(self) -> int:
        return self.model.nc

    @property
    def cfg(self) -> dict:
        return self.model.yaml


def _tensors_of(module: Any, path: Path, prefix: str = "",
                parents: frozenset = frozenset()) -> dict[str, torch.Tensor]:
    """The state dict of an unpickled module, read from its attribute dicts without calling
    any of its methods (its structure comes from the file and is not trusted)."""
    if id(module) in parents:
        raise UserError(f"{path}: malformed model: {prefix or 'the model'} contains itself")
    d = getattr(module, "__dict__", {})
    out: dict[str, torch.Tensor] = {}
    skip = d.get("_non_persistent_buffers_set") or set()
    for kind in ("_parameters", "_buffers", "_modules"):
        if not isinstance(d.get(kind) or {}, dict):
            raise UserError(f"{path}: malformed model: {prefix}{kind} is a {type(d[kind]).__name__}")
    for kind in ("_parameters", "_buffers"):
        for name, t in (d.get(kind) or {}).items():
            if t is None or (kind == "_buffers" and name in skip):
                continue
            if not isinstance(t, torch.Tensor):
                raise UserError(f"{path}: malformed model: {prefix}{name} is not a tensor")
            out[prefix + name] = t
    for name, child in (d.get("_modules") or {}).items():
        if child is not None:
            out.update(_tensors_of(child, path, f"{prefix}{name}.", parents | {id(module)}))
    return out


def _names_list(names: Any, nc: int, path: Path) -> list[str]:
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if names is None:
        return [str(i) for i in range(nc)]
    names = [str(n) for n in names]
    if len(names) != nc:
        raise UserError(f"{path}: {len(names)} class names for nc={nc}")
    return names


def _nc_of(state_dict: dict, cfg: dict) -> int:
    """Class count the head's weights were trained for (the cfg's nc may be stale)."""
    anchors = cfg.get("anchors")
    na = len(anchors[0]) // 2 if isinstance(anchors, list) else int(anchors or 3)
    heads = [k for k in state_dict if k.endswith(".m.0.weight")]
    if not heads:
        return int(cfg["nc"])
    return state_dict[max(heads, key=lambda k: int(k.split(".")[1]))].shape[0] // na - 5


def model_from_weights(cfg: dict, state_dict: dict, names: Any, path: Path) -> Model:
    """Build our Model from ``cfg`` and load ``state_dict`` into it (float32, eval mode)."""
    state_dict = {k: v for k, v in state_dict.items() if isinstance(v, torch.Tensor)}
    nc = _nc_of(state_dict, cfg)
    names = _names_list(names, nc, path)
    cfg = dict(cfg)
    errors = []
    for fused in (bool(cfg.get("fused")), not cfg.get("fused")):  # a fused file fits only a fused model
        cfg["fused"] = fused
        try:
            model = Model(cfg, nc=nc, names=names)
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as e:
            raise UserError(f"{path}: its cfg does not build: {e}") from None
        own = model.state_dict()
        missing = sorted(own.keys() - state_dict.keys())
        unexpected = sorted(state_dict.keys() - own.keys())
        wrong = [k for k in own.keys() & state_dict.keys() if own[k].shape != state_dict[k].shape]
        if not (missing or unexpected or wrong):
            model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()})
            if not fused:
                del model.yaml["fused"]
            return model.float().eval()
        errors.append(f"missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]}")
    raise UserError(f"{path}: weights do not fit the cfg ({errors[0]})")


def _number(x: Any) -> float:
    """Upstream's best_fitness is a 1-element numpy array; any scalar-like becomes a float."""
    import numpy as np

    return float(np.asarray(x, dtype=float).reshape(-1)[0])


def _upstream(obj: Any, path: Path, sha: str, which: str) -> LoadedCheckpoint:
    if isinstance(obj, Model):
        obj, kind = {"model": obj}, "upstream-model"
    elif obj.get("optimizer") is not None:
        kind = "upstream-train"
    elif "ema" not in obj and "updates" not in obj:
        kind = "upstream-deploy"
    else:
        kind = "upstream-stripped"
    use = "ema" if which in ("best", "ema") and isinstance(obj.get("ema"), Model) else "model"
    if which == "ema" and use != "ema":
        raise UserError(f"{path}: has no EMA weights")
    module = obj.get(use)
    if not isinstance(module, Model):
        raise UserError(f"{path}: its '{use}' entry is not a YOLOv7 model")
    attrs = module.__dict__
    cfg = attrs.get("yaml")
    if not isinstance(cfg, dict):
        raise UserError(f"{path}: the pickled model has no cfg (.yaml)")
    model = model_from_weights(cfg, _tensors_of(module, path), attrs.get("names"), path)
    metrics = {}
    if obj.get("best_fitness") is not None:
        metrics["best_fitness"] = _number(obj["best_fitness"])
    extra = {k: v for k, v in obj.items() if k not in ("model", "ema", "epoch")}
    yaml_file = attrs.get("yaml_file")
    return LoadedCheckpoint(
        model=model, names=model.names, kind=kind, path=path, source_sha256=sha,
        epoch=-1 if obj.get("epoch") is None else int(_number(obj["epoch"])), metrics=metrics,
        cfg_name=Path(yaml_file).stem if isinstance(yaml_file, str) else None, weights=use, extra=extra,
    )


def _ours(obj: dict, path: Path, sha: str) -> LoadedCheckpoint:
    version = obj.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(f"{path}: y7deploy checkpoint format {version!r} is newer than this y7deploy reads "
                        f"({FORMAT_VERSION})")
    if not isinstance(obj.get("cfg"), dict) or not isinstance(obj.get("state_dict"), dict):
        raise UserError(f"{path}: malformed y7deploy checkpoint (no cfg or state_dict)")
    model = model_from_weights(obj["cfg"], obj["state_dict"], obj.get("names"), path)
    extra = dict(obj.get("extra") or {})
    cfg_name = obj.get("cfg_name") or (extra.get("cfg") if isinstance(extra.get("cfg"), str) else None)
    return LoadedCheckpoint(
        model=model, names=model.names, kind="y7deploy", path=path, source_sha256=sha,
        epoch=int(obj.get("epoch", -1)), metrics=dict(obj.get("metrics") or {}),
        cfg_name=Path(cfg_name).stem if cfg_name else None, extra=extra,
    )


def _plain_state_dict(obj: dict, path: Path, sha: str, cfg: Any, names: Any) -> LoadedCheckpoint:
    state_dict = obj.get("state_dict", obj)
    file_cfg = obj.get("cfg") if isinstance(obj.get("cfg"), (dict, str)) else None
    if cfg is None and file_cfg is None:
        raise UserError(f"{path}: a plain state_dict; say which architecture it is (--cfg)")
    model = model_from_weights(resolve_cfg(cfg if cfg is not None else file_cfg), state_dict,
                               names if names is not None else obj.get("names"), path)
    return LoadedCheckpoint(model=model, names=model.names, kind="state-dict", path=path, source_sha256=sha,
                            cfg_name=Path(cfg).stem if isinstance(cfg, str) else None)


def load_checkpoint(path: str | Path, *, cfg: str | dict | None = None, names: list[str] | None = None,
                    nc: int | None = None, which: str = "best") -> LoadedCheckpoint:
    """Load any checkpoint form y7deploy understands into our Model (float32, eval mode).

    ``which``: "best" (the EMA when the file has one, else the model, as upstream's
    attempt_load), "model" or "ema". ``cfg``/``names`` are for plain state_dicts. ``nc`` (and
    ``names`` for other forms) are checked against the file: a mismatch is a UserError.
    """
    if which not in ("best", "model", "ema"):
        raise ValueError(f"which={which!r}")
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint file")
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    obj = safe_load(path, data)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        loaded = _ours(obj, path, sha)
    elif isinstance(obj, Model) or (isinstance(obj, dict) and isinstance(obj.get("model"), Model)):
        loaded = _upstream(obj, path, sha, which)
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor)
                                               for v in obj.get("state_dict", obj).values()):
        loaded = _plain_state_dict(obj, path, sha, cfg, names)
    else:
        raise UserError(f"{path}: not a YOLOv7 checkpoint (found {type(obj).__name__}"
                        f"{' with keys ' + ', '.join(map(str, list(obj)[:6])) if isinstance(obj, dict) else ''})")
    if nc is not None and loaded.nc != nc:
        raise UserError(f"{path}: the checkpoint has nc={loaded.nc} classes but nc={nc} was expected")
    if names is not None and loaded.kind != "state-dict" and len(names) != loaded.nc:
        raise UserError(f"{path}: the checkpoint has {loaded.nc} classes ({', '.join(loaded.names[:5])}"
                        f"{'...' if loaded.nc > 5 else ''}) but {len(names)} names were given")
    return loaded


# --------------------------------------------------------------------------- writing


def _plain(value: Any, where: str) -> Any:
    """``value`` as types torch.load(weights_only=True) accepts (Paths become strings)."""
    if value is None or isinstance(value, (str, torch.Tensor)):
        return value
    if isinstance(value, (bool, int, float)):  # also numpy's float64, a float subclass
        return type(value)(value) if type(value) in (bool, int, float) else float(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if hasattr(value, "item") and getattr(value, "size", None) in (1, (1,), ()):
        return value.item()  # numpy scalar
    raise TypeError(f"save_checkpoint: {where} is a {type(value).__name__}, not a plain value or tensor")


def save_checkpoint(path: str | Path, model: nn.Module, names: list[str] | None = None, *, epoch: int = -1,
                    metrics: dict | None = None, half: bool = False, **extra: Any) -> Path:
    """Write ``model`` in y7deploy's format: {format, format_version, cfg, names, nc, state_dict,
    epoch, metrics, extra}. ``extra`` holds anything else (optimizer state, hyp, ...) as plain
    values and tensors, so the file loads with ``torch.load(weights_only=True)``."""
    from y7deploy import __version__

    path = Path(path)
    names = list(names if names is not None else model.names)
    if len(names) != model.nc:
        raise UserError(f"{path}: {len(names)} class names for a model with nc={model.nc}")
    state = {k: (v.detach().half() if half and v.is_floating_point() else v.detach()).cpu().clone()
             for k, v in model.state_dict().items()}
    data = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "y7deploy_version": __version__,
        "cfg": _plain(model.yaml, "cfg"), "names": names, "nc": model.nc, "state_dict": state,
        "epoch": int(epoch), "metrics": _plain(dict(metrics or {}), "metrics"), "extra": _plain(extra, "extra"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return path
