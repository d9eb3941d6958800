"""Load y7deploy's `export --format upstream-pt` files with upstream YOLOv7's own code and keep what it computed.

    .venv/bin/python tests/model/data/upstream/loads_ours.py /path/to/WongKinYiu/yolov7

Run from the repository root with y7deploy installed, against upstream commit
a207844b1ce82d204ab36d87d496728d3d2348e7 (torch 2.13, CPU). Not run by the tests.

For each architecture in OURS it
1. writes a y7deploy checkpoint ``ours_ARCH.pt`` the way `y7deploy train` does (save_checkpoint,
   our classes only): a tiny-width network with non-trivial BN statistics and implicit values,
   and anchors different from the cfg's, as autoanchor leaves them in the head's buffers;
2. runs ``y7deploy export ours_ARCH.pt --format upstream-pt`` in a child process that never
   sees upstream's code (into a temporary folder: the tests write it again and compare it
   with what is recorded here);
3. loads that file with upstream's code, three ways: ``torch.load(w)['model']`` (train.py),
   ``attempt_load`` (test.py and detect.py: it also fuses Conv+BN, RepConv and the implicit
   head), and upstream's ``Model(ckpt['model'].yaml)`` plus ``load_state_dict`` (train.py
   --weights), and runs upstream's forward on a fixed input;
4. runs upstream's detect.py itself on ``detect.png`` (--save-txt --save-conf) and keeps the
   label lines it wrote. torchvision is not installed here: its ``ops.nms`` is given a plain
   greedy NMS, the one piece of detect.py's path that is not upstream's.

It writes ``ours_upstream.pt`` (the input and each output, plain tensors) and
``ours_upstream.json`` (what upstream's objects say: class paths, names, nc, yaml_file, yaml,
anchors in pixels, state-dict keys that upstream's own Model lacks or has extra; and of the
file itself: the globals its pickle names and a digest of its tensors).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
DETECT_CONF = 0.01
OURS = {  # arch: (names, anchors in pixels, one [w, h, ...] row per level)
    "yolov7-tiny": (["car", "bus", "person"],
                    [[5, 30, 12, 8, 20, 40], [40, 15, 30, 70, 70, 30], [90, 160, 200, 90, 150, 250]]),
    "yolov7": (["cat", "dog"], [[8, 14, 20, 9, 14, 30], [36, 70, 75, 36, 60, 120], [140, 110, 190, 240, 460, 400]]),
    "yolov7-w6": (["helmet", "head"],
                  [[9, 22, 30, 12, 24, 40], [50, 30, 40, 90, 100, 60], [120, 200, 240, 110, 190, 300],
                   [300, 500, 560, 280, 500, 620]]),
}


def write_ours(arch: str, names: list[str], anchors: list[list[float]]) -> Path:
    """A y7deploy checkpoint of ours, with weights that exercise every fold and chosen anchors."""
    import torch

    from make import WIDTH, randomize
    from y7deploy.model.checkpoint import save_checkpoint
    from y7deploy.model.yolo import build_model, resolve_cfg

    cfg = resolve_cfg(arch)
    cfg["width_multiple"] = WIDTH
    torch.manual_seed(0)
    model = build_model(cfg, names=names)
    randomize(model, torch)
    head = model.model[-1]
    with torch.no_grad():  # where autoanchor puts what it chose: pixels and grid units
        head.anchor_grid.copy_(torch.tensor(anchors, dtype=torch.float32).view_as(head.anchor_grid))
        head.anchors.copy_(head.anchor_grid.view_as(head.anchors) / head.stride.view(-1, 1, 1))
    return save_checkpoint(HERE / f"ours_{arch}.pt", model.eval(), names, epoch=29, half=True,
                           metrics={"best_fitness": 0.61}, cfg=arch)


def tensors_digest(state_dict) -> str:
    h = hashlib.sha256()
    for k, v in sorted(state_dict.items()):
        h.update(f"{k} {v.dtype} {tuple(v.shape)}\n".encode())
        h.update(v.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def greedy_nms(boxes, scores, iou_thres: float):
    """torchvision.ops.nms's contract: indices kept, highest score first."""
    import torch

    order, keep = scores.argsort(descending=True), []
    while order.numel():
        i, rest = order[0], order[1:]
        keep.append(int(i))
        lt, rb = torch.max(boxes[i, :2], boxes[rest, :2]), torch.min(boxes[i, 2:], boxes[rest, 2:])
        inter = (rb - lt).clamp(min=0).prod(1)
        area = (boxes[:, 2:] - boxes[:, :2]).prod(1)
        order = rest[inter / (area[i] + area[rest] - inter) <= iou_thres]
    return torch.tensor(keep, dtype=torch.long)


def write_detect_image() -> Path:
    import cv2
    import numpy as np

    image = HERE / "detect.png"  # lossless: the tests read the same pixels
    rng = np.random.default_rng(5)
    cv2.imwrite(str(image), (rng.random((64, 64, 3)) * 255).astype(np.uint8))
    return image


def run_detect(upstream: str, weights: Path, image: Path, conf: float) -> list[list[float]]:
    """Upstream's detect.py as its command line runs it; the rows of the label file it wrote."""
    import runpy

    out = Path(tempfile.mkdtemp(prefix="y7deploy-detect-"))
    argv = sys.argv
    sys.argv = ["detect.py", "--weights", str(weights), "--source", str(image), "--img-size", "64", "--device",
                "cpu", "--no-trace", "--conf-thres", str(conf), "--save-txt", "--save-conf", "--nosave",
                "--project", str(out), "--name", "run"]
    try:
        runpy.run_path(str(Path(upstream) / "detect.py"), run_name="__main__")
    finally:
        sys.argv = argv
    labels = out / "run" / "labels" / f"{image.stem}.txt"
    return [[float(v) for v in line.split()] for line in labels.read_text().splitlines()] if labels.exists() else []


def upstream_view(upstream: str, files: dict[str, Path]) -> tuple[dict, dict]:
    from y7deploy.model.checkpoint import pickle_globals

    sys.path.insert(0, upstream)
    from make import stub_missing

    stub_missing()
    import types

    import torch
    sys.modules["torchvision"].__dict__["ops"] = types.SimpleNamespace(nms=greedy_nms)
    from models.experimental import attempt_load
    from models.yolo import Model

    real_load = torch.load  # upstream predates torch 2.6's weights_only default; these files are ours
    torch.load = lambda *a, **k: real_load(*a, **{"weights_only": False, **k})
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(11))
    image = write_detect_image()
    outputs, facts = {"x": x}, {}
    for arch, path in files.items():
        ckpt = torch.load(path, map_location="cpu")
        model = ckpt["model"]
        with torch.no_grad():
            outputs[f"{arch}/model"] = model.float().eval()(x)[0]
            outputs[f"{arch}/attempt_load"] = attempt_load(str(path), map_location="cpu")(x)[0]
            rebuilt = Model(ckpt["model"].yaml, ch=3, nc=ckpt["model"].nc)
            own, theirs = rebuilt.state_dict(), model.float().state_dict()
            rebuilt.load_state_dict(theirs)
            outputs[f"{arch}/rebuilt"] = rebuilt.eval()(x)[0]
        facts[arch] = {
            "pickle_globals": pickle_globals(path), "tensors_sha256": tensors_digest(model.half().state_dict()),
            "yaml": model.yaml,
            "classes": sorted({f"{type(m).__module__}.{type(m).__qualname__}" for m in model.modules()}),
            "names": list(model.names), "nc": int(model.nc), "yaml_file": getattr(model, "yaml_file", None),
            "anchors_px": model.model[-1].anchor_grid.reshape(len(model.model[-1].anchor_grid), -1).tolist(),
            "yaml_anchors": model.yaml["anchors"], "stride": model.stride.tolist(),
            "keys_upstream_lacks": sorted(theirs.keys() - own.keys()),
            "keys_upstream_has_more": sorted(own.keys() - theirs.keys()),
            "epoch": ckpt["epoch"], "best_fitness": ckpt["best_fitness"], "optimizer": ckpt["optimizer"],
            "detect_conf_thres": DETECT_CONF, "detect_txt": run_detect(upstream, path, image, DETECT_CONF),
        }
    return outputs, facts


def main(upstream: str) -> None:
    import torch

    sys.path.insert(0, str(HERE))
    files = {}
    tmp = Path(tempfile.mkdtemp(prefix="y7deploy-upstream-pt-"))
    for arch, (names, anchors) in OURS.items():
        ours = write_ours(arch, names, anchors)
        files[arch] = tmp / f"ours_{arch}-upstream.pt"
        subprocess.run([sys.executable, "-m", "y7deploy", "export", str(ours), "--format", "upstream-pt",
                        "--out", str(files[arch])], check=True)
    outputs, facts = upstream_view(upstream, files)
    torch.save(outputs, HERE / "ours_upstream.pt")
    (HERE / "ours_upstream.json").write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
    for p in sorted(HERE.glob("ours_*")):
        print(f"{p.name}: {p.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main(sys.argv[1])
