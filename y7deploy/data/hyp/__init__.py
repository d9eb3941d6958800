"""Hyperparameter files with upstream YOLOv7's keys, and their loader.

The built-in files live beside this module; `load_hyp("scratch.custom")` or
`load_hyp("hyp.scratch.tiny.yaml")` finds them, any other argument is a path.
A typo in a key would otherwise silently train with the default, so unknown and
missing keys are errors naming the file and the key. Every key does what upstream's
does (APPLIED_BY says where), or its value is refused naming the key and the file.
"""

from __future__ import annotations

from pathlib import Path

from y7deploy.data.files import read_yaml_mapping
from y7deploy.errors import UserError

HYP_DIR = Path(__file__).resolve().parent

REQUIRED_KEYS = (
    "lr0", "lrf", "momentum", "weight_decay",
    "warmup_epochs", "warmup_momentum", "warmup_bias_lr",
    "box", "cls", "cls_pw", "obj", "obj_pw", "iou_t", "anchor_t", "fl_gamma",
    "hsv_h", "hsv_s", "hsv_v", "degrees", "translate", "scale", "shear", "perspective",
    "flipud", "fliplr", "mosaic", "mixup",
)
# Keys that older upstream files lack; upstream behaves as if they had these values.
OPTIONAL_DEFAULTS = {"copy_paste": 0.0, "paste_in": 0.0, "loss_ota": 1}
# Upstream's files carry `anchors` commented out; when set, upstream replaces the cfg's
# anchors with that many per output layer (0 means: keep the cfg's).
OPTIONAL_KEYS = ("anchors",)

# Where each key takes effect, as in upstream. A value whose upstream effect y7deploy
# lacks is refused (here for the loader's keys, by the trainer for the model's and the
# loss's) rather than accepted and ignored.
APPLIED_BY = {
    **dict.fromkeys(("lr0", "lrf", "momentum", "weight_decay", "warmup_epochs", "warmup_momentum",
                     "warmup_bias_lr"), "the trainer's optimiser and schedule"),
    **dict.fromkeys(("box", "cls", "cls_pw", "obj", "obj_pw", "fl_gamma", "anchor_t"), "the loss"),
    "loss_ota": "the trainer: 1 is the OTA loss; it refuses other values",
    "anchors": "the trainer: it refuses a count the model cfg does not have",
    "iou_t": "nothing: upstream never reads it either (a YOLOv3 leftover), accepted for its files",
    **dict.fromkeys(("hsv_h", "hsv_s", "hsv_v", "degrees", "translate", "scale", "shear", "perspective",
                     "flipud", "fliplr", "mosaic", "mixup", "paste_in"), "the training loader's augmentation"),
    "copy_paste": "nothing at 0; refused above 0 (it needs polygon segments)",
}


def _refuse(path: Path, hyp: dict) -> None:
    """Loader keys whose value asks for something upstream does and y7deploy does not."""
    if hyp["copy_paste"]:
        raise UserError(f"{path}: key 'copy_paste' is {hyp['copy_paste']}: upstream's copy-paste cuts objects "
                        "along polygon segments, which YOLO box labels do not have (upstream does nothing with "
                        "it on boxes); set it to 0 (paste_in pastes whole boxes)")


DEFAULT_HYP = "scratch.custom"


def builtin_hyps() -> list[str]:
    """Short names of the hyp files shipped with y7deploy ("scratch.custom", "scratch.tiny")."""
    return sorted(p.name[len("hyp."):-len(".yaml")] for p in HYP_DIR.glob("hyp.*.yaml"))


def resolve_hyp(name_or_path: str | Path) -> Path:
    """A built-in short name ("scratch.tiny", "hyp.scratch.tiny.yaml") or an existing path."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    name = str(name_or_path)
    name = name.removeprefix("hyp.").removesuffix(".yaml")
    builtin = HYP_DIR / f"hyp.{name}.yaml"
    if builtin.is_file():
        return builtin
    raise UserError(
        f"hyp file not found: {name_or_path} (built-in: {', '.join(builtin_hyps())})"
    )


def load_hyp(name_or_path: str | Path = DEFAULT_HYP) -> dict:
    """Read and validate a hyp yaml: every required key present, no unknown key, numbers only."""
    path = resolve_hyp(name_or_path)
    data = read_yaml_mapping(path, "hyperparameters")
    known = set(REQUIRED_KEYS) | set(OPTIONAL_DEFAULTS) | set(OPTIONAL_KEYS)
    for key in data:
        if key not in known:
            raise UserError(f"{path}: unknown key {key!r}")
    for key in REQUIRED_KEYS:
        if key not in data:
            raise UserError(f"{path}: missing key {key!r}")
    hyp = {**OPTIONAL_DEFAULTS, **data}
    for key, value in hyp.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{path}: key {key!r} must be a number, got {value!r}")
    for key in ("flipud", "fliplr", "mosaic", "mixup", "copy_paste", "paste_in"):
        if not 0.0 <= hyp[key] <= 1.0:
            raise UserError(f"{path}: key {key!r} is a probability, got {hyp[key]}")
    _refuse(path, hyp)
    return hyp
