"""ONNX export in DeepStream-Yolo's layout, proven against PyTorch before a bundle exists.

DeepStream-Yolo's ``NvDsInferParseYolo`` reads one output ``output`` of shape
[B, N, 6]: x1, y1, x2, y2 in input pixels, score = objectness x best class
probability, and the class index as a float. ``DeepStreamOutput`` puts that head on
a YOLOv7 model whose eval forward returns ``(pred, raw)`` with pred [B, N, 5+nc]
(box centre and size in input pixels, objectness, class probabilities).

Why the legacy TorchScript exporter (``dynamo=False``): the torch.export-based
exporter that torch made the default in 2.9 emits opset 18 and newer and needs
onnxscript; TensorRT 8.2 (JetPack 4.6, the oldest profile in the fleet) parses
opsets up to 13. The TorchScript exporter writes exactly the opset asked for. In
torch 2.13 it still works and only warns (DeprecationWarning: "legacy
TorchScript-based ONNX export"); the warning is silenced here. When torch removes
it, the way forward is the dynamo exporter plus an opset down-conversion, checked
by the same verification. Default opset 12, the one DeepStream-Yolo's own
exporter uses, which every TensorRT from 7.x on parses.

Verification is not optional: onnx.checker, then onnxruntime on a fixed input must
agree with the PyTorch deploy model (boxes within 1e-3 of the image size, scores
within 1e-4, the same class wherever the best class is not a near tie), or the
export raises ExportError and no bundle is written.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from y7deploy import __version__
from y7deploy.errors import UserError
from y7deploy.release import INPUT_NAME, OUTPUT_NAME, Release, check_id_part, release_id, write_release

DEFAULT_OPSET = 12  # DeepStream-Yolo's default; TensorRT 8.2 parses opset <= 13
MIN_OPSET, MAX_OPSET = 11, 17  # 11: the first with the ops used here; 17: the TorchScript exporter's safe top
OUTPUT_LAYOUT = "x1,y1,x2,y2,score,class"
BOX_TOL = 1e-3  # of the larger image side
SCORE_TOL = 1e-4
TIE_GAP = 1e-4  # best and second class closer than this: either index is right


class ExportError(UserError):
    """The exported graph does not behave like the model; nothing was written."""


class DeepStreamOutput(nn.Module):
    """A YOLOv7 model with DeepStream-Yolo's single [B, N, 6] output instead of (pred, raw)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pred = self.model(images)
        if isinstance(pred, (tuple, list)):
            pred = pred[0]
        return deepstream_layout(pred)


def deepstream_layout(pred: torch.Tensor) -> torch.Tensor:
    """[B, N, 5+nc] (cx, cy, w, h, obj, cls...) -> [B, N, 6] (x1, y1, x2, y2, score, class)."""
    centre, half = pred[..., 0:2], pred[..., 2:4] / 2
    best, index = pred[..., 5:].max(dim=-1, keepdim=True)
    score = best * pred[..., 4:5]
    return torch.cat([centre - half, centre + half, score, index.to(pred.dtype)], dim=-1)


def expected_rows(img_size: tuple[int, int], strides: Sequence[int], anchors_per_level: int = 3) -> int:
    """N of the output: one row per anchor per grid cell of every detection level."""
    h, w = img_size
    return anchors_per_level * sum((h // s) * (w // s) for s in strides)


def check_img_size(img_size: Sequence[int], max_stride: int) -> tuple[int, int]:
    """(H, W) from one or two values, each a positive multiple of the model's largest stride."""
    if len(img_size) not in (1, 2):
        raise UserError(f"--img-size takes H or H W, got {' '.join(map(str, img_size))}")
    h, w = (img_size[0], img_size[0]) if len(img_size) == 1 else tuple(img_size)
    for v in (h, w):
        if v <= 0 or v % max_stride:
            raise UserError(f"--img-size {v} is not a positive multiple of the model's max stride {max_stride}")
    return int(h), int(w)


def check_opset(opset: int) -> int:
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UserError(f"--opset {opset} is outside {MIN_OPSET}..{MAX_OPSET} (TensorRT 8.2 parses up to 13)")
    return opset


def model_strides(model: nn.Module) -> list[int]:
    stride = getattr(model, "stride", None)
    if stride is None:
        raise UserError("the model has no stride: was it built by y7deploy.model?")
    return [int(s) for s in torch.as_tensor(stride).flatten().tolist()]


def export_onnx(
    head: nn.Module,
    file: Path,
    img_size: tuple[int, int],
    *,
    batch: int = 1,
    dynamic: bool = False,
    opset: int = DEFAULT_OPSET,
) -> None:
    """Trace ``head`` on zeros of the export shape and write it with the TorchScript exporter."""
    sample = torch.zeros(1 if dynamic else batch, 3, *img_size)
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic else None
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter's deprecation notice and the tracer's warnings about
        # shapes turned into constants are expected; verification is the real check.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            head,
            (sample,),
            str(file),
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            do_constant_folding=True,
        )


def set_metadata(file: Path, metadata: Mapping[str, Any]) -> None:
    """Store facts about the model in the ONNX metadata_props (values JSON-encoded unless str)."""
    import onnx

    proto = onnx.load(str(file))
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = value if isinstance(value, str) else json.dumps(value)
    onnx.save(proto, str(file))


def read_metadata(file: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(file), load_external_data=False).metadata_props}


def simplify(file: Path) -> None:
    """onnxslim in place, keeping the IR version the opset asked for (older parsers check it)."""
    import onnx
    import onnxslim

    proto = onnx.load(str(file))
    slim = onnxslim.slim(proto)
    slim.ir_version = proto.ir_version
    onnx.save(slim, str(file))


@dataclass(frozen=True)
class Verification:
    """How far onnxruntime's answer was from PyTorch's, worst over every batch size tried."""

    batches: tuple[int, ...]
    max_box_error: float  # pixels
    max_score_error: float
    class_mismatches: int
    box_limit: float
    rows: int = 0  # N of the [B, N, 6] output
    score_limit: float = SCORE_TOL

    @property
    def ok(self) -> bool:
        return (
            self.max_box_error <= self.box_limit
            and self.max_score_error <= self.score_limit
            and self.class_mismatches == 0
        )


def fixed_input(batch: int, img_size: tuple[int, int]) -> np.ndarray:
    """The same pseudo-random image batch on every run, so a failure can be reproduced."""
    rng = np.random.default_rng(20240707)
    return rng.random((batch, 3, *img_size), dtype=np.float32)


def verify_onnx(file: Path, head: nn.Module, img_size: tuple[int, int], batches: Sequence[int]) -> Verification:
    """Check the graph, then compare onnxruntime with PyTorch on a fixed input for each batch size."""
    import onnx
    import onnxruntime as ort

    try:
        onnx.checker.check_model(str(file), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{file.name}: onnx.checker refused the exported graph: {str(exc).splitlines()[0]}") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = min(2, torch.get_num_threads())
    session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    _check_io(session, img_size, batches)
    box_err = score_err = 0.0
    mismatches = 0
    for batch in batches:
        images = fixed_input(batch, img_size)
        with torch.no_grad():
            pred = head.model(torch.from_numpy(images))
            pred = (pred[0] if isinstance(pred, (tuple, list)) else pred).float()
            want = deepstream_layout(pred).numpy()
        got = session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]
        if got.shape != want.shape:
            raise ExportError(f"onnxruntime output shape {list(got.shape)} != PyTorch {list(want.shape)}")
        box_err = max(box_err, float(np.abs(got[..., :4] - want[..., :4]).max()))
        score_err = max(score_err, float(np.abs(got[..., 4] - want[..., 4]).max()))
        top2 = torch.topk(pred[..., 5:], k=min(2, pred.shape[-1] - 5), dim=-1).values.numpy()
        decided = (top2[..., 0] - top2[..., -1] > TIE_GAP) if top2.shape[-1] == 2 else np.ones(top2.shape[:-1], bool)
        mismatches += int(((got[..., 5] != want[..., 5]) & decided).sum())
    return Verification(tuple(batches), box_err, score_err, mismatches, box_limit=BOX_TOL * max(img_size),
                        rows=int(got.shape[1]))


def _check_io(session: Any, img_size: tuple[int, int], batches: Sequence[int]) -> None:
    """The names, types and shapes DeepStream's nvinfer binds to (onnxruntime's view of the graph)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if [i.name for i in inputs] != [INPUT_NAME] or [o.name for o in outputs] != [OUTPUT_NAME]:
        raise ExportError(f"graph binds {[i.name for i in inputs]} -> {[o.name for o in outputs]}, "
                          f"DeepStream-Yolo expects [{INPUT_NAME!r}] -> [{OUTPUT_NAME!r}]")
    batch_dim = "batch" if len(batches) > 1 else batches[0]
    want = [batch_dim, 3, *img_size]
    if inputs[0].type != "tensor(float)" or inputs[0].shape != want or outputs[0].type != "tensor(float)":
        raise ExportError(f"graph input {inputs[0].type} {inputs[0].shape}, output {outputs[0].type}: "
                          f"expected tensor(float) {want} in and tensor(float) out")


@dataclass(frozen=True)
class ExportResult:
    release: Release
    verification: Verification
    seconds: Mapping[str, float] = field(default_factory=dict)


def default_name(weights: Path, cfg_name: str | None) -> str:
    """The checkpoint's stem, unless it is a generic training output name (best.pt), then the cfg's."""
    stem = weights.stem
    generic = stem in {"best", "last", "weights", "model", "deploy"} or stem.startswith(("epoch", "best_", "last_"))
    chosen = cfg_name if (generic and cfg_name) else stem
    # A file name may hold anything; a release name becomes a directory on every device.
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", chosen).strip("-._") or "model"


def export_model(
    model: nn.Module,
    names: Sequence[str],
    *,
    name: str,
    version: str,
    out: Path,
    img_size: Sequence[int] = (640,),
    batch: int = 1,
    dynamic: bool = False,
    opset: int = DEFAULT_OPSET,
    do_simplify: bool = False,
    fp16: bool = False,
    check_trt: bool = False,
    force: bool = False,
    source: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    reparameterize: Callable[[nn.Module], nn.Module] | None = None,
) -> ExportResult:
    """Deploy-form ``model`` -> verified ONNX -> release bundle under ``out``.

    ``reparameterize`` (normally y7deploy.model.reparam.reparameterize) runs first;
    it is idempotent, so a model already in deploy form passes through unchanged.
    """
    check_request(model, names, name=name, version=version, out=out, batch=batch, dynamic=dynamic, opset=opset,
                  check_trt=check_trt, force=force)
    names = [str(n) for n in names]
    timings: dict[str, float] = {}
    with _timed(timings, "reparameterize"):
        head, strides, size = deploy_head(model, img_size, reparameterize)
    batches = (1, 2) if dynamic else (batch,)
    with tempfile.TemporaryDirectory(prefix="y7deploy-export-") as tmp:
        file = Path(tmp) / "model.onnx"
        with _timed(timings, "export"):
            export_onnx(head, file, size, batch=batch, dynamic=dynamic, opset=opset)
            if do_simplify:
                simplify(file)
            set_metadata(file, onnx_metadata(head.model, names, strides, size, None if dynamic else batch, source))
        with _timed(timings, "verify"):
            result = verify_onnx(file, head, size, batches)
            require_agreement(result, size, strides, _anchors_per_level(head.model))
        if check_trt:
            from y7deploy.model.trt_check import build_engine

            with _timed(timings, "tensorrt"):
                build_engine(file, size, batch=batch, dynamic=dynamic, fp16=fp16)
        info = manifest_info(head.model, result, size, strides, batch=batch, dynamic=dynamic, opset=opset,
                             fp16=fp16, simplified=do_simplify, source=source, metrics=metrics)
        release = write_release(out, name=name, version=version, model_file=file, names=names, info=info, force=force)
    return ExportResult(release, result, timings)


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[step] = time.perf_counter() - start


def check_request(model: nn.Module, names: Sequence[str], *, name: str, version: str, out: Path, batch: int,
                  dynamic: bool, opset: int, check_trt: bool, force: bool) -> None:
    """Everything about the request that can be refused before any work is done."""
    ident = release_id(name, version)
    if (Path(out) / ident).exists() and not force:
        raise UserError(f"release {ident} already exists at {Path(out) / ident}; "
                        "releases are immutable (use --force to replace it)")
    check_opset(opset)
    if dynamic and batch != 1:
        raise UserError(f"--batch {batch} and --dynamic exclude each other: pick a static batch or a dynamic axis")
    if batch < 1:
        raise UserError(f"--batch {batch} must be at least 1")
    if check_trt:
        from y7deploy.model.trt_check import require_trt

        require_trt()  # without a GPU there is nothing to check with
    nc = _model_nc(model)
    if nc is not None and nc != len(names):
        raise UserError(f"the model predicts {nc} classes but has {len(names)} names")


def deploy_head(model: nn.Module, img_size: Sequence[int],
                reparameterize: Callable[[nn.Module], nn.Module] | None) -> tuple[DeepStreamOutput, list[int], tuple[int, int]]:
    """The deploy-form model under DeepStream-Yolo's output, its strides and the checked input size."""
    if reparameterize is not None:
        model = reparameterize(model)
    model = model.float().eval()
    check_anchors(model)
    strides = model_strides(model)
    return DeepStreamOutput(model).eval(), strides, check_img_size(img_size, max(strides))


def check_anchors(model: nn.Module) -> None:
    """The head decodes with ``anchor_grid`` (pixels); the loss trained with ``anchors`` (grid units).
    A checkpoint where they disagree would export boxes of other sizes than it was trained for."""
    head = _head(model)
    if head is None or not hasattr(head, "anchor_grid") or not hasattr(head, "anchors"):
        return
    in_px = head.anchors * torch.as_tensor(head.stride).view(-1, 1, 1)
    if not torch.allclose(in_px.reshape(-1), head.anchor_grid.reshape(-1), rtol=1e-3, atol=1e-3):
        raise ExportError(f"the head's anchors disagree: anchor_grid {head.anchor_grid.reshape(-1).tolist()[:6]}... "
                          f"px but anchors x stride {in_px.reshape(-1).tolist()[:6]}...; nothing written")


def anchors_px(model: nn.Module) -> list[list[float]] | None:
    """The anchors the graph decodes with, in pixels, one [w, h, ...] list per level."""
    head = _head(model)
    grid = getattr(head, "anchor_grid", None)
    return [[round(float(v), 4) for v in level.reshape(-1).tolist()] for level in grid] if grid is not None else None


def onnx_metadata(model: nn.Module, names: list[str], strides: list[int], size: tuple[int, int], batch: int | None,
                  source: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "names": names,
        "nc": len(names),
        "stride": strides,
        "anchors": anchors_px(model),
        "img_size": list(size),
        "batch": batch,
        "source_sha256": (source or {}).get("sha256") or "",
        "layout": f"deepstream-yolo {OUTPUT_NAME} [B,N,6] {OUTPUT_LAYOUT}",
        "y7deploy_version": __version__,
    }


def require_agreement(result: Verification, size: tuple[int, int], strides: list[int], anchors_per_level: int) -> None:
    """Raise ExportError unless onnxruntime agreed with PyTorch and the graph has DeepStream-Yolo's rows."""
    if not result.ok:
        raise ExportError(
            f"exported ONNX disagrees with PyTorch: boxes off by {result.max_box_error:.3g} px "
            f"(limit {result.box_limit:.3g}), scores by {result.max_score_error:.3g} "
            f"(limit {result.score_limit:.0e}), {result.class_mismatches} class index mismatches; nothing written"
        )
    rows = expected_rows(size, strides, anchors_per_level)
    if result.rows != rows:
        raise ExportError(f"the graph outputs {result.rows} rows, DeepStream-Yolo expects {rows} for "
                          f"{size[0]}x{size[1]} at strides {strides}; nothing written")


def manifest_info(model: nn.Module, result: Verification, size: tuple[int, int], strides: list[int], *, batch: int,
                  dynamic: bool, opset: int, fp16: bool, simplified: bool, source: Mapping[str, Any] | None,
                  metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """The model facts of the release manifest."""
    return {
        "input_size": list(size),
        "batch": None if dynamic else batch,
        "dynamic_batch": dynamic,
        "opset": opset,
        "stride": strides,
        "anchors": anchors_px(model),
        # The ONNX stays float32 (as DeepStream-Yolo ships it); fp16 is the engine
        # precision devices should build, TensorRT converts the weights itself.
        "fp16": fp16,
        "precision": "fp16" if fp16 else "fp32",
        "simplified": simplified,
        # What nvinfer's config must say for this graph (model-color-format=0 is RGB).
        "input": {"name": INPUT_NAME, "format": "RGB", "scale": "0..1", "net_scale_factor": 1 / 255,
                  "shape": ["B" if dynamic else batch, 3, *size]},
        "output": {"name": OUTPUT_NAME, "layout": OUTPUT_LAYOUT, "rows": result.rows, "parser": "NvDsInferParseYolo"},
        "source": dict(source or {}),
        "metrics": dict(metrics) if metrics else None,
        "verification": {"max_box_error_px": result.max_box_error, "max_score_error": result.max_score_error,
                         "class_mismatches": result.class_mismatches, "batches": list(result.batches)},
    }


def _head(model: nn.Module) -> nn.Module | None:
    layers = getattr(model, "model", None)
    return layers[-1] if isinstance(layers, nn.Sequential) and len(layers) else None


def _model_nc(model: nn.Module) -> int | None:
    nc = getattr(model, "nc", None)
    if nc is None:
        nc = getattr(_head(model), "nc", None)
    return int(nc) if nc is not None else None


def _anchors_per_level(model: nn.Module) -> int:
    return int(getattr(_head(model), "na", None) or getattr(model, "na", 3))


def export_checkpoint(
    weights: str | Path,
    *,
    version: str,
    name: str | None = None,
    out: str | Path = "releases",
    cfg: str | None = None,
    **options: Any,
) -> ExportResult:
    """Load a checkpoint (any form load_checkpoint takes), then export_model it into a release.

    ``cfg`` names the architecture of a plain state_dict (other forms carry their own).
    """
    weights = Path(weights)
    check_id_part("version", version)
    if name is not None:
        check_id_part("name", name)
    if not weights.is_file():
        raise UserError(f"{weights}: no such checkpoint file")
    if options.get("check_trt"):
        from y7deploy.model.trt_check import require_trt

        require_trt()  # say so before loading anything
    from y7deploy.model.checkpoint import load_checkpoint
    from y7deploy.model.reparam import reparameterize

    ckpt = load_checkpoint(weights, cfg=cfg)
    cfg_name = _cfg_name(ckpt)
    name = name or default_name(weights, cfg_name)
    source = {"file": weights.name, "sha256": ckpt.source_sha256, "kind": ckpt.kind, "epoch": ckpt.epoch,
              "cfg": cfg_name}
    return export_model(ckpt.model, list(ckpt.names), name=name, version=version, out=Path(out), source=source,
                        metrics=ckpt.metrics, reparameterize=reparameterize, **options)


def _cfg_name(ckpt: Any) -> str | None:
    """The architecture's name if the checkpoint knows it (a cfg file name or the yaml's own)."""
    for attr in ("cfg_name", "cfg"):
        value = getattr(ckpt, attr, None)
        if isinstance(value, str) and value:
            return Path(value).stem
    yaml = getattr(ckpt.model, "yaml", None)
    if isinstance(yaml, Mapping):
        for key in ("name", "yaml_file"):
            if isinstance(yaml.get(key), str):
                return Path(yaml[key]).stem
    return None
