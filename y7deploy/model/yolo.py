"""The YOLOv7 network: every layer the published architectures use, and the Model built from a cfg.

Everything is in this one file on purpose (nanoGPT-style): a reader follows a cfg row to
the class that implements it without chasing registries.

Two compatibility promises shape the code:
- class names, attribute names and state-dict keys are those of WongKinYiu/yolov7
  (``model.N.conv.weight``, ``model.N.rbr_dense.0.weight``, ``model.105.ia.0.implicit``...),
  so upstream weights load 1:1 and upstream pickles map onto these classes by name;
- the forward contract is upstream's: in train mode the model returns the raw per-level
  tensors ``[B, na, ny, nx, no]``; in eval mode ``(pred, raw)`` with ``pred [B, N, no]``
  decoded to centre-x, centre-y, w, h in input pixels and sigmoided objectness/classes.

Cfgs are upstream's yaml format: ``backbone`` + ``head`` rows ``[from, number, module, args]``
plus ``nc``, ``anchors``, ``depth_multiple``, ``width_multiple``. A cfg with ``fused: true`` is
a reparameterized (deploy) network: Conv+BN folded into one biased conv, RepConv folded into
``rbr_reparam`` (see ``reparam.py``).
"""

from __future__ import annotations

import math
import re
from copy import deepcopy
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from y7deploy.errors import UserError

# --------------------------------------------------------------------------- basic layers


def autopad(k: int, p: int | None = None) -> int:
    """'same' padding for odd kernels, as upstream computes it."""
    return k // 2 if p is None else p


class Conv(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> activation. ``fuse()`` folds the BN into the conv."""

    def __init__(self, c1, c2, k=1, s=1, p=None, g=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p), groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU() if act is True else (act if isinstance(act, nn.Module) else nn.Identity())

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))

    def fuse(self) -> None:
        """Fold BN into the conv in place (inference only): one biased conv, BN becomes Identity."""
        if isinstance(self.bn, nn.Identity):
            return
        w, b = fuse_conv_bn(self.conv.weight, None, self.bn)
        self.conv = _conv_like(self.conv, w, b)
        self.bn = nn.Identity()


class RepConv(nn.Module):
    """RepVGG block: 3x3 conv+BN, 1x1 conv+BN and (when shapes allow) an identity BN, summed.

    At inference the three branches are one 3x3 conv (``rbr_reparam``), see ``fuse()``.
    """

    def __init__(self, c1, c2, k=3, s=1, p=None, g=1, act=True, deploy=False):
        super().__init__()
        if k != 3 or autopad(k, p) != 1:
            raise UserError(f"RepConv needs k=3 with padding 1, got k={k} p={p}")
        self.deploy = deploy
        self.groups = g
        self.in_channels = c1
        self.out_channels = c2
        self.act = nn.SiLU() if act is True else (act if isinstance(act, nn.Module) else nn.Identity())
        if deploy:
            self.rbr_reparam = nn.Conv2d(c1, c2, k, s, 1, groups=g, bias=True)
        else:
            self.rbr_identity = nn.BatchNorm2d(c1) if c2 == c1 and s == 1 else None
            self.rbr_dense = nn.Sequential(nn.Conv2d(c1, c2, k, s, 1, groups=g, bias=False), nn.BatchNorm2d(c2))
            self.rbr_1x1 = nn.Sequential(nn.Conv2d(c1, c2, 1, s, 0, groups=g, bias=False), nn.BatchNorm2d(c2))

    def forward(self, x):
        if self.deploy:
            return self.act(self.rbr_reparam(x))
        y = self.rbr_dense(x) + self.rbr_1x1(x)
        if self.rbr_identity is not None:
            y = y + self.rbr_identity(x)
        return self.act(y)

    def fuse(self) -> None:
        """Fold the three branches and their BNs into one 3x3 conv in place (inference only)."""
        if self.deploy:
            return
        w, b = fuse_conv_bn(self.rbr_dense[0].weight, None, self.rbr_dense[1])
        w1, b1 = fuse_conv_bn(self.rbr_1x1[0].weight, None, self.rbr_1x1[1])
        w = w + nn.functional.pad(w1, [1, 1, 1, 1])
        b = b + b1
        if self.rbr_identity is not None:
            # identity as a 3x3 kernel with a 1 at the centre of each channel's own input
            per_group = self.in_channels // self.groups
            eye = torch.zeros_like(w)
            for c in range(self.in_channels):
                eye[c, c % per_group, 1, 1] = 1.0
            wi, bi = fuse_conv_bn(eye, None, self.rbr_identity)
            w, b = w + wi, b + bi
        self.rbr_reparam = _conv_like(self.rbr_dense[0], w, b)
        del self.rbr_dense, self.rbr_1x1, self.rbr_identity
        self.deploy = True


def fuse_conv_bn(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d):
    """(W, b) of a conv followed by an eval-mode BN, as one conv: W*g/s, (b-mean)*g/s + beta."""
    std = (bn.running_var + bn.eps).sqrt()
    scale = bn.weight / std
    b = torch.zeros_like(bn.running_mean) if bias is None else bias
    return weight * scale.reshape(-1, 1, 1, 1), (b - bn.running_mean) * scale + bn.bias


def _conv_like(conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    """A biased copy of ``conv``'s geometry holding the given weight and bias."""
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.dilation, conv.groups, bias=True)
    fused.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
    fused.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
    return fused.to(weight.device)


class MP(nn.Module):
    """Max-pool that halves the resolution."""

    def __init__(self, k=2):
        super().__init__()
        self.m = nn.MaxPool2d(kernel_size=k, stride=k)

    def forward(self, x):
        return self.m(x)


class SP(nn.Module):
    """Stride-1 max-pool keeping the resolution (yolov7-tiny's SPP)."""

    def __init__(self, k=3, s=1):
        super().__init__()
        self.m = nn.MaxPool2d(kernel_size=k, stride=s, padding=k // 2)

    def forward(self, x):
        return self.m(x)


class ReOrg(nn.Module):
    """Space-to-depth: (B, C, H, W) -> (B, 4C, H/2, W/2); the stem of the P6 models."""

    def forward(self, x):
        return torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)


class Concat(nn.Module):
    def __init__(self, dimension=1):
        super().__init__()
        self.d = dimension

    def forward(self, x):
        return torch.cat(x, self.d)


class Shortcut(nn.Module):
    """Sum of two earlier outputs (residual across an E-ELAN pair in yolov7-e6e)."""

    def __init__(self, dimension=0):
        super().__init__()
        self.d = dimension

    def forward(self, x):
        return x[0] + x[1]


class DownC(nn.Module):
    """Downsampling by a strided 3x3 conv path and a max-pool path, concatenated."""

    def __init__(self, c1, c2, n=1, k=2):
        super().__init__()
        self.cv1 = Conv(c1, c1, 1, 1)
        self.cv2 = Conv(c1, c2 // 2, 3, k)
        self.cv3 = Conv(c1, c2 // 2, 1, 1)
        self.mp = nn.MaxPool2d(kernel_size=k, stride=k)

    def forward(self, x):
        return torch.cat((self.cv2(self.cv1(x)), self.cv3(self.mp(x))), dim=1)


class SPPCSPC(nn.Module):
    """Spatial pyramid pooling (5, 9, 13) inside a cross-stage-partial block."""

    def __init__(self, c1, c2, n=1, shortcut=False, g=1, e=0.5, k=(5, 9, 13)):
        super().__init__()
        c_ = int(2 * c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(c_, c_, 3, 1)
        self.cv4 = Conv(c_, c_, 1, 1)
        self.m = nn.ModuleList([nn.MaxPool2d(kernel_size=x, stride=1, padding=x // 2) for x in k])
        self.cv5 = Conv(4 * c_, c_, 1, 1)
        self.cv6 = Conv(c_, c_, 3, 1)
        self.cv7 = Conv(2 * c_, c2, 1, 1)

    def forward(self, x):
        x1 = self.cv4(self.cv3(self.cv1(x)))
        y1 = self.cv6(self.cv5(torch.cat([x1] + [m(x1) for m in self.m], 1)))
        return self.cv7(torch.cat((y1, self.cv2(x)), dim=1))


class ImplicitA(nn.Module):
    """A learned per-channel offset added to the input (YOLOR implicit knowledge)."""

    def __init__(self, channel, mean=0.0, std=0.02):
        super().__init__()
        self.channel, self.mean, self.std = channel, mean, std
        self.implicit = nn.Parameter(torch.zeros(1, channel, 1, 1))
        nn.init.normal_(self.implicit, mean=mean, std=std)

    def forward(self, x):
        return self.implicit + x


class ImplicitM(nn.Module):
    """A learned per-channel scale applied to the input (YOLOR implicit knowledge)."""

    def __init__(self, channel, mean=1.0, std=0.02):
        super().__init__()
        self.channel, self.mean, self.std = channel, mean, std
        self.implicit = nn.Parameter(torch.ones(1, channel, 1, 1))
        nn.init.normal_(self.implicit, mean=mean, std=std)

    def forward(self, x):
        return self.implicit * x


# --------------------------------------------------------------------------- detection heads


class Detect(nn.Module):
    """One 1x1 conv per level predicting ``na * (nc + 5)`` channels, decoded at inference.

    ``anchors`` (nl, na, 2) are in grid units (pixels / stride), ``anchor_grid``
    (nl, 1, na, 1, 1, 2) in pixels; both are buffers so trained anchors travel with the weights.
    """

    def __init__(self, nc=80, anchors=(), ch=()):
        super().__init__()
        self.nc = nc
        self.no = nc + 5
        self.nl = len(anchors)
        self.na = len(anchors[0]) // 2
        self.stride = None  # tensor (nl,), set by Model
        a = torch.tensor(anchors).float().view(self.nl, -1, 2)
        self.register_buffer("anchors", a)
        self.register_buffer("anchor_grid", a.clone().view(self.nl, 1, -1, 1, 1, 2))
        self.m = nn.ModuleList(nn.Conv2d(x, self.no * self.na, 1) for x in ch[: self.nl])

    def level(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Raw prediction map of level ``i`` before reshaping."""
        return self.m[i](x)

    def forward(self, x):
        raw = [self._reshape(self.level(i, x[i])) for i in range(self.nl)]
        return raw if self.training else (self.decode(raw), raw)

    def _reshape(self, p: torch.Tensor) -> torch.Tensor:
        bs, _, ny, nx = p.shape
        return p.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()

    def decode(self, raw: list[torch.Tensor]) -> torch.Tensor:
        """Per-level raw maps -> [B, N, no]: xy, wh in input pixels, sigmoided scores."""
        z = []
        for i, p in enumerate(raw):
            _, _, ny, nx, _ = p.shape
            yv, xv = torch.meshgrid(torch.arange(ny, device=p.device), torch.arange(nx, device=p.device),
                                    indexing="ij")
            grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2).to(p.dtype)
            y = p.sigmoid()
            xy = (y[..., 0:2] * 2.0 - 0.5 + grid) * float(self.stride[i])
            wh = (y[..., 2:4] * 2) ** 2 * self.anchor_grid[i]
            z.append(torch.cat((xy, wh, y[..., 4:]), -1).reshape(p.shape[0], -1, self.no))
        return torch.cat(z, 1)


class IDetect(Detect):
    """Detect with YOLOR implicit knowledge: ImplicitA before and ImplicitM after each conv."""

    def __init__(self, nc=80, anchors=(), ch=()):
        super().__init__(nc, anchors, ch)
        self.ia = nn.ModuleList(ImplicitA(x) for x in ch[: self.nl])
        self.im = nn.ModuleList(ImplicitM(self.no * self.na) for _ in ch[: self.nl])

    def level(self, i, x):
        return self.im[i](self.m[i](self.ia[i](x)))


class IAuxDetect(IDetect):
    """IDetect on the first ``nl`` inputs (lead head) plus plain convs ``m2`` on the next ``nl``
    (auxiliary head, training only). Train mode returns lead levels then aux levels."""

    def __init__(self, nc=80, anchors=(), ch=()):
        super().__init__(nc, anchors, ch)
        self.m2 = nn.ModuleList(nn.Conv2d(x, self.no * self.na, 1) for x in ch[self.nl:])

    def forward(self, x):
        lead = [self._reshape(self.level(i, x[i])) for i in range(self.nl)]
        if not self.training:
            return self.decode(lead), lead
        return lead + [self._reshape(self.m2[i](x[self.nl + i])) for i in range(self.nl)]


HEADS = (Detect, IDetect, IAuxDetect)

# --------------------------------------------------------------------------- building from a cfg

# Names a cfg row may use for its module; nothing else is evaluated.
MODULES: dict[str, type[nn.Module]] = {
    "Conv": Conv, "RepConv": RepConv, "MP": MP, "SP": SP, "ReOrg": ReOrg, "Concat": Concat,
    "Shortcut": Shortcut, "DownC": DownC, "SPPCSPC": SPPCSPC, "ImplicitA": ImplicitA,
    "ImplicitM": ImplicitM, "Detect": Detect, "IDetect": IDetect, "IAuxDetect": IAuxDetect,
    "nn.Upsample": nn.Upsample, "nn.Conv2d": nn.Conv2d, "nn.BatchNorm2d": nn.BatchNorm2d,
    "nn.Identity": nn.Identity,
}
# Activations a cfg may pass as an argument, e.g. ``nn.LeakyReLU(0.1)`` in yolov7-tiny.
ACTIVATIONS = {"LeakyReLU": nn.LeakyReLU, "SiLU": nn.SiLU, "ReLU": nn.ReLU, "ReLU6": nn.ReLU6,
               "Hardswish": nn.Hardswish, "Sigmoid": nn.Sigmoid, "Identity": nn.Identity}
_ACT_RE = re.compile(r"^nn\.(\w+)\(\s*([-+0-9.eE]*)\s*\)$")
_CHANNEL_MODULES = (Conv, RepConv, DownC, SPPCSPC, nn.Conv2d)


def make_divisible(x: float, divisor: int) -> int:
    return math.ceil(x / divisor) * divisor


def _arg(value: Any, nc: int, anchors: Any, where: str) -> Any:
    """Resolve one cfg argument. Upstream ``eval()``s these strings; we accept the few forms
    the published cfgs use and keep any other string as a literal (e.g. ``'nearest'``)."""
    if not isinstance(value, str):
        return value
    named = {"nc": nc, "anchors": anchors, "None": None, "True": True, "False": False}
    if value in named:
        return named[value]
    m = _ACT_RE.match(value)
    if m:
        if m.group(1) not in ACTIVATIONS:
            raise UserError(f"{where}: unknown activation {value!r}; known: nn.{', nn.'.join(ACTIVATIONS)}")
        return ACTIVATIONS[m.group(1)](*([float(m.group(2))] if m.group(2) else []))
    return value


def parse_model(d: dict, ch: int) -> tuple[nn.Sequential, list[int]]:
    """Build the layer list from an upstream-format cfg dict. Returns (layers, save) where
    ``save`` lists the indices whose outputs later rows read."""
    try:
        anchors, nc = d["anchors"], int(d["nc"])
        gd, gw = float(d.get("depth_multiple", 1.0)), float(d.get("width_multiple", 1.0))
        rows = list(d["backbone"]) + list(d["head"])
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"cfg is not an upstream-format model yaml (needs nc, anchors, backbone, head): {e}")
    na = len(anchors[0]) // 2 if isinstance(anchors, list) else int(anchors)
    no = na * (nc + 5)
    layers, save, chs = [], [], [ch]
    for i, row in enumerate(rows):
        where = f"cfg row {i}"
        try:
            f, n, name, args = row
        except (TypeError, ValueError):
            raise UserError(f"{where}: expected [from, number, module, args], got {row!r}")
        if name not in MODULES:
            raise UserError(f"{where}: unknown module {name!r}; known: {', '.join(MODULES)}")
        m = MODULES[name]
        args = [_arg(a, nc, anchors, where) for a in args]
        n = max(round(n * gd), 1) if n > 1 else n
        try:
            c_in = chs[f] if isinstance(f, int) else [chs[j] for j in f]
        except (IndexError, TypeError):
            raise UserError(f"{where}: 'from' {f!r} points outside the rows before it")
        if m in _CHANNEL_MODULES:
            c2 = args[0]
            if c2 != no:  # the output conv of a head-less cfg keeps its exact width
                c2 = make_divisible(c2 * gw, 8)
            args = [c_in, c2, *args[1:]]
            if m in (DownC, SPPCSPC):
                args.insert(2, n)
                n = 1
        elif m is nn.BatchNorm2d:
            args, c2 = [c_in], c_in
        elif m is Concat:
            c2 = sum(c_in)
        elif m is Shortcut:
            c2 = c_in[0]
        elif m in HEADS:
            args.append(c_in)
            if isinstance(args[1], int):  # number of anchors instead of a list
                args[1] = [list(range(args[1] * 2))] * len(f)
            c2 = None
        elif m is ReOrg:
            c2 = c_in * 4
        else:
            c2 = c_in
        try:
            module = nn.Sequential(*[m(*args) for _ in range(n)]) if n > 1 else m(*args)
        except (TypeError, ValueError, IndexError, RuntimeError) as e:
            raise UserError(f"{where}: {name} with arguments {args[:2 if m in HEADS else None]!r} does not build: "
                            f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        module.i, module.f, module.type = i, f, name
        save.extend(x % i for x in ([f] if isinstance(f, int) else f) if x != -1)
        layers.append(module)
        if i == 0:
            chs = []
        chs.append(c2)
    if not isinstance(layers[-1], HEADS):
        raise UserError(f"cfg: the last row must be a detection head (Detect, IDetect, IAuxDetect), "
                        f"got {rows[-1][2]!r}")
    return nn.Sequential(*layers), sorted(set(save))


class Model(nn.Module):
    """A YOLOv7 detector built from an upstream-format cfg dict.

    Attributes shared with upstream (the loss, export and checkpoints rely on them):
    ``yaml`` (the cfg dict), ``names``, ``nc``, ``stride`` and ``model`` (the layers, the head last).
    """

    def __init__(self, cfg: dict, ch: int = 3, nc: int | None = None, names: list[str] | None = None):
        super().__init__()
        self.yaml = deepcopy(cfg)
        if nc is not None:
            self.yaml["nc"] = int(nc)
        self.yaml["ch"] = self.yaml.get("ch", ch)
        self.model, self.save = parse_model(self.yaml, self.yaml["ch"])
        self.nc = int(self.yaml["nc"])
        self.names = list(names) if names is not None else [str(i) for i in range(self.nc)]
        if len(self.names) != self.nc:
            raise UserError(f"{len(self.names)} class names given for nc={self.nc}")

        head = self.model[-1]
        head.stride = self._measure_strides(head)
        head.anchors /= head.stride.view(-1, 1, 1)
        _check_anchor_order(head)
        self.stride = head.stride
        self.initialize_biases()
        for m in self.modules():
            if type(m) is nn.BatchNorm2d:  # upstream's training settings, part of the weights' meaning
                m.eps, m.momentum = 1e-3, 0.03
            elif type(m) in (nn.Hardswish, nn.LeakyReLU, nn.ReLU, nn.ReLU6):
                m.inplace = True
        if self.yaml.get("fused"):
            self.fuse()

    def _measure_strides(self, head: Detect) -> torch.Tensor:
        """Run a blank 256x256 image in eval mode (BN statistics untouched) and read the
        stride of each level off the raw maps' heights."""
        s = 256
        head.stride = torch.ones(head.nl)
        was_training = self.training
        self.eval()
        with torch.no_grad():
            _, raw = self.forward(torch.zeros(1, self.yaml["ch"], s, s))
        self.train(was_training)
        return torch.tensor([s / r.shape[2] for r in raw])

    def forward(self, x):
        outputs = []
        for m in self.model:
            if m.f != -1:
                x = outputs[m.f] if isinstance(m.f, int) else [x if j == -1 else outputs[j] for j in m.f]
            x = m(x)
            outputs.append(x if m.i in self.save else None)
        return x

    @property
    def head(self) -> Detect:
        return self.model[-1]

    def initialize_biases(self, cf: torch.Tensor | None = None) -> None:
        """Prior biases for objectness (about 8 objects per 640 image) and classes, as upstream's
        ``_initialize_biases``; ``cf`` optional class frequencies."""
        head = self.head
        convs = [(mi, s) for mi, s in zip(head.m, head.stride)]
        if isinstance(head, IAuxDetect):
            convs += [(mi, s) for mi, s in zip(head.m2, head.stride)]
        with torch.no_grad():
            for mi, s in convs:
                b = mi.bias.view(head.na, -1)
                b[:, 4] += math.log(8 / (640 / float(s)) ** 2)
                b[:, 5:] += math.log(0.6 / (head.nc - 0.99)) if cf is None else torch.log(cf / cf.sum())

    def fuse(self) -> "Model":
        """Fold Conv+BN and RepConv branches in place, for inference. Heads are folded by
        ``reparam.reparameterize``, which also swaps IDetect/IAuxDetect for Detect."""
        for m in self.modules():
            if isinstance(m, (Conv, RepConv)):
                m.fuse()
        self.yaml["fused"] = True
        return self


def _check_anchor_order(head: Detect) -> None:
    """Anchors must grow with the stride; a cfg listing them the other way round is flipped."""
    area = head.anchor_grid.prod(-1).view(-1)
    if (area[-1] - area[0]).sign() != (head.stride[-1] - head.stride[0]).sign():
        head.anchors[:] = head.anchors.flip(0)
        head.anchor_grid[:] = head.anchor_grid.flip(0)


# --------------------------------------------------------------------------- cfg lookup

CFG_DIR = Path(__file__).parent / "cfg"
ARCHITECTURES = ("yolov7-tiny", "yolov7", "yolov7x", "yolov7-w6", "yolov7-e6", "yolov7-d6", "yolov7-e6e")
FORMS = ("training", "deploy")


def resolve_cfg(name_or_path: str | Path | dict, form: str = "training") -> dict:
    """The cfg dict for a packaged architecture name or a path to an upstream-format yaml.

    Names: ``yolov7-tiny``, ``yolov7``, ... (training form unless ``form="deploy"``), or the
    same names with ``-deploy`` appended. A dict is returned as a copy.
    """
    if isinstance(name_or_path, dict):
        return deepcopy(name_or_path)
    if form not in FORMS:
        raise UserError(f"cfg form {form!r} is not one of {', '.join(FORMS)}")
    text = str(name_or_path)
    base = text[: -len("-deploy")] if text.endswith("-deploy") else text
    if base in ARCHITECTURES:
        deploy = form == "deploy" or text.endswith("-deploy")
        path = CFG_DIR / f"{base}{'-deploy' if deploy else ''}.yaml"
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            known = ", ".join(ARCHITECTURES + tuple(a + "-deploy" for a in ARCHITECTURES))
            raise UserError(f"--cfg {text!r} is neither a known architecture nor a yaml file; known: {known}")
    try:
        cfg = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise UserError(f"{path}: cannot read cfg: {e}".splitlines()[0])
    if not isinstance(cfg, dict) or not {"nc", "anchors", "backbone", "head"} <= cfg.keys():
        raise UserError(f"{path}: not an upstream-format model yaml (needs nc, anchors, backbone, head)")
    return cfg


def build_model(cfg: str | Path | dict, nc: int | None = None, names: list[str] | None = None,
                form: str = "training") -> Model:
    """A freshly initialised Model (train mode) from a cfg name, path or dict.

    ``nc`` overrides the cfg's class count; with ``names`` alone, nc is ``len(names)``.
    """
    if nc is None and names is not None:
        nc = len(names)
    return Model(resolve_cfg(cfg, form), nc=nc, names=names)
